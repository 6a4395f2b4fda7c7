"""The REST adapter in-process (Flask test client): golden examples of spec §4.5/§5.5 byte for
byte, error mapping, request reading rules."""

from __future__ import annotations

import io
import json

import pytest

from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon.handler import DataPlane, UnitInfo
from seldon_py.transports.rest.app import create_app
from tests import fixtures as fx


def client(obj, *, ready=True, metadata=None, metadata_error=None, max_payload=1_000_000,
           passthrough=False, **unit):
    dp = DataPlane(reflect(obj), UnitInfo(**unit), metadata=metadata, metadata_error=metadata_error)
    if ready:
        dp.load()
    app = create_app(dp, max_payload_bytes=max_payload, payload_passthrough=passthrough)
    return app.test_client()


# spec §4.5, plain identity model, no env: (path, request body, expected response bytes)
GOLDEN = [
    ("/predict", {"data": {"ndarray": [[1, 2], [3, 4]]}},
     b'{"data":{"names":["t:0","t:1"],"ndarray":[[1,2],[3,4]]},"meta":{}}'),
    ("/api/v1.0/predictions",
     {"data": {"names": ["a", "b"], "ndarray": [[1.0, 2.0]]}, "meta": {"puid": "abc", "tags": {"x": 1}}},
     b'{"data":{"names":["t:0","t:1"],"ndarray":[[1.0,2.0]]},"meta":{"puid":"abc","tags":{"x":1}}}'),
    ("/api/v0.1/predictions", {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}},
     b'{"data":{"names":["t:0","t:1"],"tensor":{"shape":[1,2],"values":[1,2]}},"meta":{}}'),
    ("/predict", {"strData": "hello"}, b'{"meta":{},"strData":"hello"}'),
    ("/predict", {"binData": "AAFoaQ=="}, b'{"binData":"AAFoaQ==","meta":{}}'),
    ("/predict", {"jsonData": {"a": [1, 2]}}, b'{"jsonData":{"a":[1,2]},"meta":{}}'),
    ("/predict", {"data": {"ndarray": ["a", "b"]}}, b'{"data":{"names":[],"ndarray":["a","b"]},"meta":{}}'),
    ("/predict", {"data": {"ndarray": [1, "b", 2.5]}},
     b'{"data":{"names":[],"ndarray":["1","b","2.5"]},"meta":{}}'),
    ("/predict", {"data": {}}, b'{"data":{"names":[],"ndarray":[]},"meta":{}}'),
    ("/predict", {"data": {"names": ["a"]}}, b'{"data":{"names":[],"ndarray":[]},"meta":{}}'),
    ("/predict", {"data": {"ndarray": 5}}, b'{"data":{"names":[],"ndarray":5},"meta":{}}'),
    ("/predict",
     {"strData": "x", "meta": {"puid": "p1", "routing": {"a": 1}, "requestPath": {"x": "img:1"},
                               "metrics": [{"key": "k", "type": "COUNTER", "value": 1}]}},
     b'{"meta":{"metrics":[{"key":"k","type":"COUNTER","value":1}],"puid":"p1","requestPath":{"x":"img:1"}},"strData":"x"}'),
]


@pytest.mark.parametrize("path,body,expected", GOLDEN)
def test_golden_examples_byte_for_byte(path, body, expected):
    r = client(fx.Identity()).post(path, data=json.dumps(body), content_type="application/json")
    assert r.status_code == 200
    assert r.data == expected + b"\n"
    assert r.mimetype == "application/json"


def test_golden_form_and_query():
    c = client(fx.Identity())
    expected = b'{"data":{"names":["t:0","t:1"],"ndarray":[[1,2]]},"meta":{}}\n'
    assert c.post("/predict", data={"json": '{"data":{"ndarray":[[1,2]]}}'}).data == expected
    assert c.get("/predict", query_string={"json": '{"data":{"ndarray":[[1,2]]}}'}).data == expected


def test_golden_health_and_metadata():
    c = client(fx.Identity(), metadata={"custom": {}, "inputs": [], "name": "", "outputs": [],
                                        "platform": "", "versions": [""]})
    assert c.get("/health/status").data == b'{"meta":{},"strData":"healthy"}\n'
    assert c.get("/api/v1.0/health/status").data == b'{"meta":{},"strData":"healthy"}\n'
    assert c.get("/metadata").data == (
        b'{"custom":{},"inputs":[],"name":"","outputs":[],"platform":"","versions":[""]}\n')
    ping = c.get("/health/ping")
    assert ping.data == b"pong" and ping.content_type == "text/html; charset=utf-8"


