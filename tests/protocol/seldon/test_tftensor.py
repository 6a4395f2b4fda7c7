"""seldon_py.protocol.seldon.tftensor: tf.make_ndarray / tf.make_tensor_proto without TensorFlow.

The JSON form is checked against protobuf's own ``json_format`` on our generated TensorProto (the
oracle for "what MessageToDict prints"); TensorFlow semantics are checked against forms taken from
TensorFlow's documentation and its tensor_util tests (TensorFlow itself is not installed).
"""

from __future__ import annotations

import base64
import struct
import subprocess
import sys

import numpy as np
import pytest

from seldon_py.errors import BadRequest
from seldon_py.protocol.seldon.tftensor import (
    array_to_tftensor_json,
    array_to_tftensor_proto,
    tftensor_json_to_array,
    tftensor_proto_to_array,
)

json_format = pytest.importorskip("google.protobuf.json_format")
tensor_pb2 = pytest.importorskip("seldon_py.proto.tensorflow.core.framework.tensor_pb2")

NUMERIC_DTYPES = [
    np.float16, np.float32, np.float64,
    np.int8, np.int16, np.int32, np.int64,
    np.uint8, np.uint16, np.uint32, np.uint64,
    np.bool_, np.complex64, np.complex128,
]
SHAPES = [(), (1,), (1, 1), (3,), (2, 3), (0,), (0, 3), (2, 0, 4)]


def _sample(dtype, shape):
    n = int(np.prod(shape))
    if dtype is np.bool_:
        return (np.arange(n) % 3 == 0).reshape(shape)
    if np.issubdtype(dtype, np.complexfloating):
        return (np.arange(n) * 1.5 - 2j * np.arange(n)).astype(dtype).reshape(shape)
    if np.issubdtype(dtype, np.floating):
        return (np.arange(n) * 0.1 - 1.0).astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    return np.resize(np.array([info.max, info.min, 0, 1], dtype=dtype), n).reshape(shape)


def _from_proto_json(d):
    return tftensor_proto_to_array(json_format.ParseDict(d, tensor_pb2.TensorProto()))


def _assert_same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype == object:
        assert a.tolist() == b.tolist()
    else:
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=lambda t: np.dtype(t).name)
def test_numeric_round_trip_both_forms(dtype, shape):
    a = _sample(dtype, shape)
    d = array_to_tftensor_json(a)
    t = array_to_tftensor_proto(a)
    # the JSON form is exactly what protobuf prints for the proto form
    assert d == json_format.MessageToDict(t)
    # and both decode back to the same array
    _assert_same(tftensor_json_to_array(d), a)
    _assert_same(tftensor_proto_to_array(t), a)
    _assert_same(_from_proto_json(d), a)
    # the wire form survives too
    _assert_same(tftensor_proto_to_array(tensor_pb2.TensorProto.FromString(t.SerializeToString())), a)


@pytest.mark.parametrize(
    "a",
    [
        np.array(["a", "bé", ""]),
        np.array([b"x\x00y", b"z"], dtype=object),
        np.array([[b"ab"], [b"cd"]]),
        np.array("scalar"),
        np.array(["mixed", b"types"], dtype=object),
        np.array([], dtype=object),
    ],
    ids=["unicode", "object-bytes", "bytes-2d", "0d", "mixed", "empty"],
)
def test_string_round_trip(a):
    d = array_to_tftensor_json(a)
    assert d["dtype"] == "DT_STRING"
    assert d == json_format.MessageToDict(array_to_tftensor_proto(a))
    back = tftensor_json_to_array(d)
    assert back.dtype == object and back.shape == a.shape
    expected = [v.encode() if isinstance(v, str) else bytes(v) for v in a.ravel().tolist()]
    assert back.ravel().tolist() == expected
    assert tftensor_proto_to_array(array_to_tftensor_proto(a)).ravel().tolist() == expected


def test_big_endian_and_non_contiguous_input():
    a = np.arange(12, dtype=">f8").reshape(3, 4)[:, ::2]
    d = array_to_tftensor_json(a)
    assert d["dtype"] == "DT_DOUBLE"
    np.testing.assert_array_equal(tftensor_json_to_array(d), a.astype("<f8"))


