"""The real REST server's worker (:class:`~seldon_py.transports.rest.worker.ServingWorker`) on one
kept-alive connection: every answer's head arrives whole whatever the body (none for ``HEAD``,
small, pipelined), since the worker sends a head together with its body or on its own when there
is none (:class:`~seldon_py.transports.rest.worker.ClientSocket`)."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

pytestmark = pytest.mark.e2e

IDENTITY = """
class Model:
    def predict(self, X, names, meta=None):
        return X
"""
BODY = b'{"data":{"ndarray":[[1,2,3]]}}'


def test_heads_bodies_and_no_bodies_on_one_kept_alive_connection(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--workers", "1"])
    conn = http.client.HTTPConnection("127.0.0.1", svc.http_port, timeout=10)
    try:
        for _ in range(3):
            conn.request("HEAD", "/health/ping")
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, b"")
            first = conn.sock
            conn.request("POST", "/api/v1.0/predictions", BODY, {"Content-Type": "application/json"})
            r = conn.getresponse()
            assert r.status == 200 and r.getheader("Content-Type") == "application/json"
            assert json.loads(r.read())["data"]["ndarray"] == [[1, 2, 3]]
            conn.request("GET", "/health/ping")
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, b"pong")
            assert conn.sock is first  # the same connection all along
    finally:
        conn.close()


def test_pipelined_requests_are_answered_in_order(start_service):
    svc = start_service({"Model.py": IDENTITY}, ["Model", "--workers", "1"])
    predict = (b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
    ping = b"GET /health/ping HTTP/1.1\r\nHost: t\r\n\r\n"
    with socket.create_connection(("127.0.0.1", svc.http_port), timeout=10) as s:
        s.sendall(predict + ping + predict)
        deadline = time.monotonic() + 10
        data = b""
        answers = []
        while len(answers) < 3 and time.monotonic() < deadline:
            head, sep, rest = data.partition(b"\r\n\r\n")
            lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")]
            if sep and lengths and len(rest) >= lengths[0]:
                answers.append((head.split(b" ")[1], rest[:lengths[0]]))
                data = rest[lengths[0]:]
                continue
            chunk = s.recv(65536)
            assert chunk, f"the server closed after {len(answers)} answers"
            data += chunk
    assert answers[1] == (b"200", b"pong")
    for status, body in (answers[0], answers[2]):
        assert status == b"200" and json.loads(body)["data"]["ndarray"] == [[1, 2, 3]]
