"""JSON encoding and decoding for the REST wire, built on orjson.

Wire format (what Seldon Core clients see): compact, keys sorted at every level, non-ASCII
escaped as ``\\uXXXX``, a trailing newline. numpy arrays and scalars are serialised natively
(no ``tolist()`` round trip for numeric arrays). NaN and ±Infinity round-trip as the reference
and Python's ``json`` write them: bare ``NaN``/``Infinity``/``-Infinity`` tokens (not strict JSON,
but never a silent change of value: orjson would write ``null``, so an output that holds a
non-finite float is written by the standard library instead). Input is lenient where Python
clients are: ``NaN``/``Infinity`` literals, which Python's ``json.dumps`` emits by default, are
accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from typing import Any

import numpy as np
import orjson

from .bounded import put_bounded

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
    """Fallback for values orjson does not serialise natively (and for the standard library)."""
    if isinstance(obj, Fragment):  # pre-encoded JSON (names lists): the stdlib needs the value
        return orjson.loads(orjson.dumps(obj))
    if isinstance(obj, np.ndarray):  # non-contiguous, unusual dtype, or 0-d
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode("utf-8")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _has_non_finite(obj: Any) -> bool:
    """Whether ``obj`` holds a NaN or an infinity anywhere (iterative: no recursion limit)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        cls = type(item)
        if cls is float or isinstance(item, np.floating):
            if not math.isfinite(item):
                return True
        elif cls is dict:
            stack.extend(item.values())
        elif cls is list or cls is tuple:
            stack.extend(item)
        elif cls is np.ndarray:
            if item.dtype.kind in "fc":
                if not np.isfinite(item).all():
                    return True
            elif item.dtype.kind == "O":
                stack.extend(item.ravel().tolist())
        elif isinstance(item, float):  # float subclasses
            if not math.isfinite(item):
                return True
    return False


def _finite_shown(obj: Any) -> bool:
    """Whether ``obj`` is shown, from a few objects, to hold no NaN/Infinity (``False``: not shown:
    a non-finite value, or too many objects to look at)."""
    stack = [obj]
    budget = _PROVE_ASCII_BUDGET
    while stack:
        budget -= 1
        if budget < 0:
            return False
        item = stack.pop()
        cls = type(item)
        if cls is dict:
            stack.extend(item.values())
        elif cls is list or cls is tuple:
            if len(item) > budget:
                return False
            stack.extend(item)
        elif cls is np.ndarray:
            if item.dtype.kind in "fc":
                if not np.isfinite(item).all():
                    return False
            elif item.dtype.kind not in _NUMERIC_KINDS:
                return False
        elif cls is float:
            if not math.isfinite(item):
                return False
        elif item is not None and cls is not str and cls is not int and cls is not bool and cls is not Fragment:
            return False
    return True


def _stdlib_dumps(obj: Any) -> bytes:
    """The standard library's encoding in the same wire form (NaN/Infinity tokens, big ints)."""
    text = json.dumps(obj, default=_default, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return text.encode("ascii") + b"\n"


def dumps(obj: Any) -> bytes:
    """Serialise to the Seldon wire form (see module docstring)."""
    try:
        out = orjson.dumps(obj, default=_default, option=_DUMPS_OPTS)
    except orjson.JSONEncodeError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, TypeError) and "not JSON serializable" in str(cause):
            raise cause from None
        # Integers beyond 64 bits and similar: the stdlib handles them.
        return _stdlib_dumps(obj)
    # orjson writes NaN/Infinity as null; a large answer is first shown finite through its few
    # objects (a numeric array is checked in C) rather than by searching its bytes
    if not _finite_shown(obj) and b"null" in out and _has_non_finite(obj):
        return _stdlib_dumps(obj)
    if (len(out) >= _PROVE_ASCII_FROM and _ascii_only(obj)) or (out.isascii() and b"\x7f" not in out):
        return out
    return _NON_ASCII.sub(_escape_char, out.decode("utf-8")).encode("ascii")


#: outputs at least this long are first checked through their (few) objects, not their bytes
_PROVE_ASCII_FROM = 1 << 16
#: at most this many objects are looked at before giving up and scanning the output
_PROVE_ASCII_BUDGET = 64
#: numpy dtype kinds that serialise as bare numbers/true/false
_NUMERIC_KINDS = frozenset("biuf")
#: Fragments made by :func:`ascii_fragment`, by id (held here, so an id is never reused): the
#: first 64, kept for good (codecs make them once per cache entry)
_ASCII_FRAGMENTS: dict[int, Fragment] = {}
#: Fragments made by :func:`ascii_fragment_of`, by id, the most recent last: a bounded list, so
#: Fragments made per request cannot crowd out the lasting ones above (a forgotten one is just
#: scanned like any output)
_RECENT_ASCII_FRAGMENTS: OrderedDict[int, Fragment] = OrderedDict()
RECENT_ASCII_FRAGMENTS_LISTED = 16


def ascii_fragment(obj: Any) -> Fragment:
    """``obj`` encoded once as a Fragment to embed in later :func:`dumps` calls (already escaped).

    The first 64 are remembered, so that :func:`dumps` knows them to be ASCII without scanning
    their bytes again; keep those for reuse (a cache) rather than making one per call.
    """
    frag = Fragment(dumps(obj)[:-1])
    if len(_ASCII_FRAGMENTS) < 64:
        _ASCII_FRAGMENTS[id(frag)] = frag
    return frag


