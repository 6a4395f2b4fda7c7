"""End to end: the real `seldon-core-microservice` CLI, real gunicorn, real sockets, real curl."""

from __future__ import annotations

import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse

import pytest
import requests

from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.e2e

IDENTITY = """
class Model:
    def predict(self, X, names, meta=None):
        return X
"""

SLOW_LOAD = """
import os, time
class Slow:
    def load(self):
        while not os.path.exists("loaded"):  # the test's gate: load() ends when it says so
            time.sleep(0.01)
    def predict(self, X, names):
        return X
"""

FAILS_LOAD = """
class Broken:
    def load(self):
        raise RuntimeError("weights.bin is missing")
    def predict(self, X, names):
        return X
"""

PID_MODEL = """
import os
class Pid:
    def load(self):
        self.loaded_in = os.getpid()
    def predict(self, X, names):
        return {"pid": os.getpid(), "loaded_in": self.loaded_in}
"""


def test_every_endpoint_on_gunicorn_with_two_workers(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--workers", "2", "--grpc-workers", "0"])
    u = svc.url
    body = {"data": {"ndarray": [[1, 2]]}}
    expected = {"data": {"names": ["t:0", "t:1"], "ndarray": [[1, 2]]}, "meta": {}}
    for path in ("/predict", "/api/v1.0/predictions", "/api/v0.1/predictions", "/transform-input",
                 "/transform-output"):
        assert requests.post(u + path, json=body).json() == expected, path
    assert requests.post(u + "/route", json=body).status_code == 400
    assert requests.post(u + "/aggregate", json=[body]).status_code == 400
    for path in ("/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback"):
        r = requests.post(u + path, json={"request": body, "reward": 1})
        assert r.json() == {"data": {"ndarray": []}, "meta": {}}, path
    assert requests.get(u + "/health/ping").text == "pong"
    for path in ("/health/status", "/api/v1.0/health/status"):
        assert requests.get(u + path).json() == {"meta": {}, "strData": "healthy"}
    for path in ("/metadata", "/api/v1.0/metadata"):
        assert requests.get(u + path).json()["versions"] == [""]
    assert requests.get(u + "/seldon.json").json()["openapi"].startswith("3.")
    assert requests.get(u + "/nope").status_code == 404
    assert requests.delete(u + "/predict").status_code == 405
    r = requests.post(u + "/predict", data="x" * 10, headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["status"]["status"] == 1


def test_curl_as_users_do(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--grpc-workers", "0"])
    out = subprocess.run(
        ["curl", "-s", "-X", "POST", f"{svc.url}/api/v1.0/predictions", "-H", "Content-Type: application/json",
         "-d", '{"data":{"ndarray":[[1,2],[3,4]]}}'], capture_output=True, check=True).stdout
    assert out == b'{"data":{"names":["t:0","t:1"],"ndarray":[[1,2],[3,4]]},"meta":{}}\n'
    out = subprocess.run(["curl", "-s", "-d", 'json={"strData":"hi"}', f"{svc.url}/predict"],
                         capture_output=True, check=True).stdout
    assert out == b'{"meta":{},"strData":"hi"}\n'
    # keep-alive: two requests on one connection
    with requests.Session() as s:
        r1 = s.post(svc.url + "/predict", json={"strData": "a"})
        assert r1.headers.get("Connection", "keep-alive").lower() == "keep-alive"
        assert s.post(svc.url + "/predict", json={"strData": "b"}).status_code == 200


def test_load_runs_in_each_worker_and_parameters_reach_init(start_service):
    svc = start_service({"Pid.py": PID_MODEL}, ["Pid", "--workers", "2", "--grpc-workers", "0"])
    r = requests.post(svc.url + "/predict", json={"strData": "x"}).json()["jsonData"]
    assert r["pid"] == r["loaded_in"] != svc.proc.pid
    wait_until(lambda: svc.output().count("ready: load() finished") >= 2, what="both workers ready",
               detail=svc.output)
    ready_pids = {line.split("(pid ")[1].split(")")[0] for line in svc.output().splitlines()
                  if "ready: load() finished" in line}
    assert len(ready_pids) == 2


def test_kept_alive_connections_spread_over_both_workers(start_service):
    """Connections opened one after another and kept alive land on both workers, about evenly
    (plain gthread workers often put 7 or 8 of 8 on one); a worker's pid is in its ready line."""
    svc = start_service({"Pid.py": PID_MODEL}, ["Pid", "--workers", "2", "--grpc-workers", "0"])
    wait_until(lambda: svc.output().count("ready: load() finished") >= 2, what="both workers ready",
               detail=svc.output)
    workers = {int(line.split("(pid ")[1].split(")")[0]) for line in svc.output().splitlines()
               if "ready: load() finished" in line}
    assert len(workers) == 2
    url = urllib.parse.urlsplit(svc.url)

    def pid_over(conn: http.client.HTTPConnection) -> int:
        conn.request("POST", "/predict", body=b'{"strData":"x"}', headers={"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())["jsonData"]["pid"]

    # "ready" is logged when load() has finished, which can be before that worker's loop accepts
    # (under a loaded CI machine, seconds before): first see both workers answer
    seen: set[int] = set()

    def both_answer() -> bool:
        pair = [http.client.HTTPConnection(url.hostname, url.port, timeout=30) for _ in range(2)]
        try:
            seen.update(pid_over(c) for c in pair)
        finally:
            for c in pair:
                c.close()
        return seen == workers

    wait_until(both_answer, what="both workers accepting", detail=lambda: f"answered by {seen}")
    conns = [http.client.HTTPConnection(url.hostname, url.port, timeout=30) for _ in range(8)]
    served = []
    try:
        for conn in conns:  # each kept open while the next one is made
            served.append(pid_over(conn))
        # with all of them held open, a new connection is still answered
        r = requests.post(svc.url + "/predict", json={"strData": "x"}, timeout=30)
        assert r.json()["jsonData"]["pid"] in workers
    finally:
        for conn in conns:
            conn.close()
    per_worker = collections.Counter(served)
    assert set(per_worker) == workers, served
    assert min(per_worker.values()) >= 3, served


def test_readiness_waits_for_load_while_ping_answers(start_service, tmp_path):
    svc = start_service({"Slow.py": SLOW_LOAD}, ["Slow", "--grpc-workers", "0"], ready=False)
    svc.wait_ready("/health/ping")
    status = requests.get(svc.url + "/health/status")
    assert status.status_code == 503 and status.json()["status"]["reason"] == "MICROSERVICE_NOT_READY"
    (tmp_path / "loaded").touch()
    svc.wait_ready("/health/status")


GATED = """
import os, time, uuid
class Gated:
    def predict(self, X, names):
        open(os.path.join("entered", uuid.uuid4().hex), "w").close()
        while not os.path.exists("release"):  # the test's gate: held until it says so
            time.sleep(0.01)
        return X
"""


def test_sigterm_drains_in_flight_requests_and_exits_zero(start_service, tmp_path):
    (tmp_path / "entered").mkdir()
    svc = start_service({"Gated.py": GATED}, ["Gated", "--threads", "4", "--grpc-workers", "0"])
    results: list[int] = []

    def call():
        results.append(requests.post(svc.url + "/predict", json={"strData": "x"}, timeout=120).status_code)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(os.listdir(tmp_path / "entered")) == 4, what="4 requests inside predict",
               detail=svc.output)
    svc.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "Handling signal: term" in svc.output(), what="gunicorn draining", detail=svc.output)
    (tmp_path / "release").touch()  # only now, while the server drains, may the requests finish
    for t in threads:
        t.join(timeout=120)
    assert results == [200, 200, 200, 200]
    assert svc.proc.wait(timeout=60) == 0
    leftover = subprocess.run(["pgrep", "-g", str(svc.proc.pid)], capture_output=True, text=True).stdout
    assert leftover.strip() == ""


def test_failed_load_stops_the_service_with_a_clear_error(start_service):
    svc = start_service({"Broken.py": FAILS_LOAD}, ["Broken", "--grpc-workers", "0"], ready=False)
    assert svc.proc.wait(timeout=30) != 0
    out = svc.output()
    assert "load() failed" in out and "weights.bin is missing" in out


def _cli(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "seldon_py.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.mark.parametrize("files,args,env,fragment", [
    ({}, ["NoSuchModule"], None, "cannot import module 'NoSuchModule'"),
    ({"Model.py": IDENTITY}, ["Model.Nope"], None, "has no class 'Nope'"),
    ({"Model.py": IDENTITY}, ["Model", "--bogus"], None, "unrecognized arguments: --bogus"),
    ({"Model.py": IDENTITY}, ["Model", "--service-type", "X"], None, "invalid choice"),
    ({"Model.py": IDENTITY}, ["Model"], {"PREDICTIVE_UNIT_PARAMETERS": '[{"name":"a","value":"1","type":"INT"}]'},
     "cannot construct Model with parameters ['a']"),
    ({"Model.py": IDENTITY}, ["Model"], {"PREDICTIVE_UNIT_PARAMETERS": '[{"name":"a","value":"x","type":"INT"}]'},
     "Bad model parameter: a with value x can't be parsed as a INT"),
    ({"Model.py": "raise ImportError('needs torch')\n"}, ["Model"], None, "importing 'Model' failed"),
])
def test_cli_errors_are_one_line_and_nonzero(tmp_path, files, args, env, fragment):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    r = _cli(args, tmp_path, env)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()
    assert any(fragment in line for line in last), r.stderr
    if "ImportError" not in json.dumps(files):
        assert "Traceback" not in r.stderr


def test_help_lists_flags_and_env(tmp_path):
    r = _cli(["--help"], tmp_path)
    assert r.returncode == 0
    for flag in ("--service-type", "--parameters", "PREDICTIVE_UNIT_PARAMETERS", "--http-port", "--workers",
                 "--threads", "--max-requests-jitter", "--keepalive", "--single-threaded", "--debug",
                 "--log-level", "--access-log", "--pidfile", "--max-payload-size", "GUNICORN_WORKERS"):
        assert flag in r.stdout, flag


def test_debug_mode_uses_flask_server_and_pidfile(start_service, tmp_path):
    pidfile = tmp_path / "svc.pid"
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--debug", "--grpc-workers", "0", "--pidfile", str(pidfile)])
    r = requests.post(svc.url + "/predict", json={"strData": "x"})
    assert r.json() == {"meta": {}, "strData": "x"} and "Werkzeug" in r.headers["Server"]
    assert int(pidfile.read_text()) == svc.proc.pid
    assert svc.stop() == 0
    assert not pidfile.exists()


PRELOAD_MODEL = """
import os
class Pre:
    def load(self):
        self.loaded_in = os.getpid()
        print("LOADED", os.getpid(), flush=True)
    def predict(self, X, names):
        return {"served_by": os.getpid(), "loaded_in": self.loaded_in}
"""


def test_preload_runs_load_once_before_fork(start_service):
    svc = start_service({"Pre.py": PRELOAD_MODEL}, ["Pre", "--preload", "--workers", "2", "--grpc-workers", "0"])
    r = requests.post(svc.url + "/predict", json={"strData": "x"}).json()["jsonData"]
    assert r["loaded_in"] == svc.proc.pid != r["served_by"]
    assert svc.output().count("LOADED") == 1


def test_batching_over_rest(start_service):
    model = """
class B:
    def predict(self, X, names):
        return X * 0 + X.shape[0]
"""
    # a latency window of 10 minutes: only full batches of 4 run, so 16 requests are 4 calls of 4
    svc = start_service({"B.py": model}, ["B", "--threads", "16", "--grpc-workers", "0",
                                         "--max-batch-size", "4", "--max-batch-latency-ms", "600000"])
    from concurrent.futures import ThreadPoolExecutor

    def call(i):
        r = requests.post(svc.url + "/predict", json={"data": {"ndarray": [[i]]}}, timeout=120)
        return r.json()["data"]["ndarray"][0][0]

    with ThreadPoolExecutor(16) as ex:
        sizes = list(ex.map(call, range(16)))
    assert sizes == [4] * 16  # every request shared a predict call with three others


def test_custom_service_runs_in_its_own_process_and_stops(start_service, tmp_path):
    model = """
import os, time
class Custom:
    def predict(self, X, names):
        return X
    def custom_service(self):
        with open("custom.pid", "w") as fh:
            fh.write(str(os.getpid()))
        while True:
            time.sleep(0.1)
"""
    svc = start_service({"Custom.py": model}, ["Custom", "--grpc-workers", "0"])
    wait_until((tmp_path / "custom.pid").exists, what="the custom service", detail=svc.output)
    pid = int((tmp_path / "custom.pid").read_text())
    assert pid != svc.proc.pid
    assert svc.stop() == 0
    assert not os.path.exists(f"/proc/{pid}")
