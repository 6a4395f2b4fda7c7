"""What keeps the process tree small: the children share the supervisor's modules (imported
before the first fork) instead of importing their own copies, and the metrics endpoint is a
thread of the supervisor, not a process of its own."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from seldon_py.process.supervisor import Child, Supervisor, share_before_fork
from seldon_py.server import Microservice
from seldon_py.settings import parse_settings
from tests.conftest import ROOT, free_ports
from tests.metrics.conftest import parse, value

#: packages whose import costs megabytes per process; none may be first imported after a fork
HEAVY = ("flask", "werkzeug", "jinja2", "gunicorn", "grpc", "grpc_health", "grpc_reflection",
         "google.protobuf", "numpy", "prometheus_client", "seldon_py")

# records sys.modules at the supervisor's first fork; predict answers what was imported since
IMPORTS_MODEL = """
import os, sys

_AT_FORK = []

def _snapshot():
    if not _AT_FORK:
        _AT_FORK.append(set(sys.modules))

os.register_at_fork(after_in_child=_snapshot)


class Imports:
    def predict(self, X, names=None, meta=None):
        return " ".join(sorted(set(sys.modules) - _AT_FORK[0]))
"""


def _heavy(modules: str) -> list[str]:
    return [m for m in modules.split() if m.split(".")[0] in HEAVY or m.startswith(HEAVY)]


@pytest.mark.e2e
def test_rest_and_grpc_processes_import_no_heavy_module_after_the_fork(start_service):
    svc = start_service({"Imports.py": IMPORTS_MODEL}, ["Imports", "--workers", "1", "--grpc-workers", "1"])
    r = requests.post(svc.url + "/predict", json={"strData": "x"}, timeout=10)
    assert r.status_code == 200, r.text
    assert _heavy(r.json()["strData"]) == [], r.json()["strData"]

    import grpc

    from seldon_py.proto import prediction_pb2 as pb
    from seldon_py.proto import prediction_pb2_grpc as pbg

    deadline = time.monotonic() + 20
    while True:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}") as ch:
                reply = pbg.ModelStub(ch).Predict(pb.SeldonMessage(strData="x"), timeout=5)
            break
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert _heavy(reply.strData) == [], reply.strData


@pytest.mark.e2e
def test_metrics_are_served_by_the_supervisor_not_a_process_of_their_own(start_service):
    svc = start_service({"Imports.py": IMPORTS_MODEL}, ["Imports", "--workers", "1", "--grpc-workers", "0"])
    r = requests.get(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=5)
    assert r.status_code == 200
    # supervisor, gunicorn arbiter, one REST worker
    assert value(parse(r.text), "seldon_api_model_processes") == 3


@pytest.mark.e2e
def test_a_taken_metrics_port_stops_the_service_with_exit_1(tmp_path):
    (tmp_path / "Imports.py").write_text(IMPORTS_MODEL)
    http, grpc_port = free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = subprocess.run(
            [sys.executable, "-m", "seldon_py.cli", "Imports", "--host", "127.0.0.1", "--grpc-workers", "0",
             "--http-port", str(http), "--grpc-port", str(grpc_port),
             "--metrics-port", str(taken.getsockname()[1])],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    assert out.returncode == 1, out.stderr
    assert "metrics server crashed" in out.stderr and "Address already in use" in out.stderr, out.stderr


def test_child_imports_follow_the_settings():
    rest_only = Microservice(parse_settings(["M", "--grpc-workers", "0"], {}, ""))
    assert "seldon_py.transports.rest.app" in rest_only.child_imports()
    from gunicorn.workers import SUPPORTED_WORKERS

    from seldon_py.transports.rest.server import gunicorn_options

    worker_class = gunicorn_options(rest_only.settings)["worker_class"]  # "gthread" or a dotted path
    assert SUPPORTED_WORKERS.get(worker_class, worker_class).rpartition(".")[0] in rest_only.child_imports()
    assert not any(m.startswith("seldon_py.transports.grpc") for m in rest_only.child_imports())
    both = Microservice(parse_settings(["M", "--grpc-workers", "2"], {}, ""))
    assert "seldon_py.transports.grpc.server" in both.child_imports()
    debug = Microservice(parse_settings(["M", "--debug"], {}, ""))
    assert not any(m.startswith("gunicorn") for m in debug.child_imports())


def test_share_before_fork_imports_and_freezes():
    try:
        share_before_fork(("colorsys",))
        assert "colorsys" in sys.modules
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


class FakeService:
    name = "fake server"

    def __init__(self, fail_start: bool = False, fail_later: bool = False) -> None:
        self.fail_start = fail_start
        self.fail_later = fail_later
        self.error: BaseException | None = None
        self.started = self.stopped = 0

    def start(self) -> None:
        self.started += 1
        if self.fail_start:
            raise OSError("port taken")
        if self.fail_later:
            self.error = RuntimeError("gone")

    def stop(self) -> None:
        self.stopped += 1


def _sleeper() -> None:
    signal.pause()  # forever, unless a signal ends it: the supervisor must stop it, not wait for it


@pytest.mark.parametrize("service", [FakeService(fail_start=True), FakeService(fail_later=True)],
                         ids=["fails-to-start", "fails-later"])
def test_a_failed_in_process_service_stops_the_children_and_exits_1(service, caplog):
    children = [Child("sleeper", _sleeper)]
    # returns only if the child was stopped (it never exits by itself; pytest's timeout guards)
    assert Supervisor(children, graceful_timeout=5, services=[service]).run() == 1
    assert service.started == 1
    with pytest.raises(ProcessLookupError):
        os.kill(children[0].pid, 0)
    if service.fail_start:
        assert service.stopped == 0 and "fake server crashed: OSError: port taken" in caplog.text
    else:
        assert service.stopped == 1 and "fake server stopped unexpectedly" in caplog.text
