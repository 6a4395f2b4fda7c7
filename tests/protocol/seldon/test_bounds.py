"""Counts, sizes and depths a client sends are checked before anything is allocated from them
(issue 11): declared shapes, JSON nesting, and valid-but-unusual protobuf."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from seldon_py.errors import BadRequest
from seldon_py.proto import prediction_pb2 as pb
from seldon_py.protocol.seldon import json_codec, proto_codec, tftensor
from seldon_py.protocol.seldon.payload import MAX_DECLARED_ELEMENTS, MAX_DIMS, brief, check_shape
from seldon_py.util import jsonutil


def _peak_bytes(fn) -> int:
    """Peak traced allocation while running ``fn`` (numpy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
    except BadRequest:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


# ----------------------------------------------------------------------------- declared shapes
@pytest.mark.parametrize("shape, values", [
    ([0, 100_000_000], 0), ([100_000_000, 0], 0), ([2**40, 2**40, 0], 0), ([10**30], 1),
    ([MAX_DECLARED_ELEMENTS + 1, 0], 0), ([1] * (MAX_DIMS + 1), 1),
])
def test_shapes_beyond_their_values_are_refused(shape, values):
    with pytest.raises(BadRequest, match="data.tensor.shape"):
        check_shape(shape, values, "data.tensor.shape")


@pytest.mark.parametrize("shape, values", [([0, 5], 0), ([2, 3], 6), ([-1, 3], 6), ([0, MAX_DECLARED_ELEMENTS], 0),
                                           ([], 1), ([1] * MAX_DIMS, 1)])
def test_ordinary_shapes_pass(shape, values):
    check_shape(shape, values, "data.tensor.shape")


def test_the_56_byte_json_tensor_allocates_nothing_of_its_shape():
    body = b'{"data":{"tensor":{"shape":[0,100000000],"values":[]}}}'
    msg = jsonutil.loads(body)
    assert _peak_bytes(lambda: json_codec.decode_message(msg)) < 1 << 20
    with pytest.raises(BadRequest, match=r"data\.tensor\.shape: shape \[0, 100000000\] declares more elements"):
        json_codec.decode_message(msg)


@pytest.mark.parametrize("wire_path", [True, False])
def test_the_same_grpc_tensor_allocates_nothing_of_its_shape(wire_path):
    msg = pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[0, 100_000_000])))
    wire = msg.SerializeToString() if wire_path else None
    assert _peak_bytes(lambda: proto_codec.decode_message(msg, wire)) < 1 << 20
    with pytest.raises(BadRequest, match="data.tensor.shape"):
        proto_codec.decode_message(msg, wire)


def test_an_empty_batch_still_decodes():
    assert json_codec.decode_tensor({"shape": [0, 5], "values": []}).shape == (0, 5)
    t = pb.Tensor(shape=[0, 5])
    assert proto_codec.tensor_to_array(t).shape == (0, 5)


@pytest.mark.parametrize("d", [
    {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "100000000"}]}, "floatVal": [1.0]},
    {"dtype": "DT_STRING", "tensorShape": {"dim": [{"size": "100000000"}]}},
    {"dtype": "DT_INT64", "tensorShape": {"dim": [{"size": "40000"}, {"size": "40000"}]}},
    {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "1"}] * (MAX_DIMS + 1)}, "floatVal": [1.0]},
])
def test_tftensor_filling_is_bounded(d):
    assert _peak_bytes(lambda: tftensor.tftensor_json_to_array(d)) < 1 << 20
    with pytest.raises(BadRequest):
        tftensor.tftensor_json_to_array(d)


def test_tftensor_fills_small_tensors_as_tensorflow_does():
    d = {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "3"}]}, "floatVal": [1.5]}
    assert tftensor.tftensor_json_to_array(d).tolist() == [1.5, 1.5, 1.5]


