"""Transport-neutral message types and the rules that turn a user's return value into a response.

A transport codec (JSON for REST, protobuf for gRPC) decodes a request into a :class:`Payload`;
the :class:`~seldon_py.protocol.seldon.handler.SeldonHandler` calls the user and builds a :class:`Response`; the
codec encodes it. A user ``*_raw`` method short-circuits this: its return value travels as a
:class:`RawResult` and is sent back as it is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ...errors import BadRequest
from ...model.api import SeldonResponse

#: payload kinds inside ``data``
DATA_KINDS = frozenset({"tensor", "ndarray", "tftensor"})
#: ``data`` was present but had none of tensor/ndarray/tftensor
DATA_EMPTY = "data"

#: client-declared shapes (tensor, tftensor): at most this many dimensions (numpy allows 64)
MAX_DIMS = 32
#: a shape may declare more elements than the values sent only up to this many: an empty tensor
#: (``[0, 5]``, an empty batch) or a tftensor filled from fewer values (``tf.make_ndarray``'s
#: rule). The answer's names and arrays are sized by the shape, so an unbounded declared shape
#: would let a 56-byte request allocate gigabytes.
MAX_DECLARED_ELEMENTS = 65536


def _strings(arr: np.ndarray) -> bool:
    """Whether ``arr`` holds only text or bytes (what a DT_STRING tftensor carries)."""
    if arr.dtype.kind in "SU":
        return True
    return arr.dtype.kind == "O" and all(isinstance(x, (bytes, str)) for x in arr.flat)


def brief(obj: Any, limit: int = 200) -> str:
    """``repr(obj)`` for an error message: bounded in length and depth (a client's value may be
    huge or nested thousands deep)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxstring, r.maxother = 4, 16, 16, limit, limit
    text = r.repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_shape(shape: list[int], values: int, where: str) -> None:
    """Refuse a client-declared ``shape`` (dims >= 0, or -1) that has too many dimensions or
    declares more elements than the ``values`` sent (beyond :data:`MAX_DECLARED_ELEMENTS`),
    before anything of that shape is allocated. 0 and -1 dimensions are left to the reshape."""
    if len(shape) > MAX_DIMS:
        raise BadRequest(f"{where}: {len(shape)} dimensions, at most {MAX_DIMS} are accepted")
    bound = max(values, MAX_DECLARED_ELEMENTS)
    extent = 1
    for dim in shape:
        if dim > 0:
            extent *= dim
            if extent > bound:
                raise BadRequest(
                    f"{where}: shape {brief(shape)} declares more elements than the {values} values "
                    f"sent (beyond {MAX_DECLARED_ELEMENTS} elements a shape must match its values)")


@dataclass(slots=True)
class Payload:
    """A decoded request message.

    ``kind`` is ``tensor``/``ndarray``/``tftensor``/``data`` (data without a kind) or
    ``jsonData``/``strData``/``binData``/``customData``; ``value`` is what the user method gets
    (a numpy array for the data kinds); ``meta`` is the request meta as a dict, or ``None`` when
    the request had none.
    """

    kind: str
    value: Any
    names: list[str]
    meta: dict[str, Any] | None


@dataclass(slots=True)
class Response:
    """A response message before encoding.

    ``kind`` as in :class:`Payload` (never ``data``). For the data kinds ``value`` is a numpy array
    (or, for ``ndarray``, the list the user returned) and ``names`` is a list of strings or an
    ``int`` n meaning ``["t:0", ..., "t:n-1"]``.
    """

    kind: str
    value: Any
    names: list[str] | int
    meta: dict[str, Any]
    status: int = 200


@dataclass(slots=True)
class RawResult:
    """What a ``*_raw`` user method returned: sent back untouched (dict → JSON, proto → gRPC)."""

    value: Any


@dataclass(slots=True)
class FeedbackPayload:
    """A decoded Feedback message."""

    request_kind: str | None
    features: Any
    names: list[str]
    request_meta: dict[str, Any]
    reward: float
    truth: Any
    routing_table: dict[str, int]


#: default names are kept per width up to this width; wider ones (the client picks the width) are
#: built per response, so they cannot pin memory
CACHED_NAMES_WIDTH = 4096


@lru_cache(maxsize=64)
def _cached_default_names(n: int) -> tuple[str, ...]:
    return tuple(f"t:{i}" for i in range(n))


def default_names(n: int) -> tuple[str, ...]:
    """``("t:0", ..., "t:n-1")``, built once per width (up to :data:`CACHED_NAMES_WIDTH`)."""
    if n <= CACHED_NAMES_WIDTH:
        return _cached_default_names(n)
    return tuple(f"t:{i}" for i in range(n))


#: encodings of default names are kept, most recently used first, while they total at most this
#: many bytes per process (a 100,000-wide answer's are ~1 MB); a wider one is built per response
ENCODED_NAMES_CACHE_BYTES = 16 * 1024 * 1024
_encoded_names: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_encoded_names_size = 0
_encoded_names_lock = threading.Lock()