def test_large_tensor_uses_raw_content():
    a = np.random.default_rng(0).standard_normal((1000, 100)).astype(np.float32)
    d = array_to_tftensor_json(a)
    assert set(d) == {"dtype", "tensorShape", "tensorContent"}
    assert base64.b64decode(d["tensorContent"]) == a.tobytes()
    np.testing.assert_array_equal(tftensor_json_to_array(d), a)
    np.testing.assert_array_equal(tftensor_proto_to_array(array_to_tftensor_proto(a)), a)


# ------------------------------------------------------------------- TensorFlow's documented forms


def test_make_tensor_proto_float_vector_like_tensorflow():
    # tensor_util_test: make_tensor_proto([10.0, 20.0, 30.0], shape=[3, 1]) on little endian
    d = array_to_tftensor_json(np.array([[10.0], [20.0], [30.0]], dtype=np.float32))
    assert d == {
        "dtype": "DT_FLOAT",
        "tensorShape": {"dim": [{"size": "3"}, {"size": "1"}]},
        "tensorContent": base64.b64encode(b"\000\000 A\000\000\240A\000\000\360A").decode(),
    }


def test_make_tensor_proto_half_uses_content():
    d = array_to_tftensor_json(np.array([10.0, 20.0], dtype=np.float16))
    assert d == {"dtype": "DT_HALF", "tensorShape": {"dim": [{"size": "2"}]},
                 "tensorContent": base64.b64encode(b"\000I\000M").decode()}
    assert array_to_tftensor_json(np.array([10.0], dtype=np.float16))["halfVal"] == [0x4900]


def test_make_tensor_proto_scalars_use_typed_fields():
    assert array_to_tftensor_json(np.float32(10.0)) == {"dtype": "DT_FLOAT", "tensorShape": {}, "floatVal": [10.0]}
    assert array_to_tftensor_json(np.array(7)) == {"dtype": "DT_INT64", "tensorShape": {}, "int64Val": ["7"]}
    assert array_to_tftensor_json(np.array([5], dtype=np.int32)) == {
        "dtype": "DT_INT32", "tensorShape": {"dim": [{"size": "1"}]}, "intVal": [5]}
    assert array_to_tftensor_json(np.array([[2.5]])) == {
        "dtype": "DT_DOUBLE", "tensorShape": {"dim": [{"size": "1"}, {"size": "1"}]}, "doubleVal": [2.5]}


def test_make_tensor_proto_float32_prints_shortest_repr():
    assert array_to_tftensor_json(np.array([0.1], dtype=np.float32))["floatVal"] == [0.1]
    assert array_to_tftensor_json(np.array([1 / 3], dtype=np.float32))["floatVal"] == [0.33333334]


def test_make_tensor_proto_special_floats():
    assert array_to_tftensor_json(np.array([np.inf]))["doubleVal"] == ["Infinity"]
    assert array_to_tftensor_json(np.array([-np.inf], dtype=np.float32))["floatVal"] == ["-Infinity"]
    assert array_to_tftensor_json(np.array(np.nan))["doubleVal"] == ["NaN"]


def test_make_tensor_proto_bool_uint16_complex_never_use_content():
    assert array_to_tftensor_json(np.array([True, False, True])) == {
        "dtype": "DT_BOOL", "tensorShape": {"dim": [{"size": "3"}]}, "boolVal": [True, False, True]}
    assert array_to_tftensor_json(np.array([1, 2], dtype=np.uint16))["intVal"] == [1, 2]
    assert array_to_tftensor_json(np.array([1 + 2j, 3 + 4j], dtype=np.complex64))["scomplexVal"] == [1.0, 2.0, 3.0, 4.0]
    assert array_to_tftensor_json(np.array([1 + 2j], dtype=np.complex128))["dcomplexVal"] == [1.0, 2.0]


def test_make_tensor_proto_strings():
    assert array_to_tftensor_json(np.array([b"foo", b"bar"])) == {
        "dtype": "DT_STRING", "tensorShape": {"dim": [{"size": "2"}]}, "stringVal": ["Zm9v", "YmFy"]}


