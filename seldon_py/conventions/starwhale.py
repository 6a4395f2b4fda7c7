"""Starwhale ``@evaluation.predict`` functions and ``PipelineHandler`` classes served as Seldon models.

Each request's rows become Starwhale data rows, and the function is called exactly as Starwhale's
pipeline calls it:

* **Arguments** (decided once, from the signature, ``self`` excluded): one positional parameter →
  ``f(data)``; only ``*args`` → ``f(data, external)``; only ``**kw`` → ``f(data=data, external=external)``;
  two parameters → ``f(data, external=external)`` when the second is ``**kw`` or named ``external``,
  else ``f(data)``; three or more → ``f(data, external=external)``.
* **data:** a dict that also allows attribute access (``data.text``, ``data["img"]``); with a batch
  size above 1 a list of those, at most ``batch_size`` per call, and the function must return one
  result per row (a list or tuple).
* **external:** ``{"index", "index_with_dataset", "dataset_info", "context", "dataset_uri"}``: the row
  index within the request, ``"<puid>_#@#_<index>"``, ``{}``, the Starwhale context of a
  ``PipelineHandler`` (else None), and None.
* **Rows from a request:** ``ndarray``/``tensor`` rows become one data row each, with the request's
  ``names`` as feature names (without names, the row goes under the feature ``sw_feature``,
  default ``"data"``); a ``jsonData`` object is one row, a ``jsonData`` list one row per element;
  ``strData``/``binData`` one row under ``sw_feature``. Several rows of a request (or of a batch
  of requests gathered by ``--max-batch-size``) are fed ``batch_size`` at a time.
* **Answers:** one row in → the result as is (dict → ``jsonData``, str → ``strData``...); ``ndarray``
  rows in → one result per row (``data``); a ``jsonData`` list in → ``{"predictions": [...]}``.
* **Options:** ``batch_size`` from the decorator (or ``PipelineHandler(predict_batch_size=...)``),
  overridden by the parameter ``sw_batch_size``; ``sw_entry`` picks the function or class when the
  module has several.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadRequest, InternalError
from ._common import ConventionError, as_seldon_result, find_base, int_param, model_dir, plain
from ._starwhale_api import OPTIONS_ATTR, PREDICT_MARK
from .base import Target

logger = logging.getLogger(__name__)

PARAMETERS = ("sw_entry", "sw_batch_size", "sw_feature", "model_dir")
JOIN = "_#@#_"
MAX_BATCH_SIZE = 1 << 16


class Features(dict[str, Any]):
    """A data row: a dict whose keys are also attributes (as Starwhale's rows are)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"Not found attribute: {name}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def is_predict_function(obj: Any) -> bool:
    return inspect.isfunction(obj) and bool(getattr(obj, PREDICT_MARK, False))


def is_pipeline_class(obj: Any) -> bool:
    return (isinstance(obj, type) and find_base(obj, "PipelineHandler") is not None
            and (callable(getattr(obj, "predict", None)) or callable(getattr(obj, "ppl", None))))


def entries(module: Any) -> list[tuple[str, Any]]:
    """The predict functions and PipelineHandler classes a module defines itself."""
    name = getattr(module, "__name__", None)
    return [(k, v) for k, v in vars(module).items()
            if getattr(v, "__module__", None) == name and (is_predict_function(v) or is_pipeline_class(v))]


def decorator_options(func: Any) -> dict[str, Any]:
    """The keyword arguments ``@evaluation.predict(...)`` was given (stand-in or real Starwhale)."""
    options = getattr(func, OPTIONS_ATTR, None)
    if isinstance(options, dict):
        return options
    batch = getattr(func, "_seldon_evaluation_options", None)  # seldon_py.batch.starwhale_compat's decorator
    if batch is not None and isinstance(getattr(batch, "batch_size", None), int):
        return {"batch_size": batch.batch_size}
    job = sys.modules.get("starwhale.api._impl.job")
    handler_cls = getattr(job, "Handler", None)
    registered = getattr(handler_cls, "_registered_handlers", None)
    if isinstance(registered, dict):
        spec = registered.get(f"{func.__module__}:{func.__qualname__}")
        extra = getattr(spec, "extra_kwargs", None) or {}
        if "predict_batch_size" in extra:
            return {"batch_size": extra["predict_batch_size"]}
    return {}


def argument_dispatch(func: Callable[..., Any]) -> Callable[[Any, dict[str, Any]], Any]:
    """``call(data, external)`` passing what ``func`` accepts, by Starwhale's rules (fixed at load)."""
    try:
        params = dict(inspect.signature(inspect.unwrap(func)).parameters)
    except (TypeError, ValueError) as exc:
        raise ConventionError(f"cannot read the signature of {func!r}: {exc}") from None
    params.pop("self", None)
    kinds = inspect.Parameter
    if not params:
        raise ConventionError(f"{getattr(func, '__qualname__', func)} must take at least one argument (data)")
    if len(params) == 1:
        p = next(iter(params.values()))
        if p.kind is kinds.VAR_POSITIONAL:
            return lambda data, external: func(data, external)
        if p.kind is kinds.VAR_KEYWORD:
            return lambda data, external: func(data=data, external=external)
        if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD):
            return lambda data, external: func(data)
        raise ConventionError(f"{getattr(func, '__qualname__', func)}: unsupported parameter kind {p.kind}")
    if len(params) == 2:
        last = list(params.values())[-1]
        if last.kind is kinds.VAR_KEYWORD or last.name == "external":
            return lambda data, external: func(data, external=external)
        return lambda data, external: func(data)
    return lambda data, external: func(data, external=external)


