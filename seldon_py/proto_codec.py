"""SeldonMessage protobuf ⇄ :class:`~seldon_py.payload.Payload`/`Response` (gRPC, and REST feedback).

Semantics follow the proto types: ``ndarray``/``jsonData``/tag numbers are doubles, ``tensor`` is
float64. Tensors move between numpy and protobuf as packed bytes, never element by element.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf import json_format

from .dataplane import FeedbackPayload
from .errors import BadRequest
from .payload import DATA_EMPTY, Payload, Response, default_names
from .proto import prediction_pb2 as pb

TRANSPORT = "grpc"

_F64 = np.dtype("<f8")


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


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
    """The Tensor message serialised in ``buf[pos:end]`` → float64 array of its shape.

    Expects packed repeated fields (what protobuf writes); anything else raises BadRequest when
    ``strict`` or returns None (the caller then decodes the parsed message instead)."""
    shape: list[int] = []
    values: np.ndarray | None = None
    while pos < end:
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire != 2 or (field == 2 and values is not None):
            if strict:
                raise BadRequest("malformed Tensor message")
            return None
        length, pos = _read_varint(buf, pos)
        chunk_end = pos + length
        if field == 1:
            while pos < chunk_end:
                dim, pos = _read_varint(buf, pos)
                if dim >= 1 << 31:
                    raise BadRequest("data.tensor.shape must be non-negative")
                shape.append(dim)
        elif field == 2:
            values = np.frombuffer(buf, dtype=_F64, count=length // 8, offset=pos)
        pos = chunk_end
    if values is None:
        values = np.empty(0, dtype=np.float64)
    try:
        return values.astype(np.float64).reshape(shape)  # copy: writable, native order
    except ValueError:
        raise BadRequest(
            f"data.tensor: {values.size} values do not fit shape {shape}"
            f" (cannot reshape array of size {values.size} into shape {tuple(shape)})"
        ) from None


def tensor_to_array(tensor: pb.Tensor) -> np.ndarray:
    """A Tensor message → float64 array of its shape, read from the packed wire bytes."""
    buf = tensor.SerializeToString()
    return _tensor_from_wire(buf, 0, len(buf))  # type: ignore[return-value]


_MAX_SCANNED_FIELDS = 64


def _single_submessage(buf: bytes, pos: int, end: int, field: int) -> tuple[int, int] | None:
    """(start, end) of the one length-delimited occurrence of ``field`` in ``buf[pos:end]``;
    None if it is absent, repeated, or the layout is unusual (groups, many fields)."""
    span: tuple[int, int] | None = None
    for _ in range(_MAX_SCANNED_FIELDS):
        if pos >= end:
            return span
        key, pos = _read_varint(buf, pos)
        wire = key & 7
        if wire == 2:
            length, pos = _read_varint(buf, pos)
            if key >> 3 == field:
                if span is not None:
                    return None
                span = (pos, pos + length)
            pos += length
        elif wire == 0:
            pos = _read_varint(buf, pos)[1]
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            return None
    return None


def tensor_from_message_wire(wire: bytes) -> np.ndarray | None:
    """``data.tensor`` of a serialised SeldonMessage, decoded straight from its wire bytes
    (one copy, no re-serialisation); None when the caller should use the parsed message."""
    span = _single_submessage(wire, 0, len(wire), 3)  # SeldonMessage.data
    if span is None:
        return None
    span = _single_submessage(wire, span[0], span[1], 2)  # DefaultData.tensor
    if span is None:
        return None
    return _tensor_from_wire(wire, span[0], span[1], strict=False)


def _tensor_parts(arr: np.ndarray) -> tuple[list[Any], int]:
    """Pieces of a serialised Tensor message for ``arr`` (values as a view, not copied) and
    their total length."""
    shape = b"".join(_write_varint(d) for d in arr.shape)
    parts: list[Any] = [b"\x0a", _write_varint(len(shape)), shape] if arr.ndim else []
    if arr.size:
        values = memoryview(np.ascontiguousarray(arr, dtype=_F64).reshape(-1)).cast("B")
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


def encode_response_bytes(resp: Response) -> bytes:
    """``encode_response(resp).SerializeToString()``, byte for byte, with a tensor's values
    copied once from the array into the output instead of through a protobuf message."""
    if resp.kind != "tensor":
        return encode_response(resp).SerializeToString()  # type: ignore[no-any-return]
    head = _meta_only(resp.meta).SerializeToString()  # status/meta: fields 1-2 precede data (3)
    names = pb.DefaultData()
    _fill_names(names, resp.names)
    tensor, tensor_len = _tensor_parts(resp.value)
    names_bytes = names.SerializeToString()
    data_len = len(names_bytes) + 1 + len(_write_varint(tensor_len)) + tensor_len
    return b"".join([head, b"\x1a", _write_varint(data_len), names_bytes,
                     b"\x12", _write_varint(tensor_len), *tensor])


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

