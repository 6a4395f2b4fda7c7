"""Rafiki / SINGA-auto ``BaseModel`` templates served as Seldon models.

What Rafiki's inference worker does, per serving process: build ``Model(**knobs)``, call
``load_parameters(params)``, then answer ``predict(queries)`` (a list in, a list of the same length
out, in order); at shutdown ``destroy()`` then the class's ``teardown()``.

* **Detection:** a subclass of ``BaseModel`` from ``rafiki.model`` / ``singa_auto.model`` (the real
  packages or seldon_py's stand-ins, see :mod:`.shims`); or, by shape, a class with a static
  ``get_knob_config``, ``load_parameters`` and a one-argument ``predict``.
* **Knobs:** parameter ``knobs`` (a JSON object), and/or one parameter per knob name; validated
  against ``get_knob_config()`` at start-up, each error naming the knob: ``FixedKnob`` values are
  filled in (a different value is an error), ``PolicyKnob`` defaults to false, the others are
  required; ``IntegerKnob``/``FloatKnob`` type and range, ``CategoricalKnob`` membership,
  ``ArchKnob`` length and per-position membership.
* **Parameters:** ``params_path`` (relative to ``model_dir``, default the working directory): a file
  in Rafiki's param-store format, msgpack with ``NP//name`` entries for numpy arrays. Decoded with
  msgpack only: nothing is ever unpickled.
* **Queries:** ``ndarray``/``tensor`` rows (one query per row: adaptive batching joins requests), a
  ``jsonData`` list, ``{"queries": [...]}`` or ``{"query": q}`` (answered like Rafiki's predictor:
  ``{"predictions": [...]}`` / ``{"prediction": p, "predictions": []}``), or ``strData`` (one query).
"""

from __future__ import annotations

import importlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BadRequest, InternalError
from ._common import (
    ConventionError,
    find_base,
    is_static,
    json_param,
    local_classes,
    model_dir,
    pick_class,
    plain,
    positional_names,
)
from .base import Target

logger = logging.getLogger(__name__)

API_MODULES = ("rafiki.model", "singa_auto.model", "seldon_py.conventions._rafiki_api")
PARAMETERS = ("knobs", "params_path", "model_dir")
NP_PREFIX = "NP//"
MAX_PARAMS_BYTES = 4 << 30


def is_model_template(cls: Any) -> bool:
    if not isinstance(cls, type):
        return False
    base = find_base(cls, "BaseModel")
    if base is not None and str(base.__module__).startswith(API_MODULES):
        return True
    predict = getattr(cls, "predict", None)
    return (is_static(cls, "get_knob_config") and callable(getattr(cls, "load_parameters", None))
            and callable(predict) and len(positional_names(predict) or []) == 2)


def _value(v: Any) -> Any:
    """A knob value as the model sees it (KnobValue wrappers unwrapped)."""
    inner = getattr(v, "value", v)
    return inner if not callable(inner) else v


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool) and float(a) == float(b)
    )


