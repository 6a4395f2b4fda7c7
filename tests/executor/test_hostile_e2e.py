"""`seldon-core-executor` against slow and malformed clients (found by QA: a request whose body
never finishes held one of the executor's threads forever, so ``--threads`` such connections made
it stop answering everyone, ``/live`` and ``/ready`` included; `seldon-core-microservice` reads
heads and small bodies in its event loop and answers 408)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.executor.harness import NODES_PY, ExecutorProcess, sdep

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("executor-hostile")
    (d / "nodes.py").write_text(NODES_PY)
    cm = {"nodes": {"a": {"class": "nodes.Node", "path": str(d), "parameters": [
        {"name": "name", "value": "a", "type": "STRING"}, {"name": "delta", "value": "1", "type": "FLOAT"}]}}}
    ex = ExecutorProcess(d, "hostile", sdep({"name": "a", "type": "MODEL"}), class_map=cm,
                         extra=["--threads", "4"]).wait()
    try:
        yield ex
    finally:
        assert ex.proc.stop() == 0, ex.proc.output()


def _unfinished_body(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n{\"data\":")
    return s


def test_unfinished_bodies_do_not_starve_probes_or_requests(executor: ExecutorProcess) -> None:
    held = [_unfinished_body(executor.http_port) for _ in range(12)]  # 3x --threads
    try:
        assert requests.get(executor.url + "/live", timeout=5).status_code == 200
        r = executor.predict({"data": {"ndarray": [[1.0]]}})
        assert r.status_code == 200 and r.json()["data"]["ndarray"] == [[2.0]]
    finally:
        for s in held:
            s.close()


def test_an_unfinished_body_is_answered_408_with_a_seldon_error(executor: ExecutorProcess) -> None:
    s = _unfinished_body(executor.http_port)
    try:
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)  # the socket's 60 s timeout guards against a hang
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), data
    assert json.loads(body)["status"]["reason"], body


def test_oversized_content_length_is_refused_before_the_body(executor: ExecutorProcess, tmp_path: Path) -> None:
    s = socket.create_connection(("127.0.0.1", executor.http_port), timeout=60)
    try:
        s.sendall(b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % (10 << 30))
        deadline = time.monotonic() + 60
        data = b""
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    assert data.startswith(b"HTTP/1.1 413"), data


@pytest.mark.parametrize("which", ["http", "grpc"])
def test_a_port_in_use_is_a_one_line_error(tmp_path: Path, which: str) -> None:
    """Found by QA: a busy REST port gave five gunicorn retry lines over five seconds, then exit 1."""
    import subprocess
    import sys

    from tests.conftest import ROOT, free_ports

    http_port, grpc_port = free_ports(2)
    spec = tmp_path / "dep.json"
    spec.write_text(json.dumps(sdep({"name": "a", "type": "MODEL", "endpoint": {
        "type": "REST", "service_host": "127.0.0.1", "service_port": 1}})))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", http_port if which == "http" else grpc_port))
        busy.listen()
        done = subprocess.run(
            [sys.executable, "-m", "seldon_py.executor.main", "--file", str(spec), "--host", "127.0.0.1",
             "--http_port", str(http_port), "--grpc_port", str(grpc_port)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "SELDON_EXECUTOR_ANNOTATIONS_FILE": "/nonexistent"})
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "cannot listen on 127.0.0.1:" in done.stderr and ("REST" if which == "http" else "gRPC") in done.stderr
