"""The gRPC fast paths of proto_codec: tensors read from the request's wire bytes and spliced
into the response bytes must give exactly what the plain protobuf route gives."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import json_format

from seldon_py.errors import BadRequest
from seldon_py.proto import prediction_pb2 as pb
from seldon_py.protocol.seldon import proto_codec
from seldon_py.protocol.seldon.payload import Response
from seldon_py.transports.grpc.codec import WireCodec

ARRAYS = [
    np.array(5.0), np.array([]), np.zeros((0, 3)), np.arange(6).reshape(2, 3),
    np.random.default_rng(0).random(10_000), np.arange(4, dtype=np.int32).reshape(2, 2)[:, ::-1],
    np.ones((2, 2), dtype=">f8"), np.random.default_rng(1).random((3, 4, 5)).T,
]
METAS = [{}, {"puid": "p", "tags": {"a": 1}, "requestPath": {"m": "i"}},
         {"metrics": [{"key": "k", "type": "GAUGE", "value": 1}]}]


@pytest.mark.parametrize("arr", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
@pytest.mark.parametrize("names", [[], 3, ["x", "y"]])
@pytest.mark.parametrize("meta", METAS, ids=["no-meta", "meta", "metrics"])
def test_encode_response_bytes_is_byte_identical(arr, names, meta):
    resp = Response("tensor", arr, names, meta)
    assert proto_codec.encode_response_bytes(resp) == proto_codec.encode_response(resp).SerializeToString()


@pytest.mark.parametrize("resp", [
    Response("ndarray", np.array([[1, 2]]), 2, {"puid": "x"}),
    Response("jsonData", {"a": [1, "b"]}, [], {}),
    Response("strData", "s", [], {}),
    Response("binData", b"\x00", [], {"tags": {"t": True}}),
])
def test_encode_response_bytes_other_kinds(resp):
    assert proto_codec.encode_response_bytes(resp) == proto_codec.encode_response(resp).SerializeToString()


def _tensor_msg(shape, values, **extra) -> pb.SeldonMessage:
    msg = json_format.ParseDict(extra, pb.SeldonMessage())
    msg.data.tensor.shape.extend(shape)
    msg.data.tensor.values.extend(values)
    return msg


@pytest.mark.parametrize("msg", [
    _tensor_msg([2, 2], [1, 2, 3, 4.5]),
    _tensor_msg([3], [1, 2, 3], meta={"puid": "p", "tags": {"a": "b"}}),
    _tensor_msg([0], []),
    _tensor_msg([], [3.5]),
    _tensor_msg([1, 10_000], list(np.random.default_rng(2).random(10_000))),
])
def test_wire_tensor_decode_matches_message_decode(msg):
    wire = msg.SerializeToString()
    fast = proto_codec.decode_message(msg, wire)
    slow = proto_codec.decode_message(msg)
    assert fast.kind == slow.kind == "tensor"
    assert fast.value.dtype == np.float64 and fast.value.flags.writeable
    assert np.array_equal(fast.value, slow.value) and fast.value.shape == slow.value.shape
    assert fast.meta == slow.meta and fast.names == slow.names


def test_wire_tensor_decode_falls_back_on_unusual_layouts():
    msg = _tensor_msg([2], [1, 2])
    wire = msg.SerializeToString()
    assert proto_codec.tensor_from_message_wire(wire + wire) is None  # data field repeated (merged)
    unpacked = b"\x1a\x16\x12\x14\x08\x02\x11" + np.float64(1).tobytes() + b"\x11" + np.float64(2).tobytes()
    assert proto_codec.tensor_from_message_wire(unpacked) is None
    assert proto_codec.decode_message(pb.SeldonMessage.FromString(unpacked), unpacked).value.tolist() == [1.0, 2.0]
    with pytest.raises(BadRequest, match="do not fit shape"):
        bad = _tensor_msg([3], [1, 2])
        proto_codec.decode_message(bad, bad.SerializeToString())


def test_wire_codec_uses_wire_only_for_its_own_message():
    msg = _tensor_msg([2], [1, 2])
    other = _tensor_msg([1], [7])
    codec = WireCodec(msg, msg.SerializeToString())
    assert codec.decode_message(msg).value.tolist() == [1.0, 2.0]
    assert codec.decode_message(other).value.tolist() == [7.0]
