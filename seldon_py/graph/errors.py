"""Errors raised while walking a graph, each naming the node (and the hop) at fault.

They are :class:`~seldon_py.errors.SeldonMicroserviceException` subclasses, so each transport maps
them once, like every other error. Their body follows the Go executor's own error payload
(``{"status": {"code": <http status>, "info": ..., "status": "FAILURE"}}``) plus a ``reason``.
"""

from __future__ import annotations

from typing import Any

from ..errors import SeldonMicroserviceException


class ExecutorError(SeldonMicroserviceException):
    status_code = 500
    reason = "EXECUTOR_ERROR"

    def to_dict(self) -> dict[str, Any]:
        return {"status": {"code": self.status_code, "info": self.message, "reason": self.reason,
                           "status": "FAILURE"}}


class NodeUnavailable(ExecutorError):
    """The node could not be reached (connection refused, reset, DNS, ...)."""

    status_code = 503
    reason = "EXECUTOR_NODE_UNAVAILABLE"
    grpc_code = "UNAVAILABLE"


class NodeTimeout(ExecutorError):
    """The node did not answer within its per-hop timeout."""

    status_code = 504
    reason = "EXECUTOR_NODE_TIMEOUT"
    grpc_code = "DEADLINE_EXCEEDED"


class BadRoute(ExecutorError):
    """A router answered something that is not a usable child index."""

    status_code = 500
    reason = "EXECUTOR_BAD_ROUTE"
    grpc_code = "INTERNAL"


class BadNodeResponse(ExecutorError):
    """A node answered 200 with a body that is not a SeldonMessage."""

    status_code = 502
    reason = "EXECUTOR_BAD_NODE_RESPONSE"
    grpc_code = "INTERNAL"


class NodeReplyError(SeldonMicroserviceException):
    """A node answered with an error: its status and body go back to the client unchanged.

    ``body``/``content_type`` for REST, ``grpc_code``/``message`` (details) for gRPC.
    """

    def __init__(self, node: str, status_code: int, body: bytes, content_type: str,
                 grpc_code: str | None = None, details: str | None = None) -> None:
        super().__init__(details if details is not None else body.decode("utf-8", "replace"), status_code)
        self.node = node
        self.body = body
        self.content_type = content_type or "application/json"
        if grpc_code is not None:
            self.grpc_code = grpc_code
