"""The one reader of the protobuf wire format in seldon_py, bounds-checked, and the gRPC fast path
that scans common SeldonMessage requests with it.

Assumptions (what every function here relies on, and checks):

* ``buf`` is a ``bytes``-like object and every read stays inside ``buf[pos:end]``: a varint, a
  fixed-width value or a length-delimited field that would run past ``end`` raises
  :class:`WireError` (truncated), never ``IndexError`` and never a read of the next field's bytes;
* a varint has at most 10 bytes and fits in 64 bits (the 10th byte is 0 or 1); a longer one is
  "overlong" and raises :class:`WireError`, so a varint costs at most 10 iterations;
* lengths are checked against ``end`` before anything is sliced or allocated, so a client-sent
  length cannot make us allocate or copy more than the bytes it actually sent;
* unknown fields of every wire type (varint, fixed64, length-delimited, fixed32, and groups,
  nested at most :data:`MAX_GROUP_DEPTH` deep) can be skipped with :func:`skip_field`; only
  wire types 6 and 7, which protobuf never writes, are malformed;
* nothing here decides protobuf *semantics* (UTF-8 of strings, packed vs unpacked repeated
  fields, last-one-wins for repeated singular fields): callers that meet something unusual give
  up (return ``None``) and let protobuf parse the bytes, so protobuf's answer, errors included,
  stays the reference.

The scan (:func:`scan_request`): a ``Predict``-like request is nearly always ``meta`` (optional)
plus ``data`` holding ``names`` and one ``tensor`` or ``ndarray`` of numbers. For those,
:func:`scan_request` walks the wire format once and keeps what
:func:`seldon_py.protocol.seldon.proto_codec.decode_scanned` later needs: the tensor's packed
doubles are read with ``np.frombuffer`` from the received bytes (no protobuf repeated field in
between) and an ``ndarray`` becomes nested Python lists of floats without ``json_format``.

The scan is conservative: it accepts a message only if protobuf itself would parse it and
:func:`seldon_py.protocol.seldon.proto_codec.decode_message` would then decode it to the same
:class:`~seldon_py.protocol.seldon.payload.Payload`, and returns ``None`` for anything else (other
top-level fields, a repeated singular field, unknown fields, unpacked repeated fields, non-ASCII
names, non-finite or non-number ``ndarray`` elements, deep nesting, truncated or malformed bytes).
The caller then parses the bytes with protobuf as before, which gives every unusual message, and
every malformed one, exactly its old handling (errors included).

Semantic errors (a tensor whose values do not fit its shape, a ragged ``ndarray``) are raised when
the scanned request is decoded, not by the scan, so they come at the same point of the request as
before (after the readiness check).
"""

from __future__ import annotations

from struct import Struct
from typing import Any

from ...proto import prediction_pb2 as pb
from .payload import DATA_EMPTY

# wire types
VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
#: the longest varint protobuf writes (a 64-bit value)
MAX_VARINT_BYTES = 10
#: nesting of unknown groups :func:`skip_field` follows
MAX_GROUP_DEPTH = 32


class WireError(Exception):
    """The bytes are truncated or malformed at the protobuf wire level (or, for the scan, not one
    of the shapes it handles)."""


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The varint at ``buf[pos]`` (inside ``buf[:end]``) → (value, position after it)."""
    if pos < end:
        b = buf[pos]
        if b < 0x80:  # one byte: most keys, lengths and small numbers
            return b, pos + 1
    result = shift = 0
    while shift < 7 * MAX_VARINT_BYTES:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if result >> 64:
                raise WireError("varint does not fit in 64 bits")
            return result, pos
        shift += 7
    raise WireError("overlong varint")


def read_len(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The length prefix at ``pos`` → (start, stop) of the field's bytes, checked against ``end``."""
    if pos < end and buf[pos] < 0x80:  # one-byte length: most fields of small messages
        length = buf[pos]
        pos += 1
    else:
        length, pos = read_varint(buf, pos, end)
    stop = pos + length
    if stop > end:
        raise WireError("length-delimited field runs past the end of its message")
    return pos, stop


