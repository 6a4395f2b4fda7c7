"""SeldonMessage requests read straight from their wire bytes, for the common shapes.

A ``Predict``-like request is nearly always ``meta`` (optional) plus ``data`` holding ``names`` and
one ``tensor`` or ``ndarray`` of numbers. For those, :func:`scan_request` walks the protobuf wire
format once and keeps what :func:`decode_scanned` later needs: the tensor's packed doubles are
read with ``np.frombuffer`` from the received bytes (no protobuf repeated field in between) and an
``ndarray`` becomes nested Python lists of floats without ``json_format``.

The scan is conservative: it accepts a message only if protobuf itself would parse it and
:func:`seldon_py.protocol.seldon.proto_codec.decode_message` would then decode it to the same
:class:`~seldon_py.protocol.seldon.payload.Payload`, and returns ``None`` for anything else (other top-level
fields, a repeated singular field, unknown fields, unpacked repeated fields, non-ASCII names,
non-finite or non-number ``ndarray`` elements, deep nesting, truncated or malformed bytes). The
caller then parses the bytes with protobuf as before, which gives every unusual message, and
every malformed one, exactly its old handling (errors included).

Semantic errors (a tensor whose values do not fit its shape, a ragged ``ndarray``) are raised by
:func:`decode_scanned`, not by the scan, so they come at the same point of the request as before
(after the readiness check).
"""

from __future__ import annotations

from struct import Struct
from typing import Any

import numpy as np

from . import proto_codec
from ...errors import BadRequest
from .payload import DATA_EMPTY, Payload
from ...proto import prediction_pb2 as pb

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


class _Unusual(Exception):
    """The bytes are not one of the shapes handled here (or are malformed)."""


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


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """A varint of at most 5 bytes (< 2**35) inside ``buf[:end]``; anything else is unusual."""
    result = shift = 0
    while shift < 35:
        if pos >= end:
            raise _Unusual
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    raise _Unusual


def _span(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """The length prefix at ``pos`` → (start, end) of the field's bytes, checked against ``end``."""
    if pos < end and buf[pos] < 0x80:  # one-byte length: most fields of small messages
        length = buf[pos]
        pos += 1
    else:
        length, pos = _varint(buf, pos, end)
    stop = pos + length
    if stop > end:
        raise _Unusual
    return pos, stop


def _check_tensor(buf: bytes, pos: int, end: int) -> None:
    """A Tensor with at most one packed ``shape`` (dims < 2**31) and one packed ``values``."""
    seen_shape = seen_values = False
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key == _TENSOR_SHAPE and not seen_shape:
            seen_shape = True
            pos, stop = _span(buf, pos, end)
            while pos < stop:
                dim, pos = _varint(buf, pos, stop)
                if dim >= _MAX_DIM:
                    raise _Unusual
        elif key == _TENSOR_VALUES and not seen_values:
            seen_values = True
            pos, stop = _span(buf, pos, end)
            if (stop - pos) & 7:
                raise _Unusual
            pos = stop
        else:
            raise _Unusual


def _list_value(buf: bytes, pos: int, end: int, depth: int) -> list[Any]:
    """A ListValue of finite numbers and (nested) ListValues → nested lists of floats."""
    if depth > _MAX_DEPTH:
        raise _Unusual
    out: list[Any] = []
    unpack = _DOUBLE.unpack_from
    while pos < end:
        if buf[pos] != _LIST_VALUES:
            raise _Unusual
        start, stop = _span(buf, pos + 1, end)
        # one Value: exactly one field, a number or a list
        if start >= stop:
            raise _Unusual  # an empty Value (null for json_format): left to protobuf
        key = buf[start]
        if key == _VALUE_NUMBER:
            if stop - start != 9:
                raise _Unusual
            v = unpack(buf, start + 1)[0]
            if v != v or v == _INF or v == -_INF:
                raise _Unusual  # json_format refuses these: keep its error
            out.append(v)
        elif key == _VALUE_LIST:
            inner, inner_stop = _span(buf, start + 1, stop)
            if inner_stop != stop:
                raise _Unusual
            out.append(_list_value(buf, inner, inner_stop, depth + 1))
        else:
            raise _Unusual
        pos = stop
    return out


def _scan(wire: bytes) -> ScannedRequest | None:
    end = len(wire)
    pos = 0
    meta_field: tuple[int, int] | None = None
    data: tuple[int, int] | None = None
    while pos < end:
        field_start = pos
        key, pos = _varint(wire, pos, end)
        if key == _SELDON_META and meta_field is None:
            pos = _span(wire, pos, end)[1]
            meta_field = (field_start, pos)
        elif key == _SELDON_DATA and data is None:
            data = _span(wire, pos, end)
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
        key, pos = _varint(wire, pos, end)
        if key == _DATA_NAMES:
            start, pos = _span(wire, pos, end)
            name = wire[start:pos]
            if not name.isascii():
                return None  # protobuf's UTF-8 check decides
            names.append(name.decode("ascii"))
        elif key == _DATA_TENSOR and kind is DATA_EMPTY:
            value = _span(wire, pos, end)
            _check_tensor(wire, value[0], value[1])
            kind, pos = "tensor", value[1]
        elif key == _DATA_NDARRAY and kind is DATA_EMPTY:
            start, pos = _span(wire, pos, end)
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
    except _Unusual:
        return None


def decode_scanned(req: ScannedRequest) -> Payload:
    """The Payload :func:`seldon_py.protocol.seldon.proto_codec.decode_message` gives for the same bytes."""
    meta = proto_codec.meta_to_dict(req.meta) if req.meta is not None else {}
    kind = req.kind
    if kind == "tensor":
        start, stop = req.value
        value = proto_codec.tensor_from_span(req.wire, start, stop)
    elif kind == "ndarray":
        try:
            value = np.array(req.value)
        except ValueError as exc:
            raise BadRequest(f"data.ndarray is not a rectangular array: {exc}") from None
    else:
        value = np.array([])
    return Payload(kind, value, list(req.names), meta)
