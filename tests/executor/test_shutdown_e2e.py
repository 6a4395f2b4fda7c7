"""`seldon-core-executor` stopped by SIGTERM while clients keep connecting (found by QA: the executor
reset connections the kernel had queued while it drained, where `seldon-core-microservice` answers
them or lets them be refused)."""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.executor.harness import NODES_PY, ExecutorProcess, sdep

pytestmark = pytest.mark.e2e


def _status(response: bytes) -> int:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    return int(m.group(1)) if m else 0


def _recv_response(sock: socket.socket, deadline: float) -> bytes:
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
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_under_load_resets_no_accepted_connection(tmp_path: Path) -> None:
    (tmp_path / "nodes.py").write_text(NODES_PY)
    # an in-process node that takes a moment per call, so SIGTERM finds requests in flight and
    # clients keep connecting while they finish
    cm = {"nodes": {"d": {"class": "nodes.Node", "path": str(tmp_path), "parameters": [
        {"name": "name", "value": "d", "type": "STRING"}, {"name": "mode", "value": "drain", "type": "STRING"},
        {"name": "delta", "value": "0.3", "type": "FLOAT"}]}}}
    ex = ExecutorProcess(tmp_path, "drain-load", sdep({"name": "d", "type": "MODEL"}), class_map=cm,
                         env={"DRAIN_MARK": str(tmp_path / "mark")}).wait()
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
                s = socket.create_connection(("127.0.0.1", ex.http_port), timeout=30)
            except ConnectionRefusedError:
                outcome = "refused"  # not accepted by the kernel: the listener is gone
            except OSError as exc:
                outcome = f"connect {type(exc).__name__}"
            else:
                try:
                    s.sendall(request)
                    r = _recv_response(s, time.monotonic() + 30)
                    outcome = f"status {_status(r)}" if r else "eof"
                    if _status(r) == 200:
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

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        for _ in range(16):  # load is flowing
            assert answered.acquire(timeout=60), ex.proc.output()
        ex.proc.proc.send_signal(signal.SIGTERM)
        assert ex.proc.proc.wait(timeout=60) == 0, ex.proc.output()
    finally:
        stop.set()
        for t in threads:
            t.join()
        ex.proc.stop()
    bad = {k: v for k, v in outcomes.items() if k not in ("status 200", "refused")}
    assert not bad, dict(outcomes)