def ascii_fragment_of(data: bytes) -> Fragment:
    """A Fragment of ``data`` (JSON already encoded, ASCII without DEL: checked once, here; else
    ``ValueError``); the last :data:`RECENT_ASCII_FRAGMENTS_LISTED` made are known to
    :func:`dumps` as ASCII."""
    if not data.isascii() or b"\x7f" in data:
        raise ValueError("not ASCII JSON")
    frag = Fragment(data)
    return put_bounded(_RECENT_ASCII_FRAGMENTS, id(frag), frag, RECENT_ASCII_FRAGMENTS_LISTED)


def _ascii_only(obj: Any) -> bool:
    """Whether ``obj`` is shown, from a few objects, to encode to ASCII without DEL: strings are
    checked, numbers and numeric arrays cannot produce anything else, Fragments only count when
    listed by :func:`ascii_fragment`/:func:`ascii_fragment_of`. ``False`` means "not shown"
    (anything else, or too many objects)."""
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
            key = id(item)
            if _ASCII_FRAGMENTS.get(key) is not item and _RECENT_ASCII_FRAGMENTS.get(key) is not item:
                return False
        elif item is not None and cls is not int and cls is not float and cls is not bool:
            return False
    return True


#: the deepest nesting of arrays and objects accepted anywhere in a request's JSON (body, form
#: or query ``json=``): deeper → 400. Far beyond any real message (an ``ndarray`` has at most 64
#: dimensions), and low enough that everything downstream (numpy, orjson's encoder, which stops
#: at 254, Python's recursion limit) handles what passes.
MAX_DEPTH = 100

#: a JSON string (valid JSON only: every string is closed, so this is one linear pass)
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
#: every byte but the four brackets (deleted before counting depth)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
#: per byte: +1 opens an array or object, -1 closes one, 0 anything else
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1


def _opens_at_most(data: bytes, limit: int) -> bool:
    """Whether ``data`` holds at most ``limit`` ``[`` and ``{`` (memchr scans that stop early:
    ~0.05 ms for a 1 MB tensor body)."""
    count = 0
    for char in (b"[", b"{"):
        pos = data.find(char)
        while pos >= 0:
            count += 1
            if count > limit:
                return False
            pos = data.find(char, pos + 1)
    return True


def _find_all(data: bytes, char: bytes, limit: int) -> list[int] | None:
    """Where ``char`` occurs in ``data`` (memchr scans), or ``None`` if more than ``limit`` times."""
    found: list[int] = []
    pos = data.find(char)
    while pos >= 0:
        if len(found) == limit:
            return None
        found.append(pos)
        pos = data.find(char, pos + 1)
    return found


def nesting_depth(data: bytes | str, at_least: int = MAX_DEPTH) -> int:
    """How deep arrays and objects nest in the (valid) JSON text ``data``; exact when it is more
    than ``at_least``, else some number <= ``at_least`` (cheap: counting brackets shows it).

    The exact depth is the running sum over the brackets outside strings, computed with numpy
    over the bracket positions only (~0.6 ms for a 1.9 MB ``ndarray`` body of 1,000 rows). A
    bracket is inside a string when an odd number of quotes precede it; a text with backslashes
    (which may escape a quote) has its strings removed first instead."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _opens_at_most(raw, at_least):
        return 0
    if b"\\" in raw:
        brackets = np.frombuffer(_JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS), dtype=np.uint8)
        step = _BRACKET_STEP[brackets]
    else:
        arr = np.frombuffer(raw, dtype=np.uint8)
        # the four brackets, and only "Y", "y", "_" and DEL besides (found only inside strings),
        # are the bytes b with (b | 0x20) & 0xF9 == 0x79
        masked = arr | 0x20
        np.bitwise_and(masked, 0xF9, out=masked)
        pos = np.flatnonzero(masked == 0x79)
        step = _BRACKET_STEP[arr[pos]]
        found = _find_all(raw, b'"', 4096)
        quotes = np.flatnonzero(arr == ord('"')) if found is None else np.array(found, dtype=np.intp)
        if quotes.size:
            step = step[(np.searchsorted(quotes, pos) & 1) == 0]
    depth = np.cumsum(step, dtype=np.int32)
    return max(0, int(np.max(depth))) if depth.size else 0


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ``ValueError`` with the parser's message on malformed input, and for
    arrays and objects nested deeper than :data:`MAX_DEPTH`."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise ValueError(f"arrays and objects nested deeper than {MAX_DEPTH} levels") from None
        # Python clients send NaN/Infinity literals and >64-bit integers; accept those.
        try:
            obj = json.loads(data)
        except RecursionError:
            raise ValueError(f"arrays and objects nested deeper than {MAX_DEPTH} levels") from None
        except (ValueError, TypeError):
            raise ValueError(str(exc)) from None
    if nesting_depth(data) > MAX_DEPTH:
        raise ValueError(f"arrays and objects nested deeper than {MAX_DEPTH} levels")
    return obj