def validate_knobs(config: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The knob values to build the model with, or ConventionError naming the offending knob."""
    if not isinstance(config, dict):
        raise ConventionError(f"get_knob_config() must return a dict, got {type(config).__name__}")
    unknown = sorted(set(given) - set(config))
    if unknown:
        raise ConventionError(f"unknown knob(s) {', '.join(unknown)}; the model's knobs are "
                              f"{', '.join(sorted(config)) or '(none)'}")
    out: dict[str, Any] = {}
    for name, knob in config.items():
        kind = type(knob).__name__
        has = name in given
        v = given.get(name)
        if kind == "FixedKnob":
            fixed = _value(knob.value)
            if has and not _same(v, fixed):
                raise ConventionError(f"knob {name!r} is fixed at {fixed!r}, got {v!r}")
            out[name] = fixed
            continue
        if kind == "PolicyKnob":
            if has and not isinstance(v, bool):
                policy = getattr(knob, "policy", "?")
                raise ConventionError(f"knob {name!r} (policy {policy}) must be true or false, got {v!r}")
            out[name] = bool(v) if has else False
            continue
        if not has:
            raise ConventionError(f"knob {name!r} ({kind}) needs a value: pass it in the 'knobs' parameter")
        if kind == "IntegerKnob":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConventionError(f"knob {name!r} must be an integer, got {v!r}")
            if not knob.value_min <= v <= knob.value_max:
                raise ConventionError(f"knob {name!r} must be between {knob.value_min} and {knob.value_max}, got {v}")
        elif kind == "FloatKnob":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConventionError(f"knob {name!r} must be a number, got {v!r}")
            if not knob.value_min <= v <= knob.value_max:
                raise ConventionError(f"knob {name!r} must be between {knob.value_min} and {knob.value_max}, got {v}")
            v = float(v)
        elif kind == "CategoricalKnob":
            values = [_value(x) for x in knob.values]
            if not any(_same(v, x) for x in values):
                raise ConventionError(f"knob {name!r} must be one of {values}, got {v!r}")
        elif kind == "ArchKnob":
            items = [[_value(x) for x in item] for item in knob.items]
            if not isinstance(v, list) or len(v) != len(items):
                raise ConventionError(f"knob {name!r} must be a list of {len(items)} values, got {v!r}")
            for i, (x, allowed) in enumerate(zip(v, items, strict=True)):
                if not any(_same(x, a) for a in allowed):
                    raise ConventionError(f"knob {name!r} position {i} must be one of {allowed}, got {x!r}")
        out[name] = v
    return out


def read_params(path: Path) -> dict[str, Any]:
    """A parameters file in Rafiki's param-store format (msgpack; ``NP//`` entries → numpy arrays)."""
    try:
        msgpack = importlib.import_module("msgpack")  # optional (the rafiki extra), untyped
    except ModuleNotFoundError:
        raise ConventionError("reading Rafiki parameters needs msgpack: pip install 'seldon-py[rafiki]'") from None
    try:
        size = path.stat().st_size
        if size > MAX_PARAMS_BYTES:
            raise ConventionError(f"{path} is {size} bytes, more than the {MAX_PARAMS_BYTES} a parameters file may be")
        data = path.read_bytes()
    except OSError as exc:
        raise ConventionError(f"cannot read the parameters file: {exc}") from None
    try:
        simple = msgpack.unpackb(data, raw=False)  # no ext hook: ext types stay inert ExtType values
    except Exception as exc:  # noqa: BLE001 - msgpack raises several types
        raise ConventionError(
            f"{path} is not a Rafiki parameters file (msgpack): {type(exc).__name__}: {exc}") from None
    if not isinstance(simple, dict) or not all(isinstance(k, str) for k in simple):
        raise ConventionError(f"{path} is not a Rafiki parameters file: not a map of names to values")
    params: dict[str, Any] = {}
    for key, value in simple.items():
        if key.startswith(NP_PREFIX):
            params[key[len(NP_PREFIX):]] = np.array(value)
        else:
            params[key] = value
    return params


class RafikiConvention:
    name = "rafiki"

    def detect(self, target: Target) -> bool:
        if target.path is not None:
            return False
        if target.attr is None:
            return bool(local_classes(target.module, is_model_template))  # a module: its own template(s)
        return is_model_template(target.attr)

    def adapt(self, target: Target, parameters: dict[str, Any]) -> RafikiModel:
        cls = target.attr
        if cls is None:
            cls = pick_class(target.spec, target.module, is_model_template, "Rafiki model")
        if not is_model_template(cls):
            raise ConventionError(f"{target.spec} is not a Rafiki/SINGA-auto model (a BaseModel subclass)")
        assert isinstance(cls, type)
        given = dict(json_param(parameters, "knobs") or {})
        try:
            config = cls.get_knob_config()  # type: ignore[attr-defined]
        except Exception as exc:
            raise ConventionError(f"{cls.__name__}.get_knob_config() failed: {type(exc).__name__}: {exc}") from exc
        for name, value in parameters.items():
            if name in PARAMETERS:
                continue
            if not isinstance(config, dict) or name not in config:
                raise ConventionError(f"Rafiki model: unknown parameter {name!r}; accepted: "
                                      f"{', '.join(PARAMETERS)} and the knob names")
            if name in given:
                raise ConventionError(f"knob {name!r} is given twice (in 'knobs' and as a parameter)")
            given[name] = value
        knobs = validate_knobs(config, given)
        params = None
        if parameters.get("params_path"):
            path = Path(str(parameters["params_path"]))
            if not path.is_absolute():
                path = model_dir(parameters) / path
            params = read_params(path)
        else:
            logger.warning("Rafiki model %s: no params_path parameter, load_parameters() will not be called",
                           cls.__name__)
        return RafikiModel(cls, knobs, params)


class RafikiModel:
    """A Seldon user object running a Rafiki/SINGA-auto model template."""

    def __init__(self, cls: type, knobs: dict[str, Any], params: dict[str, Any] | None) -> None:
        self.cls = cls
        self.knobs = knobs
        self.params = params
        self.instance: Any = None
        # Rafiki's worker calls predict() one batch at a time; models (TF sessions...) may rely on it
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RafikiModel({self.cls.__module__}.{self.cls.__qualname__})"

    def load(self) -> None:
        self.instance = self.cls(**self.knobs)
        if self.params is not None:
            self.instance.load_parameters(self.params)
        logger.info("Rafiki model %s loaded with knobs %s", self.cls.__qualname__, sorted(self.knobs))

    def _predict(self, queries: list[Any]) -> list[Any]:
        with self.lock:
            predictions = self.instance.predict(queries)
        if predictions is None or not hasattr(predictions, "__len__") or len(predictions) != len(queries):
            got = "None" if predictions is None else (
                f"{len(predictions)}" if hasattr(predictions, "__len__") else type(predictions).__name__)
            raise InternalError(f"{self.cls.__name__}.predict returned {got} predictions for {len(queries)} queries")
        return [plain(p) for p in predictions]

    def predict(self, X: Any, names: list[str], meta: dict[str, Any] | None = None) -> Any:
        if isinstance(X, np.ndarray):
            if X.ndim == 0:
                raise BadRequest("Rafiki model: send one query per row, not a scalar")
            return self._predict(X.tolist())
        if isinstance(X, list):
            return {"predictions": self._predict(X)}
        if isinstance(X, dict):
            if "queries" in X:
                if not isinstance(X["queries"], list):
                    raise BadRequest("Rafiki model: 'queries' must be a list")
                return {"prediction": None, "predictions": self._predict(X["queries"])}
            if "query" in X:
                return {"prediction": self._predict([X["query"]])[0], "predictions": []}
            raise BadRequest('Rafiki model: jsonData must be a list of queries, {"queries": [...]} or {"query": q}')
        if isinstance(X, (str, bytes)):
            out = self._predict([X])[0]
            return out if isinstance(out, (str, dict, bytes)) else [out]
        raise BadRequest(f"Rafiki model: cannot make queries of {type(X).__name__}")

    def unload(self) -> None:
        """At shutdown: ``destroy()``, then the class's ``teardown()`` (as Rafiki's worker does)."""
        if self.instance is None:
            return
        try:  # after draining: no predict() is running
            self.instance.destroy()
        finally:
            teardown = getattr(self.cls, "teardown", None)
            if callable(teardown):
                teardown()
            self.instance = None
