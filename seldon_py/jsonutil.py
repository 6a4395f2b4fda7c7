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
    if out.isascii() and b"\x7f" not in out:
        return out
    return _NON_ASCII.sub(_escape_char, out.decode("utf-8")).encode("ascii")


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
