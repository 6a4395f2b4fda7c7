"""The REST adapter: a Flask app factory over :class:`~seldon_py.dataplane.DataPlane`.

Views only read the request, call the data plane and encode. Every error leaves through one
handler as the Seldon error body ``{"status": {"code": -1, "info", "reason", "status": 1}}`` with a
real HTTP status (404/405/413/415 included; the reference answers 500 for those).
"""

from __future__ import annotations

import base64
import logging
import time
from importlib import resources
from typing import Any, Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .. import json_codec, jsonutil
from ..dataplane import DataPlane, RequestObserver
from ..errors import (
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SeldonMicroserviceException,
    UnsupportedMediaType,
    as_microservice_error,
)
from ..payload import RawResult
from ..payload import Response as SeldonResponseMsg

logger = logging.getLogger(__name__)

JSON_MIMETYPE = "application/json"

#: Flask route rules: (paths, methods, view name)
PREDICT_PATHS = ("/predict", "/api/v1.0/predictions", "/api/v0.1/predictions")
FEEDBACK_PATHS = ("/send-feedback", "/api/v1.0/feedback", "/api/v0.1/feedback")


def _is_json_content_type(ct: str) -> bool:
    mime = ct.split(";", 1)[0].strip().lower()
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def _parse_json_text(text: str | bytes, where: str) -> Any:
    try:
        return jsonutil.loads(text)
    except ValueError as exc:
        raise BadRequest(f"Invalid JSON in {where}: {exc}") from None


def _multipart_message() -> dict[str, Any]:
    """multipart/form-data → message dict (spec §4.2 rule 1)."""
    msg: dict[str, Any] = {}
    for key, value in request.form.items():
        msg[key] = value if key == "strData" else _parse_json_text(value, f"form field {key}")
    for key, storage in request.files.items():
        content = storage.read()
        if key == "binData":
            msg[key] = base64.b64encode(content).decode("ascii")
        else:
            try:
                msg[key] = content.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(f"file part {key} is not UTF-8 text (send bytes as binData)") from None
    return msg


def read_message(passthrough: bool = False) -> Any:
    """The request message: multipart parts, else form ``json=``, else query ``json=``, else the
    JSON body (spec §4.2). With ``passthrough`` the body comes back unparsed (bytes or str)."""
    environ = request.environ
    ct = environ.get("CONTENT_TYPE", "")
    if ct.startswith("multipart/form-data") and not passthrough:
        return _multipart_message()
    form_body = False
    if ct.startswith("application/x-www-form-urlencoded"):
        form_json = request.form.get("json")
        if form_json is not None:
            return form_json if passthrough else _parse_json_text(form_json, "form field json")
        form_body = bool(request.form)
    if environ.get("QUERY_STRING"):
        query_json = request.args.get("json")
        if query_json is not None:
            return query_json if passthrough else _parse_json_text(query_json, "query parameter json")
    if form_body:
        raise UnsupportedMediaType(
            "Content-Type is application/x-www-form-urlencoded but there is no json= field "
            "(with curl -d, add -H 'Content-Type: application/json')"
        )
    body = request.get_data(cache=False)
    if passthrough:
        return body
    if not body:
        raise BadRequest(
            "Empty request: send a SeldonMessage as a JSON body with Content-Type: application/json,"
            " or in a json= form field or query parameter"
        )
    if not _is_json_content_type(ct):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json (got {ct or 'none'}); "
            "or send the message in a json= form field or query parameter"
        )
    msg = _parse_json_text(body, "request body")
    if msg is None:
        raise BadRequest("Can't find JSON in data: the body is JSON null")
    return msg


_OPENAPI: list[bytes] = []


def _openapi_document() -> bytes:
    """The OpenAPI document shipped in the package, read once on first use."""
    if not _OPENAPI:
        _OPENAPI.append((resources.files("seldon_py") / "rest" / "seldon.json").read_bytes())
    return _OPENAPI[0]


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(jsonutil.dumps(body), status=status, mimetype=JSON_MIMETYPE)


