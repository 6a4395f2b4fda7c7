"""The hand-written protobuf wire paths of the gRPC transport must agree with protobuf itself.

* Requests: :func:`seldon_py.protocol.seldon.wire.scan_request` + :func:`decode_scanned` (through the
  servicer's deserializer and :class:`WireCodec`, as served) against ``FromString`` +
  :func:`proto_codec.decode_message` of the parsed message: the same Payload, or the same error.
  Messages are generated at random and also hand-assembled byte by byte (unpacked repeated
  fields, unknown fields, reordered and repeated fields, overlong varints, truncations, flipped
  bytes), so that any divergence from protobuf's parse shows up.
* Responses: :func:`proto_codec.encode_response_bytes` against
  ``encode_response(resp).SerializeToString()``: the same bytes, or the same exception.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from google.protobuf import json_format

from seldon_py.errors import BadRequest
from seldon_py.proto import prediction_pb2 as pb
from seldon_py.protocol.seldon import proto_codec
from seldon_py.protocol.seldon import wire as wire_mod
from seldon_py.protocol.seldon.payload import Response
from seldon_py.transports.grpc.codec import WireCodec
from seldon_py.transports.grpc.servicer import SeldonServicer, _deserializer, _Undecodable
from tests.transports.grpc.helpers import make_dataplane

DESERIALIZE = _deserializer(pb.SeldonMessage)


# ------------------------------------------------------------------ outcomes, old and new


def _norm_payload(p: Any) -> tuple:
    v = p.value
    if isinstance(v, np.ndarray):
        content = repr(v.tolist()) if v.dtype == object else v.tobytes()
        v = ("array", v.dtype.str, v.shape, content, v.flags.writeable)
    return (p.kind, v, list(p.names), p.meta)


def _outcome(fn: Callable[[], Any]) -> tuple:
    try:
        return ("ok", _norm_payload(fn()))
    except BadRequest as exc:
        return ("BadRequest", exc.message)
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return (type(exc).__name__, str(exc))


def old_decode(data: bytes) -> tuple:
    """What the transport did before the scan: protobuf parse, then decode the message."""
    try:
        msg = pb.SeldonMessage.FromString(data)
    except Exception as exc:  # noqa: BLE001
        return ("undecodable", f"request is not a valid seldon.protos.SeldonMessage: {exc}")
    return _outcome(lambda: proto_codec.decode_message(msg, data))


def new_decode(data: bytes) -> tuple:
    """What the transport does now: the servicer's deserializer, then the WireCodec."""
    msg, wire = DESERIALIZE(data)
    if type(msg) is _Undecodable:
        return ("undecodable", msg.message)
    return _outcome(lambda: WireCodec(msg, wire).decode_message(msg))


def assert_same_decode(data: bytes) -> None:
    assert new_decode(data) == old_decode(data), data[:200]


# ------------------------------------------------------------------ a tiny wire-format writer


