"""Calling remote graph nodes: REST over pooled HTTP/1.1 keep-alive connections, gRPC over one
channel per node. Each failure becomes an error naming the node and the hop:

* the node answered an error → :class:`NodeReplyError` (its status and body, unchanged);
* it could not be reached → :class:`NodeUnavailable` (503 / UNAVAILABLE);
* it did not answer in time → :class:`NodeTimeout` (504 / DEADLINE_EXCEEDED).

A connection failure is retried once, on a new connection, for idempotent calls (everything but
``send_feedback``); a refused connection is retried for every call (nothing was sent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import orjson
from google.protobuf import empty_pb2

from ..errors import GRPC_CODE_BY_HTTP_STATUS
from ..graph import messages
from ..graph.errors import NodeReplyError, NodeTimeout, NodeUnavailable
from ..graph.spec import GraphNode
from ..graph.walker import CallContext
from ..proto import prediction_pb2 as pb
from ..settings import DEFAULT_MAX_PAYLOAD_BYTES
from .http1 import Connection, NodeClosed, request_head

REST_PATHS = {
    "predict": "/predict",
    "transform_input": "/transform-input",
    "transform_output": "/transform-output",
    "route": "/route",
    "aggregate": "/aggregate",
    "send_feedback": "/send-feedback",
}
GRPC_METHODS = {
    "predict": ("/seldon.protos.Model/Predict", pb.SeldonMessage),
    "transform_input": ("/seldon.protos.Generic/TransformInput", pb.SeldonMessage),
    "transform_output": ("/seldon.protos.Generic/TransformOutput", pb.SeldonMessage),
    "route": ("/seldon.protos.Generic/Route", pb.SeldonMessage),
    "aggregate": ("/seldon.protos.Generic/Aggregate", pb.SeldonMessageList),
    "send_feedback": ("/seldon.protos.Generic/SendFeedback", pb.Feedback),
}
#: request headers that describe the connection or the body, not the request: never forwarded
HOP_HEADERS = frozenset({
    "content-type", "content-length", "host", "connection", "keep-alive", "transfer-encoding", "te",
    "upgrade", "expect", "proxy-connection", "accept-encoding",
})
#: gRPC metadata keys grpcio owns
GRPC_RESERVED = frozenset({"content-type", "user-agent", "te", "host", ":authority", "accept-encoding"})
HTTP_BY_GRPC_CODE = {v: k for k, v in GRPC_CODE_BY_HTTP_STATUS.items() if k not in (415, 429, 405)}

Observe = Callable[[str, str, str, float], None]  # (service, method, code, seconds)


def _http_headers(ctx: CallContext) -> dict[str, str]:
    """The request's headers (or gRPC metadata) to send on a REST hop: text values only, without
    the connection's own headers and gRPC's reserved metadata."""
    out = {}
    for k, v in ctx.headers.items():
        key = k.lower()
        if isinstance(v, str) and key not in HOP_HEADERS and key not in GRPC_RESERVED \
                and not key.startswith(("grpc-", ":")):
            out[k] = v
    return out


class _Pool:
    """Kept-alive HTTP/1.1 connections to one host:port, reused LIFO, up to ``max_idle`` idle."""

    def __init__(self, max_idle: int = 64) -> None:
        self.max_idle = max_idle
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def get(self) -> Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def put(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()


class RestClient:
    def __init__(self, node: GraphNode, host: str, port: int, timeout_s: float, observe: Observe,
                 max_body: int = DEFAULT_MAX_PAYLOAD_BYTES) -> None:
        self.node = node
        self.host, self.port = host, port
        self.host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.base = f"http://{self.host_header}"
        self.pool = _Pool()
        self.timeout_s = timeout_s
        self.observe = observe
        self.max_body = max_body

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
                idempotent: bool) -> tuple[int, str, bytes]:
        """One HTTP exchange → (status, content type, body); transport failures raise."""
        hop = f"{method} {self.base}{path}"
        data = request_head(method, path, self.host_header, headers, None if body is None else len(body))
        if body:
            data += body
        for attempt in (0, 1):
            conn = self.pool.get() if attempt == 0 else None  # a retry is always on a new connection
            reused = conn is not None
            stage = "connect"
            try:
                if conn is None:
                    conn = Connection(self.host, self.port, min(self.timeout_s, 5.0), self.timeout_s)
                else:
                    conn.sock.settimeout(self.timeout_s)
                stage = "send"
                conn.send(data)
                stage = "receive"
                status, ctype, reply, keep = conn.read_response(self.max_body, head_only=method == "HEAD")
            except TimeoutError:
                if conn is not None:
                    conn.close()
                if stage == "connect":
                    raise NodeUnavailable(
                        f"node {self.node.name!r} is not reachable ({hop}): connect timed out"
                    ) from None
                raise NodeTimeout(
                    f"node {self.node.name!r} did not answer within {self.timeout_s:g}s ({hop})"
                ) from None
            except (ConnectionError, OSError) as exc:
                if conn is not None:
                    conn.close()
                # once more on a new connection: always when the node cannot have seen the request
                # (refused; a kept-alive connection it had closed), and for idempotent calls whatever happened
                unseen = stage == "connect" or (reused and (
                    stage == "send" or (isinstance(exc, NodeClosed) and exc.before_reply)))
                if attempt == 0 and (unseen or idempotent):
                    continue
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
                verb = "is not reachable" if stage == "connect" else "failed"
                raise NodeUnavailable(f"node {self.node.name!r} {verb} ({hop}): {why}") from None
            if keep and not conn.buf:
                self.pool.put(conn)
            else:
                conn.close()
            return status, ctype, reply
        raise AssertionError("unreachable")

    def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
        path = REST_PATHS[method]
        if method == "aggregate":
            body = b"[" + b",".join(messages.to_json_bytes(m) for m in msg) + b"]"
        else:
            body = messages.to_json_bytes(msg)
        headers = _http_headers(ctx)
        headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        code = "error"
        try:
            status, ctype, data = self.request("POST", path, body, headers, method != "send_feedback")
            code = str(status)
        finally:
            self.observe(path, "POST", code, time.perf_counter() - start)
        if status != 200:
            raise NodeReplyError(self.node.name, status, data, ctype)
        return messages.check_reply(data, self.node.name)

    def get(self, path: str, ctx: CallContext) -> tuple[int, str, bytes]:
        headers = _http_headers(ctx)
        start = time.perf_counter()
        code = "error"
        try:
            status, ctype, data = self.request("GET", path, None, headers, True)
            code = str(status)
        finally:
            self.observe(path, "GET", code, time.perf_counter() - start)
        return status, ctype, data

    def close(self) -> None:
        self.pool.close()


class GrpcClient:
    def __init__(self, node: GraphNode, host: str, port: int, timeout_s: float, observe: Observe,
                 max_message_bytes: int) -> None:
        self.node = node
        self.target = f"{host}:{port}"
        self.channel = grpc.insecure_channel(self.target, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ])
        self.timeout_s = timeout_s
        self.observe = observe
        self._stubs: dict[str, Any] = {}
        for method, (path, _cls) in GRPC_METHODS.items():
            self._stubs[method] = self.channel.unary_unary(
                path, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=pb.SeldonMessage.FromString)
        self._stubs["metadata"] = self.channel.unary_unary(
            "/seldon.protos.Model/Metadata", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=pb.SeldonModelMetadata.FromString)

    def _metadata(self, ctx: CallContext) -> list[tuple[str, Any]]:
        out = []
        for k, v in ctx.headers.items():
            key = k.lower()
            if key in GRPC_RESERVED or key in HOP_HEADERS or key.startswith(("grpc-", ":")):
                continue
            out.append((key, v))
        return out

    def invoke(self, method: str, request: Any, ctx: CallContext, idempotent: bool) -> Any:
        stub = self._stubs[method]
        path = GRPC_METHODS[method][0] if method in GRPC_METHODS else "/seldon.protos.Model/Metadata"
        md = self._metadata(ctx)
        for attempt in (0, 1):
            start = time.perf_counter()
            try:
                reply = stub(request, timeout=self.timeout_s, metadata=md)
            except grpc.RpcError as exc:
                code = exc.code()
                self.observe(path, "unary", code.name, time.perf_counter() - start)
                details = exc.details() or ""
                hop = f"gRPC {path} at {self.target}"
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise NodeTimeout(
                        f"node {self.node.name!r} did not answer within {self.timeout_s:g}s ({hop})"
                    ) from None
                if code == grpc.StatusCode.UNAVAILABLE and _is_connection_failure(details):
                    if attempt == 0 and idempotent:
                        continue
                    raise NodeUnavailable(f"node {self.node.name!r} is not reachable ({hop}): {details}") from None
                status = HTTP_BY_GRPC_CODE.get(code.name, 500)
                body = orjson.dumps({"status": {"code": -1, "info": details, "reason": code.name, "status": 1}})
                raise NodeReplyError(self.node.name, status, body, "application/json", code.name, details) from None
            self.observe(path, "unary", "OK", time.perf_counter() - start)
            return reply
        raise AssertionError("unreachable")

    def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
        if method == "aggregate":
            req: Any = pb.SeldonMessageList(seldonMessages=[messages.to_proto(m) for m in msg])
        elif method == "send_feedback":
            req = messages.feedback_to_proto(msg)
        else:
            req = messages.to_proto(msg)
        return self.invoke(method, req, ctx, method != "send_feedback")

    def model_metadata(self, ctx: CallContext) -> Any:
        return self.invoke("metadata", empty_pb2.Empty(), ctx, True)

    def close(self) -> None:
        self.channel.close()


def _is_connection_failure(details: str) -> bool:
    d = details.lower()
    return any(s in d for s in ("connect", "refused", "unreachable", "dns", "resolve", "socket closed",
                                "no route", "reset"))


class RemoteNode:
    """A remote node as a :class:`~seldon_py.graph.walker.NodeCaller`: REST for REST ingress,
    gRPC for gRPC ingress, or the node's only transport when it has one port (the message is then
    converted: mixed-protocol graphs work)."""

    def __init__(self, node: GraphNode, rest: RestClient | None, grpc_client: GrpcClient | None) -> None:
        self.node = node
        self.rest = rest
        self.grpc = grpc_client

    def client_for(self, transport: str) -> RestClient | GrpcClient:
        if transport == messages.GRPC:
            client: RestClient | GrpcClient | None = self.grpc or self.rest
        else:
            client = self.rest or self.grpc
        assert client is not None
        return client

    def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
        return self.client_for(ctx.transport).call(method, msg, ctx)

    def close(self) -> None:
        for c in (self.rest, self.grpc):
            if c is not None:
                c.close()
