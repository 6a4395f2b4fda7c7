"""Metrics of a real `python -m seldon_py.cli` service: exact counts under concurrency across
workers and threads, counters that survive worker recycling, conflicts answered 500 across
processes, the operator's path, and the private directory's life."""

from __future__ import annotations

import glob
import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import wait_until
from tests.metrics.conftest import parse, value

pytestmark = pytest.mark.e2e

MODEL = '''
from seldon_py import SeldonResponse

class Model:
    def predict(self, X, names=None, meta=None):
        kind = X.get("type", "COUNTER") if isinstance(X, dict) else "COUNTER"
        return SeldonResponse(X, metrics=[
            {"type": kind, "key": "hits", "value": 1, "tags": {"lbl": "a"}},
            {"type": "TIMER", "key": "work_ms", "value": 3.0},
            {"type": "GAUGE", "key": "level", "value": 7},
        ])
'''


def scrape(svc, path="/metrics") -> dict:
    r = requests.get(f"http://127.0.0.1:{svc.metrics_port}{path}", timeout=5)
    assert r.status_code == 200, r.text
    return parse(r.text)


def predict(session, svc, body=None):
    return session.post(svc.url + "/predict", json=body or {"jsonData": {"x": 1}}, timeout=10)


def test_concurrent_requests_over_workers_and_threads_add_up_exactly(start_service):
    svc = start_service({"Model.py": MODEL}, ["Model", "--workers", "2", "--threads", "4"],
                        env={"SELDON_DEPLOYMENT_ID": "dep"})
    n_clients, per_client = 16, 25

    def client(_):
        with requests.Session() as s:
            codes = [predict(s, svc).status_code for _ in range(per_client)]
            codes.append(s.post(svc.url + "/api/v1.0/feedback", json={"reward": 0}, timeout=10).status_code)
            return codes

    with ThreadPoolExecutor(n_clients) as pool:
        codes = [c for cs in pool.map(client, range(n_clients)) for c in cs]
    assert set(codes) == {200}
    total = n_clients * per_client
    s = scrape(svc)
    assert value(s, "hits_total", lbl="a", method="predict", deployment_name="dep") == total
    assert value(s, "work_ms_count", method="predict") == total
    assert value(s, "work_ms_sum", method="predict") == pytest.approx(total * 0.003)
    assert value(s, "level", method="predict") == 7
    assert value(s, "seldon_api_model_requests_total", transport="rest", endpoint="/predict",
                 code="200") == total
    assert value(s, "seldon_api_model_request_duration_seconds_count", endpoint="/predict") == total
    assert value(s, "seldon_api_model_feedback_total") == n_clients
    assert value(s, "seldon_api_model_feedback_reward_total") == 0
    assert value(s, "seldon_api_model_requests_in_flight", endpoint="/predict") == 0
    assert value(s, "seldon_api_model_processes") >= 5  # supervisor (+ metrics thread), arbiter, 2 workers, gRPC

    # a key that changes type is refused by whichever worker sees it: 500, and serving goes on
    with requests.Session() as sess:
        r = predict(sess, svc, {"jsonData": {"type": "GAUGE"}})
        assert r.status_code == 500
        assert r.json()["status"]["reason"] == "MICROSERVICE_BAD_METRIC"
        assert "'hits'" in r.json()["status"]["info"]
        assert all(predict(sess, svc).status_code == 200 for _ in range(10))
    assert value(scrape(svc), "hits_total", method="predict") == total + 10


def test_grpc_calls_are_observed(start_service):
    grpc = pytest.importorskip("grpc")
    from seldon_py.proto import prediction_pb2, prediction_pb2_grpc

    svc = start_service({"Model.py": MODEL}, ["Model", "--grpc-workers", "2"])
    with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=15)
        stub = prediction_pb2_grpc.ModelStub(channel)
        msg = prediction_pb2.SeldonMessage(strData="x")
        for _ in range(6):
            stub.Predict(msg, timeout=10)
    s = scrape(svc)
    assert sum(v for (n, ls), v in s.items() if n == "seldon_api_model_requests_total"
               and ("transport", "grpc") in ls and ("code", "OK") in ls) == 6
    assert value(s, "hits_total", method="predict") == 6


def test_counters_survive_worker_recycling_and_files_stay_bounded(start_service, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    svc = start_service({"Model.py": MODEL}, ["Model", "--workers", "1", "--max-requests", "5",
                                              "--grpc-workers", "0"], env={"TMPDIR": str(tmp)})
    total = 40
    codes = []

    def predicted() -> bool:  # refused between an old worker's exit and the new one's start
        try:
            codes.append(requests.post(svc.url + "/predict", json={"jsonData": {}}, timeout=30).status_code)
            return True
        except requests.ConnectionError:
            return False

    for _ in range(total):  # a new connection each: the recycled worker closes its keep-alive ones
        wait_until(predicted, what="a REST worker", detail=svc.output)
    assert codes == [200] * total
    s = scrape(svc)
    assert value(s, "hits_total", method="predict") == total
    assert value(s, "work_ms_count") == total
    assert value(s, "seldon_api_model_requests_total", endpoint="/predict", code="200") == total
    boots = len(re.findall(r"Booting worker", svc.output()))
    assert boots >= total // 5, svc.output()

    (mp,) = glob.glob(str(tmp / "seldon-py-metrics-*"))
    def pids() -> set[int]:
        return {int(m) for f in os.listdir(mp) for m in re.findall(r"_(\d+)(?:\.req)?\.db$", f)}

    # every file belongs to a live process or is an archive (the arbiter folds a reaped worker's)
    wait_until(lambda: not {p for p in pids() if not os.path.exists(f"/proc/{p}")},
               what="dead workers' files folded", detail=lambda: str(sorted(os.listdir(mp))))
    assert len(pids()) <= 2, sorted(os.listdir(mp))
    assert any("archive" in f for f in os.listdir(mp))


def test_operator_path_and_the_private_directory_is_removed_at_exit(start_service, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    svc = start_service({"Model.py": MODEL}, ["Model", "--grpc-workers", "0"],
                        env={"TMPDIR": str(tmp), "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus"})
    assert predict(requests, svc).status_code == 200
    assert value(scrape(svc, "/prometheus"), "hits_total") == 1
    assert requests.get(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=5).status_code == 404
    (mp,) = glob.glob(str(tmp / "seldon-py-metrics-*"))
    assert svc.stop() == 0
    assert not os.path.exists(mp), os.listdir(mp)
