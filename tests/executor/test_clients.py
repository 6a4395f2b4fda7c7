"""The REST node client against real loopback HTTP servers: keep-alive reuse, one retry on a
connection the node had closed, refused connections, timeouts, error pass-through."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from seldon_py.executor.clients import RestClient
from seldon_py.graph.errors import NodeReplyError, NodeTimeout, NodeUnavailable
from seldon_py.graph.spec import parse_predictor
from seldon_py.graph.walker import CallContext
from tests.conftest import free_ports

NODE = parse_predictor({"name": "p", "graph": {"name": "n", "type": "MODEL"}}).graph


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, close_after_reply: bool = False, status: int = 200) -> None:
        self.requests = 0
        self.connections: set[Any] = set()
        self.sockets: set[socket.socket] = set()
        self.release = threading.Event()
        self.block = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                server.requests += 1
                server.connections.add(self.client_address)
                server.sockets.add(self.connection)
                if server.block:
                    server.release.wait(30)
                body = b'{"data":{"ndarray":[1]}}' if status == 200 else b'{"status":{"info":"no"}}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if close_after_reply:  # closes without saying "Connection: close"
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def client(self, timeout: float = 10.0) -> RestClient:
        return RestClient(NODE, "127.0.0.1", self.server_address[1], timeout, lambda *a: None)

    def stop(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


@pytest.fixture
def server_factory():
    made: list[Server] = []

    def make(**kw: Any) -> Server:
        made.append(Server(**kw))
        return made[-1]

    yield make
    for s in made:
        s.stop()


def test_connections_are_kept_alive_and_reused(server_factory):
    srv = server_factory()
    c = srv.client()
    for _ in range(5):
        reply = c.call("predict", {"data": {"ndarray": [1]}}, CallContext())
        assert reply.raw == b'{"data":{"ndarray":[1]}}' and reply.value() == {"data": {"ndarray": [1]}}
    assert srv.requests == 5 and len(srv.connections) == 1


def test_a_connection_the_node_closed_is_retried_once_on_a_new_one(server_factory):
    srv = server_factory(close_after_reply=True)
    c = srv.client()
    for _ in range(3):
        c.call("predict", {"data": {"ndarray": [1]}}, CallContext())
    assert srv.requests == 3  # each call reached the node exactly once


@pytest.mark.parametrize("method", ["predict", "send_feedback"])
def test_the_retry_after_a_closed_kept_alive_connection_uses_a_new_one(server_factory, method):
    """Found by QA: after an idle spell longer than the nodes' keep-alive, every pooled connection
    had been closed by the node; the retry took the next (also closed) one from the pool, so an
    executor that had served N concurrent requests answered its next ones 503."""
    srv = server_factory()
    srv.block = True
    c = srv.client()
    calls = [threading.Thread(target=c.call, args=("predict", {"data": {"ndarray": [1]}}, CallContext()))
             for _ in range(4)]
    for t in calls:
        t.start()
    while srv.requests < 4:  # four connections open at once
        threading.Event().wait(0.01)
    srv.block = False
    srv.release.set()
    for t in calls:
        t.join(30)
    assert len(c.pool._idle) == 4
    for sock in list(srv.sockets):  # the node's keep-alive timeout closes them all
        sock.shutdown(socket.SHUT_RDWR)
    before = srv.requests
    c.call(method, {"data": {"ndarray": [1]}}, CallContext())
    assert srv.requests == before + 1


def test_refused_connection_names_the_node_and_hop():
    port = free_ports(1)[0]
    c = RestClient(NODE, "127.0.0.1", port, 5.0, lambda *a: None)
    with pytest.raises(NodeUnavailable, match=rf"node 'n' is not reachable \(POST http://127.0.0.1:{port}/predict\)"):
        c.call("predict", {}, CallContext())


def test_timeout(server_factory):
    srv = server_factory()
    srv.block = True
    with pytest.raises(NodeTimeout, match=r"node 'n' did not answer within 0.2s \(POST .*/route\)"):
        srv.client(timeout=0.2).call("route", {}, CallContext())
    assert srv.requests == 1  # a timeout is not retried: the node may still be working on it


def test_node_error_body_passes_through(server_factory):
    srv = server_factory(status=418)
    with pytest.raises(NodeReplyError) as info:
        srv.client().call("predict", {}, CallContext())
    assert (info.value.status_code, info.value.body, info.value.content_type) == (
        418, b'{"status":{"info":"no"}}', "application/json")


def test_a_node_that_resets_connections(server_factory):
    """A listener that accepts and closes at once: one retry, then a clear 503."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(8)
    accepted = []

    def run() -> None:
        for _ in range(2):
            conn, _ = lst.accept()
            accepted.append(conn)
            conn.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    c = RestClient(NODE, "127.0.0.1", lst.getsockname()[1], 5.0, lambda *a: None)
    try:
        with pytest.raises(NodeUnavailable, match="node 'n' failed"):
            c.call("predict", {}, CallContext())
        t.join(10)
        assert len(accepted) == 2
    finally:
        lst.close()
