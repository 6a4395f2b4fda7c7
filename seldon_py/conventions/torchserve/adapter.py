"""A TorchServe handler as a seldon_py user object.

:class:`TorchServeModel` has the Seldon hooks the runtime calls: ``load()`` (builds the context
and runs the handler's initialize step in each serving process), ``predict_raw(msg)`` (a
SeldonMessage over REST or gRPC becomes one TorchServe request; its answer one SeldonMessage),
``init_metadata()``, and ``rest_blueprint()`` (TorchServe's own inference API on the REST port).
"""

from __future__ import annotations

import base64
import importlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BadRequest, NotReady, SeldonMicroserviceException
from .batcher import HandlerBatcher
from .loader import Entry
from .metrics import TorchServeMetrics
from .service import HandlerService, Headers, TSRequest, TSResponse

logger = logging.getLogger(__name__)

TS_VERSION_FALLBACK = "0.12.0"


@dataclass
class Options:
    """How the handler is served (from --parameters, the manifest and the model config)."""

    model_name: str
    model_version: str
    model_dir: Path | None
    manifest: dict[str, Any]
    model_yaml_config: dict[str, Any]
    batch_size: int = 1
    max_batch_delay_ms: float = 100.0
    gpu_id: int | None = None
    decode_input_request: bool = True
    limit_max_image_pixels: bool = True


def seldon_error(resp: TSResponse) -> SeldonMicroserviceException:
    """A failed TorchServe answer as seldon_py's error (same HTTP status)."""
    status = resp.status
    message = resp.error or resp.phrase or (resp.body.decode("utf-8", "replace") if resp.body else "")
    reason = "MICROSERVICE_INTERNAL_ERROR" if status >= 500 else "MICROSERVICE_BAD_DATA"
    return SeldonMicroserviceException(message, status_code=status, reason=reason)


def _message_to_request(msg: Any, decode: bool) -> TSRequest:
    """A SeldonMessage (dict over REST, protobuf over gRPC) → one TorchServe request."""
    from ...protocol.seldon import json_codec, proto_codec

    if isinstance(msg, (bytes, bytearray, str)):  # --payload-passthrough: the body as it came
        raw = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
        from .service import decode_value

        return TSRequest({"body": decode_value(raw, "application/json", decode)},
                         Headers({"body": {"content-type": "application/json"}, "explain": "False"}))
    payload = json_codec.decode_message(msg) if isinstance(msg, dict) else proto_codec.decode_message(msg)
    kind, value = payload.kind, payload.value
    if kind == "strData":
        content_type, body = "text/plain", value if decode else bytearray(value.encode("utf-8"))
    elif kind in ("binData", "customData"):
        content_type = "application/octet-stream"
        body = bytearray(value if isinstance(value, (bytes, bytearray)) else getattr(value, "value", b""))
    elif kind == "jsonData":
        content_type, body = "application/json", value
    else:
        content_type = "application/json"
        body = value.tolist() if hasattr(value, "tolist") else value
    if not decode and not isinstance(body, bytearray):
        import json

        body = bytearray(json.dumps(body).encode("utf-8"))
    headers = Headers({"content-type": content_type, "body": {"content-type": content_type}, "explain": "False"})
    return TSRequest({"body": body}, headers)


def _response_message(resp: TSResponse) -> dict[str, Any]:
    """One TorchServe answer → a SeldonMessage dict (valid for REST and gRPC)."""
    value = resp.value
    if isinstance(value, (bytes, bytearray)):
        out: dict[str, Any] = {"binData": base64.b64encode(bytes(value)).decode("ascii")}
    elif isinstance(value, str):
        out = {"strData": value}
    else:
        if hasattr(value, "tolist") and not isinstance(value, (list, dict)):
            value = value.tolist()
        out = {"jsonData": value}
    if resp.metrics:
        out["meta"] = {"metrics": resp.metrics}
    return out


class TorchServeModel:
    """A TorchServe handler, served by seldon_py (see the module docstring)."""

    def __init__(self, entry: Entry, options: Options) -> None:
        self.entry = entry
        self.options = options
        self.service: HandlerService | None = None
        self.batcher: HandlerBatcher | None = None
        self.loaded = threading.Event()

    def __repr__(self) -> str:
        return f"TorchServeModel({self.options.model_name!r}, {self.entry.description})"

    # ------------------------------------------------------------- lifecycle
    def _context(self, metrics: TorchServeMetrics) -> tuple[Any, type]:
        ctx_mod = importlib.import_module("ts.context")
        ts_mod = importlib.import_module("ts")
        o = self.options
        ctx = ctx_mod.Context(
            o.model_name, str(o.model_dir) if o.model_dir is not None else None, o.manifest, o.batch_size,
            o.gpu_id, getattr(ts_mod, "__version__", TS_VERSION_FALLBACK), o.limit_max_image_pixels,
            metrics, o.model_yaml_config,
        )
        return ctx, ctx_mod.RequestProcessor

    def load(self) -> None:
        """Build the context and run the handler's initialize step (in each serving process)."""
        o = self.options
        metrics = TorchServeMetrics(o.model_name)
        context, request_processor = self._context(metrics)
        context.request_processor = [request_processor(Headers())]
        context.request_ids = {}
        self.entry.initialize(context)
        metrics.drain()  # TorchServe reports load-time metrics nowhere either
        service = HandlerService(self.entry.handle, context, metrics, request_processor, o.model_name)
        self.service = service
        self.batcher = HandlerBatcher(service.run, o.batch_size, o.max_batch_delay_ms / 1000)
        self.loaded.set()
        logger.info("TorchServe model %s (version %s) initialized: %s, batch_size %d, max_batch_delay %g ms",
                    o.model_name, o.model_version, self.entry.description, o.batch_size, o.max_batch_delay_ms)

    # ------------------------------------------------------------- serving
    def infer(self, request: TSRequest) -> TSResponse:
        """One request through the batcher (several requests may share one handler call)."""
        batcher = self.batcher
        if batcher is None:
            raise NotReady("The TorchServe handler is still initializing")
        return batcher.submit(request)

    def predict_raw(self, msg: Any) -> dict[str, Any]:
        if msg is None:
            raise BadRequest("empty request")
        resp = self.infer(_message_to_request(msg, self.options.decode_input_request))
        if resp.error is not None or resp.status >= 400:
            raise seldon_error(resp)
        return _response_message(resp)

    def init_metadata(self) -> dict[str, Any]:
        o = self.options
        return {"name": o.model_name, "versions": [o.model_version], "platform": "torchserve"}

    def rest_blueprint(self, runtime: Any = None) -> Any:
        """TorchServe's inference API (``/predictions/...``, ``/ping``) as a Flask blueprint;
        ``runtime`` is the REST worker's model runtime (readiness, metrics recorder)."""
        from .rest import blueprint

        return blueprint(self, runtime)