def varint(n: int, extra: int = 0) -> bytes:
    """``n`` as a varint; ``extra`` adds redundant continuation bytes (overlong, still valid)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b | 0x80 if extra else b)
            break
    for i in range(extra):
        out.append(0x80 if i < extra - 1 else 0x00)
    return bytes(out)


def key(field: int, wt: int, extra: int = 0) -> bytes:
    return varint(field << 3 | wt, extra)


def ld(field: int, payload: bytes) -> bytes:
    return key(field, 2) + varint(len(payload)) + payload


def dbl(x: float) -> bytes:
    return struct.pack("<d", x)


def tensor(shape: list[int], values: list[float], *, packed_shape: bool = True,
           packed_values: bool = True, values_first: bool = False, extra: bytes = b"") -> bytes:
    if packed_shape:
        s = ld(1, b"".join(varint(d) for d in shape)) if shape else b""
    else:
        s = b"".join(key(1, 0) + varint(d) for d in shape)
    if packed_values:
        v = ld(2, b"".join(dbl(x) for x in values)) if values else b""
    else:
        v = b"".join(key(2, 1) + dbl(x) for x in values)
    return (v + s if values_first else s + v) + extra


def value_number(x: float) -> bytes:
    return key(2, 1) + dbl(x)


def list_value(items: list[Any]) -> bytes:
    out = b""
    for it in items:
        if isinstance(it, list):
            out += ld(1, ld(6, list_value(it)))
        elif isinstance(it, bytes):
            out += ld(1, it)  # a raw Value
        else:
            out += ld(1, value_number(it))
    return out


def data_msg(*parts: bytes) -> bytes:
    return ld(3, b"".join(parts))


NAMES = ld(1, b"a") + ld(1, b"b")
META = ld(2, ld(1, b"puid-1"))
T = tensor([2, 2], [1.0, 2.0, 3.5, -0.0])


# ------------------------------------------------------------------ requests: hand-assembled

HAND_CASES: dict[str, bytes] = {
    "tensor": data_msg(NAMES, ld(2, T)),
    "tensor, meta first": META + data_msg(ld(2, T)),
    "tensor, meta last": data_msg(ld(2, T)) + META,
    "names after tensor": data_msg(ld(2, T), NAMES),
    "names around tensor": data_msg(ld(1, b"x"), ld(2, T), ld(1, b"y")),
    "values before shape": data_msg(ld(2, tensor([2], [1, 2], values_first=True))),
    "unpacked values": data_msg(ld(2, tensor([2], [1, 2], packed_values=False))),
    "unpacked shape": data_msg(ld(2, tensor([2], [1, 2], packed_shape=False))),
    "unpacked both": data_msg(ld(2, tensor([1, 2], [1, 2], packed_shape=False, packed_values=False))),
    "values in two packed chunks": data_msg(ld(2, ld(1, varint(3)) + ld(2, dbl(1) + dbl(2)) + ld(2, dbl(3)))),
    "shape in two packed chunks": data_msg(ld(2, ld(1, varint(1)) + ld(1, varint(2)) + ld(2, dbl(1) + dbl(2)))),
    "packed and unpacked values mixed": data_msg(ld(2, ld(2, dbl(1)) + key(2, 1) + dbl(2))),
    "empty tensor": data_msg(ld(2, b"")),
    "shape 0": data_msg(ld(2, tensor([0], []))),
    "shape -1": data_msg(ld(2, tensor([-1], [1.0]))),
    "shape -1, 2": data_msg(ld(2, tensor([-1, 2], [1.0, 2.0]))),
    "shape 2**31": data_msg(ld(2, tensor([2 ** 31], [1.0]))),
    "shape 2**32 + 1": data_msg(ld(2, tensor([2 ** 32 + 1], [1.0]))),
    "shape 2**32 + 1, 70 names": data_msg(*[ld(1, b"n")] * 70, ld(2, tensor([2 ** 32 + 1], [1.0]))),
    "70 names": data_msg(*[ld(1, b"n")] * 70, ld(2, T)),
    "values do not fit": data_msg(ld(2, tensor([3], [1.0, 2.0]))),
    "no shape": data_msg(ld(2, tensor([], [1.0]))),
    "nan inf": data_msg(ld(2, tensor([3], [math.nan, math.inf, -math.inf]))),
    "values length not /8": data_msg(ld(2, ld(2, b"\x00" * 12))),
    "unknown field in tensor (varint)": data_msg(ld(2, T + key(9, 0) + varint(5))),
    "unknown field in tensor (bytes)": data_msg(ld(2, T + ld(9, b"zz"))),
    "unknown field in data": data_msg(ld(2, T), key(12, 0) + varint(1)),
    "unknown field at top": data_msg(ld(2, T)) + ld(15, b"x"),
    "unknown fixed32 at top": key(15, 5) + b"\x00\x00\x00\x00" + data_msg(ld(2, T)),
    "group at top": key(15, 3) + key(15, 4) + data_msg(ld(2, T)),
    "status field": ld(1, ld(2, b"info")) + data_msg(ld(2, T)),
    "data twice (merged)": data_msg(NAMES) + data_msg(ld(2, T)),
    "tensor twice (merged)": data_msg(ld(2, tensor([1], [1.0])), ld(2, tensor([1], [2.0]))),
    "tensor then ndarray (last wins)": data_msg(ld(2, T), ld(3, list_value([1.0]))),
    "ndarray then tensor": data_msg(ld(3, list_value([1.0])), ld(2, T)),
    "meta twice (merged)": META + ld(2, ld(1, b"puid-2")) + data_msg(ld(2, T)),
    "data then strData (last wins)": data_msg(ld(2, T)) + ld(5, b"s"),
    "strData then data": ld(5, b"s") + data_msg(ld(2, T)),
    "binData": ld(4, b"\x00\x01"),
    "strData": ld(5, b"hello"),
    "meta only": META,
    "empty message": b"",
    "empty data": data_msg(),
    "names only": data_msg(NAMES),
    "utf-8 names": data_msg(ld(1, "é€😀".encode()), ld(2, T)),
    "invalid utf-8 name": data_msg(ld(1, b"\xff\xfe"), ld(2, T)),
    "surrogate in name": data_msg(ld(1, b"\xed\xa0\x80"), ld(2, T)),
    "overlong keys": key(3, 2, extra=2) + varint(len(ld(2, T)) , extra=1) + ld(2, T),
    "overlong length": key(3, 2) + varint(len(ld(2, T)), extra=3) + ld(2, T),
    "overlong shape dim": data_msg(ld(2, ld(1, varint(2, extra=4)) + ld(2, dbl(1) + dbl(2)))),
    "10-byte shape dim": data_msg(ld(2, ld(1, varint(2, extra=9)) + ld(2, dbl(1) + dbl(2)))),
    "field number 0": key(0, 2) + b"\x00" + data_msg(ld(2, T)),
    "wrong wire type for data": key(3, 0) + varint(1),
    "wrong wire type for tensor": data_msg(key(2, 0) + varint(1)),
    "length past end": key(3, 2) + varint(100) + b"\x00",
    "truncated varint": b"\x1a\x80",
    "garbage": b"\xff\xff\xff\xff",
    "ndarray": data_msg(NAMES, ld(3, list_value([[1.0, 2.0], [3.0, 4.5]]))),
    "ndarray ints": data_msg(ld(3, list_value([[1.0, 2.0, 3.0, 4.0]]))),
    "ndarray flat": data_msg(ld(3, list_value([1.0, -0.0, 1e300]))),
    "ndarray empty": data_msg(ld(3, b"")),
    "ndarray empty rows": data_msg(ld(3, list_value([[], []]))),
    "ndarray ragged": data_msg(ld(3, list_value([[1.0], [1.0, 2.0]]))),
    "ndarray mixed depth": data_msg(ld(3, list_value([1.0, [2.0]]))),
    "ndarray nan": data_msg(ld(3, list_value([[math.nan]]))),
    "ndarray inf": data_msg(ld(3, list_value([[math.inf]]))),
    "ndarray null": data_msg(ld(3, list_value([ld(1, b"") and (key(1, 0) + varint(0))]))),
    "ndarray empty Value": data_msg(ld(3, list_value([b""]))),
    "ndarray bool": data_msg(ld(3, list_value([key(4, 0) + varint(1)]))),
    "ndarray string": data_msg(ld(3, list_value([ld(3, b"s")]))),
    "ndarray struct": data_msg(ld(3, list_value([ld(5, b"")]))),
    "ndarray number twice in a Value": data_msg(ld(3, list_value([value_number(1) + value_number(2)]))),
    "ndarray number then list": data_msg(ld(3, list_value([value_number(1) + ld(6, b"")]))),
    "ndarray list twice in a Value": data_msg(ld(3, list_value([ld(6, list_value([1.0])) + ld(6, list_value([2.0]))]))),
    "ndarray number as fixed32": data_msg(ld(3, list_value([key(2, 5) + b"\x00\x00\x80\x3f"]))),
    "ndarray unknown in ListValue": data_msg(ld(3, list_value([1.0]) + key(7, 0) + varint(1))),
    "ndarray unknown in Value": data_msg(ld(3, list_value([value_number(1) + key(9, 0) + varint(1)]))),
    "ndarray deep": data_msg(ld(3, list_value(
        __import__("functools").reduce(lambda acc, _: [acc], range(40), [1.0])))),
    "ndarray 31 deep": data_msg(ld(3, list_value(
        __import__("functools").reduce(lambda acc, _: [acc], range(30), [1.0])))),
    "ndarray truncated double": data_msg(ld(3, ld(1, key(2, 1) + b"\x00\x00"))),
    "tftensor": data_msg(ld(4, b"")),
    "meta with tags and metrics": json_format.ParseDict(
        {"meta": {"puid": "p", "tags": {"a": 1, "b": [1, "x", None, {"c": True}]},
                  "routing": {"r": 1}, "requestPath": {"m": "img"},
                  "metrics": [{"key": "k", "type": "TIMER", "value": 2.5, "tags": {"t": "v"}}]},
         "data": {"names": ["x"], "tensor": {"shape": [1], "values": [1.0]}}},
        pb.SeldonMessage()).SerializeToString(),
    "meta tag nan": json_format.ParseDict({"meta": {"tags": {}}}, pb.SeldonMessage()).SerializeToString()
    + ld(2, ld(2, ld(1, b"k") + ld(2, value_number(math.nan)))) + data_msg(ld(2, T)),
    "meta invalid bytes": ld(2, b"\xff\xff") + data_msg(ld(2, T)),
    "meta invalid utf-8 puid": ld(2, ld(1, b"\xff")) + data_msg(ld(2, T)),
}


@pytest.mark.parametrize("data", HAND_CASES.values(), ids=HAND_CASES.keys())
def test_hand_assembled_requests_decode_as_protobuf_does(data):
    assert_same_decode(data)


@pytest.mark.parametrize("name", ["tensor", "tensor, meta first", "names after tensor", "ndarray",
                                  "ndarray empty", "empty data", "names only", "meta with tags and metrics",
                                  "overlong keys", "values do not fit", "ndarray ragged"])
def test_common_shapes_take_the_scan(name):
    """The fast path is really used (the comparisons above would pass if it never were)."""
    assert wire_mod.scan_request(HAND_CASES[name]) is not None


@pytest.mark.parametrize("name", ["unpacked values", "unknown field in tensor (varint)", "status field",
                                  "data twice (merged)", "invalid utf-8 name", "shape -1", "ndarray nan",
                                  "meta invalid bytes", "garbage", "tensor then ndarray (last wins)"])
def test_unusual_shapes_are_left_to_protobuf(name):
    assert wire_mod.scan_request(HAND_CASES[name]) is None


def test_scanned_tensor_is_a_writable_float64_copy():
    data = HAND_CASES["tensor"]
    msg, wire = DESERIALIZE(data)
    assert type(msg) is wire_mod.ScannedRequest
    payload = WireCodec(msg, wire).decode_message(msg)
    assert payload.value.flags.writeable and payload.value.dtype == np.float64
    payload.value[0, 0] = 99.0  # does not touch the request bytes
    assert old_decode(data) == new_decode(data)


# ------------------------------------------------------------------ requests: random


def _rand_float(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.05:
        return rng.choice([0.0, -0.0, 5e-324, -1e308, 2.0 ** 53 + 1, 1.0])
    if r < 0.08:
        return rng.choice([math.nan, math.inf, -math.inf])
    if r < 0.5:
        return float(rng.randint(-1000, 1000))
    return rng.uniform(-1e6, 1e6)


def _rand_json(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 2 or r < 0.3:
        return rng.choice([1, 2.5, "s", "é", True, None, -0.0])
    if r < 0.6:
        return [_rand_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": _rand_json(rng, depth + 1) for i in range(rng.randint(0, 3))}


def _rand_meta(rng: random.Random) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if rng.random() < 0.5:
        meta["puid"] = rng.choice(["", "abc", "pü"])
    if rng.random() < 0.3:
        meta["tags"] = {f"t{i}": _rand_json(rng) for i in range(rng.randint(0, 3))}
    if rng.random() < 0.2:
        meta["routing"] = {"r": rng.randint(-1, 3)}
    if rng.random() < 0.3:
        meta["requestPath"] = {f"m{i}": f"img:{i}" for i in range(rng.randint(0, 3))}
    if rng.random() < 0.2:
        meta["metrics"] = [{"key": "k", "type": rng.choice(["COUNTER", "GAUGE", "TIMER"]),
                            "value": rng.random(), "tags": {"a": "b"}}]
    return meta


def _rand_nested(rng: random.Random, shape: list[int], ragged: bool) -> list[Any]:
    if len(shape) == 1:
        n = shape[0] + (rng.randint(-1, 1) if ragged else 0)
        return [_rand_float(rng) for _ in range(max(n, 0))]
    return [_rand_nested(rng, shape[1:], ragged and rng.random() < 0.3) for _ in range(shape[0])]


def _rand_message(rng: random.Random) -> pb.SeldonMessage:
    msg = pb.SeldonMessage()
    if rng.random() < 0.6:
        json_format.ParseDict(_rand_meta(rng), msg.meta)
    r = rng.random()
    if r < 0.45:
        shape = [rng.randint(0, 4) for _ in range(rng.randint(0, 3))]
        n = int(np.prod(shape)) if shape else 1
        if rng.random() < 0.1:
            n += rng.choice([-1, 1]) if n else 1
        msg.data.tensor.shape.extend(shape)
        msg.data.tensor.values.extend(_rand_float(rng) for _ in range(max(n, 0)))
        if rng.random() < 0.1:
            msg.data.tensor.shape.append(-1)
    elif r < 0.85:
        shape = [rng.randint(0, 4) for _ in range(rng.randint(1, 3))]
        msg.data.ndarray.SetInParent()
        msg.data.ndarray.extend(_rand_nested(rng, shape, rng.random() < 0.2))
    elif r < 0.9:
        msg.data.SetInParent()
    elif r < 0.95:
        msg.strData = "x"
    if rng.random() < 0.5 and msg.WhichOneof("data_oneof") == "data":
        msg.data.names.extend(rng.choice(["a", "t:1", "ü", ""]) for _ in range(rng.randint(0, 4)))
    return msg


def test_random_messages_decode_as_protobuf_does():
    rng = random.Random(1234)
    scanned = 0
    for _ in range(3000):
        data = _rand_message(rng).SerializeToString()
        assert_same_decode(data)
        scanned += wire_mod.scan_request(data) is not None
    assert scanned > 1000


def test_corrupted_messages_decode_or_fail_as_protobuf_does():
    """Truncated and bit-flipped messages: the same payload, BadRequest or INVALID_ARGUMENT text."""
    rng = random.Random(99)
    for _ in range(300):
        data = _rand_message(rng).SerializeToString()
        if not data:
            continue
        for cut in sorted({rng.randrange(len(data)) for _ in range(5)}):
            assert_same_decode(data[:cut])
        for _ in range(10):
            b = bytearray(data)
            b[rng.randrange(len(b))] = rng.randrange(256)
            assert_same_decode(bytes(b))


# ------------------------------------------------------------------ the raw hooks still get messages


class RawUser:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def predict_raw(self, msg):
        self.got.append(msg)
        return msg


class _Ctx:
    def invocation_metadata(self):
        return ()

    def send_initial_metadata(self, md):
        pass

    def abort(self, code, details):
        raise RuntimeError(code, details)


def test_predict_raw_gets_the_parsed_message():
    user = RawUser()
    servicer = SeldonServicer(make_dataplane(user))
    handle = servicer._rpc("/seldon.protos.Model/Predict", servicer._body("Predict"))
    data = HAND_CASES["tensor, meta first"]
    assert wire_mod.scan_request(data) is not None
    assert handle(DESERIALIZE(data), _Ctx()) == pb.SeldonMessage.FromString(data).SerializeToString()
    assert type(user.got[0]) is pb.SeldonMessage


class LegacyUser:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def predict(self, X, names, meta=None):
        raise AssertionError("the legacy predict_grpc takes precedence")

    def transform_input_grpc(self, msg):
        self.got.append(msg)
        return msg


def test_legacy_grpc_hook_gets_the_parsed_message():
    user = LegacyUser()
    servicer = SeldonServicer(make_dataplane(user))
    handle = servicer._rpc("/seldon.protos.Transformer/TransformInput", servicer._body("TransformInput"))
    data = HAND_CASES["ndarray"]
    assert wire_mod.scan_request(data) is not None
    assert handle(DESERIALIZE(data), _Ctx()) == pb.SeldonMessage.FromString(data).SerializeToString()
    assert type(user.got[0]) is pb.SeldonMessage


# ------------------------------------------------------------------ responses


def _encode_outcome(fn: Callable[[], bytes]) -> tuple:
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - compared
        return (type(exc).__name__, str(exc))


def assert_same_encode(resp: Response) -> None:
    new = _encode_outcome(lambda: proto_codec.encode_response_bytes(resp))
    old = _encode_outcome(lambda: proto_codec.encode_response(resp).SerializeToString())
    assert new == old, resp


RESPONSE_METAS = [
    {}, {"puid": "p"}, {"puid": ""}, {"requestPath": {"m": "img:1"}},
    {"puid": "x", "requestPath": {"b": "1", "a": "2", "c": "3"}},
    {"requestPath": {}}, {"puid": "é😀", "requestPath": {"ü": "ß"}},
    {"puid": 5}, {"puid": None}, {"requestPath": {"m": 1}}, {"requestPath": "x"},
    {"puid": "\ud800"}, {"request_path": {"m": "i"}}, {"bogus": 1},
    {"puid": "p", "tags": {"a": 1, "b": [1, None]}, "requestPath": {"m": "i"}},
    {"metrics": [{"key": "k", "type": "GAUGE", "value": 1}]},
]
ND_VALUES = [
    [[1.0, 2.0, 3.0, 4.0]], [[1, 2], [3, 4]], [], [[]], [1.5], 7.0, 3, [[-0.0, 1e-320, 1e308]],
    [math.nan, -math.nan, math.inf, -math.inf], [2 ** 53, -(2 ** 53), 2 ** 53 + 1, 2 ** 64, 10 ** 400],
    [True, 1], [None], ["a", 1.0], [[1, "x"]], [np.float64(1.5)], [np.int64(3)], [(1, 2)],
    [{"a": 1}], [[1.0], [2.0, 3.0]], [[[[[1.0]]]]],
    np.array([[1.0, 2.0]]), np.arange(6).reshape(2, 3), np.array([[1.5, np.nan]], dtype=np.float32),
    np.array(2.5), np.array([True, False]), np.array([["a", "b"]]), np.zeros((2, 0)),
    np.frombuffer(struct.pack("<2Q", 0x7FF8000000000001, 0xFFF8000000000000), dtype="<f8"),
]
NAME_VALUES = [[], 4, 0, ["a", "b"], ["é", "😀"], [1, 2.5], ["\ud800"], 100_000]


@pytest.mark.parametrize("meta", RESPONSE_METAS, ids=str)
@pytest.mark.parametrize("names", NAME_VALUES, ids=lambda n: str(n)[:20])
def test_tensor_response_bytes_are_protobufs(meta, names):
    for arr in (np.arange(4.0).reshape(2, 2), np.array([]), np.array(3.0), np.ones((1, 3), dtype=">f4")):
        assert_same_encode(Response("tensor", arr, names, meta))


@pytest.mark.parametrize("value", ND_VALUES, ids=lambda v: repr(v)[:30])
@pytest.mark.parametrize("names", [[], 2, ["x"], ["\ud800"]], ids=str)
def test_ndarray_response_bytes_are_protobufs(value, names):
    for meta in ({}, {"puid": "p", "requestPath": {"m": "i"}}, {"tags": {"a": "b"}}):
        assert_same_encode(Response("ndarray", value, names, meta))


def _intify(value: Any) -> Any:
    if isinstance(value, list):
        return [_intify(v) for v in value]
    return int(value) if math.isfinite(value) else value


def test_random_responses_are_protobufs():
    rng = random.Random(7)
    for _ in range(1500):
        meta = _rand_meta(rng)
        names: Any = rng.choice([[], rng.randint(0, 5), ["a", "ü"]])
        if rng.random() < 0.5:
            shape = [rng.randint(0, 3) for _ in range(rng.randint(0, 3))]
            value: Any = _rand_nested(rng, shape, rng.random() < 0.2) if shape else _rand_float(rng)
            if rng.random() < 0.3:
                value = _intify(value)
            assert_same_encode(Response("ndarray", value, names, meta))
        else:
            shape = [rng.randint(0, 3) for _ in range(rng.randint(0, 3))]
            arr = np.array([_rand_float(rng) for _ in range(int(np.prod(shape)))]).reshape(shape)
            assert_same_encode(Response("tensor", arr, names, meta))


def test_request_path_cache_is_bounded():
    for i in range(200):
        assert_same_encode(Response("tensor", np.ones(2), [], {"requestPath": {f"m{i}": "x"}}))
    assert len(proto_codec._REQUEST_PATH_BYTES) <= proto_codec._REQUEST_PATH_CACHE_SIZE