def test_make_tensor_proto_empty_and_zero_dims():
    assert array_to_tftensor_json(np.zeros((0, 3), dtype=np.float32)) == {
        "dtype": "DT_FLOAT", "tensorShape": {"dim": [{}, {"size": "3"}]}}


def test_make_ndarray_docstring_example():
    # tf.make_ndarray(tf.make_tensor_proto(tf.constant([[1,2,3],[4,5,6]]))) -> int32 (2, 3)
    d = {"dtype": "DT_INT32", "tensorShape": {"dim": [{"size": "2"}, {"size": "3"}]},
         "tensorContent": base64.b64encode(struct.pack("<6i", 1, 2, 3, 4, 5, 6)).decode()}
    a = tftensor_json_to_array(d)
    assert a.dtype == np.int32 and a.tolist() == [[1, 2, 3], [4, 5, 6]]


# ----------------------------------------------------------------------- typed *_val decoding


@pytest.mark.parametrize(
    "d, expected",
    [
        ({"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}, {"size": "3"}]}, "floatVal": [7]},
         np.full((2, 3), 7, np.float32)),
        ({"dtype": "DT_DOUBLE", "tensorShape": {"dim": [{"size": "5"}]}, "doubleVal": [1, 2]},
         np.array([1, 2, 2, 2, 2], np.float64)),
        ({"dtype": "DT_INT32", "tensorShape": {"dim": [{"size": "3"}]}},
         np.zeros(3, np.int32)),
        ({"dtype": "DT_INT64", "tensorShape": {"dim": [{"size": "3"}]}, "int64Val": ["-5", "9223372036854775807"]},
         np.array([-5, 2**63 - 1, 2**63 - 1], np.int64)),
        ({"dtype": "DT_UINT64", "uint64Val": ["18446744073709551615"]},
         np.array(2**64 - 1, np.uint64)),
        ({"dtype": "DT_UINT32", "tensorShape": {"dim": [{"size": "2"}]}, "uint32Val": [4294967295]},
         np.array([2**32 - 1] * 2, np.uint32)),
        ({"dtype": "DT_UINT8", "tensorShape": {"dim": [{"size": "2"}]}, "intVal": [255, 0]},
         np.array([255, 0], np.uint8)),
        ({"dtype": "DT_INT8", "tensorShape": {"dim": [{"size": "2"}]}, "intVal": [-128]},
         np.array([-128, -128], np.int8)),
        ({"dtype": "DT_UINT16", "intVal": [65535]}, np.array(65535, np.uint16)),
        ({"dtype": "DT_BOOL", "tensorShape": {"dim": [{"size": "3"}]}, "boolVal": [False, True]},
         np.array([False, True, True])),
        ({"dtype": "DT_HALF", "tensorShape": {"dim": [{"size": "2"}]}, "halfVal": [15360]},
         np.array([1.0, 1.0], np.float16)),
        ({"dtype": "DT_COMPLEX64", "tensorShape": {"dim": [{"size": "2"}]}, "scomplexVal": [1, 2]},
         np.array([1 + 2j, 1 + 2j], np.complex64)),
        ({"dtype": "DT_COMPLEX128", "tensorShape": {"dim": [{"size": "1"}]}, "dcomplexVal": [1, 2, 3]},
         np.array([1 + 2j], np.complex128)),  # like TF: an unpaired trailing value is dropped
        ({"dtype": "DT_QINT8", "tensorShape": {"dim": [{"size": "2"}]}, "intVal": [-3, 4]},
         np.array([-3, 4], np.int8)),
        ({"dtype": "DT_FLOAT", "tensorShape": {"dim": [{}, {"size": "4"}]}}, np.zeros((0, 4), np.float32)),
        ({"dtype": "DT_FLOAT", "floatVal": ["NaN", "Infinity", "-Infinity", "1.5"][:1]}, np.array(np.nan, np.float32)),
    ],
)
def test_typed_values_and_broadcasting(d, expected):
    for got in (tftensor_json_to_array(d), _from_proto_json(d)):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_string_values_are_padded_with_the_last_one():
    d = {"dtype": "DT_STRING", "tensorShape": {"dim": [{"size": "3"}]}, "stringVal": ["YQ==", "Yg=="]}
    for got in (tftensor_json_to_array(d), _from_proto_json(d)):
        assert got.dtype == object and got.tolist() == [b"a", b"b", b"b"]


def test_strings_without_values_are_empty_str_like_tensorflow():
    d = {"dtype": "DT_STRING", "tensorShape": {"dim": [{"size": "2"}]}}
    assert tftensor_json_to_array(d).tolist() == ["", ""]
    assert tftensor_json_to_array({"dtype": "DT_STRING", "tensorShape": {"dim": [{}]}}).shape == (0,)


def test_tensor_content_wins_over_values():
    d = {"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}]},
         "tensorContent": base64.b64encode(np.array([1, 2], "<f4").tobytes()).decode(), "floatVal": [9]}
    np.testing.assert_array_equal(tftensor_json_to_array(d), [1, 2])
    np.testing.assert_array_equal(_from_proto_json(d), [1, 2])


def test_bool_content_is_normalised():
    d = {"dtype": "DT_BOOL", "tensorShape": {"dim": [{"size": "3"}]},
         "tensorContent": base64.b64encode(b"\x00\x01\x02").decode()}
    assert tftensor_json_to_array(d).tolist() == [False, True, True]


def test_json_parse_leniency_matches_json_format():
    """Inputs json_format.ParseDict accepts are accepted too, with the same result."""
    cases = [
        {"dtype": 1, "tensor_shape": {"dim": [{"size": 2}]}, "float_val": [1, "2.5"]},
        {"dtype": "DT_INT64", "tensorShape": {"dim": [{"size": "2", "name": "batch"}], "unknownRank": False},
         "int64Val": [3, "4"], "versionNumber": 0},
        {"dtype": "DT_INT32", "intVal": [2.0]},
        {"dtype": "DT_DOUBLE", "tensorShape": {"dim": [{"size": "3"}]}, "doubleVal": ["NaN", "Infinity", "-Infinity"]},
        {"dtype": "DT_STRING", "stringVal": ["-_8="]},  # URL-safe base64
        {"dtype": "DT_STRING", "stringVal": ["YWI"]},  # missing padding
        {"dtype": "DT_FLOAT", "tensorShape": None, "floatVal": None},
    ]
    for d in cases:
        _assert_same(tftensor_json_to_array(d), _from_proto_json(d))


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "d, message",
    [
        ({"dtype": "DT_NOPE"}, "unknown dtype"),
        ({"tensorShape": {"dim": [{"size": "1"}]}, "floatVal": [1]}, "dtype is missing"),
        ({"dtype": "DT_RESOURCE"}, "unsupported dtype DT_RESOURCE"),
        ({"dtype": "DT_BFLOAT16", "halfVal": [1]}, "unsupported dtype DT_BFLOAT16"),
        ({"dtype": "DT_FLOAT_REF"}, "unsupported dtype DT_FLOAT_REF"),
        ({"dtype": 999}, "unsupported dtype 999"),
        ({"dtype": True}, "dtype must be an integer"),
        ({"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "3"}]}, "tensorContent": "AAAAAAAAAAA="},
         "tensor_content has 8 bytes but shape [3] of DT_FLOAT needs 12"),
        ({"dtype": "DT_FLOAT", "tensorContent": "not base64!"}, "tensorContent is not valid base64"),
        ({"dtype": "DT_FLOAT", "tensorContent": 12}, "tensorContent must be a base64 string"),
        ({"dtype": "DT_STRING", "stringVal": ["@@@"]}, "stringVal is not valid base64"),
        ({"dtype": "DT_STRING", "tensorContent": "YWJj"}, "tensor_content cannot hold DT_STRING"),
        ({"dtype": "DT_STRING", "stringVal": ["YQ==", "Yg=="]}, "2 string_val values do not fit shape []"),
        ({"dtype": "DT_FLOAT", "floatVal": ["abc"]}, "floatVal holds a value that is not a valid float"),
        ({"dtype": "DT_FLOAT", "floatVal": [1e300]}, "value too large"),
        ({"dtype": "DT_FLOAT", "floatVal": 1.5}, "floatVal must be a list"),
        ({"dtype": "DT_FLOAT", "floatVal": [[1, 2]]}, "floatVal must be a flat list of numbers"),
        ({"dtype": "DT_FLOAT", "floatVal": [1, None]}, "floatVal must be a flat list of numbers"),
        ({"dtype": "DT_FLOAT", "floatVal": [True]}, "floatVal must be a flat list of numbers"),
        ({"dtype": "DT_INT32", "intVal": [1.5]}, "intVal must hold integers"),
        ({"dtype": "DT_INT32", "intVal": [True]}, "intVal must be a flat list of numbers"),
        ({"dtype": "DT_INT32", "intVal": ["1.5"]}, "intVal holds a value that is not a valid int"),
        ({"dtype": "DT_INT32", "intVal": [2**31]}, "intVal value out of range"),
        ({"dtype": "DT_INT64", "int64Val": [str(2**63)]}, "not a valid int"),
        ({"dtype": "DT_UINT64", "uint64Val": ["-1"]}, "not a valid int"),
        ({"dtype": "DT_UINT8", "intVal": [256]}, "int_val value out of range for uint8"),
        ({"dtype": "DT_BOOL", "boolVal": [1, 0]}, "boolVal must be a list of true/false"),
        ({"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "2"}]}, "floatVal": [1, 2, 3]},
         "3 float_val values do not fit shape [2]"),
        ({"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "-1"}]}}, "unknown dimension"),
        ({"dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "x"}]}}, "tensorShape.dim.size must be an integer"),
        ({"dtype": "DT_FLOAT", "tensorShape": {"dim": {"size": "2"}}}, "tensorShape.dim must be a list"),
        ({"dtype": "DT_FLOAT", "tensorShape": [2]}, "tensorShape must be an object"),
        ({"dtype": "DT_FLOAT", "tensorShape": {"dims": []}}, "tensorShape has no field named 'dims'"),
        ({"dtype": "DT_FLOAT", "values": [1]}, 'has no field named "values"'),
        ({"dtype": "DT_DOUBLE", "tensorShape": {"dim": [{"size": str(2**40)}]}, "doubleVal": [1]}, "is too large"),
    ],
)
def test_malformed_json_raises_bad_request(d, message):
    with pytest.raises(BadRequest) as err:
        tftensor_json_to_array(d)
    assert message in str(err.value)
    assert err.value.status_code == 400


@pytest.mark.parametrize("value", [None, [], "DT_FLOAT", 3])
def test_non_object_raises_bad_request(value):
    with pytest.raises(BadRequest, match="expected an object"):
        tftensor_json_to_array(value)


def test_malformed_proto_raises_bad_request():
    t = tensor_pb2.TensorProto(dtype=1, tensor_content=b"\x00\x00")
    t.tensor_shape.dim.add(size=2)
    with pytest.raises(BadRequest, match="tensor_content has 2 bytes"):
        tftensor_proto_to_array(t)
    t = tensor_pb2.TensorProto(dtype=4, int_val=[300])
    with pytest.raises(BadRequest, match="out of range for uint8"):
        tftensor_proto_to_array(t)
    with pytest.raises(BadRequest, match="dtype is missing"):
        tftensor_proto_to_array(tensor_pb2.TensorProto())
    t = tensor_pb2.TensorProto(dtype=1)
    t.tensor_shape.dim.add(size=-1)
    with pytest.raises(BadRequest, match="unknown dimension"):
        tftensor_proto_to_array(t)


@pytest.mark.parametrize(
    "a", [np.array(["2020-01-01"], dtype="datetime64[D]"), np.array([1, 2], dtype=object), np.zeros(2, dtype="V4")],
    ids=["datetime", "object-ints", "void"],
)
def test_unencodable_arrays_raise_type_error(a):
    with pytest.raises(TypeError):
        array_to_tftensor_json(a)
    with pytest.raises(TypeError):
        array_to_tftensor_proto(a)


def test_json_functions_do_not_import_protobuf():
    code = (
        "import sys, numpy as np\n"
        "import seldon_py.protocol.seldon.tftensor as t\n"
        "t.tftensor_json_to_array(t.array_to_tftensor_json(np.arange(4.0)))\n"
        "assert 'seldon_py.proto' not in sys.modules, 'proto imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