def skip_field(buf: bytes, pos: int, end: int, key: int, depth: int = 0) -> int:
    """Skip the value of the field whose key (``number << 3 | wire type``) was just read; returns
    the position after it."""
    wire_type = key & 7
    if wire_type == VARINT:
        return read_varint(buf, pos, end)[1]
    if wire_type == LEN:
        return read_len(buf, pos, end)[1]
    if wire_type == FIXED64 or wire_type == FIXED32:
        stop = pos + (8 if wire_type == FIXED64 else 4)
        if stop > end:
            raise WireError("truncated fixed-width field")
        return stop
    if wire_type == START_GROUP:
        if depth >= MAX_GROUP_DEPTH:
            raise WireError("groups nested too deeply")
        while True:
            inner, pos = read_varint(buf, pos, end)
            if inner & 7 == END_GROUP:
                if inner >> 3 != key >> 3:
                    raise WireError("mismatched end of group")
                return pos
            pos = skip_field(buf, pos, end, inner, depth + 1)
    raise WireError(f"invalid wire type {wire_type}")


#: the most fields :func:`single_submessage` looks at before giving up (bounded work)
MAX_SCANNED_FIELDS = 64


def single_submessage(buf: bytes, pos: int, end: int, field: int) -> tuple[int, int] | None:
    """(start, stop) of the one length-delimited occurrence of ``field`` in the message
    ``buf[pos:end]``, skipping every other field; None if it is absent, repeated, not
    length-delimited, or the message has more than :data:`MAX_SCANNED_FIELDS` fields."""
    span: tuple[int, int] | None = None
    for _ in range(MAX_SCANNED_FIELDS):
        if pos >= end:
            return span
        key, pos = read_varint(buf, pos, end)
        if key >> 3 == field:
            if key & 7 != LEN or span is not None:
                return None
            span = read_len(buf, pos, end)
            pos = span[1]
        else:
            pos = skip_field(buf, pos, end, key)
    return None


# ---------------------------------------------------------------- the SeldonMessage request scan

_DOUBLE = Struct("<d")
_INF = float("inf")
#: nesting of ``ndarray`` lists handled here (protobuf's own limit is far above)
_MAX_DEPTH = 32
#: shape dimensions at or above this are int32-negative (or truncated) in protobuf: left to it
_MAX_DIM = 1 << 31

# keys (field number << 3 | wire type) of the fields the scan accepts
_SELDON_META = 0x12  # SeldonMessage.meta = 2, length-delimited
_SELDON_DATA = 0x1A  # SeldonMessage.data = 3
_DATA_NAMES = 0x0A  # DefaultData.names = 1
_DATA_TENSOR = 0x12  # DefaultData.tensor = 2
_DATA_NDARRAY = 0x1A  # DefaultData.ndarray = 3
_TENSOR_SHAPE = 0x0A  # Tensor.shape = 1, packed
_TENSOR_VALUES = 0x12  # Tensor.values = 2, packed
_LIST_VALUES = 0x0A  # ListValue.values = 1
_VALUE_NUMBER = 0x11  # Value.number_value = 2, fixed64
_VALUE_LIST = 0x32  # Value.list_value = 6


class ScannedRequest:
    """A SeldonMessage with ``data`` (tensor, ndarray or neither) scanned from ``wire``.

    ``meta`` is the parsed Meta (None when the request had none); ``kind`` is ``tensor``,
    ``ndarray`` or :data:`~seldon_py.protocol.seldon.payload.DATA_EMPTY`; for a tensor ``value`` is the
    (start, end) of its Tensor message in ``wire``, for an ndarray the nested lists of floats.
    """

    __slots__ = ("wire", "meta", "names", "kind", "value")

    def __init__(self, wire: bytes, meta: Any, names: list[str], kind: str, value: Any) -> None:
        self.wire = wire
        self.meta = meta
        self.names = names
        self.kind = kind
        self.value = value


