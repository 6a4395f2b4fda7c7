"""The protocol-neutral runtime: what every protocol handler and transport shares.

Step 1 of the layout holds the neutral interfaces here (where custom metrics and feedback go, and
the request observer the transports call); the user object's lifecycle joins them in step 2.
"""

from __future__ import annotations

from typing import Any, Protocol


class MetricsRecorder(Protocol):
    """Where custom metrics and feedback go (Prometheus in production, see seldon_py.metrics)."""

    def record(self, metrics: list[dict[str, Any]], method: str) -> None: ...

    def feedback(self, reward: float) -> None: ...


class RequestObserver(Protocol):
    """Built-in request metrics, called by the transports once per request/RPC."""

    def request_started(self, transport: str, endpoint: str) -> None: ...

    def request_finished(
        self,
        transport: str,
        endpoint: str,
        code: str,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None: ...


class NullObserver:
    """Observes nothing."""

    def request_started(self, transport: str, endpoint: str) -> None:
        pass

    def request_finished(
        self,
        transport: str,
        endpoint: str,
        code: str,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        pass


class NullRecorder:
    """Records nothing (unit tests, or metrics disabled)."""

    def record(self, metrics: list[dict[str, Any]], method: str) -> None:
        pass

    def feedback(self, reward: float) -> None:
        pass
