"""Request metrics and custom metrics through the real Flask app (in-process test client)."""

from __future__ import annotations

import json

from seldon_py import SeldonResponse
from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon.handler import DataPlane, UnitInfo
from seldon_py.transports.rest.app import create_app
from tests.metrics.conftest import value


class Flaky:
    """Returns a COUNTER ``k`` first, then (when asked) ``k`` as a GAUGE."""

    def __init__(self):
        self.kind = "COUNTER"

    def predict(self, X, names, meta=None):
        return SeldonResponse(X, metrics=[{"key": "k", "type": self.kind, "value": 1, "tags": {"a": "b"}}])


def make_client(obj, recorder):
    dp = DataPlane(reflect(obj), UnitInfo(), recorder=recorder)
    dp.load()
    return create_app(dp, observer=recorder).test_client()


def post(c, path, body):
    return c.post(path, data=json.dumps(body), content_type="application/json")


def test_a_metric_changing_type_is_a_500_bad_metric_and_the_worker_goes_on(recorder, scrape):
    model = Flaky()
    c = make_client(model, recorder)
    assert post(c, "/predict", {"data": {"ndarray": [1]}}).status_code == 200
    model.kind = "GAUGE"
    r = post(c, "/predict", {"data": {"ndarray": [1]}})
    assert r.status_code == 500
    status = r.get_json()["status"]
    assert status["reason"] == "MICROSERVICE_BAD_METRIC"
    assert "'k'" in status["info"] and "GAUGE" in status["info"] and "COUNTER" in status["info"]
    model.kind = "COUNTER"
    assert post(c, "/predict", {"data": {"ndarray": [1]}}).status_code == 200
    s = scrape()
    assert value(s, "k_total", a="b", method="predict") == 2
    assert value(s, "seldon_api_model_requests_total", endpoint="/predict", code="200") == 2
    assert value(s, "seldon_api_model_requests_total", endpoint="/predict", code="500") == 1


def test_every_request_is_observed_with_bounded_endpoint_labels(recorder, scrape):
    c = make_client(Flaky(), recorder)
    body = json.dumps({"data": {"ndarray": [1, 2, 3]}})
    r = c.post("/api/v1.0/predictions", data=body, content_type="application/json")
    assert c.get("/health/ping").status_code == 200
    assert c.get("/no/such/path").status_code == 404
    assert c.get("/another/unknown").status_code == 404
    assert post(c, "/api/v1.0/feedback", {"reward": 0}).status_code == 200
    s = scrape()
    pred = dict(transport="rest", endpoint="/api/v1.0/predictions", code="200")
    assert value(s, "seldon_api_model_requests_total", **pred) == 1
    assert value(s, "seldon_api_model_request_size_bytes_sum", transport="rest",
                 endpoint="/api/v1.0/predictions") == len(body)
    assert value(s, "seldon_api_model_response_size_bytes_sum", **pred) == len(r.data)
    assert value(s, "seldon_api_model_requests_total", endpoint="/health/ping", code="200") == 1
    assert value(s, "seldon_api_model_requests_total", endpoint="other", code="404") == 2
    assert value(s, "seldon_api_model_feedback_total") == 1
    assert value(s, "seldon_api_model_requests_in_flight", endpoint="/health/ping") == 0