def _raw_to_response(value: Any, status_from_body: bool) -> Response:
    """Encode what a *_raw method returned: dicts as JSON (optionally taking ``status.code`` as the
    HTTP status), protobuf messages as their JSON form, text/bytes verbatim."""
    if isinstance(value, (bytes, bytearray)):
        return Response(bytes(value), status=200, mimetype=JSON_MIMETYPE)
    if isinstance(value, str):
        return Response(value, status=200, mimetype=JSON_MIMETYPE)
    if hasattr(value, "DESCRIPTOR") and hasattr(value, "SerializeToString"):
        from google.protobuf import json_format

        value = json_format.MessageToDict(value)
    status = 200
    if status_from_body and isinstance(value, dict):
        st = value.get("status")
        code = st.get("code") if isinstance(st, dict) else None
        if isinstance(code, int) and not isinstance(code, bool):
            if 100 <= code <= 599:
                status = code
            elif st.get("status") in (1, "FAILURE"):
                status = 500
    return _json_response(value, status)


def _encode(result: SeldonResponseMsg | RawResult, status_from_body: bool = False) -> Response:
    if isinstance(result, RawResult):
        return _raw_to_response(result.value, status_from_body)
    return _json_response(json_codec.encode_response(result), result.status)


def error_response(exc: SeldonMicroserviceException) -> Response:
    return _json_response(exc.to_dict(), exc.status_code)


