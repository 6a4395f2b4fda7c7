"""The gRPC adapter: every Seldon service/RPC (spec §7.1) over one
:class:`~seldon_py.protocol.seldon.handler.SeldonHandler`.

Each RPC is a thin function ``request message -> serialized response bytes``; one wrapper
(:meth:`SeldonServicer._rpc`) around all of them does the transport work once:

* the request arrives already parsed by :func:`_deserializer` (a common-shape SeldonMessage only
  scanned, see :mod:`seldon_py.protocol.seldon.wire`), which also keeps its wire bytes (for the request
  size, and so :class:`~seldon_py.transports.grpc.codec.WireCodec` reads tensors straight from them) and
  turns undecodable bytes into ``INVALID_ARGUMENT`` instead of grpcio's ``INTERNAL``;
* errors map in one place: :class:`SeldonMicroserviceException` → ``grpc_code_name(exc)`` with its
  message, anything else → ``INTERNAL`` with ``str(exc)`` (logged once, with traceback);
* the ``seldon-puid`` request header is echoed as response initial metadata (none is invented
  when absent: the reference wrapper sends no metadata at all, the executor owns puids);
* the :class:`~seldon_py.runtime.runtime.RequestObserver` sees every RPC with its status and sizes.

Handlers are registered directly (:meth:`SeldonServicer.register`) rather than through the
generated ``add_*Servicer_to_server``: the same handler table, but responses are serialized inside
the handler, so the observer gets exact sizes and oversize replies get a clear status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from google.protobuf.message import DecodeError, Message

from ...errors import (
    BadRequest,
    InternalError,
    MethodNotDefined,
    PayloadTooLarge,
    SeldonMicroserviceException,
    grpc_code_name,
)
from ...proto import prediction_pb2 as pb
from ...protocol.seldon import proto_codec
from ...protocol.seldon.handler import SeldonHandler
from ...protocol.seldon.metadata import metadata_to_proto_dict
from ...protocol.seldon.payload import RawResult, Response
from ...protocol.seldon.wire import ScannedRequest, scan_request
from ...runtime.runtime import NullObserver, RequestObserver
from .codec import WireCodec

logger = logging.getLogger(__name__)

TRANSPORT = "grpc"
PACKAGE = "seldon.protos"
PUID_HEADER = "seldon-puid"

#: service → (method → request message class) for every RPC of spec §7.1
SERVICES: dict[str, dict[str, type[Message]]] = {
    "Generic": {
        "TransformInput": pb.SeldonMessage,
        "TransformOutput": pb.SeldonMessage,
        "Route": pb.SeldonMessage,
        "Aggregate": pb.SeldonMessageList,
        "SendFeedback": pb.Feedback,
    },
    "Model": {
        "Predict": pb.SeldonMessage,
        "SendFeedback": pb.Feedback,
        "Metadata": empty_pb2.Empty,
    },
    "Router": {"Route": pb.SeldonMessage, "SendFeedback": pb.Feedback},
    "Transformer": {"TransformInput": pb.SeldonMessage},
    "OutputTransformer": {"TransformOutput": pb.SeldonMessage},
    "Combiner": {"Aggregate": pb.SeldonMessageList},
    "Seldon": {
        "Predict": pb.SeldonMessage,
        "SendFeedback": pb.Feedback,
        "ModelMetadata": pb.SeldonModelMetadataRequest,
        "GraphMetadata": empty_pb2.Empty,
    },
}

#: full service names, e.g. ``seldon.protos.Model``
SERVICE_NAMES = tuple(f"{PACKAGE}.{s}" for s in SERVICES)

_STATUS = {code.name: code for code in grpc.StatusCode}


class _Undecodable:
    """Stands in for a request whose bytes did not parse as the RPC's message type."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _deserializer(cls: type[Message]) -> Callable[[bytes], tuple[Any, bytes]]:
    """bytes → (message, the bytes); never fails, so the handler can answer INVALID_ARGUMENT.

    A SeldonMessage of the common shapes is only scanned (:func:`~seldon_py.protocol.seldon.wire.scan_request`,
    a :class:`~seldon_py.protocol.seldon.wire.ScannedRequest` stands for the message); anything else is
    parsed by protobuf."""
    parse = cls.FromString
    full_name = cls.DESCRIPTOR.full_name
    scan = scan_request if cls is pb.SeldonMessage else None

    def deserialize(data: bytes) -> tuple[Any, bytes]:
        if scan is not None:
            scanned = scan(data)
            if scanned is not None:
                return scanned, data
        try:
            return parse(data), data
        except (DecodeError, RuntimeError, ValueError) as exc:
            return _Undecodable(f"request is not a valid {full_name}: {exc}"), data

    return deserialize


