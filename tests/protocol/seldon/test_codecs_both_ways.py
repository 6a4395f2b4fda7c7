"""The client's directions of both codecs (encode a request, decode a response) and the shared
meta merge: round trips through the server's directions."""

from __future__ import annotations

import numpy as np
import pytest

from seldon_py.errors import SeldonMicroserviceException
from seldon_py.proto import prediction_pb2 as pb
from seldon_py.protocol.seldon import json_codec, proto_codec
from seldon_py.protocol.seldon.meta import merge_meta
from seldon_py.protocol.seldon.payload import Payload, Response
from seldon_py.util import jsonutil

META = {"puid": "p1", "tags": {"a": 1}}

PAYLOADS = [
    Payload("tensor", np.arange(6, dtype=np.float64).reshape(2, 3), ["a", "b", "c"], META),
    Payload("ndarray", np.array([[1.5, 2.0]]), [], None),
    Payload("ndarray", np.array([["x", "y"]]), ["s", "t"], {}),
    Payload("jsonData", {"k": [1.0, "v"]}, [], META),
    Payload("strData", "hello", [], None),
    Payload("binData", b"\x00\x01bytes", [], {"puid": "q"}),
    Payload("data", np.array([]), ["only", "names"], None),
]


def _same(a, b):
    assert a.kind == b.kind and list(a.names) == list(b.names) and a.meta == b.meta
    if isinstance(a.value, np.ndarray):
        assert np.asarray(b.value).tolist() == a.value.tolist()
    else:
        assert a.value == b.value


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.kind)
def test_json_request_round_trip(payload):
    wire = jsonutil.loads(jsonutil.dumps(json_codec.encode_request(payload)))
    _same(payload, json_codec.decode_message(wire))


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.kind)
def test_proto_request_round_trip(payload):
    wire = proto_codec.encode_request(payload).SerializeToString()
    back = proto_codec.decode_message(pb.SeldonMessage.FromString(wire))
    if payload.meta is None:  # protobuf gives an absent meta as {}
        back.meta = None if back.meta == {} else back.meta
    _same(payload, back)


RESPONSES = [
    Response("tensor", np.arange(4, dtype=np.float64).reshape(2, 2), 2, {"puid": "p", "requestPath": {"m": "img"}}),
    Response("ndarray", np.array([[1.0, 2.0]]), ["x", "y"], {}),
    Response("jsonData", {"out": [1.0, 2.0]}, [], {"tags": {"t": "v"}}),
    Response("strData", "s", [], {}),
    Response("binData", b"\xffraw", [], {}),
]


def _names(resp):
    return [f"t:{i}" for i in range(resp.names)] if isinstance(resp.names, int) else resp.names


@pytest.mark.parametrize("resp", RESPONSES, ids=lambda r: r.kind)
def test_json_response_round_trip(resp):
    back = json_codec.decode_response(jsonutil.loads(jsonutil.dumps(json_codec.encode_response(resp))))
    assert (back.kind, back.names, back.meta, back.status) == (resp.kind, _names(resp), resp.meta, 200)
    assert np.asarray(back.value).tolist() == np.asarray(resp.value).tolist() if resp.kind in (
        "tensor", "ndarray") else back.value == resp.value


@pytest.mark.parametrize("resp", RESPONSES, ids=lambda r: r.kind)
def test_proto_response_round_trip(resp):
    wire = proto_codec.encode_response_bytes(resp)
    back = proto_codec.decode_response(pb.SeldonMessage.FromString(wire))
    assert (back.kind, back.names, back.meta) == (resp.kind, _names(resp), resp.meta)
    assert np.asarray(back.value).tolist() == np.asarray(resp.value).tolist() if resp.kind in (
        "tensor", "ndarray") else back.value == resp.value


def test_error_bodies_raise_with_their_status_and_reason():
    body = SeldonMicroserviceException("no good", status_code=422, reason="MY_REASON").to_dict()
    with pytest.raises(SeldonMicroserviceException) as info:
        json_codec.decode_response(body, http_status=422)
    assert (info.value.status_code, info.value.reason, info.value.message) == (422, "MY_REASON", "no good")
    with pytest.raises(SeldonMicroserviceException) as info:
        json_codec.decode_response({"strData": "x"}, http_status=503)
    assert info.value.status_code == 503
    msg = pb.SeldonMessage(status=pb.Status(code=-1, info="broken", reason="R", status=pb.Status.FAILURE))
    with pytest.raises(SeldonMicroserviceException) as info:
        proto_codec.decode_response(msg)
    assert (info.value.status_code, info.value.reason, info.value.message) == (500, "R", "broken")


def test_meta_merge_server_and_client_side():
    a = {"puid": "p", "tags": {"x": 1, "y": 1}, "metrics": [{"key": "m1"}], "requestPath": {"a": "img-a"},
         "routing": {"r": 1}}
    b = {"puid": "other", "tags": {"y": 2}, "metrics": [{"key": "m2"}], "requestPath": {"b": "img-b"}}
    merged = merge_meta([a, b], extra_tags=[{"z": 3}, None], metrics=[{"key": "own"}], own_path={"me": "img"})
    assert merged == {
        "puid": "p",
        "tags": {"x": 1, "y": 2, "z": 3},
        "metrics": [{"key": "m1"}, {"key": "m2"}, {"key": "own"}],
        "requestPath": {"me": "img", "a": "img-a", "b": "img-b"},
    }
    assert list(merged) == ["puid", "tags", "metrics", "requestPath"]
    # without echo only the puid, the extra tags, own metrics and own path survive
    assert merge_meta([a], echo=False, own_path={"me": "img"}) == {"puid": "p", "requestPath": {"me": "img"}}
    assert merge_meta([]) == {}
    assert merge_meta([{"metrics": 5}]) == {"metrics": 5}  # not a list: echoed as it came