_HTTP_ERRORS: dict[int, type[SeldonMicroserviceException]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def observe_requests(wsgi_app: Any, observer: RequestObserver, paths: frozenset[str]) -> Any:
    """Wrap a WSGI app so ``observer`` sees every request: endpoint (the route path, or
    ``other``), status code, seconds until the response is handed to the server, request and
    response Content-Length (0 when absent/streamed). One closure per request, no Flask hooks."""
    started, finished, clock = observer.request_started, observer.request_finished, time.perf_counter

    def observed(environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        endpoint = path if path in paths else "other"
        started("rest", endpoint)
        t0 = clock()
        seen = ["500", 0]

        def record_status(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[0] = status[:3]
            for name, value in headers:
                if name == "Content-Length":
                    seen[1] = int(value)
            return start_response(status, headers, exc_info)

        try:
            return wsgi_app(environ, record_status)
        finally:
            length = environ.get("CONTENT_LENGTH")
            finished("rest", endpoint, seen[0], clock() - t0,
                     int(length) if length and length.isdigit() else 0, seen[1])

    return observed


def create_app(
    dataplane: DataPlane,
    *,
    max_payload_bytes: int | None = None,
    payload_passthrough: bool = False,
    error_blueprint: Any = None,
    observer: RequestObserver | None = None,
) -> Flask:
    """Build the REST app for one serving process (``observer``: request metrics)."""
    app = Flask("seldon_py", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = max_payload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = max_payload_bytes
    codec = json_codec

    def add(paths: tuple[str, ...], methods: list[str], view: Callable[[], Response]) -> None:
        for path in paths:
            app.add_url_rule(path, endpoint=f"{view.__name__}:{path}", view_func=view, methods=methods)

    def predict() -> Response:
        if payload_passthrough:
            return _encode(dataplane.predict(read_message(passthrough=True), codec), True)
        return _encode(dataplane.predict(read_message(), codec), True)

    def transform_input() -> Response:
        return _encode(dataplane.transform_input(read_message(), codec))

    def transform_output() -> Response:
        return _encode(dataplane.transform_output(read_message(), codec))

    def route() -> Response:
        return _encode(dataplane.route(read_message(), codec))

    def aggregate() -> Response:
        return _encode(dataplane.aggregate(read_message(), codec))

    def send_feedback() -> Response:
        from google.protobuf import json_format

        from .. import proto_codec

        body = read_message()
        fb = proto_codec.pb.Feedback()
        try:
            json_format.ParseDict(body, fb)
        except (json_format.ParseError, TypeError, ValueError) as exc:
            raise BadRequest(f"Invalid JSON: {exc}") from None
        result = dataplane.send_feedback(fb, proto_codec.decode_feedback(fb), codec)
        if isinstance(result, RawResult):
            return _raw_to_response(result.value, False)
        return _json_response(proto_codec.response_to_json_dict(result))

    def health_ping() -> Response:
        return Response("pong", mimetype="text/html")

    def health_status() -> Response:
        return _encode(dataplane.health_status(codec))

    def metadata() -> Response:
        return _json_response(dataplane.metadata())

    def openapi_doc() -> Response:
        resp = Response(_openapi_document(), mimetype=JSON_MIMETYPE)
        resp.headers["Content-Disposition"] = "inline; filename=seldon.json"
        resp.headers["Cache-Control"] = "no-cache"
        resp.add_etag()
        return resp.make_conditional(request)

    add(PREDICT_PATHS[:1], ["GET", "POST"], predict)
    add(PREDICT_PATHS[1:], ["POST"], predict)
    add(FEEDBACK_PATHS[:1], ["GET", "POST"], send_feedback)
    add(FEEDBACK_PATHS[1:], ["POST"], send_feedback)
    add(("/transform-input",), ["GET", "POST"], transform_input)
    add(("/transform-output",), ["GET", "POST"], transform_output)
    add(("/route",), ["GET", "POST"], route)
    add(("/aggregate",), ["GET", "POST"], aggregate)
    add(("/health/ping",), ["GET"], health_ping)
    add(("/health/status", "/api/v1.0/health/status"), ["GET"], health_status)
    add(("/metadata", "/api/v1.0/metadata"), ["GET"], metadata)
    add(("/seldon.json",), ["GET"], openapi_doc)

    @app.after_request
    def cors(resp: Response) -> Response:
        origin = request.headers.get("Origin")
        headers = resp.headers
        if origin:
            headers["Access-Control-Allow-Origin"] = origin
            headers.add("Vary", "Origin")
        else:
            headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":
            headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS, POST"
            wanted = request.headers.get("Access-Control-Request-Headers")
            if wanted:
                headers["Access-Control-Allow-Headers"] = wanted
        return resp

    @app.errorhandler(SeldonMicroserviceException)
    def seldon_error(exc: SeldonMicroserviceException) -> Response:
        if exc.status_code >= 500:
            logger.error("%s %s failed: %s %s", request.method, request.path, exc.reason, exc.message)
        else:
            logger.info("%s %s rejected (%d): %s", request.method, request.path, exc.status_code, exc.message)
        return error_response(exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        cls = _HTTP_ERRORS.get(code)
        if code == 404:
            err: SeldonMicroserviceException = NotFound(
                f"{request.method} {request.path}: no such endpoint"
            )
        elif code == 405:
            err = MethodNotAllowed(
                f"{request.method} is not allowed on {request.path}"
                f" (allowed: {', '.join(sorted(exc.valid_methods or []))})"  # type: ignore[attr-defined]
            )
        elif code == 413:
            err = PayloadTooLarge(
                f"Request body is larger than the limit of {max_payload_bytes} bytes"
                " (set --max-payload-size / SELDON_MAX_PAYLOAD_SIZE)"
            )
        elif cls is not None:
            err = cls(exc.description or exc.name)
        else:
            err = SeldonMicroserviceException(exc.description or exc.name, status_code=code)
        logger.info("%s %s rejected (%d): %s", request.method, request.path, code, err.message)
        resp = error_response(err)
        if code == 405:
            resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods or []))  # type: ignore[attr-defined]
        return resp

    @app.errorhandler(Exception)
    def internal_error(exc: Exception) -> Response:
        err = as_microservice_error(exc)
        if isinstance(err, InternalError):
            logger.error(
                "%s %s failed in user code: %s: %s",
                request.method,
                request.path,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        return error_response(err)

    if error_blueprint is not None:
        app.register_blueprint(error_blueprint)
    if observer is not None:
        paths = frozenset(rule.rule for rule in app.url_map.iter_rules())
        app.wsgi_app = observe_requests(app.wsgi_app, observer, paths)  # type: ignore[method-assign]
    return app
