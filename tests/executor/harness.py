"""Real processes for the executor's end-to-end tests: `seldon-core-microservice` nodes, the
`seldon-core-executor`, a header-recording HTTP node and a payload-log receiver (http.server)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ROOT, free_ports

#: one class serves every role; each node process is told its name and behaviour by parameters
NODES_PY = '''
import os, time
import numpy as np
try:  # the reference wrapper (differential tests) or ours
    from seldon_core.flask_utils import SeldonMicroserviceException
except ImportError:
    from seldon_py.errors import SeldonMicroserviceException


class Node:
    def __init__(self, name="", delta=0.0, mode="add"):
        self.name, self.delta, self.mode = name, float(delta), mode

    def predict(self, X, names=None, meta=None):
        if self.mode == "slow":
            time.sleep(30)
        if self.mode == "drain":  # say "in flight", then work for a while
            with open(os.environ["DRAIN_MARK"], "a") as fh:
                fh.write("in\\n")
            time.sleep(self.delta)
        if self.mode == "fail":
            raise SeldonMicroserviceException(f"node {self.name} refuses", status_code=418, reason="TEAPOT")
        return np.asarray(X, dtype=float) + self.delta

    def transform_input(self, X, names=None, meta=None):
        return np.asarray(X, dtype=float) * 2

    def transform_output(self, X, names=None, meta=None):
        return np.asarray(X, dtype=float) - 3

    def route(self, X, names=None):
        return int(np.asarray(X).reshape(-1)[0])

    def aggregate(self, Xs, names=None):
        return np.sum([np.asarray(x, dtype=float) for x in Xs], axis=0)

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        with open(os.environ["FEEDBACK_LOG"], "a") as fh:
            fh.write(f"{self.name} {routing}\\n")
        return []

    def tags(self):
        return {"node_" + self.name: 1}

    def metrics(self):
        return [{"type": "COUNTER", "key": "node_calls", "value": 1, "tags": {"node": self.name}}]
'''

#: name → (mode, delta)
NODE_SPECS = {
    "a": ("add", 1), "b": ("add", 10), "r": ("route", 0), "c": ("combine", 0),
    "t": ("transform", 0), "o": ("transform", 0), "s": ("slow", 0), "f": ("fail", 0),
}


def params(name: str) -> list[dict[str, str]]:
    mode, delta = NODE_SPECS[name]
    return [{"name": "name", "value": name, "type": "STRING"},
            {"name": "delta", "value": str(delta), "type": "FLOAT"},
            {"name": "mode", "value": mode, "type": "STRING"}]


class Proc:
    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{url} not ready after {timeout}s:\n{self.output()}")

    def stop(self, graceful: bool = True) -> int | None:
        """SIGTERM and wait (``graceful``), then kill whatever is left of the process group."""
        if graceful and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()
        return self.proc.returncode


class NodeService:
    def __init__(self, name: str, workdir: Path, feedback_log: Path, reference: str | None = None) -> None:
        """``reference``: the path of the reference wrapper's ``seldon-core-microservice`` to run instead of ours."""
        self.name = name
        self.feedback_log = feedback_log
        self.http_port, self.grpc_port, metrics_port = free_ports(3)
        ports = ["--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
                 "--metrics-port", str(metrics_port), "--parameters", json.dumps(params(name))]
        env = {"PREDICTIVE_UNIT_ID": name, "FEEDBACK_LOG": str(feedback_log)}
        if reference:
            cmd = [reference, "nodes.Node", *ports]
            env["PYTHONPATH"] = str(workdir)
        else:
            cmd = [sys.executable, "-m", "seldon_py.cli", "nodes.Node", "--host", "127.0.0.1", *ports]
        self.proc = Proc(cmd, workdir, env, workdir / f"node-{name}{'-ref' if reference else ''}.log")

    def endpoint(self) -> dict[str, Any]:
        return {"type": "REST", "service_host": "127.0.0.1", "service_port": self.http_port,
                "httpPort": self.http_port, "grpcPort": self.grpc_port}


def sdep(graph: dict[str, Any], name: str = "dep", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": name, "namespace": "test", "annotations": annotations or {}},
            "spec": {"predictors": [{"name": "default", "graph": graph}]}}


class ExecutorProcess:
    def __init__(self, workdir: Path, tag: str, deployment: dict[str, Any], env: dict[str, str] | None = None,
                 class_map: dict[str, Any] | None = None, extra: list[str] | None = None) -> None:
        self.http_port, self.grpc_port = free_ports(2)
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        spec = workdir / f"{tag}.json"
        spec.write_text(json.dumps(deployment))
        cmd = [sys.executable, "-m", "seldon_py.executor.main", "--file", str(spec), "--host", "127.0.0.1",
               "--http_port", str(self.http_port), "--grpc-port", str(self.grpc_port), *(extra or [])]
        if class_map is not None:
            cm = workdir / f"{tag}-classes.yaml"
            cm.write_text(json.dumps(class_map))
            cmd += ["--class-map", str(cm)]
        self.proc = Proc(cmd, workdir, {"SELDON_EXECUTOR_ANNOTATIONS_FILE": "/nonexistent", **(env or {})},
                         workdir / f"executor-{tag}.log")

    def wait(self, path: str = "/ready") -> ExecutorProcess:
        self.proc.wait_http(self.url + path)
        return self

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=headers or {}, timeout=60)

    def predict(self, body: Any, **kw: Any) -> requests.Response:
        return self.post("/api/v1.0/predictions", body, **kw)


class Recorder(ThreadingHTTPServer):
    """An HTTP server that records every POST (path, headers, body) and answers ``reply``."""

    daemon_threads = True

    def __init__(self, reply: bytes = b'{"data":{"ndarray":[[7.0]]},"meta":{}}') -> None:
        self.reply = reply
        self.records: list[tuple[str, dict[str, str], Any]] = []
        self.cond = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with recorder.cond:
                    recorder.records.append((self.path, dict(self.headers.items()), json.loads(body)))
                    recorder.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recorder.reply)))
                self.end_headers()
                self.wfile.write(recorder.reply)

            def do_GET(self) -> None:
                body = b'{"status":"ok"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, n: int, timeout: float = 30.0) -> list[tuple[str, dict[str, str], Any]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.records) >= n, timeout)
            return list(self.records)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
