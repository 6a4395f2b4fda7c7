"""What a user's model class may import: the optional base class, the response wrapper, the
metric helpers and the exceptions.

``from seldon_core.user_model import SeldonComponent`` becomes
``from seldon_py.user_model import SeldonComponent`` (or ``from seldon_py import ...``).
Subclassing :class:`SeldonComponent` is optional: the wrapper duck-types the class and treats
every method left at the base-class default as absent.
"""

from __future__ import annotations

from typing import Any

from ..errors import SeldonMicroserviceException, SeldonNotImplementedError

__all__ = [
    "SeldonComponent",
    "SeldonResponse",
    "SeldonMicroserviceException",
    "SeldonNotImplementedError",
    "create_counter",
    "create_gauge",
    "create_timer",
]


class SeldonResponse:
    """A return value plus runtime ``tags`` and ``metrics`` for this one response."""

    __slots__ = ("data", "tags", "metrics")

    def __init__(
        self,
        data: Any,
        tags: dict[str, Any] | None = None,
        metrics: list[dict[str, Any]] | None = None,
    ) -> None:
        self.data = data
        self.tags = tags
        self.metrics = metrics

    @classmethod
    def create(cls, data: Any) -> SeldonResponse:
        """Wrap a plain return value (a SeldonResponse is returned unchanged)."""
        return data if isinstance(data, SeldonResponse) else cls(data)

    def __repr__(self) -> str:
        return f"SeldonResponse(data={self.data!r}, tags={self.tags!r}, metrics={self.metrics!r})"


def create_counter(key: str, value: float) -> dict[str, Any]:
    """A COUNTER metric dict: ``value`` is added to the counter ``<key>_total``."""
    return {"type": "COUNTER", "key": key, "value": value}


def create_gauge(key: str, value: float) -> dict[str, Any]:
    """A GAUGE metric dict: the gauge ``<key>`` is set to ``value``."""
    return {"type": "GAUGE", "key": key, "value": value}


def create_timer(key: str, value: float) -> dict[str, Any]:
    """A TIMER metric dict: ``value`` milliseconds observed into the histogram ``<key>`` (seconds)."""
    return {"type": "TIMER", "key": key, "value": value}


class SeldonComponent:
    """Optional base class. Every method here means "not implemented"; override what you need.

    Methods (all optional): ``load()``, ``predict(X, names, meta=None)``,
    ``transform_input(X, names, meta=None)``, ``transform_output(X, names, meta=None)``,
    ``route(X, names, meta=None)``, ``aggregate(Xs, names_list)``,
    ``send_feedback(features, feature_names, reward, truth, routing=None)``, ``tags()``,
    ``metrics()``, ``class_names()``, ``health_status()``, ``init_metadata()``, and the ``*_raw``
    variants that take and return whole messages.
    """

    def __init__(self, **kwargs: Any) -> None:
        pass

    def load(self) -> None:
        pass

    def tags(self) -> dict[str, Any]:
        raise SeldonNotImplementedError("tags is not implemented")

    def class_names(self) -> list[str]:
        raise SeldonNotImplementedError("class_names is not implemented")

    def feature_names(self) -> list[str]:
        raise SeldonNotImplementedError("feature_names is not implemented")

    def metrics(self) -> list[dict[str, Any]]:
        raise SeldonNotImplementedError("metrics is not implemented")

    def health_status(self) -> Any:
        raise SeldonNotImplementedError("health_status is not implemented")

    def init_metadata(self) -> dict[str, Any]:
        raise SeldonNotImplementedError("init_metadata is not implemented")

    def predict(self, X: Any, names: Any, meta: Any = None) -> Any:
        raise SeldonNotImplementedError("predict is not implemented")

    def predict_raw(self, msg: Any) -> Any:
        raise SeldonNotImplementedError("predict_raw is not implemented")

    def transform_input(self, X: Any, names: Any, meta: Any = None) -> Any:
        raise SeldonNotImplementedError("transform_input is not implemented")

    def transform_input_raw(self, msg: Any) -> Any:
        raise SeldonNotImplementedError("transform_input_raw is not implemented")

    def transform_output(self, X: Any, names: Any, meta: Any = None) -> Any:
        raise SeldonNotImplementedError("transform_output is not implemented")

    def transform_output_raw(self, msg: Any) -> Any:
        raise SeldonNotImplementedError("transform_output_raw is not implemented")

    def route(self, features: Any, feature_names: Any, meta: Any = None) -> int:
        raise SeldonNotImplementedError("route is not implemented")

    def route_raw(self, msg: Any) -> Any:
        raise SeldonNotImplementedError("route_raw is not implemented")

    def aggregate(self, features_list: Any, feature_names_list: Any) -> Any:
        raise SeldonNotImplementedError("aggregate is not implemented")

    def aggregate_raw(self, msgs: Any) -> Any:
        raise SeldonNotImplementedError("aggregate_raw is not implemented")

    def send_feedback(
        self, features: Any, feature_names: Any, reward: float, truth: Any, routing: Any = None
    ) -> Any:
        raise SeldonNotImplementedError("send_feedback is not implemented")

    def send_feedback_raw(self, feedback: Any) -> Any:
        raise SeldonNotImplementedError("send_feedback_raw is not implemented")

    def health_status_raw(self) -> Any:
        raise SeldonNotImplementedError("health_status_raw is not implemented")
