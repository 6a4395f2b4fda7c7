"""Helpers shared by the convention adapters: reading parameters, inspecting classes, shaping results.

No I/O except reading files an operator points at; no module-level state.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np


class ConventionError(Exception):
    """A model written for another server cannot be served; the message is one line that says why."""


# ----------------------------------------------------------------------------- parameters
def json_param(parameters: dict[str, Any], name: str, kind: type | tuple[type, ...] = dict) -> Any:
    """Parameter ``name`` as a JSON value of ``kind`` (given as JSON text or already decoded), or None."""
    if name not in parameters:
        return None
    value = parameters[name]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConventionError(f"parameter {name!r} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConventionError(f"parameter {name!r} must be a JSON {names}, got {type(value).__name__}")
    return value


def int_param(parameters: dict[str, Any], name: str, default: int, minimum: int = 1, maximum: int = 1 << 20) -> int:
    value = parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConventionError(f"parameter {name!r} must be an integer, got {value!r}")
    try:
        n = int(value)
    except ValueError:
        raise ConventionError(f"parameter {name!r} must be an integer, got {value!r}") from None
    if not minimum <= n <= maximum:
        raise ConventionError(f"parameter {name!r} must be between {minimum} and {maximum}, got {n}")
    return n


def model_dir(parameters: dict[str, Any], target_path: Path | None = None) -> Path:
    """The model folder: parameter ``model_dir``, else the target when it is a folder, else the cwd."""
    if parameters.get("model_dir"):
        path = Path(str(parameters["model_dir"]))
        if not path.is_dir():
            raise ConventionError(f"parameter 'model_dir': {path} is not a folder")
        return path.resolve()
    if target_path is not None and target_path.is_dir():
        return target_path.resolve()
    return Path.cwd()


# ----------------------------------------------------------------------------- inspecting
def mro_names(cls: type) -> list[str]:
    """The class names of ``cls``'s MRO, ``cls`` itself excluded."""
    try:
        return [c.__name__ for c in cls.__mro__[1:]]
    except AttributeError:
        return []


def find_base(cls: type, name: str) -> type | None:
    """The first class called ``name`` in ``cls``'s MRO (``cls`` excluded), or None."""
    mro: tuple[type, ...] = getattr(cls, "__mro__", ())
    for c in mro[1:]:
        if c.__name__ == name:
            return c
    return None


def local_classes(module: Any, predicate: Any) -> list[type]:
    """The classes ``module`` defines itself (not imports) for which ``predicate`` holds."""
    name = getattr(module, "__name__", None)
    return [v for v in vars(module).values()
            if isinstance(v, type) and v.__module__ == name and predicate(v)] if module is not None else []


def pick_class(target_spec: str, module: Any, predicate: Any, what: str) -> Any:
    """The one class of ``module`` that is a ``what``; ConventionError if there are several or none."""
    found = local_classes(module, predicate)
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise ConventionError(f"{target_spec} defines {len(found)} {what} classes ({names}): "
                              f"serve one as {target_spec}.ClassName")
    return found[0]


def is_static(cls: type, name: str) -> bool:
    return isinstance(inspect.getattr_static(cls, name, None), staticmethod)


def overrides(cls: type, base: type | None, name: str) -> bool:
    """True when ``cls`` defines ``name`` somewhere below ``base`` in its MRO (base None: defined at all)."""
    for c in cls.__mro__:
        if c is base:
            return False
        if name in vars(c):
            return True
    return False


def positional_names(fn: Any) -> list[str] | None:
    """Names of the positional parameters of ``fn`` (bound methods: without self), None if unknown."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


# ----------------------------------------------------------------------------- results
def plain(value: Any) -> Any:
    """A JSON-able view of common model outputs: pydantic models, numpy arrays and scalars, tensors,
    tuples, recursively through lists and dicts."""
    if hasattr(value, "model_dump") and callable(value.model_dump):
        return value.model_dump(mode="json")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()  # numpy arrays, torch / tensorflow tensors
    return value


def as_seldon_result(value: Any) -> Any:
    """Shape a foreign model's answer for the Seldon response builder.

    dict → jsonData, str → strData, bytes → binData, arrays and lists → data (ndarray/tensor);
    a lone number, bool or None → a one-element list (Seldon messages have no bare-scalar payload).
    """
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return value  # rows stay an array (what batching splits)
    value = plain(value)
    if isinstance(value, (dict, str, bytes, bytearray, list)):
        return value
    return [value]