class StarwhaleConvention:
    name = "starwhale"

    def detect(self, target: Target) -> bool:
        if target.path is not None:
            return False
        if target.attr is not None:
            return is_predict_function(target.attr) or is_pipeline_class(target.attr)
        return target.module is not None and bool(entries(target.module))

    def adapt(self, target: Target, parameters: dict[str, Any]) -> StarwhaleModel:
        unknown = sorted(set(parameters) - set(PARAMETERS))
        if unknown:
            raise ConventionError(f"Starwhale model: unknown parameter(s) {', '.join(unknown)}; "
                                  f"accepted: {', '.join(PARAMETERS)}")
        entry = target.attr
        if entry is None:
            found = dict(entries(target.module))
            chosen = parameters.get("sw_entry")
            if chosen:
                if chosen not in found:
                    raise ConventionError(f"sw_entry {chosen!r}: {target.spec} has no predict function or "
                                          f"PipelineHandler of that name (it has {', '.join(sorted(found)) or 'none'})")
                entry = found[chosen]
            elif len(found) > 1:
                raise ConventionError(f"{target.spec} defines several Starwhale entries ({', '.join(sorted(found))}): "
                                      f"serve one as {target.spec}.NAME or pass the parameter sw_entry")
            elif found:
                entry = next(iter(found.values()))
        if not (is_predict_function(entry) or is_pipeline_class(entry)):
            raise ConventionError(f"{target.spec} is not a Starwhale @evaluation.predict function or PipelineHandler")
        batch = None
        if "sw_batch_size" in parameters:
            batch = int_param(parameters, "sw_batch_size", 1, 1, MAX_BATCH_SIZE)
        elif is_predict_function(entry):
            batch = int_param(decorator_options(entry), "batch_size", 1, 1, MAX_BATCH_SIZE)
        feature = str(parameters.get("sw_feature", "data"))
        return StarwhaleModel(entry, batch, feature, model_dir(parameters))


def _new_pipeline(cls: type, workdir: Path) -> Any:
    """Instantiate a PipelineHandler subclass, with the runtime Context the real package needs."""
    base = find_base(cls, "PipelineHandler")
    if base is not None and str(base.__module__).startswith("starwhale."):
        context = importlib.import_module("starwhale.base.context").Context  # the real package (optional)
        context.set_runtime_context(context(workdir=workdir, step="predict", index=0, total=1,
                                            version=f"seldon-serving-{os.getpid()}"))
    return cls()


