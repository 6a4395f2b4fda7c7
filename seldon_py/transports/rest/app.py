"""The REST adapter: a Flask app factory over :class:`~seldon_py.protocol.seldon.handler.SeldonHandler`.

Views only read the request, call the data plane and encode. Every error leaves through one
handler as the Seldon error body ``{"status": {"code": -1, "info", "reason", "status": 1}}`` with a
real HTTP status (404/405/413/415 included; the reference answers 500 for those).

The hot requests (a JSON body POSTed to predict, transform, route or aggregate) skip Flask's
request machinery: :class:`JsonFastPath`, the app's ``wsgi_app``, answers them with the same
endpoint code and hands every error back to the Flask app to answer (see its docstring).
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, NamedTuple

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from ...errors import (
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    SeldonMicroserviceException,
    UnsupportedMediaType,
    as_microservice_error,
)
from ...protocol.seldon import json_codec
from ...protocol.seldon.handler import SeldonHandler
from ...protocol.seldon.payload import RawResult
from ...protocol.seldon.payload import Response as SeldonResponseMsg
from ...runtime.runtime import RequestObserver
from ...util import jsonutil

logger = logging.getLogger(__name__)

JSON_MIMETYPE = "application/json"
#: CORS preflight answer: the seven methods the reference lists (flask-cors's default), whatever
#: the path allows (the preflight only says what a cross-origin caller may try; 405 still applies)
CORS_ALLOW_METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"

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
    body = _request_body()
    if passthrough:
        return body
    return body_message(body, ct)


def _request_body() -> bytes:
    """The request body; a chunked one is read only up to the payload limit (413 past it, the
    rest is never read: werkzeug's own limit would hand the first ``limit`` bytes on silently)."""
    environ = request.environ
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and not environ.get("CONTENT_LENGTH") and "wsgi.input_terminated" in environ:
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is larger than the limit of {limit} bytes"
                                  " (set --max-payload-size / SELDON_MAX_PAYLOAD_SIZE)")
        return bytes(body)
    return request.get_data(cache=False)


def body_message(body: bytes, ct: str) -> Any:
    """The message in a request body of content type ``ct`` (the last rule of spec §4.2)."""
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
        _OPENAPI.append((resources.files("seldon_py.transports.rest") / "seldon.json").read_bytes())
    return _OPENAPI[0]


def _json_response(body: Any, status: int = 200) -> Response:
    return Response(jsonutil.dumps(body), status=status, mimetype=JSON_MIMETYPE)


