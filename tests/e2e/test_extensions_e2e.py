"""The extension points in a real service: a model's rest_blueprint() served by every gunicorn
worker, its grpc_handlers() by the gRPC process, with request metrics, next to the Seldon API."""

from __future__ import annotations

import grpc
import pytest
import requests

pytestmark = pytest.mark.e2e

MODEL = '''
import os

import grpc
from flask import Blueprint, jsonify


class Extended:
    def predict(self, X, names):
        return X

    def rest_blueprint(self):
        bp = Blueprint("ext", __name__)

        @bp.route("/ext/whoami")
        def whoami():
            return jsonify({"pid": os.getpid()})

        return bp

    def grpc_handlers(self):
        echo = grpc.unary_unary_rpc_method_handler(lambda request, context: request[::-1])
        return [grpc.method_handlers_generic_handler("ext.Echo", {"Reverse": echo})]
'''


def test_extensions_are_served_by_every_serving_process(start_service):
    svc = start_service({"Extended.py": MODEL}, ["Extended", "--workers", "2", "--grpc-workers", "1"])
    r = requests.get(svc.url + "/ext/whoami", timeout=30)
    assert r.status_code == 200 and isinstance(r.json()["pid"], int)
    seldon = requests.post(svc.url + "/api/v1.0/predictions", json={"data": {"ndarray": [[1, 2]]}}, timeout=30)
    assert seldon.json()["data"]["ndarray"] == [[1, 2]]
    with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        assert channel.unary_unary("/ext.Echo/Reverse")(b"abc", timeout=30) == b"cba"
    metrics = requests.get(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=30).text
    assert 'endpoint="/ext/whoami"' in metrics
    assert svc.stop() == 0
