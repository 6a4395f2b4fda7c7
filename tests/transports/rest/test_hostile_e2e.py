"""The real REST server (gunicorn + :class:`~seldon_py.transports.rest.worker.ServingWorker`) against
slow clients, oversized bodies, malformed requests and SIGTERM under load (issue 11).

Time limits here are generous deadlines on a wait ("answered within 1 s" is the issue's own
requirement for probes), never measurements of speed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time

import pytest

from tests.conftest import load_through_sigterm, recv_http_response

pytestmark = pytest.mark.e2e

IDENTITY = """
class Model:
    def predict(self, X, names, meta=None):
        return X
"""


def _recv_response(sock: socket.socket, deadline: float) -> bytes:
    return recv_http_response(sock, deadline, resets_end_it=True)


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        return _recv_response(s, time.monotonic() + timeout)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.") else 0


def assert_json_error(response: bytes, status: int) -> None:
    head, _, body = response.partition(b"\r\n\r\n")
    assert status_of(response) == status, response[:300]
    assert re.search(rb"(?im)^content-type:\s*application/json", head), head
    doc = json.loads(body)
    assert doc["status"]["status"] == 1 and doc["status"]["code"] == -1 and doc["status"]["reason"], doc


def ping(port: int, timeout: float) -> bool:
    try:
        r = exchange(port, b"GET /health/ping HTTP/1.1\r\nHost: t\r\n\r\n", timeout)
    except OSError:
        return False
    return status_of(r) == 200 and r.endswith(b"pong")


# ----------------------------------------------------------------------------- slow clients
def test_fifty_slow_clients_do_not_starve_probes(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--workers", "1", "--threads", "1"])
    port = svc.http_port
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
    stop = threading.Event()

    def trickle() -> None:
        message = b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 200
        for i in range(len(message)):
            for s in slow:
                try:
                    s.send(message[i:i + 1])
                except OSError:
                    pass
            if stop.wait(1.0):  # one byte a second on each connection
                return

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        answered = [ping(port, timeout=1.0) for _ in range(10)]
        assert all(answered), answered
    finally:
        stop.set()
        t.join()
        for s in slow:
            s.close()


def test_a_stalled_head_is_answered_408_and_closed(start_service, monkeypatch):
    svc = start_service({"Model.py": IDENTITY}, ["Model"])
    from seldon_py.transports.rest import worker

    with socket.create_connection(("127.0.0.1", svc.http_port)) as s:
        s.sendall(b"GET /health/ping HTTP/1.1\r\nHost: t\r\n")  # never finished
        response = _recv_response(s, time.monotonic() + worker.HEAD_TIMEOUT_S + 20)
    assert_json_error(response, 408)


def test_a_stalled_body_is_answered_408(start_service):
    # larger than what the loop reads itself, so a pool thread reads it: bounded by the kernel's
    # SO_RCVTIMEO (worker.set_io_timeouts), not by Python's socket timeout
    svc = start_service({"Model.py": IDENTITY}, ["Model"])
    from seldon_py.transports.rest import worker

    length = worker.PREREAD_BODY_BYTES * 3
    with socket.create_connection(("127.0.0.1", svc.http_port)) as s:
        s.sendall(b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % length + b" " * (length // 2))  # then nothing
        response = _recv_response(s, time.monotonic() + worker.BODY_READ_TIMEOUT_S + 20)
    assert_json_error(response, 408)
    assert b"stopped arriving" in response
    assert ping(svc.http_port, timeout=5.0)


# ----------------------------------------------------------------------------- oversize
LIMIT = 1 << 20


def _send_big(port: int, head: bytes, chunks, deadline_s: float) -> tuple[bytes, int]:
    """Send ``head`` then ``chunks`` (bytes each) while reading; returns (response, bytes sent)
    once a response has come or the deadline passed."""
    s = socket.create_connection(("127.0.0.1", port))
    got: list[bytes] = []
    done = threading.Event()

    def reader() -> None:
        got.append(_recv_response(s, time.monotonic() + deadline_s))
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    sent = 0
    try:
        s.sendall(head)
        for chunk in chunks:
            if done.is_set():
                break
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass  # the server closed after answering: expected
    done.wait(deadline_s)
    s.close()
    return (got[0] if got else b""), sent


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_bodies_are_refused_413_without_reading_them(start_service, framing):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--max-payload-size", str(LIMIT)])
    total = 100 * LIMIT
    piece = b"1," * 32768
    if framing == "content-length":
        head = (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % total)
        chunks = (piece for _ in range(total // len(piece)))
    else:
        head = (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(total // len(piece)))
    response, sent = _send_big(svc.http_port, head, chunks, deadline_s=30)
    assert_json_error(response, 413)
    assert sent < total // 2  # answered long before the client got through its body
    assert ping(svc.http_port, timeout=10)


def test_a_body_at_the_limit_is_served(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--max-payload-size", str(LIMIT)])
    body = b'{"strData":"' + b"a" * (LIMIT - 20) + b'"}'
    assert len(body) <= LIMIT
    r = exchange(svc.http_port, b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body, timeout=30)
    assert status_of(r) == 200


# ----------------------------------------------------------------------------- malformed
def _post(body: bytes, ctype: bytes = b"application/json") -> bytes:
    return (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (ctype, len(body)) + body)


MALFORMED = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400),
    "bad method": (b"G\x01T / HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    "bad version": (b"GET / HTTP/9.9\r\nHost: t\r\n\r\n", 400),
    "header name with space": (b"GET /health/ping HTTP/1.1\r\nHost: t\r\nBad Header: y\r\n\r\n", 400),
    "header without colon": (b"GET /health/ping HTTP/1.1\r\nHost: t\r\nnocolon\r\n\r\n", 400),
    "too many headers": (b"GET /health/ping HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(200))
                         + b"\r\n", 431),
    "huge header": (b"GET /health/ping HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    "head beyond 2 MiB": (b"GET /health/ping?" + b"a" * (3 << 20), 431),
    "Expect: foo": (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nExpect: foo\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 417),
    "invalid absolute path": (b"GET http://[bad/ HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    "path without slash": (b"GET health HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    "unknown path": (b"GET /%zz%00 HTTP/1.1\r\nHost: t\r\n\r\n", 404),
    "two Content-Lengths": (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                            b"Content-Length: 3\r\n\r\n{}", 400),
    "negative Content-Length": (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Length: -2\r\n\r\n{}",
                                400),
    "malformed chunk": (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400),
    "bare LF": (b"GET /health/ping HTTP/1.1\nHost: t\n\n", 400),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "obsolete folding": (b"GET /health/ping HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400),
    "deep JSON": (_post(b'{"jsonData":' + b"[" * 10000 + b"]" * 10000 + b"}"), 400),
    "deep JSON in a query": (b"GET /predict?json=" + b"%5B" * 5000 + b"%5D" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
                             400),
    "56-byte tensor bomb": (_post(b'{"data":{"tensor":{"shape":[0,100000000],"values":[]}}}'), 400),
    "NaN is kept, not nulled": (_post(b'{"strData":"x","meta":{"tags":{"a":NaN}}}'), 200),
}


def _multipart(name: str, filename: str, content: bytes) -> bytes:
    body = (b"--B\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n\r\n%s\r\n--B--\r\n"
            % (name.encode(), filename.encode(), content))
    return (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=B\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def test_every_protocol_error_is_a_seldon_json_body(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model"])
    for name, (raw, status) in MALFORMED.items():
        response = exchange(svc.http_port, raw)
        assert response, name
        try:
            if status == 200:
                assert status_of(response) == 200 and b'"a":NaN' in response, response[-200:]
                continue
            assert_json_error(response, status)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    assert ping(svc.http_port, timeout=10)


@pytest.mark.parametrize("field", ["data", "meta", "jsonData", "strData", "binData", "customData", "x"])
def test_a_multipart_file_part_is_never_a_500(start_service, field):
    svc = start_service({"Model.py": IDENTITY}, ["Model"])
    for content in (b'{"ndarray":[[1]]}', b"\xff\xfe", b""):
        r = exchange(svc.http_port, _multipart(field, "f.json", content))
        assert 200 <= status_of(r) < 500, (field, content, r[:300])


# ----------------------------------------------------------------------------- drain
def test_sigterm_under_load_resets_no_accepted_connection(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--workers", "2", "--threads", "2"])

    def sigterm() -> None:
        os.kill(svc.proc.pid, signal.SIGTERM)
        assert svc.proc.wait(timeout=60) == 0

    outcomes = load_through_sigterm(svc.http_port, sigterm, warmup=200)
    bad = {k: v for k, v in outcomes.items() if k not in ("status 200", "refused")}
    assert not bad, dict(outcomes)
