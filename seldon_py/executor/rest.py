"""The executor's REST ingress: a plain WSGI app (served by gunicorn's threaded worker).

Endpoints: ``POST /api/v0.1|v1.0/predictions``, ``POST /api/v0.1|v1.0/feedback``,
``GET /api/v1.0/status/{node}``, ``GET /api/v1.0/metadata``, ``GET /api/v1.0/metadata/{node}``,
``GET /ready``, ``GET /live`` and the Prometheus path. Every incoming header except Content-Type
(and the connection's own: Host, Content-Length, Connection...) is forwarded on every hop;
``Seldon-Puid`` is generated when absent and returned. A request sent as a binary-mode CloudEvent
(``Ce-Specversion`` header) is answered with ``Ce-*`` headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import BadRequest, MethodNotAllowed, NotFound, PayloadTooLarge, SeldonMicroserviceException
from ..graph import messages
from ..graph.errors import NodeReplyError
from ..graph.walker import CallContext
from ..util import jsonutil
from .clients import HOP_HEADERS
from .core import Executor
from .payload_log import FEEDBACK, RESPONSE

logger = logging.getLogger(__name__)

JSON = "application/json"
PUID = "Seldon-Puid"
SKIP_VALUES = frozenset({"true", "on", "1"})
_REASONS = {200: "OK", 400: "BAD REQUEST", 404: "NOT FOUND", 405: "METHOD NOT ALLOWED", 413: "PAYLOAD TOO LARGE",
            500: "INTERNAL SERVER ERROR", 502: "BAD GATEWAY", 503: "SERVICE UNAVAILABLE", 504: "GATEWAY TIMEOUT"}

StartResponse = Callable[..., Any]


def _status_line(code: int) -> str:
    return f"{code} {_REASONS.get(code, 'UNKNOWN')}"


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The incoming headers to forward (HTTP_* from the WSGI environ, hop headers removed)."""
    out: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
            if name.lower() not in HOP_HEADERS:
                out[name] = value
    return out