def test_golden_full_meta_example_55():
    c = client(fx.Golden55(), unit_id="mymodel", image="repo/img:0.3")
    req = {"data": {"ndarray": [[1, 2]]},
           "meta": {"puid": "P", "tags": {"req": "t", "shared": "req"},
                    "requestPath": {"upstream": "u:1"},
                    "metrics": [{"key": "reqm", "type": "GAUGE", "value": 3}]}}
    r = c.post("/api/v1.0/predictions", json=req)
    assert r.data == (
        b'{"data":{"names":["a","b"],"ndarray":[[1.5,2.5]]},'
        b'"meta":{"metrics":[{"key":"reqm","type":"GAUGE","value":3},'
        b'{"key":"static_counter","type":"COUNTER","value":1},'
        b'{"key":"rt_counter","tags":{"lbl":"a","method":"predict"},"type":"COUNTER","value":2},'
        b'{"key":"rt_gauge","type":"GAUGE","value":42},'
        b'{"key":"rt_timer","type":"TIMER","value":20.5}],'
        b'"puid":"P","requestPath":{"mymodel":"repo/img:0.3","upstream":"u:1"},'
        b'"tags":{"req":"t","runtime":"tag","shared":"runtime","static":"tag"}}}\n')


def test_metrics_left_out_of_response_when_disabled():
    c = client(fx.Golden55(), include_metrics=False)
    req = {"data": {"ndarray": [[1, 2]]}, "meta": {"metrics": [{"key": "reqm", "type": "GAUGE", "value": 3}]}}
    meta = c.post("/predict", json=req).json["meta"]
    assert meta["metrics"] == [{"key": "reqm", "type": "GAUGE", "value": 3}]  # request metrics still echoed


def test_route_aggregate_feedback_semantics():
    r = client(fx.Router(), unit_id="mymodel", image="repo/img:0.3")
    body = {"data": {"ndarray": [[1]]}, "meta": {"puid": "r1", "tags": {"a": 1}, "requestPath": {"up": "u:1"}}}
    assert r.post("/route", json=body).data == (
        b'{"data":{"names":["t:0"],"ndarray":[[1]]},"meta":{"puid":"r1","requestPath":{"mymodel":"repo/img:0.3"}}}\n')
    assert r.post("/route", json={"strData": "x"}).json["data"] == {
        "names": ["t:0"], "tensor": {"shape": [1, 1], "values": [1]}}
    fb = {"request": {"data": {"ndarray": [[1, 2]]}, "meta": {"puid": "f1"}},
          "response": {"meta": {"routing": {"mymodel": 1}}}, "reward": 1.0}
    assert r.post("/api/v1.0/feedback", json=fb).data == (
        b'{"data":{"ndarray":[]},"meta":{"puid":"f1","requestPath":{"mymodel":"repo/img:0.3"}}}\n')
    assert r.post("/send-feedback", json={"reward": 0}).data == (
        b'{"data":{"tensor":{"shape":[0]}},"meta":{"requestPath":{"mymodel":"repo/img:0.3"}}}\n')
    m = client(fx.Mean())
    msgs = [{"data": {"ndarray": [[1, 2]]}, "meta": {"puid": "c1", "tags": {"a": 1}}},
            {"data": {"ndarray": [[3, 4]]}, "meta": {"tags": {"b": 2}}}]
    expected = b'{"data":{"names":["t:0","t:1"],"ndarray":[[2.0,3.0]]},"meta":{"puid":"c1","tags":{"a":1,"b":2}}}\n'
    assert m.post("/aggregate", json=msgs).data == expected
    assert m.post("/aggregate", json={"seldonMessages": msgs}).data == expected


def test_feedback_reaches_user_with_routing():
    model = fx.Router()
    c = client(model, unit_id="node")
    c.post("/send-feedback", json={"request": {"data": {"ndarray": [[1]]}}, "reward": 0.5,
                                   "response": {"meta": {"routing": {"node": 1}}}})
    assert model.feedback == [(0.5, 1)]