# ----------------------------------------------------------------------------- JSON nesting
def _nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("body", [
    _nested(jsonutil.MAX_DEPTH + 1),
    _nested(10_000),  # beyond orjson's own limit
    b'{"jsonData":' + _nested(5_000) + b"}",
    b'{"data":{"ndarray":' + _nested(200) + b"}}",
    b'{"meta":{"tags":{"a":' + _nested(500, b"NaN") + b"}},\"strData\":\"x\"}",  # via the stdlib parser
])
def test_json_nested_beyond_the_limit_is_a_value_error(body):
    with pytest.raises(ValueError, match="nested deeper than 100 levels"):
        jsonutil.loads(body)
    with pytest.raises(ValueError, match="nested deeper"):
        jsonutil.loads(body.decode())  # form and query json= arrive as text


def test_json_at_the_limit_and_brackets_in_strings_are_fine():
    assert jsonutil.loads(_nested(jsonutil.MAX_DEPTH)) is not None
    text = b'[' + b",".join([b'"[[[[\\"[[[{{{"'] * 200) + b"]"
    assert len(jsonutil.loads(text)) == 200
    rows = jsonutil.loads(b"[" + b",".join([b"[1,2]"] * 1000) + b"]")  # many brackets, depth 2
    assert len(rows) == 1000


def test_error_messages_quote_client_values_briefly():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert len(brief(deep)) <= 200 and len(brief("x" * 10**6)) <= 200
    with pytest.raises(BadRequest) as err:
        json_codec.decode_message({"foo": deep})
    assert len(str(err.value)) < 300


# ----------------------------------------------------------------------------- valid proto3
@pytest.mark.parametrize("unknown", [
    bytes([15 << 3 | 0, 5]),  # varint
    bytes([15 << 3 | 5, 1, 2, 3, 4]),  # fixed32
    bytes([15 << 3 | 1]) + b"12345678",  # fixed64
    bytes([15 << 3 | 2, 2, 1, 2]),  # length-delimited
])
def test_tensor_with_unknown_fields_decodes_on_every_path(unknown):
    tensor_wire = pb.Tensor(shape=[2], values=[1.5, 2.5]).SerializeToString() + unknown
    tensor = pb.Tensor.FromString(tensor_wire)
    assert proto_codec.tensor_to_array(tensor).tolist() == [1.5, 2.5]
    wire = pb.SeldonMessage(data=pb.DefaultData(tensor=tensor)).SerializeToString()
    payload = proto_codec.decode_message(pb.SeldonMessage.FromString(wire), wire)
    np.testing.assert_array_equal(payload.value, [1.5, 2.5])


def test_unpacked_tensor_fields_decode_too():
    # shape and values written unpacked (valid proto3 encodings protobuf does not produce)
    wire = bytes([1 << 3 | 0, 2]) + bytes([2 << 3 | 1]) + np.float64(1.5).tobytes() + \
        bytes([2 << 3 | 1]) + np.float64(2.5).tobytes()
    assert proto_codec.tensor_to_array(pb.Tensor.FromString(wire)).tolist() == [1.5, 2.5]


# ----------------------------------------------------------------------------- wide answers
def test_wide_default_names_are_encoded_directly_and_not_kept():
    import orjson

    from seldon_py.protocol.seldon import payload

    n = payload.CACHED_NAMES_WIDTH * 3 + 7
    expected = [f"t:{i}" for i in range(n)]
    assert orjson.loads(orjson.dumps(json_codec._names_json(n))) == expected
    wire = proto_codec._default_names_bytes(n)
    assert list(pb.DefaultData.FromString(wire).names) == expected
    assert n not in json_codec._NAMES_FRAGMENTS
    assert proto_codec._cached_default_names_bytes.cache_info().currsize <= 16
    before = payload._cached_default_names.cache_info().currsize
    assert payload.default_names(n) == tuple(expected)
    assert payload._cached_default_names.cache_info().currsize == before  # not cached
