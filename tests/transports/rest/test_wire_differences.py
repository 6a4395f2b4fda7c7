"""The wire differences issue 11 lists, matched to Seldon Core 1.19 (the differential suite in
tests/compat checks them against the reference itself when it is installed)."""

from __future__ import annotations

from seldon_py.user_model import SeldonComponent
from tests.transports.rest.test_app import client


class BoolRouter:
    def route(self, X, names):
        return True


class Subclassed(SeldonComponent):
    def predict(self, X, names):
        return X


class Plain:
    def predict(self, X, names):
        return X


class NaNs:
    def predict(self, X, names):
        return [[float("nan"), float("inf"), -float("inf"), 1.5]]


def test_a_bool_route_answers_true_as_the_reference():
    r = client(BoolRouter()).post("/route", json={"data": {"ndarray": [[1]]}})
    assert r.status_code == 200 and r.data == b'{"data":{"names":["t:0"],"ndarray":[[true]]},"meta":{}}\n'


def test_health_status_of_a_subclass_without_health_status():
    assert client(Subclassed()).get("/health/status").json == {
        "meta": {}, "strData": "not implemented - assuming healthy"}
    assert client(Plain()).get("/health/status").json == {"meta": {}, "strData": "healthy"}


def test_cors_preflight_lists_the_seven_methods():
    r = client(Plain()).options("/api/v1.0/predictions", headers={"Origin": "http://a",
                                                                   "Access-Control-Request-Method": "POST"})
    assert r.headers["Access-Control-Allow-Methods"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def test_nan_and_infinity_round_trip_never_null():
    c = client(Plain())
    r = c.post("/predict", data=b'{"data":{"ndarray":[[NaN,Infinity,-Infinity,1]]}}', content_type="application/json")
    assert b"[[NaN,Infinity,-Infinity,1.0]]" in r.data and b"null" not in r.data
    r = c.post("/predict", data=b'{"jsonData":{"a":NaN}}', content_type="application/json")
    assert r.data == b'{"jsonData":{"a":NaN},"meta":{}}\n'
    assert b"[NaN,Infinity,-Infinity,1.5]" in client(NaNs()).post("/predict", json={"strData": "x"}).data
