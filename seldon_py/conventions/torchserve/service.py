"""Running a TorchServe handler on a batch of requests, as TorchServe's worker does.

No I/O and no transport here: a request is a :class:`TSRequest` (its ``data`` dict as TorchServe
shapes it, its headers, a request id), a response a :class:`TSResponse` (status, body bytes as
TorchServe would send them, and the element the handler returned, for the Seldon protocol).
One batch runs at a time per process (TorchServe runs one per worker), so handlers need not be
thread-safe and the one :class:`Context` is updated per batch, as TorchServe does.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .metrics import TorchServeMetrics

logger = logging.getLogger(__name__)

JSON_MIME = "application/json"


class Headers(dict[Any, Any]):
    """A request's headers for ``context.get_request_header``: exact key first, then any case."""

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        if isinstance(key, str):
            lower = key.lower()
            for k, v in self.items():
                if isinstance(k, str) and k.lower() == lower:
                    return v
        return default


def mime_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_value(raw: bytes, content_type: str | None, decode: bool = True) -> Any:
    """A request value as TorchServe hands it to the handler: JSON decoded for
    ``application/json`` (and for no content type), ``str`` for ``text/*``, else ``bytearray``
    (also when decoding fails or is switched off)."""
    mime = mime_type(content_type)
    if decode and mime in ("", JSON_MIME):
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return bytearray(raw)
    if decode and mime.startswith("text"):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return bytearray(raw)
    return bytearray(raw)


@dataclass
class TSRequest:
    """One request as the handler sees it: ``data`` is its element of the batch list."""

    data: dict[str, Any]
    headers: dict[str, Any]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class TSResponse:
    """One request's answer. ``error`` is set when the whole batch failed (body: TorchServe's
    error JSON); ``metrics`` carries the batch's handler metrics on one response per batch."""

    status: int
    body: bytes
    phrase: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    value: Any = None
    error: str | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)


def error_body(code: int, message: str, type_: str = "InternalServerException") -> bytes:
    """TorchServe's error JSON (pretty-printed, two-space indent, trailing newline)."""
    return (json.dumps({"code": code, "type": type_, "message": message}, indent=2) + "\n").encode("utf-8")


def _failed(n: int, code: int, message: str) -> list[TSResponse]:
    return [TSResponse(code, error_body(code, message), content_type=JSON_MIME, error=message) for _ in range(n)]


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def encode_element(value: Any) -> bytes:
    """What TorchServe sends for one returned element; TypeError if it cannot be encoded."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if _is_tensor(value):
        import io

        torch = sys.modules["torch"]
        buf = io.BytesIO()
        torch.save(value, buf)
        return buf.getvalue()
    return json.dumps(value, indent=2).encode("utf-8")


def is_prediction_exception(exc: BaseException) -> bool:
    """TorchServe's ``PredictionException`` (the real one or ours), by name and shape."""
    return any(c.__name__ == "PredictionException" for c in type(exc).__mro__) and hasattr(exc, "error_code")


class HandlerService:
    """A loaded handler with its context: :meth:`run` answers one batch."""

    def __init__(self, handle: Callable[[Any, Any], Any], context: Any, metrics: TorchServeMetrics,
                 request_processor: type, model_name: str) -> None:
        self.handle = handle
        self.context = context
        self.metrics = metrics
        self.request_processor = request_processor
        self.model_name = model_name
        self.lock = threading.Lock()

    def run(self, requests: list[TSRequest]) -> list[TSResponse]:
        with self.lock:
            responses = self._run(requests)
            drained = self.metrics.drain()
        if drained and responses:
            responses[0].metrics = drained
        return responses

    def _run(self, requests: list[TSRequest]) -> list[TSResponse]:
        ctx = self.context
        n = len(requests)
        ids = {i: r.request_id for i, r in enumerate(requests)}
        ctx.request_ids = ids
        ctx.request_processor = [self.request_processor(r.headers) for r in requests]
        self.metrics.request_ids = ids
        try:
            ret = self.handle([r.data for r in requests], ctx)
        except MemoryError:
            logger.exception("model %s: out of memory", self.model_name)
            return _failed(n, 507, "Out of resources")
        except Exception as exc:
            if is_prediction_exception(exc):
                logger.exception("model %s: prediction error", self.model_name)
                code = getattr(exc, "error_code", 500)
                message = getattr(exc, "message", str(exc))
                return _failed(n, code if isinstance(code, int) and 100 <= code <= 599 else 500, str(message))
            if "CUDA" in str(exc):
                logger.exception("model %s: CUDA out of memory", self.model_name)
                return _failed(n, 507, "Out of resources")
            logger.warning("model %s: the handler failed", self.model_name, exc_info=True)
            return _failed(n, 503, "Prediction failed")
        if not isinstance(ret, list):
            logger.warning("model %s: the handler returned %s, not a list", self.model_name, type(ret).__name__)
            return _failed(n, 503, "Invalid model predict output")
        if len(ret) != n:
            logger.warning("model %s: the handler returned %d elements for %d requests", self.model_name,
                           len(ret), n)
            return _failed(n, 503, "number of batch response mismatched")
        out = []
        for idx, value in enumerate(ret):
            try:
                body = encode_element(value)
            except (TypeError, ValueError):
                logger.warning("model %s: cannot serialize the handler's output", self.model_name, exc_info=True)
                return _failed(n, 503, "Unsupported model output data type.")
            code, phrase = ctx.get_response_status(idx)
            headers = {str(k): str(v) for k, v in (ctx.get_response_headers(idx) or {}).items()}
            content_type = headers.pop("content-type", None) or None
            out.append(TSResponse(code if code is not None else 200, body, phrase or None, content_type,
                                  headers, value))
        return out
