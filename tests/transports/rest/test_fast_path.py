"""The WSGI fast path of the REST app (:class:`seldon_py.transports.rest.app.JsonFastPath`) against the Flask
path it stands in front of: the same request through both gives the same status line, the same
headers in the same order, the same body, the same log lines and the same request observation."""

from __future__ import annotations

import io
import json
import logging

import pytest
from flask import Blueprint, jsonify
from werkzeug.test import EnvironBuilder, run_wsgi_app

from seldon_py.errors import SeldonMicroserviceException
from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon.handler import DataPlane, UnitInfo
from seldon_py.transports.rest.app import JsonFastPath, create_app
from tests import fixtures as fx


class Observer:
    """Records request observations (without the timing)."""

    def __init__(self):
        self.calls = []

    def request_started(self, transport, endpoint):
        self.calls.append(("started", transport, endpoint))

    def request_finished(self, transport, endpoint, code, seconds, request_bytes, response_bytes):
        self.calls.append(("finished", transport, endpoint, code, request_bytes, response_bytes))


class Counting:
    """Wraps the Flask WSGI app behind the fast path and counts the requests it gets."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.app(environ, start_response)


def build(obj, *, ready=True, passthrough=False, error_blueprint=None, max_payload=1_000_000, **unit):
    dp = DataPlane(reflect(obj), UnitInfo(**unit))
    if ready:
        dp.load()
    observer = Observer()
    app = create_app(dp, max_payload_bytes=max_payload, payload_passthrough=passthrough,
                     error_blueprint=error_blueprint, observer=observer)
    return app, observer


def fast_path_of(app) -> JsonFastPath:
    fast = app.wsgi_app.__closure__  # observe_requests(JsonFastPath(...)): find the fast path
    found = [c.cell_contents for c in fast or () if isinstance(c.cell_contents, JsonFastPath)]
    assert found, "the app has no fast path"
    return found[0]


def call(app, wsgi_app, path, *, data=b"", content_type="application/json", headers=None,
         query_string=None, method="POST"):
    """One request through ``wsgi_app`` (the whole app, or its Flask part alone)."""
    environ = EnvironBuilder(path=path, method=method, data=data, content_type=content_type,
                             headers=headers, query_string=query_string).get_environ()
    app_iter, status, resp_headers = run_wsgi_app(wsgi_app, environ)
    body = b"".join(app_iter)
    if hasattr(app_iter, "close"):
        app_iter.close()
    return status, list(resp_headers.to_wsgi_list()), body


def both_ways(model, path, data, *, caplog, headers=None, **build_kw):
    """The request through the fast path and through Flask alone, each to a fresh ``model()``:
    (fast, flask), each (status, headers, body, log lines, observations, requests Flask got)."""
    out = []
    for through_flask in (False, True):
        app, observer = build(model(), **build_kw)
        fast = fast_path_of(app)
        counting = Counting(fast.flask_wsgi_app)
        fast.flask_wsgi_app = counting
        if through_flask:
            fast.endpoints = {}  # every request falls through to Flask
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="seldon_py.transports.rest.app"):
            status, resp_headers, body = call(app, app.wsgi_app, path, data=data, headers=headers)
        logs = [(r.levelname, r.getMessage(), r.exc_info[0] if r.exc_info else None) for r in caplog.records
                if r.name == "seldon_py.transports.rest.app"]
        out.append((status, resp_headers, body, logs, observer.calls, counting.calls))
    fast, flask = out
    assert flask[5] == 1
    return fast, flask


def body_of(msg) -> bytes:
    return json.dumps(msg).encode() if not isinstance(msg, bytes) else msg


SMALL = {"data": {"ndarray": [[1, 2, 3, 4]]}}

# (model, path, request body, extra build kwargs): every answer the data endpoints give
CASES = [
    ("predict", fx.Identity, "/predict", SMALL, {}),
    ("predictions v1", fx.Identity, "/api/v1.0/predictions", SMALL, {}),
    ("predictions v0", fx.Identity, "/api/v0.1/predictions",
     {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}}, {}),
    ("strData unicode", fx.Identity, "/predict", {"strData": "h\u00e9llo"}, {}),
    ("full meta", fx.Golden55, "/api/v1.0/predictions",
     {"data": {"ndarray": [[1, 2]]}, "meta": {"puid": "P", "tags": {"a": 1}}}, {"unit_id": "m", "image": "i:1"}),
    ("transform-input", fx.Doubler, "/transform-input", SMALL, {}),
    ("transform-output", fx.Doubler, "/transform-output", SMALL, {}),
    ("route", fx.Router, "/route", SMALL, {}),
    ("aggregate", fx.Mean, "/aggregate", [SMALL, SMALL], {}),
    ("raw dict", fx.Raw, "/predict", {"strData": "x"}, {}),
    ("raw status 402", fx.RawStatus, "/predict", {}, {}),
    # errors, each kind
    ("malformed json", fx.Identity, "/predict", b'{"data":', {}),
    ("json null", fx.Identity, "/predict", b"null", {}),
    ("no data", fx.Identity, "/predict", {"meta": {}}, {}),
    ("ragged", fx.Identity, "/predict", {"data": {"ndarray": [[1, 2], [3]]}}, {}),
    ("meta not object", fx.Identity, "/predict", {"strData": "x", "meta": []}, {}),
    ("route not defined", fx.Identity, "/route", SMALL, {}),
    ("aggregate not defined", fx.Identity, "/aggregate", [SMALL], {}),
    ("user exception 500", fx.Raises, "/predict", SMALL, {}),
    ("user seldon exception 422", fx.SeldonRaises, "/predict", SMALL, {}),
    ("bad metric 500", fx.BadMetric, "/predict", SMALL, {}),
    ("bad return type", fx.Types, "/predict", {"data": {"ndarray": [[1]]}, "meta": {"tags": {"want": "none"}}}, {}),
    ("not ready 503", fx.Identity, "/predict", SMALL, {"ready": False}),
]


@pytest.mark.parametrize("name,model,path,msg,kw", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("origin", [None, "http://x.example"])
def test_fast_path_answers_exactly_as_flask(name, model, path, msg, kw, origin, caplog):
    headers = {"Origin": origin} if origin else None
    fast, flask = both_ways(model, path, body_of(msg), caplog=caplog, headers=headers, **kw)
    assert fast[:5] == flask[:5]
    status, resp_headers, body, logs, observed, _ = fast
    assert dict(resp_headers)["Content-Length"] == str(len(body))
    assert ("Vary", "Origin") in resp_headers if origin else "Vary" not in dict(resp_headers)
    if status.startswith("200"):
        assert fast[5] == 0, "a 200 is written by the fast path itself"
    else:
        assert fast[5] == 1, "anything else is handed to the Flask app"
        assert logs or status.startswith("402")


def test_passthrough_through_both_paths(caplog):
    class Upper:
        def predict_raw(self, body):
            return body.upper()

    fast, flask = both_ways(Upper, "/predict", b'{"x":1}', caplog=caplog, passthrough=True)
    assert fast[:5] == flask[:5]
    assert fast[2] == b'{"X":1}' and fast[5] == 0


def test_user_error_blueprint_handles_errors_from_the_fast_path(caplog):
    class Oops(Exception):
        pass

    class Model:
        def predict(self, X, names):
            raise Oops("custom")

    bp = Blueprint("errors", __name__)

    @bp.app_errorhandler(Oops)
    def handle(exc):
        resp = jsonify({"mine": str(exc)})
        resp.status_code = 418
        return resp

    fast, flask = both_ways(Model, "/predict", body_of(SMALL), caplog=caplog, error_blueprint=bp)
    assert fast[:5] == flask[:5]
    assert fast[0].startswith("418") and json.loads(fast[2]) == {"mine": "custom"}


def test_a_blueprint_with_request_hooks_turns_the_fast_path_off():
    seen = []
    bp = Blueprint("hooks", __name__)

    @bp.before_app_request
    def hook():
        seen.append(1)

    app, _ = build(fx.Identity(), error_blueprint=bp)
    with pytest.raises(AssertionError, match="no fast path"):
        fast_path_of(app)
    status, _, _ = call(app, app.wsgi_app, "/predict", data=body_of(SMALL))
    assert status.startswith("200") and seen == [1]


@pytest.mark.parametrize("what,kwargs", [
    ("query string", dict(data=body_of(SMALL), query_string={"json": '{"strData":"q"}'})),
    ("form", dict(data=b"json=%7B%22strData%22%3A%22f%22%7D", content_type="application/x-www-form-urlencoded")),
    ("multipart", dict(data={"strData": "m"}, content_type="multipart/form-data")),
    ("text/plain", dict(data=body_of(SMALL), content_type="text/plain")),
    ("empty body", dict(data=b"")),
    ("oversize", dict(data=b"[" + b"1," * 600_000 + b"1]")),
    ("GET", dict(method="GET", query_string={"json": '{"strData":"g"}'})),
    ("chunked", dict(data=body_of(SMALL), headers={"Transfer-Encoding": "chunked"})),
])
def test_everything_else_goes_to_flask(what, kwargs):
    app, _ = build(fx.Identity())
    fast = fast_path_of(app)
    counting = fast.flask_wsgi_app = Counting(fast.flask_wsgi_app)
    call(app, app.wsgi_app, "/predict", **kwargs)
    assert counting.calls == 1


def test_unknown_path_and_feedback_go_to_flask():
    app, _ = build(fx.Router())
    fast = fast_path_of(app)
    counting = fast.flask_wsgi_app = Counting(fast.flask_wsgi_app)
    assert call(app, app.wsgi_app, "/nope", data=body_of(SMALL))[0].startswith("404")
    assert call(app, app.wsgi_app, "/send-feedback", data=body_of({"reward": 1}))[0].startswith("200")
    assert counting.calls == 2


def test_a_short_body_is_a_client_disconnect_as_in_flask():
    app, observer = build(fx.Identity())
    data = body_of(SMALL)
    answers = []
    for wsgi_app in (app.wsgi_app, fast_path_of(app).flask_wsgi_app):
        environ = EnvironBuilder(path="/predict", method="POST", data=data,
                                 content_type="application/json").get_environ()
        environ["wsgi.input"] = io.BytesIO(data[:-3])  # the client went away mid-body
        app_iter, status, headers = run_wsgi_app(wsgi_app, environ)
        answers.append((status, headers.to_wsgi_list(), b"".join(app_iter)))
    assert answers[0] == answers[1]
    assert answers[0][0].startswith("400")


def test_the_fast_path_reads_the_body_once_with_its_length():
    class Input(io.BytesIO):
        sizes: list = []

        def read(self, size=-1):
            self.sizes.append(size)
            return super().read(size)

    app, _ = build(fx.Identity())
    data = body_of(SMALL)
    environ = EnvironBuilder(path="/predict", method="POST", data=data, content_type="application/json").get_environ()
    environ["wsgi.input"] = Input(data)
    app_iter, status, _ = run_wsgi_app(app.wsgi_app, environ)
    assert status.startswith("200") and Input.sizes == [len(data)]


def test_error_handler_raising_is_flasks_500(caplog):
    """A user's error handler that itself fails: Flask's own 500, the same on both paths."""

    class Model:
        def predict(self, X, names):
            raise SeldonMicroserviceException("x", status_code=400)

    bp = Blueprint("bad", __name__)

    @bp.app_errorhandler(SeldonMicroserviceException)
    def handle(exc):
        raise RuntimeError("handler broke")

    fast, flask = both_ways(Model, "/predict", body_of(SMALL), caplog=caplog, error_blueprint=bp)
    assert fast[:3] == flask[:3]
    assert fast[0].startswith("500")
