"""Stand-in for ``rafiki.model.dev`` (seldon_py): importable; calling its helpers needs the real package."""

from seldon_py.conventions._rafiki_api import make_predictions, test_model_class, tune_model  # noqa: F401
