"""REST feedback is decoded by the JSON codec; it must give the model what Seldon Core's protobuf
round trip gives (doubles, a float32 reward, int32 routing), and refuse what protobuf refuses."""

from __future__ import annotations

import pytest

from seldon_py.errors import BadRequest
from seldon_py.protocol.seldon import json_codec, proto_codec

CASES = [
    {},
    {"reward": 1},
    {"reward": 0.1},
    {"reward": "1.5"},
    {"reward": None},
    {"reward": True},
    {"request": {"data": {"ndarray": [[1, 2], [3, 4]]}}, "reward": 0.5},
    {"request": {"data": {"names": ["a", "b"], "tensor": {"shape": [1, 2], "values": [1, 2]}}}},
    {"request": {"data": {"ndarray": [["x", 1]]}}},
    {"request": {"data": {"ndarray": [True, False]}}},
    {"request": {"strData": "x"}, "reward": 2},
    {"request": {"jsonData": {"a": 1}, "meta": {"puid": "p1"}}},
    {"truth": {"data": {"tensor": {"shape": [1], "values": [1]}}}, "reward": 1},
    {"request": {"data": {"ndarray": [1]}}, "response": {"meta": {"routing": {"r": 1, "s": -1}}}},
    {"request": {"data": {}}, "truth": {"data": {"ndarray": [[0.5]]}}},
]


@pytest.mark.parametrize("body", CASES, ids=range(len(CASES)))
def test_json_decoding_matches_the_protobuf_round_trip(body):
    ours = json_codec.decode_feedback(body)
    ref = proto_codec.decode_feedback(proto_codec.feedback_from_json(body))
    assert ours.request_kind == ref.request_kind
    assert ours.names == ref.names
    assert ours.reward == ref.reward
    assert ours.routing_table == ref.routing_table
    assert ours.request_meta.get("puid") == ref.request_meta.get("puid")
    for a, b in ((ours.features, ref.features), (ours.truth, ref.truth)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tolist() == b.tolist()


@pytest.mark.parametrize("body", [
    {"bogus": 1},
    {"reward": "abc"},
    {"reward": [1]},
    {"request": {"foo": 1}},
    {"request": {"data": {"tensor": {"shape": [1], "values": [1], "x": 1}}}},
    {"request": {"meta": {"nope": 1}}},
    {"response": {"meta": {"routing": {"r": "one"}}}},
    [1, 2],
])
def test_what_protobuf_refuses_is_refused(body):
    with pytest.raises(BadRequest):
        proto_codec.feedback_from_json(body)
    with pytest.raises(BadRequest, match="Invalid JSON"):
        json_codec.decode_feedback(body)
