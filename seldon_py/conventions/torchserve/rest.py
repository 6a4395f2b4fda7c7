"""TorchServe's inference API on the REST port, answered as TorchServe 0.12 answers.

``POST|PUT /predictions/{model}[/{version}]`` (and ``/explanations/...``, which sets the
``explain`` header to ``"True"``) and ``GET /ping``. Bodies are what TorchServe sends: the
handler's element as is (bytes, UTF-8 text, or ``json.dumps(indent=2)``) with no Content-Type
unless the handler set one; errors as TorchServe's JSON (two-space indent, trailing newline,
``application/json``). Every predictions response carries TorchServe's ``x-request-id`` and
no-cache headers.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from ...errors import SeldonMicroserviceException
from .service import JSON_MIME, Headers, TSRequest, TSResponse, decode_value, error_body

if TYPE_CHECKING:
    from .adapter import TorchServeModel

logger = logging.getLogger(__name__)

NO_CACHE = (
    ("Pragma", "no-cache"),
    ("Cache-Control", "no-cache; no-store, must-revalidate, private"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 UTC"),
)


class _Bare(Response):
    """A response with no Content-Type unless one is given (TorchServe sends none by default)."""

    default_mimetype = None


def _error(code: int, message: str, type_: str, request_id: str | None = None) -> Response:
    resp = Response(error_body(code, message, type_), status=code, content_type=JSON_MIME)
    if request_id is not None:
        _decorate(resp, request_id)
    return resp


def _decorate(resp: Response, request_id: str) -> None:
    resp.headers["x-request-id"] = request_id
    for name, value in NO_CACHE:
        resp.headers[name] = value


def _answer(result: TSResponse, request_id: str) -> Response:
    if result.error is not None:
        return _error(result.status, result.error, "InternalServerException", request_id)
    status: Any = result.status if not result.phrase else f"{result.status} {result.phrase}"
    resp = _Bare(result.body, status=status, content_type=result.content_type)
    for name, value in result.headers.items():
        resp.headers[name] = value
    _decorate(resp, request_id)
    return resp


def read_request(explain: bool, decode: bool) -> TSRequest:
    """The Flask request as TorchServe shapes it: one ``{"body"|field: value}`` dict."""
    headers = Headers((k, v) for k, v in request.headers.items())
    data: dict[str, Any] = {}
    ct = request.mimetype
    if ct in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in request.form.items():
            data[name] = value if decode else bytearray(value.encode("utf-8"))
            headers[name] = {"content-type": "text/plain"}
        for name, storage in request.files.items():
            part_type = storage.mimetype or ""
            data[name] = decode_value(storage.read(), part_type, decode)
            headers[name] = {"content-type": part_type}
    else:
        raw = request.get_data(cache=False)
        data["body"] = decode_value(raw, request.content_type, decode)
        headers["body"] = {"content-type": request.content_type or ""}
    headers["explain"] = "True" if explain else "False"
    headers["url_path"] = ""
    return TSRequest(data, headers)


def blueprint(model: TorchServeModel, dataplane: Any = None) -> Blueprint:
    """The blueprint for one served model. ``dataplane`` (the REST worker's data plane or model
    runtime, or None) gives readiness and the metrics recorder; without it the handler's own
    initialize state decides readiness and TorchServe-path metrics are not recorded."""
    bp = Blueprint("torchserve", __name__)
    name = model.options.model_name
    version = model.options.model_version
    runtime = getattr(dataplane, "runtime", dataplane)  # a protocol handler over a runtime, or either
    ready_event = getattr(runtime, "ready", None)
    recorder = getattr(runtime, "recorder", None)

    def ready() -> bool:
        if ready_event is not None:
            return bool(ready_event.is_set())
        return model.loaded.is_set()

    def record(metrics: list[dict[str, Any]]) -> None:
        if not metrics or recorder is None:
            return
        from ...runtime import custom_metrics

        try:
            custom_metrics.validate_metrics(metrics)
            recorder.record(custom_metrics.with_method_tag(metrics, "predict"), "predict")
        except SeldonMicroserviceException as exc:
            logger.error("TorchServe handler metrics not recorded: %s", exc.message)

    def infer(model_name: str, model_version: str | None, explain: bool) -> Response:
        if model_name != name:
            return _error(404, f"Model not found: {model_name}", "ModelNotFoundException")
        if model_version is not None and model_version != version:
            return _error(404, f"Model version: {model_version} does not exist for model: {model_name}",
                          "ModelVersionNotFoundException")
        if not ready():
            return _error(503, f"Model \"{model_name}\" has no worker to serve inference request. "
                               "Please use scale workers API to add workers.", "ServiceUnavailableException")
        ts_request = read_request(explain, model.options.decode_input_request)
        result = model.infer(ts_request)
        record(result.metrics)
        return _answer(result, ts_request.request_id)

    @bp.route("/predictions/<model_name>", methods=["POST", "PUT"])
    def predictions(model_name: str) -> Response:
        return infer(model_name, None, explain=False)

    @bp.route("/predictions/<model_name>/<model_version>", methods=["POST", "PUT"])
    def predictions_version(model_name: str, model_version: str) -> Response:
        return infer(model_name, model_version, explain=False)

    @bp.route("/explanations/<model_name>", methods=["POST", "PUT"])
    def explanations(model_name: str) -> Response:
        return infer(model_name, None, explain=True)

    @bp.route("/explanations/<model_name>/<model_version>", methods=["POST", "PUT"])
    def explanations_version(model_name: str, model_version: str) -> Response:
        return infer(model_name, model_version, explain=True)

    @bp.route("/ping", methods=["GET"])
    def ping() -> Response:
        healthy = ready()
        body = json.dumps({"status": "Healthy" if healthy else "Unhealthy"}, indent=2) + "\n"
        return Response(body.encode("utf-8"), status=200 if healthy else 500, content_type=JSON_MIME)

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        kind = {413: "RequestEntityTooLargeException", 405: "MethodNotAllowedException"}.get(
            code, "BadRequestException")
        return _error(code, exc.description or exc.name, kind)

    @bp.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        if isinstance(exc, SeldonMicroserviceException):
            return _error(exc.status_code, exc.message, "InternalServerException")
        logger.error("TorchServe API request failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return _error(500, str(exc) or type(exc).__name__, "InternalServerException")

    return bp
