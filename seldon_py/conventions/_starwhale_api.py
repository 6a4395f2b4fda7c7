"""Starwhale's model-side API, as far as serving a predict function needs it (seldon_py's own).

Served to model files as ``starwhale`` by :mod:`.shims` when the ``starwhale`` package is absent:
``evaluation.predict`` / ``evaluation.evaluate`` (they mark the function as Starwhale's do and keep
their options), ``PipelineHandler`` and ``Context``. Facts from Starwhale's documented API; written
here anew.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Self

PREDICT_MARK = "_starwhale_inject_predict_decorator"
EVALUATE_MARK = "_starwhale_inject_evaluate_decorator"
#: where the stand-in decorator keeps its keyword arguments (batch_size, fail_on_error, ...)
OPTIONS_ATTR = "_seldon_starwhale_options"


def predict(*args: Any, **kw: Any) -> Any:
    """``@evaluation.predict`` or ``@evaluation.predict(batch_size=..., ...)``."""
    if len(args) == 1 and not kw and callable(args[0]):
        return predict()(args[0])

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, OPTIONS_ATTR, dict(kw))
        setattr(func, PREDICT_MARK, True)
        return func

    return wrap


def evaluate(*args: Any, **kw: Any) -> Any:
    """``@evaluation.evaluate(needs=[...])``; must be called with its arguments, as Starwhale's."""
    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        if not kw.get("needs"):
            raise ValueError("needs is required for evaluate function")
        setattr(func, OPTIONS_ATTR, dict(kw))
        setattr(func, EVALUATE_MARK, True)
        return func

    return wrap


class Context:
    """The runtime context a ``PipelineHandler`` reads when it is created (one per thread)."""

    _holder = threading.local()

    def __init__(self, workdir: Path | None = None, step: str = "", total: int = 1, index: int = 0,
                 dataset_uris: list[str] | None = None, version: str = "", **kwargs: Any) -> None:
        self.workdir = workdir or Path(".")
        self.step, self.total, self.index = step, total, index
        self.dataset_uris = dataset_uris or []
        self.version = version
        self.__dict__.update(kwargs)

    @classmethod
    def get_runtime_context(cls) -> Context:
        value: Context | None = getattr(cls._holder, "value", None)
        if value is None:
            raise RuntimeError("Starwhale does not set Context yet")
        return value

    @classmethod
    def set_runtime_context(cls, ctx: Context) -> None:
        cls._holder.value = ctx


class PipelineHandler:
    """Base of class-style Starwhale models: ``predict`` (or ``ppl``) and ``evaluate`` (or ``cmp``)."""

    def __init__(self, predict_batch_size: int = 1, ignore_error: bool = False, predict_auto_log: bool = True,
                 predict_log_mode: str = "pickle", predict_log_dataset_features: list[str] | None = None,
                 dataset_uris: list[str] | None = None, **kwargs: Any) -> None:
        self.predict_batch_size = predict_batch_size
        self.ignore_error = ignore_error
        self.predict_auto_log = predict_auto_log
        self.predict_log_mode = predict_log_mode
        self.predict_log_dataset_features = predict_log_dataset_features
        self.dataset_uris = dataset_uris or []
        self.kwargs = kwargs
        self.context = getattr(Context._holder, "value", None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @classmethod
    def run(cls, resources: dict[str, Any] | None = None, replicas: int = 1) -> Callable[..., Any]:
        return lambda func: func


evaluation = SimpleNamespace(predict=predict, evaluate=evaluate, PipelineHandler=PipelineHandler)


def handler(*args: Any, **kw: Any) -> Any:
    """``@handler(...)``: marks a function as a Starwhale job step; nothing to do when serving."""
    if len(args) == 1 and not kw and callable(args[0]):
        return args[0]
    return lambda func: func


def multi_classification(*args: Any, **kw: Any) -> Any:
    """``@multi_classification(...)`` on an evaluate function: evaluation is not run when serving."""
    if len(args) == 1 and not kw and callable(args[0]):
        return args[0]
    return lambda func: func


class _NeedsStarwhale:
    """Datasets and the evaluation store: importable here, usable only with the real package."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return _NeedsStarwhale(f"{self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"starwhale.{self._name} needs the real starwhale package; "
                           f"seldon_py's stand-in only serves predict functions")


dataset = _NeedsStarwhale("dataset")
Dataset = _NeedsStarwhale("Dataset")
Evaluation = _NeedsStarwhale("Evaluation")