def _raw_body(value: Any, status_from_body: bool) -> tuple[bytes, int]:
    """Encode what a *_raw method returned: dicts as JSON (optionally taking ``status.code`` as the
    HTTP status), protobuf messages as their JSON form, text/bytes verbatim (text as UTF-8)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), 200
    if isinstance(value, str):
        return value.encode("utf-8"), 200
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
            elif isinstance(st, dict) and st.get("status") in (1, "FAILURE"):
                status = 500
    return jsonutil.dumps(value), status


def encode_result(result: SeldonResponseMsg | RawResult, status_from_body: bool = False) -> tuple[bytes, int]:
    """A data plane result as the JSON response body and HTTP status (both REST paths use this)."""
    if isinstance(result, RawResult):
        return _raw_body(result.value, status_from_body)
    return jsonutil.dumps(json_codec.encode_response(result)), result.status


def _encode(result: SeldonResponseMsg | RawResult, status_from_body: bool = False) -> Response:
    body, status = encode_result(result, status_from_body)
    return Response(body, status=status, mimetype=JSON_MIMETYPE)


def error_response(exc: SeldonMicroserviceException) -> Response:
    return _json_response(exc.to_dict(), exc.status_code)


def cors_origin(origin: str | None) -> tuple[str, bool]:
    """``Access-Control-Allow-Origin`` for a request's ``Origin`` header, and whether the answer
    must also say ``Vary: Origin`` (it depends on the header when one was sent)."""
    return (origin, True) if origin else ("*", False)


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
        seen: list[Any] = ["500", 0]  # status code, response Content-Length

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


class MessageEndpoint(NamedTuple):
    """An endpoint that answers one request message with one data plane call."""

    call: Callable[[Any, Any], SeldonResponseMsg | RawResult]
    #: a raw dict result's ``status.code`` becomes the HTTP status (predict only)
    status_from_body: bool = False
    #: ``payload_passthrough``: the call gets the request body unparsed
    raw: bool = False

    def answer(self, msg: Any) -> tuple[bytes, int]:
        """The response body and HTTP status for ``msg``."""
        return encode_result(self.call(msg, json_codec), self.status_from_body)


#: environ key under which the fast path hands an error or a response over to the Flask app
HANDED_OVER = "seldon_py.handed_over"


class JsonFastPath:
    """The app's WSGI entry: answers a plain JSON POST to a message endpoint without Flask.

    A request takes this path only when Flask would read it as a JSON body: POST to one of
    ``endpoints``, no query string, a JSON ``Content-Type``, and a ``Content-Length`` between 1 and
    the payload limit (no chunked body). The body is read with one ``read(Content-Length)``, the
    endpoint answers, and a 200 is written with exactly the headers the Flask path writes
    (``Content-Type``, ``Content-Length``, then the CORS headers of :func:`cors_origin`).

    Anything else goes to the Flask app untouched, so every other rule (form and query ``json=``,
    multipart, 404/405/413/415, empty body) is decided in one place. Outcomes this path does not
    write itself are handed to the Flask app too, under ``environ[HANDED_OVER]``, and come back
    out of its ``before_request`` hook: an exception is raised there, so the app's error handlers
    (and a user's ``error_blueprint``) answer and log it as if a view had raised it; a non-200
    result is returned there as a response. Both then get Flask's ``after_request`` (CORS) as usual.
    """

    def __init__(self, flask_wsgi_app: Any, endpoints: dict[str, MessageEndpoint],
                 max_payload_bytes: int | None) -> None:
        self.flask_wsgi_app = flask_wsgi_app
        self.endpoints = endpoints
        self.max_payload_bytes = max_payload_bytes

    def _takes(self, environ: dict[str, Any]) -> int:
        """The body length if this request is one for the fast path, else 0."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING") \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return 0
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or not _is_json_content_type(environ.get("CONTENT_TYPE", "")):
            return 0
        n = int(length)
        limit = self.max_payload_bytes
        return n if limit is None or n <= limit else 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        endpoint = self.endpoints.get(environ.get("PATH_INFO", ""))
        n = self._takes(environ) if endpoint is not None else 0
        if endpoint is None or not n:
            return self.flask_wsgi_app(environ, start_response)
        try:
            body = environ["wsgi.input"].read(n)
        except (TimeoutError, BlockingIOError):  # stalled past the worker's read timeout
            environ[HANDED_OVER] = SeldonMicroserviceException(
                "the request body stopped arriving (read timed out)", status_code=408)
            return self.flask_wsgi_app(environ, start_response)
        except OSError:  # the client went away
            body = b""
        try:
            if len(body) != n:
                raise ClientDisconnected()
            msg = body if endpoint.raw else body_message(body, environ.get("CONTENT_TYPE", ""))
            out, status = endpoint.answer(msg)
        except Exception as exc:  # noqa: BLE001 - answered by the app's error handlers
            environ["wsgi.input"] = io.BytesIO(body)  # for a handler that looks at the request
            environ[HANDED_OVER] = exc
            return self.flask_wsgi_app(environ, start_response)
        if status != 200:
            environ[HANDED_OVER] = Response(out, status=status, mimetype=JSON_MIMETYPE)
            return self.flask_wsgi_app(environ, start_response)
        allow_origin, vary = cors_origin(environ.get("HTTP_ORIGIN"))
        headers = [("Content-Type", JSON_MIMETYPE), ("Content-Length", str(len(out))),
                   ("Access-Control-Allow-Origin", allow_origin)]
        if vary:
            headers.append(("Vary", "Origin"))
        start_response("200 OK", headers)
        return [out]


def _only_own_hooks(app: Flask, *own: Callable[..., Any]) -> bool:
    """Whether the app runs no request hooks but ``own`` (the fast path would skip others, e.g.
    ``before_app_request`` hooks of a user's ``error_blueprint``; then it stays off)."""
    registries: list[dict[Any, list[Any]]] = [app.before_request_funcs, app.after_request_funcs,
                                              app.teardown_request_funcs, app.url_value_preprocessors]
    hooks = [f for registry in registries for funcs in registry.values() for f in funcs]
    return sorted(map(id, hooks)) == sorted(map(id, own))


