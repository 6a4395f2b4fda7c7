"""The executor: one predictor's graph, its node callers (remote, in-process, built-in), the
walker, metrics, payload logging, readiness and metadata. Both transports sit on top of this.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from google.protobuf import json_format

from ..errors import NotFound
from ..graph.builtins import BuiltinNode
from ..graph.errors import NodeReplyError
from ..graph.spec import GraphNode, Predictor
from ..graph.walker import CallContext, LockedRandom, NodeCaller, Walker
from ..protocol.seldon.payload import RawResult, Response
from .clients import GrpcClient, RemoteNode, RestClient
from .config import ExecutorSettings
from .inprocess import InProcessNode, LocalUnit
from .metrics import ExecutorMetrics
from .payload_log import PayloadLogger

logger = logging.getLogger(__name__)


class Executor:
    def __init__(self, settings: ExecutorSettings, predictor: Predictor, dataplanes: dict[str, LocalUnit]) -> None:
        self.settings = settings
        self.predictor = predictor
        self.dataplanes = dataplanes
        self.deployment = settings.sdep or predictor.deployment_name
        self.namespace = settings.namespace or predictor.namespace
        self.metrics = ExecutorMetrics(self.deployment, predictor.name, predictor.version)
        self.pool = ThreadPoolExecutor(max_workers=max(4, settings.threads), thread_name_prefix="fan-out")
        self.payload_logger: PayloadLogger | None = None
        if any(n.logger is not None for n in predictor.nodes()):
            self.payload_logger = PayloadLogger(
                settings.logger_default_endpoint, self.deployment, self.namespace, predictor.name,
                source=f"http://{socket.gethostname()}:{settings.http_port}/",
                queue_size=settings.logger_queue_size,
                write_timeout_s=settings.logger_write_timeout_ms / 1000.0,
                on_drop=self.metrics.drop,
            )
        self.remote: dict[str, RemoteNode] = {}
        self.local: dict[str, InProcessNode] = {}
        callers: dict[str, NodeCaller] = {}
        uniform = LockedRandom()
        for node in predictor.nodes():
            if node.builtin:
                callers[node.name] = BuiltinNode(node, uniform)
            elif node.name in dataplanes:
                unit = dataplanes[node.name]
                unit.runtime.recorder = self.metrics.node_recorder(node.name, node.image)
                callers[node.name] = self.local[node.name] = InProcessNode(node, unit)
            else:
                callers[node.name] = self.remote[node.name] = self._remote(node)
        self.walker = Walker(predictor, callers, pool=self.pool, inject_routing=settings.inject_routing,
                             observer=self.payload_logger)
        self._loaded = threading.Event()
        self.load_error: BaseException | None = None

    def _remote(self, node: GraphNode) -> RemoteNode:
        ep = node.endpoint
        assert ep is not None  # check_endpoints ran at start-up
        host = ep.host or "localhost"

        def observe(service: str, method: str, code: str, seconds: float) -> None:
            self.metrics.observe_client(service, node.name, node.image, method, code, seconds)

        s = self.settings
        rest = (RestClient(node, host, ep.rest_port, s.node_timeout_s(node.name, "rest"), observe, s.max_payload_bytes)
                if ep.rest_port else None)
        grpc_client = (GrpcClient(node, host, ep.grpc_port, s.node_timeout_s(node.name, "grpc"), observe,
                                  s.max_payload_bytes) if ep.grpc_port else None)
        return RemoteNode(node, rest, grpc_client)

    # ---------------------------------------------------------------- lifecycle
    def start(self, on_load_failure: Callable[[str, BaseException], None] | None = None) -> None:
        """Run the in-process nodes' ``load()`` in the background (``on_load_failure(node, exc)``
        when one raises; without it ``/ready`` stays 503); start the payload logger."""
        if self.payload_logger is not None:
            self.payload_logger.start()

        def load() -> None:
            for name, unit in self.dataplanes.items():
                logger.info("loading in-process node %r", name)
                try:
                    unit.runtime.load()
                except BaseException as exc:  # noqa: BLE001 - user code
                    self.load_error = exc
                    logger.error("load() of in-process node %r failed: %s: %s", name, type(exc).__name__, exc,
                                 exc_info=exc)
                    if on_load_failure is not None:
                        on_load_failure(name, exc)
                    break
            self._loaded.set()

        threading.Thread(target=load, name="inprocess-load", daemon=True).start()

    def close(self, timeout: float = 5.0) -> None:
        if self.payload_logger is not None:
            self.payload_logger.stop(timeout)
        for r in self.remote.values():
            r.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- readiness
    def ready(self, transport: str = "rest") -> tuple[bool, str]:
        """(ready, why not): in-process nodes loaded, every remote node accepting connections
        (answering its health check with ``--full_health_checks``)."""
        if not self._loaded.is_set():
            return False, "in-process nodes are still loading"
        if self.load_error is not None:
            return False, f"an in-process node failed to load: {self.load_error}"
        for name, r in self.remote.items():
            ep = r.node.endpoint
            assert ep is not None
            port = ep.rest_port or ep.grpc_port
            if transport == "grpc" and ep.grpc_port:
                port = ep.grpc_port
            try:
                with socket.create_connection((ep.host or "localhost", port), timeout=2.0):
                    pass
            except OSError as exc:
                return False, f"node {name!r} at {ep.host}:{port} is not reachable: {exc}"
            if self.settings.full_health_checks:
                healthy, why = self._node_health(r)
                if not healthy:
                    return False, f"node {name!r} is not healthy: {why}"
        return True, ""

    @staticmethod
    def _node_health(r: RemoteNode) -> tuple[bool, str]:
        """A node's own health check: REST ``/health/status`` 200, or gRPC health SERVING."""
        try:
            if r.rest is not None:
                status, _ct, _body = r.rest.get("/health/status", CallContext())
                return status == 200, f"/health/status answered {status}"
            assert r.grpc is not None
            from grpc_health.v1 import health_pb2, health_pb2_grpc

            stub: Any = health_pb2_grpc.HealthStub(r.grpc.channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            return reply.status == health_pb2.HealthCheckResponse.SERVING, "gRPC health is not SERVING"
        except Exception as exc:  # noqa: BLE001 - any failure means not healthy
            return False, f"{type(exc).__name__}: {exc}"

    # ---------------------------------------------------------------- per node
    def _node(self, name: str) -> GraphNode:
        node = self.predictor.node(name)
        if node is None:
            known = ", ".join(n.name for n in self.predictor.nodes())
            raise NotFound(f"no node {name!r} in the graph (nodes: {known})")
        return node

    def node_status(self, name: str, ctx: CallContext) -> tuple[int, str, bytes]:
        """The node's ``/health/status`` answer (status, content type, body)."""
        node = self._node(name)
        if name in self.local:
            result = self.local[name].health()
            return 200, "application/json", _json_bytes(result)
        if node.builtin:
            return 200, "application/json", orjson.dumps({"status": "healthy", "builtin": node.builtin})
        return self._get(name, "/health/status", ctx)

    def node_metadata(self, name: str, ctx: CallContext) -> dict[str, Any]:
        node = self._node(name)
        if name in self.local:
            return self.local[name].metadata()
        if node.builtin:
            return {"name": node.name, "versions": [], "platform": "seldon-executor", "inputs": [], "outputs": [],
                    "custom": {"implementation": node.builtin}}
        r = self.remote[name]
        if r.rest is None and r.grpc is not None:
            return json_format.MessageToDict(r.grpc.model_metadata(ctx))
        status, ctype, body = self._get(name, "/metadata", ctx)
        if status != 200:
            raise NodeReplyError(name, status, body, ctype)
        return orjson.loads(body)

    def _get(self, name: str, path: str, ctx: CallContext) -> tuple[int, str, bytes]:
        r = self.remote[name]
        if r.rest is None:
            raise NotFound(f"node {name!r} has no REST endpoint for {path}")
        return r.rest.get(path, ctx)

    def graph_metadata(self, ctx: CallContext) -> dict[str, Any]:
        models = {n.name: self.node_metadata(n.name, ctx) for n in self.predictor.nodes()}

        def io(node: GraphNode) -> tuple[list[Any], list[Any]]:
            md = models.get(node.name) or {}
            own_in, own_out = md.get("inputs") or [], md.get("outputs") or []
            if not node.children:
                return own_in, own_out
            c_in, c_out = io(node.children[0])
            if node.type in ("MODEL", "TRANSFORMER"):
                return own_in, c_out
            if node.type in ("OUTPUT_TRANSFORMER", "COMBINER"):
                return c_in, own_out
            return c_in, c_out

        inputs, outputs = io(self.predictor.graph)
        return {"name": self.predictor.name, "models": models, "graphinputs": inputs, "graphoutputs": outputs}


def _json_bytes(result: Response | RawResult) -> bytes:
    from ..protocol.seldon import json_codec
    from ..util import jsonutil

    if isinstance(result, RawResult):
        return jsonutil.dumps(result.value)
    return jsonutil.dumps(json_codec.encode_response(result))