class ExecutorApp:
    def __init__(self, executor: Executor, cors_origin: str = "*") -> None:
        self.ex = executor
        self.prometheus_path = executor.settings.prometheus_path
        self.max_body = executor.settings.max_payload_bytes
        self.cors = cors_origin
        self.ce_source = f"seldon.io/executor/{executor.deployment}/{executor.predictor.name}"

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        headers = request_headers(environ)
        puid = headers.get(PUID) or CallContext.new_puid()
        headers[PUID] = puid
        out_headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("Access-Control-Allow-Origin", self.cors),
            ("Access-Control-Allow-Methods", "GET, OPTIONS, POST"),
            ("Access-Control-Allow-Headers", "Accept, Content-Type, Content-Length, Authorization, Seldon-Puid"),
            (PUID, puid),
        ]
        if method == "OPTIONS":
            start_response("200 OK", [*out_headers, ("Content-Length", "0")])
            return [b""]
        service = _service(path)
        if "Ce-Specversion" in headers and service in ("predictions", "feedback"):
            out_headers += self._cloudevent_headers(headers, path, service, puid)
        start = time.perf_counter()
        ctx = CallContext(transport=messages.REST, headers=headers, puid=puid,
                          skip_logging=headers.get("Seldon-Skip-Logging", "").lower() in SKIP_VALUES)
        try:
            status, ctype, body = self._route(method, path, environ, ctx)
        except NodeReplyError as exc:
            status, ctype, body = exc.status_code, exc.content_type, exc.body
        except SeldonMicroserviceException as exc:
            status, ctype, body = exc.status_code, JSON, jsonutil.dumps(exc.to_dict())
        except Exception as exc:
            logger.error("%s %s failed: %s: %s", method, path, type(exc).__name__, exc, exc_info=exc)
            status, ctype = 500, JSON
            body = jsonutil.dumps({"status": {"code": 500, "info": f"{type(exc).__name__}: {exc}",
                                              "reason": "EXECUTOR_INTERNAL_ERROR", "status": "FAILURE"}})
        if service is not None:
            self.ex.metrics.observe_server(service, method, str(status), time.perf_counter() - start)
        start_response(_status_line(status), [*out_headers, ("Content-Type", ctype),
                                              ("Content-Length", str(len(body)))])
        return [body]

    # ------------------------------------------------------------------ routes
    def _route(self, method: str, path: str, environ: dict[str, Any], ctx: CallContext) -> tuple[int, str, bytes]:
        if path in ("/api/v0.1/predictions", "/api/v1.0/predictions"):
            self._only(method, "POST")
            msg = self._body(environ)
            if not isinstance(msg.value(), dict):
                raise BadRequest("the request must be a JSON object (a SeldonMessage)")
            return 200, JSON, messages.to_json_bytes(self.ex.walker.predict(msg, ctx))
        if path in ("/api/v0.1/feedback", "/api/v1.0/feedback"):
            self._only(method, "POST")
            fb = self._body(environ)
            if not isinstance(fb.value(), dict):
                raise BadRequest("the feedback must be a JSON object (a Feedback)")
            return 200, JSON, messages.to_json_bytes(self.ex.walker.feedback(fb, ctx))
        if path.startswith("/api/v1.0/status/"):
            self._only(method, "GET")
            return self.ex.node_status(path[len("/api/v1.0/status/"):], ctx)
        if path == "/api/v1.0/metadata":
            self._only(method, "GET")
            return 200, JSON, jsonutil.dumps(self.ex.graph_metadata(ctx))
        if path.startswith("/api/v1.0/metadata/"):
            self._only(method, "GET")
            return 200, JSON, jsonutil.dumps(self.ex.node_metadata(path[len("/api/v1.0/metadata/"):], ctx))
        if path == "/ready":
            ok, why = self.ex.ready("rest")
            if ok:
                return 200, "text/plain", b"ready"
            return 503, "text/plain", f"not ready: {why}".encode()
        if path == "/live":
            return 200, "text/plain", b"live"
        if path == self.prometheus_path:
            return 200, "text/plain; version=0.0.4; charset=utf-8", self.ex.metrics.exposition()
        raise NotFound(f"no endpoint {path}")

    def _cloudevent_headers(self, headers: dict[str, str], path: str, service: str,
                            puid: str) -> list[tuple[str, str]]:
        """A request that came as a CloudEvent (binary mode) is answered as one."""
        ce_type = FEEDBACK if service == "feedback" else RESPONSE
        return [("Ce-Specversion", headers["Ce-Specversion"]), ("Ce-Id", headers.get("Ce-Id") or puid),
                ("Ce-Type", ce_type), ("Ce-Source", self.ce_source), ("Ce-Path", path),
                ("Ce-Requestid", puid)]

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise MethodNotAllowed(f"{method} not allowed here (use {allowed})")

    def _body(self, environ: dict[str, Any]) -> messages.JsonBytes:
        """The request body, checked to be JSON (and kept as bytes, to pass on as they came)."""
        length_text = environ.get("CONTENT_LENGTH") or ""
        stream = environ["wsgi.input"]
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                raise BadRequest(f"bad Content-Length {length_text!r}") from None
            if length > self.max_body:
                raise PayloadTooLarge(f"request of {length} bytes exceeds the maximum of {self.max_body} bytes")
            raw = stream.read(length)
        else:
            raw = stream.read(self.max_body + 1)
            if len(raw) > self.max_body:
                raise PayloadTooLarge(f"request exceeds the maximum of {self.max_body} bytes")
        if not raw:
            raise BadRequest("empty request body: send a JSON SeldonMessage")
        msg = messages.JsonBytes(raw)
        msg.value()
        return msg


def _service(path: str) -> str | None:
    if path.endswith("/predictions"):
        return "predictions"
    if path.endswith("/feedback"):
        return "feedback"
    if path.startswith("/api/v1.0/status/"):
        return "status"
    if path.startswith("/api/v1.0/metadata"):
        return "metadata"
    return None
