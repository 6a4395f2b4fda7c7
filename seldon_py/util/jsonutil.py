"""JSON encoding and decoding for the REST wire, built on orjson.

Wire format (what Seldon Core clients see): compact, keys sorted at every level, non-ASCII
escaped as ``\\uXXXX``, a trailing newline. numpy arrays and scalars are serialised natively
(no ``tolist()`` round trip for numeric arrays). Output is strict JSON: NaN and ±Infinity are
written as ``null`` (the reference writes bare ``NaN``/``Infinity`` tokens, which strict parsers
reject). Input is lenient where Python clients are: ``NaN``/``Infinity`` literals, which Python's
``json.dumps`` emits by default, are accepted.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import orjson

_DUMPS_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
_NON_ASCII = re.compile("[^\x00-\x7e]")  # as Python's ensure_ascii: DEL is escaped too

Fragment = orjson.Fragment


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _default(obj: Any) -> Any:
    """Fallback for values orjson does not serialise natively."""
    if isinstance(obj, np.ndarray):  # non-contiguous, unusual dtype, or 0-d
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode("utf-8")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _strict(obj: Any) -> Any:
    """Replace non-finite floats by None, recursively (slow path only)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, (np.ndarray, np.generic)):
        return _strict(obj.tolist())
    return obj


def dumps(obj: Any) -> bytes:
    """Serialise to the Seldon wire form (see module docstring)."""
    try:
        out = orjson.dumps(obj, default=_default, option=_DUMPS_OPTS)
    except orjson.JSONEncodeError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, TypeError) and "not JSON serializable" in str(cause):
            raise cause from None
        # Integers beyond 64 bits and similar: the stdlib handles them.
        text = json.dumps(
            _strict(obj), default=_default, sort_keys=True, separators=(",", ":"), allow_nan=False
        )
        return text.encode("ascii") + b"\n"
    if (len(out) >= _PROVE_ASCII_FROM and _ascii_only(obj)) or (out.isascii() and b"\x7f" not in out):
        return out
    return _NON_ASCII.sub(_escape_char, out.decode("utf-8")).encode("ascii")


#: outputs at least this long are first checked through their (few) objects, not their bytes
_PROVE_ASCII_FROM = 1 << 16
#: at most this many objects are looked at before giving up and scanning the output
_PROVE_ASCII_BUDGET = 64
#: numpy dtype kinds that serialise as bare numbers/true/false
_NUMERIC_KINDS = frozenset("biuf")
#: Fragments made by :func:`ascii_fragment`, by id (held here, so an id is never reused)
_ASCII_FRAGMENTS: dict[int, Fragment] = {}


def ascii_fragment(obj: Any) -> Fragment:
    """``obj`` encoded once as a Fragment to embed in later :func:`dumps` calls (already escaped).

    The first 64 are remembered, so that :func:`dumps` knows them to be ASCII without scanning
    their bytes again; keep those for reuse (a cache) rather than making one per call.
    """
    frag = Fragment(dumps(obj)[:-1])
    if len(_ASCII_FRAGMENTS) < 64:
        _ASCII_FRAGMENTS[id(frag)] = frag
    return frag


def _ascii_only(obj: Any) -> bool:
    """Whether ``obj`` is shown, from a few objects, to encode to ASCII without DEL: strings are
    checked, numbers and numeric arrays cannot produce anything else, Fragments only count when
    made by :func:`ascii_fragment`. ``False`` means "not shown" (anything else, or too many objects)."""
    stack = [obj]
    budget = _PROVE_ASCII_BUDGET
    while stack:
        budget -= 1
        if budget < 0:
            return False
        item = stack.pop()
        cls = type(item)
        if cls is str:
            if not item.isascii() or "\x7f" in item:
                return False
        elif cls is dict:
            if len(item) > budget:
                return False
            for key in item:
                if type(key) is not str or not key.isascii() or "\x7f" in key:
                    return False
            stack.extend(item.values())
        elif cls is list or cls is tuple:
            if len(item) > budget:
                return False
            stack.extend(item)
        elif cls is np.ndarray:
            if item.dtype.kind not in _NUMERIC_KINDS:
                return False
        elif cls is Fragment:
            if _ASCII_FRAGMENTS.get(id(item)) is not item:
                return False
        elif item is not None and cls is not int and cls is not float and cls is not bool:
            return False
    return True


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ``ValueError`` with the parser's message on malformed input."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # Python clients send NaN/Infinity literals and >64-bit integers; accept those.
        try:
            return json.loads(data)
        except (ValueError, TypeError):
            raise ValueError(str(exc)) from None