def test_transformer_fallbacks():
    c = client(fx.Doubler())
    assert c.post("/transform-input", json={"data": {"ndarray": [[1, 2]]}}).json["data"]["ndarray"] == [[2, 4]]
    assert c.post("/transform-output", json={"data": {"ndarray": [[1, 2]]}}).json["data"]["ndarray"] == [[2, 3]]
    # no predict → empty array, like the reference
    empty = b'{"data":{"names":[],"ndarray":[]},"meta":{}}\n'
    assert c.post("/predict", json={"data": {"ndarray": [[1]]}}).data == empty
    ident = client(fx.Identity())  # no transform_* → identity
    assert ident.post("/transform-output", json={"strData": "s"}).json["strData"] == "s"


def test_signatures_are_reflected():
    assert client(fx.OnlyX()).post("/predict", json={"data": {"ndarray": [[1, 2]]}}).json["data"]["ndarray"] == [[3]]
    assert client(fx.KwMeta()).post("/predict", json={"strData": "x", "meta": {"puid": "z"}}).json["jsonData"] == {
        "got_meta": {"puid": "z"}}


def test_type_error_in_user_code_is_not_retried():
    model = fx.Raises()
    r = client(model).post("/predict", json={"data": {"ndarray": [[1]]}})
    assert r.status_code == 500
    assert r.json["status"] == {"code": -1, "info": "boom 1", "reason": "MICROSERVICE_INTERNAL_ERROR", "status": 1}
    assert model.calls == 1


def test_user_seldon_exception_keeps_status_and_reason():
    r = client(fx.SeldonRaises()).post("/predict", json={"data": {"ndarray": [[1]]}})
    assert r.status_code == 422
    assert r.json == {"status": {"code": -1, "info": "custom failure", "reason": "MY_REASON", "status": 1}}


def test_raw_methods_and_status_code():
    r = client(fx.Raw()).post("/predict", json={"strData": "x"})
    assert r.json == {"jsonData": {"echo": {"strData": "x"}},
                      "meta": {"metrics": [{"key": "raw_c", "type": "COUNTER", "value": 1}]}}
    assert client(fx.Raw(), include_metrics=False).post("/predict", json={"strData": "x"}).json["meta"] == {}
    assert client(fx.RawStatus()).post("/predict", json={}).status_code == 402


def test_passthrough_gives_raw_bytes():
    class P:
        def predict_raw(self, body):
            return body.upper()

    r = client(P(), passthrough=True).post("/predict", data=b'{"x":1}', content_type="text/plain")
    assert r.status_code == 200 and r.data == b'{"X":1}' and r.mimetype == "application/json"


def test_return_types():
    c = client(fx.Types())

    def ask(want):
        return c.post("/predict", json={"data": {"ndarray": [[1]]}, "meta": {"tags": {"want": want}}})

    assert ask("f32").json["data"]["ndarray"] == [[0.10000000149011612, 0.20000000298023224]]
    assert ask("bool").json["data"] == {"names": ["t:0", "t:1"], "ndarray": [[True, False]]}
    assert ask("zero_d").json["data"] == {"names": [], "ndarray": 3.5}
    assert ask("three_d").json["data"]["names"] == ["t:0", "t:1"]
    assert ask("str_list").json["data"]["ndarray"] == ["a", "b"]
    assert ask("nan").data.startswith(b'{"data":{"names":["t:0","t:1"],"ndarray":[[NaN,Infinity]]}')  # as the reference
    assert ask("unicode").data == b'{"meta":{"tags":{"want":"unicode"}},"strData":"h\\u00e9llo \\u2713"}\n'
    for bad in ("none", "tuple"):
        r = ask(bad)
        assert r.status_code == 400 and "Unknown data type returned" in r.json["status"]["info"]


def test_bad_metric_is_500_bad_metric():
    r = client(fx.BadMetric()).post("/predict", json={"data": {"ndarray": [[1]]}})
    assert r.status_code == 500
    assert r.json["status"]["reason"] == "MICROSERVICE_BAD_METRIC"


def test_health_status_dict_and_not_ready():
    assert client(fx.Health()).get("/health/status").data == b'{"jsonData":{"status":"ok"},"meta":{}}\n'
    c = client(fx.Identity(), ready=False)
    assert c.get("/health/ping").data == b"pong"
    r = c.get("/health/status")
    assert r.status_code == 503 and r.json["status"]["reason"] == "MICROSERVICE_NOT_READY"
    assert c.post("/predict", json={"data": {"ndarray": [[1]]}}).status_code == 503


def test_bad_metadata_is_500_but_predict_works():
    c = client(fx.Identity(), metadata=None, metadata_error="versions must be a list")
    r = c.get("/metadata")
    assert r.status_code == 500 and r.json["status"]["reason"] == "MICROSERVICE_BAD_METADATA"
    assert c.post("/predict", json={"strData": "x"}).status_code == 200


