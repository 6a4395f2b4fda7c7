"""Stand-in for ``singa_auto.constants`` (seldon_py): the names model files use."""

from seldon_py.conventions._rafiki_api import ModelDependency, TaskType  # noqa: F401
