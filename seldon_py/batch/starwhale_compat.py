"""Starwhale evaluation functions, run as Starwhale runs them (no Starwhale server or runtime).

A ``predict`` function is found in one of three ways, each giving the same options
(``batch_size``, ``replicas``, ``fail_on_error``, ``auto_log``, ``log_mode``,
``log_dataset_features``):

* decorated with the real ``starwhale`` package's ``@evaluation.predict(...)``: its options are
  read from Starwhale's own handler registry (``Handler._registered_handlers``);
* decorated with this module's :data:`evaluation` (same signature, for code that should not need
  ``starwhale`` installed: ``from seldon_py.batch.starwhale_compat import evaluation``);
* a plain function (Starwhale's defaults, or the command line's).

The call follows Starwhale's ``_do_predict``: one plain parameter → ``f(data)``; ``*args`` →
``f(data, external)``; a second parameter named ``external`` or ``**kw`` → ``f(data, external=...)``.
``data`` is a dict with attribute access (a list of them when ``batch_size > 1``).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

PREDICT_ATTR = "_starwhale_inject_predict_decorator"
EVALUATE_ATTR = "_starwhale_inject_evaluate_decorator"
_OPTIONS_ATTR = "_seldon_evaluation_options"


class TargetError(Exception):
    """The function to run cannot be found or used (one line that says why)."""


class AttrDict(dict[str, Any]):
    """A row's features: ``data["x"]`` and ``data.x`` (Starwhale's ``data`` argument)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class PredictOptions:
    batch_size: int = 1
    replicas: int = 1
    fail_on_error: bool = True
    auto_log: bool = True
    log_mode: str = "pickle"
    log_dataset_features: list[str] | None = None
    datasets: list[str] | None = None


@dataclass
class EvaluateOptions:
    use_predict_auto_log: bool = True
    needs: list[Any] = field(default_factory=list)


# ---------------------------------------------------------------- our decorator-compatible API
def _predict(*args: Any, **kw: Any) -> Any:
    if len(args) == 1 and not kw and callable(args[0]):
        return _predict()(args[0])
    allowed = {f for f in PredictOptions.__dataclass_fields__}
    unknown = set(kw) - allowed - {"resources", "needs"}
    if unknown:
        raise TypeError(f"predict() got unexpected options {sorted(unknown)}")

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, _OPTIONS_ATTR, PredictOptions(**{k: v for k, v in kw.items() if k in allowed}))
        setattr(func, PREDICT_ATTR, True)
        return func

    return wrap


def _evaluate(*args: Any, **kw: Any) -> Any:
    if args:
        raise TypeError("evaluate must be called with parentheses: @evaluation.evaluate(needs=[predict])")
    if not kw.get("needs"):
        raise ValueError("needs is required for evaluate function")

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, _OPTIONS_ATTR, EvaluateOptions(kw.get("use_predict_auto_log", True), list(kw["needs"])))
        setattr(func, EVALUATE_ATTR, True)
        return func

    return wrap


#: ``from seldon_py.batch.starwhale_compat import evaluation`` then ``@evaluation.predict`` /
#: ``@evaluation.evaluate(needs=[...])``, as with ``from starwhale import evaluation``
evaluation = SimpleNamespace(predict=_predict, evaluate=_evaluate)


# ---------------------------------------------------------------- finding functions and options
def _starwhale_step(func: Callable[..., Any]) -> Any:
    """Starwhale's registered step spec for ``func`` (None when starwhale is not loaded)."""
    if "starwhale" not in sys.modules:
        return None
    try:
        from starwhale.api._impl.job.handler import Handler
    except ImportError:
        return None
    return Handler._registered_handlers.get(f"{func.__module__}:{func.__qualname__}")


def predict_options(func: Callable[..., Any]) -> PredictOptions:
    own = getattr(func, _OPTIONS_ATTR, None)
    if isinstance(own, PredictOptions):
        return replace(own)
    step = _starwhale_step(func)
    if step is not None:
        kw = step.extra_kwargs or {}
        return PredictOptions(
            batch_size=int(kw.get("predict_batch_size", 1)),
            replicas=int(step.replicas or 1),
            fail_on_error=not kw.get("ignore_error", False),
            auto_log=bool(kw.get("predict_auto_log", True)),
            log_mode=str(kw.get("predict_log_mode", "pickle")),
            log_dataset_features=kw.get("predict_log_dataset_features"),
            datasets=kw.get("dataset_uris"),
        )
    return PredictOptions()


def evaluate_options(func: Callable[..., Any]) -> EvaluateOptions:
    own = getattr(func, _OPTIONS_ATTR, None)
    if isinstance(own, EvaluateOptions):
        return own
    step = _starwhale_step(func)
    if step is not None:
        return EvaluateOptions(bool((step.extra_kwargs or {}).get("predict_auto_log", True)), list(step.needs or []))
    return EvaluateOptions()


def load_function(target: str) -> Callable[..., Any]:
    """``module:function`` or ``module.function`` (the working directory is on the path)."""
    if ":" in target:
        module_name, _, attr = target.partition(":")
    else:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise TargetError(f"{target!r}: give module:function (e.g. mymodel:predict)")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's, said in one line
        raise TargetError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise TargetError(f"{module_name!r} has no {attr!r}")
    if not callable(obj):
        raise TargetError(f"{target!r} is not callable")
    return obj


def find_evaluate(predict: Callable[..., Any]) -> Callable[..., Any] | None:
    """The ``@evaluate`` function of ``predict``'s module whose ``needs`` include it, if any."""
    module = sys.modules.get(predict.__module__)
    if module is None:
        return None
    key = f"{predict.__module__}:{predict.__qualname__}"
    for value in vars(module).values():
        if callable(value) and getattr(value, EVALUATE_ATTR, False):
            needs = evaluate_options(value).needs
            if any(n is predict or n == key for n in needs):
                return value
    return None


# ---------------------------------------------------------------- calling
def predict_caller(func: Callable[..., Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """How to call ``func(data, external)``, decided once (Starwhale's argument dispatch)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return lambda data, external: func(data)
    kinds = {p.kind for p in params}
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return lambda data, external: func(data, external)
    if inspect.Parameter.VAR_KEYWORD in kinds or (len(params) >= 2 and params[1].name == "external"):
        return lambda data, external: func(data, external=external)
    return lambda data, external: func(data)
