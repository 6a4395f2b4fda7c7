import numpy as np
import pytest

from seldon_py.errors import BadRequest
from seldon_py.protocol.seldon import json_codec, proto_codec
from seldon_py.protocol.seldon.payload import Response, build_response
from seldon_py.util import jsonutil


def test_decode_kinds():
    p = json_codec.decode_message({"data": {"names": ["a"], "tensor": {"shape": [2, 1], "values": [1, 2]}}})
    assert p.kind == "tensor" and p.value.dtype == np.int64 and p.value.shape == (2, 1) and p.names == ["a"]
    assert p.meta is None
    assert json_codec.decode_message({"data": {"ndarray": [[1.5]]}, "meta": {}}).meta == {}
    assert json_codec.decode_message({"binData": "AAE="}).value == b"\x00\x01"
    assert json_codec.decode_message({"jsonData": [1]}).value == [1]
    with pytest.raises(BadRequest):
        json_codec.decode_message({"data": {"tensor": {"shape": [-2], "values": [1]}}})


def test_precedence_data_over_others():
    assert json_codec.decode_message({"strData": "s", "data": {"ndarray": [1]}}).kind == "ndarray"
    assert json_codec.decode_message({"binData": "AA==", "strData": "s"}).kind == "strData"


def test_response_kind_rules():
    arr = np.array([[1, 2]])
    assert build_response(arr, "tensor", None, {}).kind == "tensor"
    assert build_response(arr, "data", None, {}).kind == "ndarray"
    assert build_response(arr, "strData", None, {}).kind == "tensor"
    assert build_response(np.array([["a"]]), "tensor", None, {}).kind == "ndarray"
    assert build_response(arr, "ndarray", lambda: ["x", "y"], {}).names == ["x", "y"]
    assert build_response(np.array([1, 2]), "ndarray", None, {}).names == []


def test_large_tensor_json_roundtrip_preserves_values():
    values = np.random.default_rng(0).random(100_000)
    body = jsonutil.dumps({"data": {"tensor": {"shape": [1, 100_000], "values": values}}})
    p = json_codec.decode_message(jsonutil.loads(body))
    assert np.array_equal(p.value.ravel(), values)
    out = jsonutil.loads(jsonutil.dumps(json_codec.encode_response(build_response(p.value, p.kind, None, {}))))
    assert out["data"]["names"][99_999] == "t:99999"
    assert np.array_equal(np.array(out["data"]["tensor"]["values"]), values)


def test_proto_tensor_roundtrip_and_errors():
    pb = proto_codec.pb
    msg = pb.SeldonMessage()
    msg.data.tensor.shape.extend([2, 2])
    msg.data.tensor.values.extend([1, 2, 3, 4.5])
    p = proto_codec.decode_message(msg)
    assert p.value.tolist() == [[1.0, 2.0], [3.0, 4.5]] and p.meta == {}
    out = proto_codec.encode_response(Response("tensor", p.value, 2, {"puid": "x"}))
    assert list(out.data.tensor.values) == [1.0, 2.0, 3.0, 4.5] and list(out.data.names) == ["t:0", "t:1"]
    bad = pb.SeldonMessage()
    bad.data.tensor.shape.extend([3])
    bad.data.tensor.values.extend([1, 2])
    with pytest.raises(BadRequest):
        proto_codec.decode_message(bad)
    with pytest.raises(BadRequest):
        proto_codec.decode_message(pb.SeldonMessage())


def test_jsonutil_round_trips_non_finite_floats_and_big_ints():
    assert jsonutil.dumps({"b": float("nan"), "a": np.float32(0.5)}) == b'{"a":0.5,"b":NaN}\n'
    assert jsonutil.loads(b"[NaN]")[0] != jsonutil.loads(b"[NaN]")[0]
    assert jsonutil.dumps({"x": 2**70}) == b'{"x":1180591620717411303424}\n'
    assert jsonutil.dumps("\U0001F600") == b'"\\ud83d\\ude00"\n'
    with pytest.raises(ValueError):
        jsonutil.loads(b"{x")
    with pytest.raises(TypeError):
        jsonutil.dumps({"x": object()})


@pytest.mark.parametrize("dtype", ["i1", "u8", "f2", "f4", "f8", "c16", "m8[s]", "M8[s]", "?", "U3", "S2", "O", "V4"])
def test_is_numeric_cached_answer_matches_numpy(dtype):
    from seldon_py.protocol.seldon.payload import is_numeric

    arr = np.zeros(2, dtype=dtype)
    for _ in range(2):  # the second call answers from the per-dtype cache
        assert is_numeric(arr) == bool(np.issubdtype(arr.dtype, np.number))