def build_default_names(stop: int, each: bytes, sep: bytes = b"", start: int = 0, enclose: bytes = b"") -> bytes:
    """``sep.join(each % i for i in range(start, stop))`` between ``enclose[:1]`` and
    ``enclose[1:]`` (e.g. ``b"[]"``), built in slices (no Python object per name alive at once);
    not kept (:func:`cached_names_encoding` keeps it)."""
    out = bytearray(enclose[:1])
    step = 65536
    for lo in range(start, stop, step):
        if lo > start:
            out += sep
        out += sep.join([each % i for i in range(lo, min(stop, lo + step))])
    out += enclose[1:]
    return bytes(out)


def cached_names_encoding(key: tuple[Any, ...], build: Callable[[], bytes]) -> bytes:
    """``build()``, kept under ``key`` in a cache bounded by size (:data:`ENCODED_NAMES_CACHE_BYTES`):
    building the names of a 100,000-wide answer costs ~6 ms, more than the rest of encoding it."""
    global _encoded_names_size
    with _encoded_names_lock:
        found = _encoded_names.get(key)
        if found is not None:
            _encoded_names.move_to_end(key)
            return found
    built = build()
    if len(built) <= ENCODED_NAMES_CACHE_BYTES // 4:
        with _encoded_names_lock:
            if key not in _encoded_names:
                _encoded_names[key] = built
                _encoded_names_size += len(built)
                while _encoded_names_size > ENCODED_NAMES_CACHE_BYTES:
                    _, dropped = _encoded_names.popitem(last=False)
                    _encoded_names_size -= len(dropped)
    return built


def default_names_encoded(stop: int, each: bytes, sep: bytes = b"", start: int = 0,
                          enclose: bytes = b"") -> bytes:
    """:func:`build_default_names`, kept (:func:`cached_names_encoding`)."""
    return cached_names_encoding((stop, each, sep, start, enclose),
                                 lambda: build_default_names(stop, each, sep, start, enclose))


_NUMERIC: dict[np.dtype, bool] = {}


def is_numeric(arr: np.ndarray) -> bool:
    """Numbers in the numpy sense (bool and strings are not); the answer per dtype is kept, as
    ``np.issubdtype`` costs a few microseconds on every request."""
    dtype = arr.dtype
    known = _NUMERIC.get(dtype)
    if known is None:
        known = bool(np.issubdtype(dtype, np.number))
        if len(_NUMERIC) < 256:  # structured/string dtypes of many sizes must not grow it forever
            _NUMERIC[dtype] = known
    return known


def unwrap(result: Any) -> tuple[Any, dict[str, Any] | None, list[dict[str, Any]] | None]:
    """Split a SeldonResponse into (data, runtime tags, runtime metrics)."""
    if isinstance(result, SeldonResponse):
        return result.data, result.tags, result.metrics
    return result, None, None


def build_response(
    result: Any,
    request_kind: str | None,
    class_names: Any,
    meta: dict[str, Any],
) -> Response:
    """Choose the response payload for a user's return value (spec §5.4).

    ``request_kind`` is the kind of the request (``None`` when there was none, as for
    /health/status); ``class_names`` is a zero-argument callable returning the user's class names
    or ``None``.
    """
    if isinstance(result, dict):
        return Response("jsonData", result, [], meta)
    if isinstance(result, (bytes, bytearray)):
        return Response("binData", bytes(result), [], meta)
    if isinstance(result, str):
        return Response("strData", result, [], meta)
    if isinstance(result, np.ndarray):
        arr = result
    elif isinstance(result, list):
        try:
            arr = np.array(result)
        except ValueError as exc:
            raise BadRequest(f"Returned list is not a rectangular array: {exc}") from None
    else:
        if type(result).__name__ == "Any" and hasattr(result, "type_url"):
            return Response("customData", result, [], meta)
        raise BadRequest(
            f"Unknown data type returned as payload (must be list or np array):{result}"
        )
    if is_numeric(arr):
        if request_kind in DATA_KINDS:
            kind = request_kind
        elif request_kind == DATA_EMPTY:
            kind = "ndarray"
        else:
            kind = "tensor"
    elif request_kind == "tftensor" and _strings(arr):
        kind = "tftensor"  # DT_STRING round-trips (an ndarray cannot hold bytes on gRPC)
    else:
        kind = "ndarray"
    if kind == "ndarray" and isinstance(result, list):
        value: Any = result  # a returned list is sent as the user built it (ints stay ints)
    else:
        value = arr
    names: list[str] | int
    if arr.ndim >= 2:
        user_names = class_names() if class_names is not None else None
        names = list(user_names) if user_names is not None else arr.shape[1]
    else:
        names = []
    return Response(kind, value, names, meta)
