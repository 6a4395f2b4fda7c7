"""A real Prometheus server scrapes a real microservice (--workers 2); the values it stores,
read back through its HTTP query API, are exactly what the traffic implies; and
`promtool check metrics` accepts the exposition.

Needs Debian's `prometheus` package (`apt-get install -y prometheus`: /usr/bin/prometheus and
/usr/bin/promtool); skipped with that reason when the binaries are absent.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

from tests.conftest import free_port

pytestmark = pytest.mark.e2e

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(
    not (PROMETHEUS and PROMTOOL),
    reason="the prometheus/promtool binaries are not installed (apt-get install -y prometheus)",
)

MODEL = '''
from seldon_py import SeldonResponse

class Model:
    def predict(self, X, names=None, meta=None):
        return SeldonResponse(X, metrics=[
            {"type": "COUNTER", "key": "hits", "value": 2, "tags": {"lbl": "a"}},
            {"type": "GAUGE", "key": "level", "value": 7},
            {"type": "TIMER", "key": "inference_seconds", "value": 3.0},
        ])
'''

SCRAPE_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: seldon
    metrics_path: /prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


class PrometheusServer:
    """prometheus on a free loopback port with its storage in a temp dir; always killed."""

    def __init__(self, workdir, target_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(SCRAPE_CONFIG.format(port=target_port))
        self.log_path = workdir / "prometheus.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"prometheus exited:\n{self.log_path.read_text()}"
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"prometheus not ready after {timeout}s:\n{self.log_path.read_text()}")

    def query(self, promql: str) -> list[dict]:
        r = requests.get(self.url + "/api/v1/query", params={"query": promql}, timeout=5)
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    servers: list[PrometheusServer] = []

    def start(target_port: int) -> PrometheusServer:
        workdir = tmp_path / "prometheus"
        workdir.mkdir()
        srv = PrometheusServer(workdir, target_port)
        servers.append(srv)
        srv.wait_ready()
        return srv

    yield start
    for srv in servers:
        srv.stop()


def wait_for(prom: PrometheusServer, expected: dict[str, float], timeout: float = 20) -> None:
    """Poll until every query returns exactly one series with exactly the expected value."""
    deadline = time.monotonic() + timeout
    while True:
        got = {}
        for promql in expected:
            result = prom.query(promql)
            got[promql] = [float(r["value"][1]) for r in result]
        if all(got[q] == [v] for q, v in expected.items()):
            return
        if time.monotonic() > deadline:
            wrong = {q: (got[q], v) for q, v in expected.items() if got[q] != [v]}
            raise AssertionError(f"Prometheus disagrees (got, expected): {wrong}")
        time.sleep(0.5)


@needs_prometheus
def test_prometheus_scrapes_exact_values_from_two_workers(start_service, prometheus):
    svc = start_service({"Model.py": MODEL}, ["Model", "--workers", "2", "--threads", "2"], env={
        "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus",
        "SELDON_DEPLOYMENT_ID": "mydep", "PREDICTIVE_UNIT_ID": "mymodel",
        "PREDICTIVE_UNIT_IMAGE": "repo/img:0.3", "PREDICTOR_ID": "mypred",
        "PREDICTOR_LABELS": '{"version": "v7"}',
    })
    prom = prometheus(svc.metrics_port)

    n = 30
    for _ in range(n):  # a new connection each, so both workers serve some
        r = requests.post(svc.url + "/api/v1.0/predictions", json={"data": {"ndarray": [1]}}, timeout=10)
        assert r.status_code == 200
    for reward in (0, 0, 1.5, 0.5):
        r = requests.post(svc.url + "/api/v1.0/feedback", json={"reward": reward}, timeout=10)
        assert r.status_code == 200

    labels = ('deployment_name="mydep",model_name="mymodel",model_image="repo/img",model_version="0.3",'
              'predictor_name="mypred",predictor_version="v7",seldon_deployment_name="mydep",'
              'image_name="repo/img",image_version="0.3"')
    wait_for(prom, {
        'up{job="seldon"}': 1,
        f'hits_total{{lbl="a",method="predict",{labels}}}': 2 * n,
        'count(hits_total)': 1,  # one series, whatever the worker
        f'level{{method="predict",{labels}}}': 7,
        'inference_seconds_count{method="predict"}': n,
        'inference_seconds_bucket{method="predict",le="0.002863183005509725"}': 0,
        'inference_seconds_bucket{method="predict",le="0.0035336125536884733"}': n,
        'inference_seconds_bucket{method="predict",le="+Inf"}': n,
        f'seldon_api_model_feedback_total{{method="feedback",{labels}}}': 4,
        f'seldon_api_model_feedback_reward_total{{method="feedback",{labels}}}': 2,
        'seldon_api_model_requests_total{transport="rest",endpoint="/api/v1.0/predictions",code="200"}': n,
        'seldon_api_model_request_duration_seconds_count{endpoint="/api/v1.0/predictions"}': n,
        'seldon_api_model_requests_total{transport="rest",endpoint="/api/v1.0/feedback",code="200"}': 4,
        'seldon_api_model_requests_in_flight{endpoint="/api/v1.0/predictions"}': 0,
    })
    assert float(prom.query('inference_seconds_sum{method="predict"}')[0]["value"][1]) == pytest.approx(n * 0.003)
    assert float(prom.query("process_cpu_seconds_total")[0]["value"][1]) > 0
    assert float(prom.query("seldon_api_model_processes")[0]["value"][1]) >= 5

    exposition = requests.get(f"http://127.0.0.1:{svc.metrics_port}/prometheus", timeout=5).content
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, timeout=30)
    assert check.returncode == 0, (check.stdout + check.stderr).decode()
