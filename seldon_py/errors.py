"""The one error type of seldon_py, and its subclasses.

Every error that reaches a client is a :class:`SeldonMicroserviceException` (the name Seldon Core
users already know). It carries:

* ``status_code`` — the HTTP status the REST adapter answers with;
* ``reason`` — the machine-readable ``status.reason`` of the Seldon error body;
* ``grpc_code`` — optional override of the gRPC status; otherwise derived from ``status_code``
  by :data:`GRPC_CODE_BY_HTTP_STATUS` in the gRPC adapter.

Tree::

    SeldonMicroserviceException            400 MICROSERVICE_BAD_DATA (default)
    ├── SeldonNotImplementedError          400  raised by a user method: "not implemented, fall back"
    ├── MethodNotDefined                   400, gRPC UNIMPLEMENTED ("Route not defined", ...)
    ├── BadRequest                         400 MICROSERVICE_BAD_DATA
    ├── NotFound                           404 MICROSERVICE_NOT_FOUND
    ├── MethodNotAllowed                   405 MICROSERVICE_METHOD_NOT_ALLOWED
    ├── PayloadTooLarge                    413 MICROSERVICE_PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType               415 MICROSERVICE_UNSUPPORTED_MEDIA_TYPE
    ├── InternalError                      500 MICROSERVICE_INTERNAL_ERROR
    ├── BadMetric                          500 MICROSERVICE_BAD_METRIC
    ├── BadMetadata                        500 MICROSERVICE_BAD_METADATA
    └── NotReady                           503 MICROSERVICE_NOT_READY

Any other exception raised by user code is wrapped by the transports as a 500
``MICROSERVICE_INTERNAL_ERROR`` (gRPC ``INTERNAL``) carrying ``str(exc)``.
"""

from __future__ import annotations

from typing import Any

FAILURE = 1  # Status.StatusFlag.FAILURE


class SeldonMicroserviceException(Exception):
    """An error with an HTTP status and a Seldon reason; raise it from user code to answer 4xx."""

    status_code: int = 400
    reason: str = "MICROSERVICE_BAD_DATA"
    grpc_code: str | None = None  # name of a grpc.StatusCode, e.g. "UNIMPLEMENTED"

    def __init__(
        self,
        message: str = "",
        status_code: int | None = None,
        payload: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if reason is not None:
            self.reason = reason
        self.payload = payload

    def to_dict(self) -> dict[str, Any]:
        """The Seldon error body: ``{"status": {"code": -1, "info": ..., "reason": ..., "status": 1}}``."""
        body: dict[str, Any] = dict(self.payload or ())
        body["status"] = {"status": FAILURE, "info": self.message, "code": -1, "reason": self.reason}
        return body

    def __str__(self) -> str:
        return self.message


class SeldonNotImplementedError(SeldonMicroserviceException):
    """Raised by a user method (or the :class:`SeldonComponent` defaults) to mean "not implemented"."""


class MethodNotDefined(SeldonMicroserviceException):
    """The user class has no implementation of a method the request needs (route, aggregate).

    Not a :class:`SeldonNotImplementedError`: that one, raised by a user method, means "fall back
    to the default" (e.g. from ``predict_raw`` to ``predict``); a ``MethodNotDefined`` raised by
    user code (a model delegating to another node, say) is an error the client must see.
    """

    grpc_code = "UNIMPLEMENTED"


class BadRequest(SeldonMicroserviceException):
    """The client sent something we cannot use."""


class NotFound(SeldonMicroserviceException):
    status_code = 404
    reason = "MICROSERVICE_NOT_FOUND"


class MethodNotAllowed(SeldonMicroserviceException):
    status_code = 405
    reason = "MICROSERVICE_METHOD_NOT_ALLOWED"


class PayloadTooLarge(SeldonMicroserviceException):
    status_code = 413
    reason = "MICROSERVICE_PAYLOAD_TOO_LARGE"
    grpc_code = "RESOURCE_EXHAUSTED"


class UnsupportedMediaType(SeldonMicroserviceException):
    status_code = 415
    reason = "MICROSERVICE_UNSUPPORTED_MEDIA_TYPE"


class InternalError(SeldonMicroserviceException):
    status_code = 500
    reason = "MICROSERVICE_INTERNAL_ERROR"


class BadMetric(SeldonMicroserviceException):
    status_code = 500
    reason = "MICROSERVICE_BAD_METRIC"


class BadMetadata(SeldonMicroserviceException):
    status_code = 500
    reason = "MICROSERVICE_BAD_METADATA"


class NotReady(SeldonMicroserviceException):
    status_code = 503
    reason = "MICROSERVICE_NOT_READY"
    grpc_code = "UNAVAILABLE"


class InvalidParameters(ValueError):
    """A component's constructor parameters are wrong (raised at start-up, never to a client).

    The message is one line naming the parameter; ``seldon-core-microservice`` prints it without
    a traceback.
    """


def as_microservice_error(exc: BaseException) -> SeldonMicroserviceException:
    """Map any exception to the error the client sees (unknown ones become 500 internal errors)."""
    if isinstance(exc, SeldonMicroserviceException):
        return exc
    return InternalError(str(exc))


#: HTTP status → grpc.StatusCode name; the gRPC adapter's single mapping table.
GRPC_CODE_BY_HTTP_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "RESOURCE_EXHAUSTED",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def grpc_code_name(exc: SeldonMicroserviceException) -> str:
    """The grpc.StatusCode name for an error: its own override, else by HTTP status class."""
    if exc.grpc_code:
        return exc.grpc_code
    code = GRPC_CODE_BY_HTTP_STATUS.get(exc.status_code)
    if code:
        return code
    return "INVALID_ARGUMENT" if 400 <= exc.status_code < 500 else "INTERNAL"
