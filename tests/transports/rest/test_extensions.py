"""The REST extension point: a user object's ``rest_blueprint()`` is served next to the Seldon API."""

from __future__ import annotations

import pytest
from flask import Blueprint, jsonify

from seldon_py.model.reflection import reflect
from seldon_py.protocol.seldon.handler import DataPlane
from seldon_py.transports.rest.app import create_app


class TorchServeLike:
    def predict(self, X, names):
        return X

    def rest_blueprint(self):
        bp = Blueprint("torchserve", __name__)

        @bp.route("/predictions/<model>", methods=["POST"])
        def predictions(model):
            return jsonify({"model": model})

        return bp


def _app(obj, **kwargs):
    dp = DataPlane(reflect(obj))
    dp.load()
    return create_app(dp, **kwargs)


def test_reflect_finds_the_extension_points():
    d = reflect(TorchServeLike())
    assert d.rest_blueprint is not None and d.grpc_handlers is None


def test_blueprint_routes_are_served_with_seldon_error_handling_and_cors():
    obj = TorchServeLike()
    c = _app(obj, blueprints=[obj.rest_blueprint()]).test_client()
    r = c.post("/predictions/resnet", headers={"Origin": "http://x"})
    assert r.status_code == 200 and r.get_json() == {"model": "resnet"}
    assert r.headers["Access-Control-Allow-Origin"] == "http://x"
    # the Seldon API is still there, and unknown paths still get Seldon's error body
    assert c.post("/predict", json={"data": {"ndarray": [1]}}).get_json()["data"]["ndarray"] == [1]
    missing = c.get("/predictions")
    assert missing.status_code == 404 and missing.get_json()["status"]["reason"] == "MICROSERVICE_NOT_FOUND"


def test_a_blueprint_cannot_shadow_a_seldon_route():
    bp = Blueprint("shadow", __name__)
    bp.add_url_rule("/predict", "p", lambda: "mine", methods=["POST"])
    with pytest.raises(ValueError, match="/predict"):
        _app(TorchServeLike(), blueprints=[bp])


def test_the_composition_root_registers_the_users_blueprint(monkeypatch):
    from seldon_py.server import Microservice
    from seldon_py.settings import parse_settings

    ms = Microservice(parse_settings(["TorchServeLike"], {}), recorder_factory=lambda: None)
    ms.dispatch = reflect(TorchServeLike())
    [bp] = ms.extension_blueprints()
    assert bp.name == "torchserve"
    assert ms.extension_grpc_handlers() == []
