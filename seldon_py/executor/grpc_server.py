"""The executor's gRPC ingress: ``seldon.protos.Seldon`` (Predict, SendFeedback, ModelMetadata,
GraphMetadata), ``grpc.health.v1`` and server reflection.

Incoming metadata is forwarded on every hop (gRPC hops as metadata, REST hops as headers);
``seldon-puid`` is generated when absent and sent back as initial metadata.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..errors import SeldonMicroserviceException, grpc_code_name
from ..graph import messages
from ..graph.errors import NodeReplyError
from ..graph.walker import CallContext
from ..proto import prediction_pb2 as pb
from ..protocol.seldon.metadata import metadata_to_proto_dict
from .core import Executor

logger = logging.getLogger(__name__)

SERVICE = "seldon.protos.Seldon"
PUID = "seldon-puid"
_CODES = {c.name: c for c in grpc.StatusCode}


class ExecutorServicer:
    def __init__(self, executor: Executor) -> None:
        self.ex = executor

    def _ctx(self, context: grpc.ServicerContext) -> CallContext:
        headers: dict[str, Any] = {}
        for key, value in context.invocation_metadata():
            headers[key] = value
        puid = headers.get(PUID) or CallContext.new_puid()
        headers[PUID] = puid
        context.send_initial_metadata(((PUID, puid),))
        skip = str(headers.get("seldon-skip-logging", "")).lower() in ("true", "on", "1")
        return CallContext(transport=messages.GRPC, headers=headers, puid=puid, skip_logging=skip)

    def _run(self, service: str, fn: Any, request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        ctx = self._ctx(context)
        try:
            out = fn(request, ctx)
        except NodeReplyError as exc:
            code, details = _CODES.get(exc.grpc_code or grpc_code_name(exc), grpc.StatusCode.INTERNAL), exc.message
        except SeldonMicroserviceException as exc:
            code, details = _CODES.get(grpc_code_name(exc), grpc.StatusCode.INTERNAL), exc.message
        except Exception as exc:
            logger.error("gRPC %s failed: %s: %s", service, type(exc).__name__, exc, exc_info=exc)
            code, details = grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}"
        else:
            self.ex.metrics.observe_server(service, "grpc", "OK", time.perf_counter() - start)
            return out
        self.ex.metrics.observe_server(service, "grpc", code.name, time.perf_counter() - start)
        context.abort(code, details)

    def predict(self, request: pb.SeldonMessage, context: grpc.ServicerContext) -> pb.SeldonMessage:
        return self._run("predictions", lambda r, c: messages.to_proto(self.ex.walker.predict(r, c)), request, context)

    def send_feedback(self, request: pb.Feedback, context: grpc.ServicerContext) -> pb.SeldonMessage:
        return self._run("feedback", lambda r, c: messages.to_proto(self.ex.walker.feedback(r, c)), request, context)

    def model_metadata(self, request: pb.SeldonModelMetadataRequest, context: grpc.ServicerContext) -> Any:
        def run(r: Any, c: CallContext) -> Any:
            md = self.ex.node_metadata(r.name, c)
            return json_format.ParseDict(metadata_to_proto_dict(md), pb.SeldonModelMetadata(),
                                         ignore_unknown_fields=True)

        return self._run("metadata", run, request, context)

    def graph_metadata(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> Any:
        def run(_r: Any, c: CallContext) -> Any:
            gm = self.ex.graph_metadata(c)
            out = pb.SeldonGraphMetadata(name=gm["name"])
            for name, md in gm["models"].items():
                json_format.ParseDict(metadata_to_proto_dict(md), out.models[name], ignore_unknown_fields=True)
            holder = metadata_to_proto_dict({"inputs": gm["graphinputs"], "outputs": gm["graphoutputs"]})
            json_format.ParseDict({k: holder.get(k, []) for k in ("inputs", "outputs")}, out,
                                  ignore_unknown_fields=True)
            return out

        return self._run("metadata", run, request, context)

    def method_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        def h(fn: Any, req: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString, response_serializer=lambda m: m.SerializeToString())

        return {
            "Predict": h(self.predict, pb.SeldonMessage),
            "SendFeedback": h(self.send_feedback, pb.Feedback),
            "ModelMetadata": h(self.model_metadata, pb.SeldonModelMetadataRequest),
            "GraphMetadata": h(self.graph_metadata, empty_pb2.Empty),
        }


class ReadinessHealth(health.HealthServicer):
    """``grpc.health.v1``: SERVING only while the executor is ready (as REST ``/ready``) and not
    shutting down."""

    def __init__(self, executor: Executor) -> None:
        super().__init__()
        self.ex = executor
        self.draining = False

    def Check(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - gRPC's name
        if request.service not in ("", SERVICE):
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        ok = not self.draining and self.ex.ready("grpc")[0]
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        return health_pb2.HealthCheckResponse(status=status)


class GrpcIngress:
    def __init__(self, executor: Executor, host: str, port: int, threads: int) -> None:
        opts = [("grpc.max_send_message_length", executor.settings.max_payload_bytes),
                ("grpc.max_receive_message_length", executor.settings.max_payload_bytes),
                ("grpc.so_reuseport", 0)]
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
                                  options=opts)
        handlers = ExecutorServicer(executor).method_handlers()
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        self.server.add_registered_method_handlers(SERVICE, handlers)  # looked up without the generic path
        self.health = ReadinessHealth(executor)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection((SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if self.server.add_insecure_port(address) == 0:
            raise OSError(f"cannot listen for gRPC on {address}")
        self.address = address

    def start(self) -> None:
        self.server.start()
        for name in ("", SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float) -> None:
        """Refuse new calls, let the accepted ones finish within ``grace`` seconds."""
        self.health.draining = True
        for name in ("", SERVICE):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.stop(grace).wait(grace + 1)