def create_app(
    dataplane: SeldonHandler,
    *,
    max_payload_bytes: int | None = None,
    payload_passthrough: bool = False,
    error_blueprint: Any = None,
    observer: RequestObserver | None = None,
    blueprints: Sequence[Any] = (),
) -> Flask:
    """Build the REST app for one serving process (``observer``: request metrics).

    ``blueprints``: more Flask blueprints to serve next to the Seldon API (the extension point for
    another protocol or model convention, e.g. a user object's ``rest_blueprint()``). They get
    the same error handling, CORS and request metrics; a route that is already one of the Seldon
    API's is refused (ValueError), so an extension cannot shadow it.
    """
    app = Flask("seldon_py", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = max_payload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = max_payload_bytes
    codec = json_codec

    def add(paths: tuple[str, ...], methods: list[str], view: Callable[[], Response]) -> None:
        for path in paths:
            app.add_url_rule(path, endpoint=f"{view.__name__}:{path}", view_func=view, methods=methods)

    #: the endpoints that answer one request message with one data plane call, by path; the
    #: fast path serves their plain JSON POSTs, the Flask views everything else
    message_endpoints: dict[str, MessageEndpoint] = {}

    def add_message(paths: tuple[str, ...], methods: list[str], name: str, endpoint: MessageEndpoint) -> None:
        def view() -> Response:
            body, status = endpoint.answer(read_message(passthrough=endpoint.raw))
            return Response(body, status=status, mimetype=JSON_MIMETYPE)

        view.__name__ = name
        add(paths, methods, view)
        message_endpoints.update(dict.fromkeys(paths, endpoint))

    def send_feedback() -> Response:
        from ...protocol.seldon import proto_codec

        body = read_message()
        fb = json_codec.decode_feedback(body)
        # a send_feedback_raw gets the Feedback message as Seldon Core hands it over: protobuf
        raw = proto_codec.feedback_from_json(body) if dataplane.takes_message("send_feedback") else body
        result = dataplane.send_feedback(raw, fb, codec)
        if isinstance(result, RawResult):
            return _encode(result)
        # the reply is protobuf's JSON form of the message, as the reference writes it
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
        resp.make_conditional(request)  # in place (it returns resp itself)
        return resp

    predict = MessageEndpoint(dataplane.predict, status_from_body=True, raw=payload_passthrough)
    add_message(PREDICT_PATHS[:1], ["GET", "POST"], "predict", predict)
    add_message(PREDICT_PATHS[1:], ["POST"], "predict", predict)
    add(FEEDBACK_PATHS[:1], ["GET", "POST"], send_feedback)
    add(FEEDBACK_PATHS[1:], ["POST"], send_feedback)
    add_message(("/transform-input",), ["GET", "POST"], "transform_input", MessageEndpoint(dataplane.transform_input))
    add_message(("/transform-output",), ["GET", "POST"], "transform_output",
                MessageEndpoint(dataplane.transform_output))
    add_message(("/route",), ["GET", "POST"], "route", MessageEndpoint(dataplane.route))
    add_message(("/aggregate",), ["GET", "POST"], "aggregate", MessageEndpoint(dataplane.aggregate))
    add(("/health/ping",), ["GET"], health_ping)
    add(("/health/status", "/api/v1.0/health/status"), ["GET"], health_status)
    add(("/metadata", "/api/v1.0/metadata"), ["GET"], metadata)
    add(("/seldon.json",), ["GET"], openapi_doc)

    @app.before_request
    def handed_over() -> Response | None:
        """What the fast path handed to Flask: its error (raised here, so Flask's error handlers
        answer it as if the view had raised it) or a response it does not write itself."""
        outcome = request.environ.pop(HANDED_OVER, None)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    @app.after_request
    def cors(resp: Response) -> Response:
        allow_origin, vary = cors_origin(request.headers.get("Origin"))
        headers = resp.headers
        headers["Access-Control-Allow-Origin"] = allow_origin
        if vary:
            headers.add("Vary", "Origin")
        if request.method == "OPTIONS":
            headers["Access-Control-Allow-Methods"] = CORS_ALLOW_METHODS
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
    if blueprints:
        seldon_rules = {rule.rule for rule in app.url_map.iter_rules()}
        for blueprint in blueprints:
            app.register_blueprint(blueprint)
        prefixes = tuple(f"{blueprint.name}." for blueprint in blueprints)
        clashes = sorted({rule.rule for rule in app.url_map.iter_rules()
                          if rule.endpoint.startswith(prefixes) and rule.rule in seldon_rules})
        if clashes:
            raise ValueError(f"extension blueprint routes clash with the Seldon API: {', '.join(clashes)}")
    if _only_own_hooks(app, handed_over, cors):
        app.wsgi_app = JsonFastPath(app.wsgi_app, message_endpoints, max_payload_bytes)  # type: ignore[method-assign]
    if observer is not None:
        paths = frozenset(rule.rule for rule in app.url_map.iter_rules())
        app.wsgi_app = observe_requests(app.wsgi_app, observer, paths)  # type: ignore[method-assign]
    return app
