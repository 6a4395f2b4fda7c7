"""SeldonMessage protobuf ⇄ :class:`~seldon_py.protocol.seldon.payload.Payload`/`Response` (gRPC, and REST feedback).

Semantics follow the proto types: ``ndarray``/``jsonData``/tag numbers are doubles, ``tensor`` is
float64. Tensors move between numpy and protobuf as packed bytes, never element by element.
"""

from __future__ import annotations

from functools import lru_cache, partial
from struct import Struct
from typing import Any

import numpy as np
from google.protobuf import json_format

from ...errors import BadRequest, SeldonMicroserviceException
from ...proto import prediction_pb2 as pb
from . import wire
from .payload import (
    CACHED_NAMES_WIDTH,
    DATA_EMPTY,
    FeedbackPayload,
    Payload,
    Response,
    brief,
    build_default_names,
    cached_names_encoding,
    check_shape,
    default_names,
)

_F64 = np.dtype("<f8")


def _write_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tensor_from_wire(buf: bytes, pos: int, end: int, strict: bool = True) -> np.ndarray | None:
    """The Tensor message serialised in ``buf[pos:end]`` → float64 array of its shape; the shape
    is checked against the values (:func:`check_shape`) before anything of it exists.

    Reads with :mod:`.wire` (bounds-checked); unknown fields of any wire type are skipped. Packed
    ``values`` are read in place; anything protobuf writes otherwise (unpacked or repeated
    ``values``, unpacked ``shape``) returns None when not ``strict`` (the caller then decodes the
    parsed message), and is read when ``strict`` (bytes protobuf itself serialised). Truncated or
    malformed bytes raise BadRequest when ``strict``, else return None."""
    shape: list[int] = []
    values: np.ndarray | None = None
    try:
        while pos < end:
            key, pos = wire.read_varint(buf, pos, end)
            field, wire_type = key >> 3, key & 7
            if field == 1 and wire_type == wire.LEN:
                start, pos = wire.read_len(buf, pos, end)
                while start < pos:
                    dim, start = wire.read_varint(buf, start, pos)
                    if dim >= 1 << 31:
                        raise BadRequest("data.tensor.shape must be non-negative")
                    shape.append(dim)
            elif field == 1 and wire_type == wire.VARINT and strict:
                dim, pos = wire.read_varint(buf, pos, end)
                if dim >= 1 << 31:
                    raise BadRequest("data.tensor.shape must be non-negative")
                shape.append(dim)
            elif field == 2 and wire_type == wire.LEN and values is None:
                start, pos = wire.read_len(buf, pos, end)
                if (pos - start) & 7:
                    raise wire.WireError("packed doubles of a length that is not a multiple of 8")
                values = np.frombuffer(buf, dtype=_F64, count=(pos - start) // 8, offset=start)
            elif field in (1, 2):
                if strict:  # not what protobuf writes for a message it parsed itself
                    raise wire.WireError(f"Tensor field {field} with wire type {wire_type}")
                return None
            else:
                pos = wire.skip_field(buf, pos, end, key)
    except wire.WireError as exc:
        if strict:
            raise BadRequest(f"malformed Tensor message: {exc}") from None
        return None
    if values is None:
        values = np.empty(0, dtype=np.float64)
    return _shaped(values, shape)


def _shaped(values: np.ndarray, shape: list[int]) -> np.ndarray:
    check_shape(shape, values.size, "data.tensor.shape")
    try:
        return values.astype(np.float64).reshape(shape)  # copy: writable, native order
    except ValueError:
        raise BadRequest(
            f"data.tensor: {values.size} values do not fit shape {brief(shape)}"
            f" (cannot reshape array of size {values.size} into shape {brief(tuple(shape))})"
        ) from None


def tensor_to_array(tensor: pb.Tensor) -> np.ndarray:
    """A Tensor message → float64 array of its shape, read from the packed wire bytes (or from
    the message's fields when they are laid out otherwise, e.g. unpacked doubles: valid proto3)."""
    buf = tensor.SerializeToString()
    arr = _tensor_from_wire(buf, 0, len(buf), strict=False)
    if arr is not None:
        return arr
    shape = list(tensor.shape)
    if any(dim < 0 or dim >= 1 << 31 for dim in shape):
        raise BadRequest("data.tensor.shape must be non-negative")
    check_shape(shape, len(tensor.values), "data.tensor.shape")
    return _shaped(np.array(tensor.values, dtype=np.float64), shape)


def tensor_from_span(buf: bytes, start: int, end: int) -> np.ndarray | None:
    """The Tensor message in ``buf[start:end]`` (packed fields) → float64 array; None if it
    is not laid out as protobuf writes it."""
    return _tensor_from_wire(buf, start, end, strict=False)


def tensor_from_message_wire(buf: bytes) -> np.ndarray | None:
    """``data.tensor`` of a serialised SeldonMessage, decoded straight from its wire bytes
    (one copy, no re-serialisation); None when the caller should use the parsed message."""
    try:
        span = wire.single_submessage(buf, 0, len(buf), 3)  # SeldonMessage.data
        if span is None:
            return None
        span = wire.single_submessage(buf, span[0], span[1], 2)  # DefaultData.tensor
    except wire.WireError:
        return None
    if span is None:
        return None
    return _tensor_from_wire(buf, span[0], span[1], strict=False)


def _tensor_parts(arr: np.ndarray) -> tuple[list[Any], int]:
    """Pieces of a serialised Tensor message for ``arr`` (values as a view, not copied) and
    their total length."""
    shape = b"".join(_write_varint(d) for d in arr.shape)
    parts: list[Any] = [b"\x0a", _write_varint(len(shape)), shape] if arr.ndim else []
    if arr.size:
        values = np.ascontiguousarray(arr, dtype=_F64).reshape(-1).data.cast("B")
        parts += [b"\x12", _write_varint(values.nbytes), values]
    return parts, sum(len(p) for p in parts)


def array_to_tensor_bytes(arr: np.ndarray) -> bytes:
    """Serialised Tensor message (packed shape + packed doubles) for ``arr``."""
    return b"".join(_tensor_parts(arr)[0])


def _value_to_py(msg: Any) -> Any:
    return json_format.MessageToDict(msg)


def meta_to_dict(meta: pb.Meta) -> dict[str, Any]:
    return json_format.MessageToDict(meta) if meta.ByteSize() else {}


def decode_data(d: pb.DefaultData) -> tuple[str, np.ndarray, list[str]]:
    names = list(d.names)
    which = d.WhichOneof("data_oneof")
    if which == "tensor":
        return "tensor", tensor_to_array(d.tensor), names
    if which == "ndarray":
        try:
            return "ndarray", np.array(_value_to_py(d.ndarray)), names
        except ValueError as exc:
            raise BadRequest(f"data.ndarray is not a rectangular array: {exc}") from None
    if which == "tftensor":
        from .tftensor import tftensor_proto_to_array

        return "tftensor", tftensor_proto_to_array(d.tftensor), names
    return DATA_EMPTY, np.array([]), names


def decode_message(msg: Any, wire: bytes | None = None) -> Payload:
    """``wire``, if given, must be the bytes ``msg`` was parsed from: tensors are then read from
    it directly."""
    if not isinstance(msg, pb.SeldonMessage):
        raise BadRequest(f"Invalid request data type: {type(msg).__name__}")
    which = msg.WhichOneof("data_oneof")
    meta = meta_to_dict(msg.meta)
    if which == "data":
        d = msg.data
        if wire is not None and d.WhichOneof("data_oneof") == "tensor":
            value = tensor_from_message_wire(wire)
            if value is not None:
                return Payload("tensor", value, list(d.names), meta)
        kind, value, names = decode_data(d)
        return Payload(kind, value, names, meta)
    if which == "strData":
        return Payload("strData", msg.strData, [], meta)
    if which == "binData":
        return Payload("binData", msg.binData, [], meta)
    if which == "jsonData":
        return Payload("jsonData", _value_to_py(msg.jsonData), [], meta)
    if which == "customData":
        return Payload("customData", msg.customData, [], meta)
    raise BadRequest(
        "SeldonMessage carries no payload: set one of data, binData, strData, jsonData, customData"
    )


def decode_message_list(msg: Any) -> list[Any]:
    if isinstance(msg, pb.SeldonMessageList):
        msgs = list(msg.seldonMessages)
    else:
        raise BadRequest(f"Invalid request data type: {type(msg).__name__}")
    if not msgs:
        raise BadRequest("aggregate needs at least one message")
    return msgs


def decode_feedback(fb: pb.Feedback) -> FeedbackPayload:
    kind: str | None = None
    features: Any = np.array([])
    names: list[str] = []
    if fb.request.WhichOneof("data_oneof") == "data":
        kind, features, names = decode_data(fb.request.data)
    truth: Any = np.array([])
    if fb.truth.WhichOneof("data_oneof") == "data":
        truth = decode_data(fb.truth.data)[1]
    return FeedbackPayload(
        request_kind=kind,
        features=features,
        names=names,
        request_meta=meta_to_dict(fb.request.meta),
        reward=fb.reward,
        truth=truth,
        routing_table=dict(fb.response.meta.routing),
    )


def feedback_from_json(body: Any) -> pb.Feedback:
    """A Feedback in its JSON form → the protobuf message (what a ``send_feedback_raw`` gets over
    REST, as in Seldon Core)."""
    fb = pb.Feedback()
    try:
        json_format.ParseDict(body, fb)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise BadRequest(f"Invalid JSON: {exc}") from None
    return fb


def raw_metrics(result: Any) -> Any:
    if isinstance(result, pb.SeldonMessage) and len(result.meta.metrics):
        return [json_format.MessageToDict(m) | {"type": pb.Metric.MetricType.Name(m.type)}
                for m in result.meta.metrics]
    if isinstance(result, dict):
        meta = result.get("meta")
        return meta.get("metrics") if isinstance(meta, dict) else None
    return None


def strip_raw_metrics(result: Any) -> Any:
    if isinstance(result, pb.SeldonMessage):
        out = pb.SeldonMessage()
        out.CopyFrom(result)
        del out.meta.metrics[:]
        return out
    meta = dict(result["meta"])
    del meta["metrics"]
    return {**result, "meta": meta}


def _fill_names(d: pb.DefaultData, names: list[str] | int) -> None:
    d.names.extend(default_names(names) if isinstance(names, int) else [str(n) for n in names])


def _meta_only(meta: dict[str, Any]) -> pb.SeldonMessage:
    msg = pb.SeldonMessage()
    msg.meta.SetInParent()
    if meta:
        try:
            json_format.ParseDict(meta, msg.meta)
        except json_format.ParseError as exc:
            raise BadRequest(f"response meta cannot be encoded: {exc}") from None
    return msg


# ---------------------------------------------------------------- response bytes, hand-encoded
# encode_response_bytes() writes the common responses directly in protobuf's wire format, in the
# order protobuf serialises (field number order), and hands anything else to encode_response().
# tests/test_proto_wire.py compares both on many random messages.

_DOUBLE = Struct("<d")
_EMPTY_META = b"\x12\x00"  # SeldonMessage.meta, present and empty (what _meta_only gives {})
#: requestPath maps → their serialised Meta (maps are serialised by protobuf, then reused)
_REQUEST_PATH_BYTES: dict[tuple[tuple[str, str], ...], bytes] = {}
_REQUEST_PATH_CACHE_SIZE = 64
#: a ListValue element: key of ListValue.values, length 9, key of Value.number_value
_NUMBER_ELEMENT = b"\x0a\x09\x11"
_MAX_EXACT_INT = 1 << 53


def _field(key: bytes, payload: bytes) -> bytes:
    return key + _write_varint(len(payload)) + payload


def _meta_head(meta: dict[str, Any]) -> bytes:
    """``_meta_only(meta).SerializeToString()``: the Meta field of the response."""
    if not meta:
        return _EMPTY_META
    puid = meta.get("puid", "")
    path = meta.get("requestPath", {})
    if len(meta) <= 2 and type(puid) is str and type(path) is dict and len(meta) == (
        ("puid" in meta) + ("requestPath" in meta)
    ):
        key = tuple(path.items())
        body = _REQUEST_PATH_BYTES.get(key)
        if body is None and all(type(k) is str and type(v) is str for k, v in key):
            body = _meta_only({"requestPath": path}).meta.SerializeToString()
            if len(_REQUEST_PATH_BYTES) < _REQUEST_PATH_CACHE_SIZE:
                _REQUEST_PATH_BYTES[key] = body
        if body is not None:
            try:
                puid_field = _field(b"\x0a", puid.encode()) if puid else b""
            except UnicodeEncodeError:
                pass  # protobuf raises its own error for it
            else:
                return _field(b"\x12", puid_field + body)
    return _meta_only(meta).SerializeToString()


@lru_cache(maxsize=16)
def _cached_default_names_bytes(n: int) -> bytes:
    return b"".join(_field(b"\x0a", name.encode()) for name in default_names(n))


def _default_names_bytes(n: int) -> bytes:
    if n <= CACHED_NAMES_WIDTH:
        return _cached_default_names_bytes(n)
    # wide (the client picked the width): kept by size (the whole field list, so an answer copies
    # it once, into the message)
    return cached_names_encoding(("protobuf", n), partial(_build_wide_names, n))


def _build_wide_names(n: int) -> bytes:
    # each name is a field 1 key, a one-byte length (2 + its digits) and "t:<i>"
    return b"".join([
        build_default_names(min(n, 10 ** digits), b"\x0a" + bytes([2 + digits]) + b"t:%d",
                            start=0 if digits == 1 else 10 ** (digits - 1))
        for digits in range(1, len(str(n - 1)) + 1)
    ])


def _names_bytes(names: list[Any] | int) -> bytes | None:
    """The serialised ``DefaultData.names`` for ``names``; None for strings that are not UTF-8
    encodable (protobuf reports those)."""
    if isinstance(names, int):
        return _default_names_bytes(names)
    try:
        return b"".join([_field(b"\x0a", str(n).encode()) for n in names])
    except UnicodeEncodeError:
        return None


def _list_value_bytes(items: list[Any], depth: int = 0) -> bytes | None:
    """ListValue bytes for nested lists of floats and exactly representable ints; None for
    anything else (bools, None, strings, numpy scalars, tuples, ...)."""
    if depth > 32:
        return None
    pack = _DOUBLE.pack
    parts = []
    for v in items:
        t = type(v)
        if t is float:
            parts.append(_NUMBER_ELEMENT + pack(v))
        elif t is int and -_MAX_EXACT_INT <= v <= _MAX_EXACT_INT:
            parts.append(_NUMBER_ELEMENT + pack(float(v)))
        elif t is list:
            inner = _list_value_bytes(v, depth + 1)
            if inner is None:
                return None
            parts.append(_field(b"\x0a", _field(b"\x32", inner)))
        else:
            return None
    return b"".join(parts)


def encode_response_bytes(resp: Response) -> bytes:
    """``encode_response(resp).SerializeToString()``, byte for byte, written directly for
    tensors (values copied once from the array into the output) and for ``ndarray`` lists of
    numbers; other responses go through the protobuf message."""
    kind = resp.kind
    if kind == "tensor":
        head = _meta_head(resp.meta)  # status/meta: fields 1-2 precede data (3)
        names = _names_bytes(resp.names)
        if names is not None:
            tensor, tensor_len = _tensor_parts(resp.value)
            data_len = len(names) + 1 + len(_write_varint(tensor_len)) + tensor_len
            return b"".join([head, b"\x1a", _write_varint(data_len), names,
                             b"\x12", _write_varint(tensor_len), *tensor])
    elif kind == "ndarray":
        head = _meta_head(resp.meta)
        names = _names_bytes(resp.names)
        value = resp.value
        if names is not None and type(value) is np.ndarray:
            value = value.tolist()
            value = value if isinstance(value, list) else [value]  # 0-d: one element
        if names is not None and isinstance(value, list):
            nd = _list_value_bytes(value)
            if nd is not None:
                return head + _field(b"\x1a", names + _field(b"\x1a", nd))
    return encode_response(resp).SerializeToString()


def encode_response(resp: Response) -> pb.SeldonMessage:
    msg = _meta_only(resp.meta)
    kind = resp.kind
    if kind == "tensor":
        _fill_names(msg.data, resp.names)
        msg.data.tensor.SetInParent()
        msg.data.tensor.MergeFromString(array_to_tensor_bytes(resp.value))
    elif kind == "ndarray":
        _fill_names(msg.data, resp.names)
        msg.data.ndarray.SetInParent()
        value = resp.value if isinstance(resp.value, list) else resp.value.tolist()
        if isinstance(value, list):
            msg.data.ndarray.extend(value)
        else:  # 0-d: proto has no scalar ndarray; a one-element list is the closest
            msg.data.ndarray.append(value)
    elif kind == "tftensor":
        from .tftensor import array_to_tftensor_proto

        _fill_names(msg.data, resp.names)
        msg.data.tftensor.CopyFrom(array_to_tftensor_proto(resp.value))
    elif kind == "jsonData":
        json_format.ParseDict(resp.value, msg.jsonData)
    elif kind == "strData":
        msg.strData = resp.value
    elif kind == "binData":
        msg.binData = resp.value
    elif kind == "customData":
        msg.customData.CopyFrom(resp.value)
    return msg


def response_to_json_dict(resp: Response) -> dict[str, Any]:
    """What the reference sends for proto-built REST replies (feedback): MessageToDict of the proto."""
    return json_format.MessageToDict(encode_response(resp))



# ---------------------------------------------------------------- the client's directions
# A client of another node (the graph executor) encodes requests and decodes responses.


def encode_request(payload: Payload) -> pb.SeldonMessage:
    """A :class:`Payload` → the SeldonMessage to send (the inverse of :func:`decode_message`;
    ``meta`` is set only when the payload has one)."""
    kind = payload.kind
    if kind == DATA_EMPTY:
        msg = _meta_only(payload.meta or {})
        msg.data.SetInParent()
        _fill_names(msg.data, payload.names)
    elif kind in ("tensor", "ndarray", "tftensor", "jsonData", "strData", "binData", "customData"):
        msg = encode_response(Response(kind, payload.value, payload.names, payload.meta or {}))
    else:
        raise BadRequest(f"cannot encode a request of kind {kind!r}")
    if payload.meta is None:
        msg.ClearField("meta")
    return msg


def decode_response(msg: Any) -> Response:
    """A SeldonMessage another node answered → :class:`Response` (the inverse of
    :func:`encode_response`). A message whose ``status`` says FAILURE raises
    :class:`~seldon_py.errors.SeldonMicroserviceException` with its info and reason."""
    if isinstance(msg, pb.SeldonMessage) and msg.HasField("status") and msg.status.status == pb.Status.FAILURE:
        code = msg.status.code if 400 <= msg.status.code <= 599 else 500
        raise SeldonMicroserviceException(msg.status.info, status_code=code, reason=msg.status.reason or None)
    payload = decode_message(msg)
    kind = "ndarray" if payload.kind == DATA_EMPTY else payload.kind  # data without a kind
    return Response(kind, payload.value, payload.names, payload.meta or {})


def decode_scanned(req: wire.ScannedRequest) -> Payload:
    """The Payload :func:`decode_message` gives for the same bytes, from a request the gRPC fast
    path only scanned (:func:`seldon_py.protocol.seldon.wire.scan_request`)."""
    meta = meta_to_dict(req.meta) if req.meta is not None else {}
    kind = req.kind
    if kind == "tensor":
        start, stop = req.value
        value = tensor_from_span(req.wire, start, stop)
    elif kind == "ndarray":
        try:
            value = np.array(req.value)
        except ValueError as exc:
            raise BadRequest(f"data.ndarray is not a rectangular array: {exc}") from None
    else:
        value = np.array([])
    return Payload(kind, value, list(req.names), meta)
