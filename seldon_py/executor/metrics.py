"""The executor's Prometheus metrics, in a registry of its own (no module-level state).

Names and labels as the Go executor's (spec §8.2):

* ``seldon_api_executor_server_requests_seconds`` — labels ``deployment_name, predictor_name,
  predictor_version, service, method, code``; ``service`` is predictions/feedback/status/metadata;
* ``seldon_api_executor_client_requests_seconds`` — adds ``model_name, model_image,
  model_version``; ``service`` is the called path (``/predict``...) or gRPC method;
* ``seldon_api_executor_payload_log_dropped_total`` (ours) — payload-log events not delivered,
  by ``reason`` (``queue_full``, ``send_failed``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
SERVER_LABELS = ("deployment_name", "predictor_name", "predictor_version", "service", "method", "code")
CLIENT_LABELS = ("deployment_name", "predictor_name", "predictor_version", "service", "model_name",
                 "model_image", "model_version", "method", "code")


def split_image(image: str | None) -> tuple[str, str]:
    """``repo/name:tag`` → (``repo/name``, ``tag``); a registry port is not a tag."""
    if not image:
        return "", ""
    name, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, ""
    return name, tag


class ExecutorMetrics:
    def __init__(self, deployment: str, predictor: str, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.base = (deployment, predictor, version)
        self.server = Histogram("seldon_api_executor_server_requests_seconds",
                                "Executor server requests (seconds)", SERVER_LABELS,
                                buckets=BUCKETS, registry=self.registry)
        self.client = Histogram("seldon_api_executor_client_requests_seconds",
                                "Executor calls to graph nodes (seconds)", CLIENT_LABELS,
                                buckets=BUCKETS, registry=self.registry)
        self.dropped = Counter("seldon_api_executor_payload_log_dropped",
                               "Payload-log events not delivered", ("reason",), registry=self.registry)

    def observe_server(self, service: str, method: str, code: str, seconds: float) -> None:
        self.server.labels(*self.base, service, method, code).observe(seconds)

    def observe_client(self, service: str, node: str, image: str | None, method: str, code: str,
                       seconds: float) -> None:
        name, tag = split_image(image)
        self.client.labels(*self.base, service, node, name, tag, method, code).observe(seconds)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped.labels(reason).inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