def _serialize_raw(value: Any, cls: type[Message], hook: str) -> bytes:
    """What a ``*_raw``/``*_grpc`` user method returned → wire bytes of the RPC's response type."""
    desc = getattr(value, "DESCRIPTOR", None)
    if desc is not None and getattr(desc, "full_name", None) == cls.DESCRIPTOR.full_name:
        return value.SerializeToString()
    if isinstance(value, dict):
        try:
            return json_format.ParseDict(value, cls()).SerializeToString()
        except json_format.ParseError as exc:
            raise InternalError(f"{hook} returned a dict that is not a {cls.DESCRIPTOR.full_name}: {exc}") from None
    raise InternalError(
        f"{hook} returned {type(value).__name__}; over gRPC it must return a "
        f"{cls.DESCRIPTOR.full_name} (or its dict form)"
    )


def encode(result: Response | RawResult, hook: str) -> bytes:
    """A data-plane result → SeldonMessage wire bytes."""
    if type(result) is RawResult:
        return _serialize_raw(result.value, pb.SeldonMessage, hook)
    return proto_codec.encode_response_bytes(result)  # type: ignore[arg-type]


class SeldonServicer:
    """All Seldon gRPC services on one data plane (one instance per serving process)."""

    def __init__(
        self,
        dataplane: SeldonHandler,
        observer: RequestObserver | None = None,
        max_payload_bytes: int | None = None,
    ) -> None:
        """How many calls run at once is the server's thread pool's size
        (:func:`.server.create_grpc_server`)."""
        self.dataplane = dataplane
        self.observer: RequestObserver = observer or NullObserver()
        self.max_payload_bytes = max_payload_bytes
        self._metadata_bytes: bytes | None = None

    # ------------------------------------------------------------------ RPC bodies
    # Each takes the parsed request and its wire bytes and returns the serialized response;
    # errors are raised.

    def _request(self, msg: Any, wire: bytes, hook: str) -> tuple[Any, WireCodec]:
        """(request, codec) for the data plane: a scanned request is parsed after all when the
        user has a ``<hook>_raw`` (or legacy ``<hook>_grpc``) method, which gets the message."""
        if type(msg) is ScannedRequest and self.dataplane.takes_message(hook):
            msg = pb.SeldonMessage.FromString(wire)
        return msg, WireCodec(msg, wire)

    def predict(self, msg: Any, wire: bytes) -> bytes:
        return encode(self.dataplane.predict(*self._request(msg, wire, "predict")), "predict_raw")

    def transform_input(self, msg: Any, wire: bytes) -> bytes:
        return encode(self.dataplane.transform_input(*self._request(msg, wire, "transform_input")),
                      "transform_input_raw")

    def transform_output(self, msg: Any, wire: bytes) -> bytes:
        return encode(self.dataplane.transform_output(*self._request(msg, wire, "transform_output")),
                      "transform_output_raw")

    def route(self, msg: Any, wire: bytes) -> bytes:
        return encode(self.dataplane.route(*self._request(msg, wire, "route")), "route_raw")

    def aggregate(self, msg: pb.SeldonMessageList, _wire: bytes) -> bytes:
        return encode(self.dataplane.aggregate(msg, proto_codec), "aggregate_raw")

    def send_feedback(self, msg: pb.Feedback, _wire: bytes) -> bytes:
        fb = proto_codec.decode_feedback(msg)
        return encode(self.dataplane.send_feedback(msg, fb, proto_codec), "send_feedback_raw")

    def metadata(self, _msg: Any, _wire: bytes) -> bytes:
        """The validated metadata as SeldonModelMetadata (unknown fields ignored); built once."""
        cached = self._metadata_bytes
        if cached is not None:
            return cached
        md = self.dataplane.metadata()  # BadMetadata → INTERNAL with the reason
        try:
            out = json_format.ParseDict(
                metadata_to_proto_dict(md), pb.SeldonModelMetadata(), ignore_unknown_fields=True
            ).SerializeToString()
        except json_format.ParseError as exc:
            raise InternalError(f"Model metadata cannot be encoded as SeldonModelMetadata: {exc}") from None
        self._metadata_bytes = out
        return out

    def graph_metadata(self, _msg: Any, _wire: bytes) -> bytes:
        raise MethodNotDefined("GraphMetadata not available on the Model level")

    # ------------------------------------------------------------------ transport glue
    def _body(self, method: str) -> Callable[[Any, bytes], bytes]:
        bodies: dict[str, Callable[[Any, bytes], bytes]] = {
            "Predict": self.predict,
            "TransformInput": self.transform_input,
            "TransformOutput": self.transform_output,
            "Route": self.route,
            "Aggregate": self.aggregate,
            "SendFeedback": self.send_feedback,
            "Metadata": self.metadata,
            "ModelMetadata": self.metadata,
            "GraphMetadata": self.graph_metadata,
        }
        return bodies[method]

    def _rpc(
        self, endpoint: str, body: Callable[[Any, bytes], bytes]
    ) -> Callable[[tuple[Any, bytes], grpc.ServicerContext], bytes]:
        """The grpcio behaviour for one RPC: body + puid echo + error mapping + observation."""
        observer = self.observer
        limit = self.max_payload_bytes
        perf_counter = time.perf_counter

        def handle(request: tuple[Any, bytes], context: grpc.ServicerContext) -> bytes:
            msg, wire = request
            observer.request_started(TRANSPORT, endpoint)
            start = perf_counter()
            for key, value in context.invocation_metadata():
                if key == PUID_HEADER:
                    context.send_initial_metadata(((PUID_HEADER, value),))
                    break
            try:
                if type(msg) is _Undecodable:
                    raise BadRequest(msg.message)
                out = body(msg, wire)
                if limit is not None and len(out) > limit:
                    raise PayloadTooLarge(
                        f"response of {len(out)} bytes exceeds the maximum payload size of {limit} bytes"
                    )
            except SeldonMicroserviceException as exc:
                code, details = grpc_code_name(exc), exc.message
            except Exception as exc:  # noqa: BLE001 - user code: anything becomes INTERNAL
                logger.error("%s failed: %s: %s", endpoint, type(exc).__name__, exc, exc_info=exc)
                code, details = "INTERNAL", str(exc) or type(exc).__name__
            else:
                observer.request_finished(TRANSPORT, endpoint, "OK", perf_counter() - start,
                                          len(wire), len(out))
                return out
            observer.request_finished(TRANSPORT, endpoint, code, perf_counter() - start, len(wire), 0)
            context.abort(_STATUS.get(code, grpc.StatusCode.INTERNAL), details)
            raise AssertionError("unreachable")  # context.abort raises

        return handle

    def method_handlers(self, service: str) -> dict[str, grpc.RpcMethodHandler]:
        """method name → handler for one service (short name, e.g. ``Model``)."""
        return {
            method: grpc.unary_unary_rpc_method_handler(
                self._rpc(f"/{PACKAGE}.{service}/{method}", self._body(method)),
                request_deserializer=_deserializer(cls),
                response_serializer=None,  # handlers return bytes
            )
            for method, cls in SERVICES[service].items()
        }

    def register(self, server: grpc.Server) -> None:
        """Add every Seldon service to ``server`` (before it starts)."""
        for service in SERVICES:
            full = f"{PACKAGE}.{service}"
            handlers = self.method_handlers(service)
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(full, handlers),))
            server.add_registered_method_handlers(full, handlers)