BAD_INPUT = [
    # (description, kwargs for client.open, expected status, fragment of info)
    ("malformed json", dict(method="POST", data=b'{"data":', content_type="application/json"), 400, "Invalid JSON"),
    ("empty body", dict(method="POST", data=b"", content_type="application/json"), 400, "Empty request"),
    ("json null", dict(method="POST", data=b"null", content_type="application/json"), 400, "null"),
    ("wrong content type", dict(method="POST", data=b'{"strData":"x"}', content_type="text/plain"), 415,
     "Content-Type"),
    ("urlencoded raw json", dict(method="POST", data=b'{"strData":"x"}',
                                 content_type="application/x-www-form-urlencoded"), 415, "Content-Type"),
    ("missing data", dict(method="POST", json={"meta": {}}), 400, "Invalid request data type"),
    ("ragged", dict(method="POST", json={"data": {"ndarray": [[1, 2], [3]]}}), 400, "rectangular"),
    ("shape mismatch", dict(method="POST", json={"data": {"tensor": {"shape": [3], "values": [1, 2]}}}), 400,
     "do not fit shape"),
    ("missing shape", dict(method="POST", json={"data": {"tensor": {"values": [1, 2]}}}), 400, "shape"),
    ("bad base64", dict(method="POST", json={"binData": "aGVsbG8"}), 400, "base64"),
    ("bad json= field", dict(method="POST", data={"json": "{bad"}), 400, "Invalid JSON"),
    ("meta not object", dict(method="POST", json={"strData": "x", "meta": []}), 400, "meta"),
    ("oversize", dict(method="POST", data=b"[" + b"1," * 600_000 + b"1]", content_type="application/json"), 413,
     "larger than"),
]


@pytest.mark.parametrize("what,kwargs,status,info", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_is_a_4xx_seldon_error(what, kwargs, status, info):
    c = client(fx.Identity())
    r = c.open("/predict", **kwargs)
    assert r.status_code == status, r.data
    body = r.json
    assert set(body) == {"status"} and body["status"]["code"] == -1 and body["status"]["status"] == 1
    assert info in body["status"]["info"]
    # and the server keeps serving
    assert c.post("/predict", json={"strData": "ok"}).status_code == 200


def test_unknown_path_and_wrong_method():
    c = client(fx.Identity())
    r = c.get("/nope")
    assert r.status_code == 404 and r.json["status"]["reason"] == "MICROSERVICE_NOT_FOUND"
    r = c.get("/api/v1.0/predictions")
    assert r.status_code == 405 and r.json["status"]["reason"] == "MICROSERVICE_METHOD_NOT_ALLOWED"
    assert "POST" in r.headers["Allow"]
    assert c.post("/route", json={"strData": "x"}).status_code == 400  # route not defined
    assert c.post("/aggregate", json=[{"strData": "x"}]).json["status"]["info"] == "Aggregate not defined"


def test_multipart():
    c = client(fx.Identity())
    r = c.post("/predict", data={"strData": "hello"}, content_type="multipart/form-data")
    assert r.data == b'{"meta":{},"strData":"hello"}\n'
    r = c.post("/predict", data={"binData": (io.BytesIO(b"\x00\x01hi"), "f.bin")}, content_type="multipart/form-data")
    assert r.data == b'{"binData":"AAFoaQ==","meta":{}}\n'
    r = c.post("/predict", data={"data": '{"ndarray":[[1,2]]}', "meta": '{"puid":"mp"}'},
               content_type="multipart/form-data")
    assert r.data == b'{"data":{"names":["t:0","t:1"],"ndarray":[[1,2]]},"meta":{"puid":"mp"}}\n'


def test_cors_and_openapi():
    c = client(fx.Identity())
    assert c.get("/health/ping").headers["Access-Control-Allow-Origin"] == "*"
    r = c.get("/health/ping", headers={"Origin": "http://x"})
    assert r.headers["Access-Control-Allow-Origin"] == "http://x" and "Origin" in r.headers["Vary"]
    pre = c.options("/predict", headers={"Origin": "http://x", "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200 and pre.headers["Access-Control-Allow-Headers"] == "content-type"
    doc = c.get("/seldon.json")
    assert doc.status_code == 200 and doc.json["openapi"].startswith("3.")
    assert doc.headers["Content-Disposition"] == "inline; filename=seldon.json"