class StarwhaleModel:
    """A Seldon user object calling a Starwhale predict function (or PipelineHandler.predict)."""

    def __init__(self, entry: Any, batch_size: int | None, feature: str, workdir: Path) -> None:
        self.entry = entry
        self.batch_size = batch_size
        self.feature = feature
        self.workdir = workdir
        self.instance: Any = None
        self.context: Any = None
        self.call: Callable[[Any, dict[str, Any]], Any] | None = None
        if inspect.isfunction(entry):
            self.call = argument_dispatch(entry)

    def __repr__(self) -> str:
        return f"StarwhaleModel({self.entry.__module__}.{self.entry.__qualname__})"

    def load(self) -> None:
        if isinstance(self.entry, type):
            self.instance = _new_pipeline(self.entry, self.workdir)
            func_predict, func_ppl = getattr(self.instance, "predict", None), getattr(self.instance, "ppl", None)
            if callable(func_predict) and callable(func_ppl):
                raise ConventionError("predict and ppl cannot be defined at the same time")
            func = func_predict if callable(func_predict) else func_ppl
            assert callable(func)
            self.call = argument_dispatch(func)
            self.context = getattr(self.instance, "context", None)
            if self.batch_size is None:
                self.batch_size = int(getattr(self.instance, "predict_batch_size", 1) or 1)
        if self.batch_size is None:
            self.batch_size = 1
        logger.info("Starwhale %s ready (batch size %d)", self.entry.__qualname__, self.batch_size)

    # ------------------------------------------------------------------ rows
    def _row(self, value: Any) -> Features:
        return Features(value) if isinstance(value, dict) else Features({self.feature: value})

    def _rows(self, X: Any, names: list[str]) -> tuple[list[Features], bool]:
        """(data rows, whether the request was several rows)."""
        if isinstance(X, np.ndarray):
            if X.ndim == 0:
                raise BadRequest("Starwhale model: send one row per data row, not a scalar")
            if X.ndim == 2 and names and len(names) == X.shape[1]:
                return [Features(zip(names, row, strict=True)) for row in X.tolist()], True
            return [self._row(row) for row in X.tolist()], True
        if isinstance(X, list):
            return [self._row(v) for v in X], True
        if isinstance(X, (dict, str, bytes, bytearray)):
            return [self._row(X)], False
        raise BadRequest(f"Starwhale model: cannot make data rows of {type(X).__name__}")

    def _external(self, index: Any, puid: str) -> dict[str, Any]:
        with_ds = [f"{puid}{JOIN}{i}" for i in index] if isinstance(index, list) else f"{puid}{JOIN}{index}"
        return {"index": index, "index_with_dataset": with_ds, "dataset_info": {},
                "context": self.context, "dataset_uri": None}

    def _run(self, rows: list[Features], puid: str) -> list[Any]:
        call, size = self.call, self.batch_size or 1
        assert call is not None, "load() has not run"
        if size == 1:
            return [call(row, self._external(i, puid)) for i, row in enumerate(rows)]
        results: list[Any] = []
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            out = call(chunk, self._external(list(range(start, start + len(chunk))), puid))
            if not isinstance(out, (list, tuple)) or len(out) != len(chunk):
                got = f"{len(out)} results" if isinstance(out, (list, tuple)) else type(out).__name__
                raise InternalError(f"with batch_size {size}, {self.entry.__qualname__} must return one result "
                                    f"per row as a list or tuple ({len(chunk)} rows in, got {got})")
            results.extend(out)
        return results

    def predict(self, X: Any, names: list[str], meta: dict[str, Any] | None = None) -> Any:
        rows, many = self._rows(X, names)
        puid = str((meta or {}).get("puid") or "request")
        results = self._run(rows, puid)
        if not many:
            return as_seldon_result(results[0])
        if isinstance(X, np.ndarray):
            return [plain(r) for r in results]
        return {"predictions": [plain(r) for r in results]}