def _check_tensor(buf: bytes, pos: int, end: int) -> None:
    """A Tensor with at most one packed ``shape`` (dims < 2**31) and one packed ``values``."""
    seen_shape = seen_values = False
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        if key == _TENSOR_SHAPE and not seen_shape:
            seen_shape = True
            pos, stop = read_len(buf, pos, end)
            while pos < stop:
                dim, pos = read_varint(buf, pos, stop)
                if dim >= _MAX_DIM:
                    raise WireError
        elif key == _TENSOR_VALUES and not seen_values:
            seen_values = True
            pos, stop = read_len(buf, pos, end)
            if (stop - pos) & 7:
                raise WireError
            pos = stop
        else:
            raise WireError


def _list_value(buf: bytes, pos: int, end: int, depth: int) -> list[Any]:
    """A ListValue of finite numbers and (nested) ListValues → nested lists of floats."""
    if depth > _MAX_DEPTH:
        raise WireError
    out: list[Any] = []
    unpack = _DOUBLE.unpack_from
    while pos < end:
        if buf[pos] != _LIST_VALUES:
            raise WireError
        start, stop = read_len(buf, pos + 1, end)
        # one Value: exactly one field, a number or a list
        if start >= stop:
            raise WireError  # an empty Value (null for json_format): left to protobuf
        key = buf[start]
        if key == _VALUE_NUMBER:
            if stop - start != 9:
                raise WireError
            v = unpack(buf, start + 1)[0]
            if v != v or v == _INF or v == -_INF:
                raise WireError  # json_format refuses these: keep its error
            out.append(v)
        elif key == _VALUE_LIST:
            inner, inner_stop = read_len(buf, start + 1, stop)
            if inner_stop != stop:
                raise WireError
            out.append(_list_value(buf, inner, inner_stop, depth + 1))
        else:
            raise WireError
        pos = stop
    return out


def _scan(wire: bytes) -> ScannedRequest | None:
    end = len(wire)
    pos = 0
    meta_field: tuple[int, int] | None = None
    data: tuple[int, int] | None = None
    while pos < end:
        field_start = pos
        key, pos = read_varint(wire, pos, end)
        if key == _SELDON_META and meta_field is None:
            pos = read_len(wire, pos, end)[1]
            meta_field = (field_start, pos)
        elif key == _SELDON_DATA and data is None:
            data = read_len(wire, pos, end)
            pos = data[1]
        else:
            return None
    if data is None:
        return None

    names: list[str] = []
    kind = DATA_EMPTY
    value: Any = None
    pos, end = data
    while pos < end:
        key, pos = read_varint(wire, pos, end)
        if key == _DATA_NAMES:
            start, pos = read_len(wire, pos, end)
            name = wire[start:pos]
            if not name.isascii():
                return None  # protobuf's UTF-8 check decides
            names.append(name.decode("ascii"))
        elif key == _DATA_TENSOR and kind is DATA_EMPTY:
            value = read_len(wire, pos, end)
            _check_tensor(wire, value[0], value[1])
            kind, pos = "tensor", value[1]
        elif key == _DATA_NDARRAY and kind is DATA_EMPTY:
            start, pos = read_len(wire, pos, end)
            kind, value = "ndarray", _list_value(wire, start, pos, 1)
        else:
            return None

    meta = None
    if meta_field is not None:
        # parsed inside a SeldonMessage of its own: the same nesting depth and checks as in the
        # whole request; a failure here is the whole request's failure, left to protobuf
        try:
            meta = pb.SeldonMessage.FromString(wire[meta_field[0]:meta_field[1]]).meta
        except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
            return None
    return ScannedRequest(wire, meta, names, kind, value)


def scan_request(wire: bytes) -> ScannedRequest | None:
    """The request if it is a common-shape SeldonMessage (see the module doc), else None."""
    try:
        return _scan(wire)
    except WireError:
        return None
