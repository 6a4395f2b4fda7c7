"""Shared test helpers: free ports and a real `seldon-core-microservice` process fixture."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition, timeout: float = 60.0, what: str = "condition", detail=lambda: "") -> None:
    """Poll ``condition()`` until it is true: waiting on another process's readiness (a file, a
    log line), never a fixed sleep. ``timeout`` only guards against a hang; it measures nothing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{detail()}")
        time.sleep(0.02)


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (every socket held open until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def http_status(response: bytes) -> int:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(m.group(1)) if m else 0


def recv_http_response(sock: socket.socket, deadline: float, resets_end_it: bool = False) -> bytes:
    """One whole HTTP response (by Content-Length), or what came before EOF / the deadline; a
    connection reset is raised (the drain tests count it), or with ``resets_end_it`` ends the
    response like EOF (the hostile-client tests, where the server may close first)."""
    data = b""
    while time.monotonic() < deadline:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if m and len(body) >= int(m.group(1)):
                return data
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:
            if not resets_end_it:
                raise
            break
        if not chunk:
            break
        data += chunk
    return data


def load_through_sigterm(port: int, stop_server: Callable[[], None], warmup: int,
                         warmup_timeout: float = 30.0, clients: int = 8) -> Counter[str]:
    """``clients`` threads each open a connection per predict request (``Connection: close``) to
    ``port``, until ``stop_server()`` (called once ``warmup`` requests were answered: load is
    flowing) returns; the outcome of every connection: ``status N``, ``refused`` (the listener was
    gone), ``RESET``, ``eof``, ..."""
    body = b'{"data":{"ndarray":[[1,2]]}}'
    request = (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    answered = threading.Semaphore(0)

    def client() -> None:
        while not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
            except ConnectionRefusedError:
                outcome = "refused"  # not accepted by the kernel: the listener is gone
            except OSError as exc:
                outcome = f"connect {type(exc).__name__}"
            else:
                try:
                    s.sendall(request)
                    r = recv_http_response(s, time.monotonic() + 30)
                    outcome = f"status {http_status(r)}" if r else "eof"
                    if http_status(r) == 200:
                        answered.release()
                except ConnectionResetError:
                    outcome = "RESET"
                except OSError as exc:
                    outcome = type(exc).__name__
                finally:
                    s.close()
            with lock:
                outcomes[outcome] += 1
            if outcome == "refused":
                stop.wait(0.01)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for th in threads:
        th.start()
    try:
        for _ in range(warmup):
            assert answered.acquire(timeout=warmup_timeout), "load did not flow"
        stop_server()
    finally:
        stop.set()
        for th in threads:
            th.join()
    return outcomes


class ServiceProcess:
    """A real `python -m seldon_py.cli` subprocess on free loopback ports."""

    def __init__(self, model_dir: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.http_port, self.grpc_port, self.metrics_port = free_ports(3)
        self.url = f"http://127.0.0.1:{self.http_port}"
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.log_path = model_dir / f"server-{self.http_port}.log"
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "seldon_py.cli", *args,
               "--host", "127.0.0.1",
               "--http-port", str(self.http_port), "--grpc-port", str(self.grpc_port),
               "--metrics-port", str(self.metrics_port)]
        self.proc = subprocess.Popen(cmd, cwd=model_dir, env=full_env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, path: str = "/health/status", timeout: float = 20.0) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if requests.get(self.url + path, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready after {timeout}s:\n{self.output()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything left behind
        except ProcessLookupError:
            pass
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def start_service(tmp_path):
    """start_service(models_source: str, args, env) -> ServiceProcess (stopped at teardown)."""
    started: list[ServiceProcess] = []

    def start(files: dict[str, str], args: list[str], env: dict[str, str] | None = None,
              ready: bool = True) -> ServiceProcess:
        for name, text in files.items():
            (tmp_path / name).write_text(text)
        svc = ServiceProcess(tmp_path, args, env)
        started.append(svc)
        if ready:
            svc.wait_ready()
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture(autouse=True)
def _no_test_leaks_the_metrics_directory_into_the_environment():
    """Nothing in seldon_py writes PROMETHEUS_MULTIPROC_DIR; a test that leaves it changed would
    send every later test's metrics (and the child processes they start) to the wrong place."""
    before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    yield
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") == before, "PROMETHEUS_MULTIPROC_DIR was changed"
