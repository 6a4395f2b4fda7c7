"""The executor's Prometheus metrics, in a registry of its own (no module-level state).

Names and labels as the Go executor's (spec §8.2):

* ``seldon_api_executor_server_requests_seconds`` — labels ``deployment_name, predictor_name,
  predictor_version, service, method, code``; ``service`` is predictions/feedback/status/metadata;
* ``seldon_api_executor_client_requests_seconds`` — adds ``model_name, model_image,
  model_version``; ``service`` is the called path (``/predict``...) or gRPC method;
* ``seldon_api_executor_payload_log_dropped_total`` (ours) — payload-log events not delivered,
  by ``reason`` (``queue_full``, ``send_failed``);
* in-process nodes' custom metrics and feedback counters, as the microservice names them
  (:class:`NodeMetricsRecorder`).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..errors import BadMetric
from ..metrics.names import FEEDBACK, FEEDBACK_REWARD, TIMER_BUCKETS

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
        self.node_families: dict[str, tuple[str, tuple[str, ...], Any]] = {}
        self.node_lock = threading.Lock()
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

    def node_recorder(self, node: str, image: str | None) -> NodeMetricsRecorder:
        """The custom-metrics recorder of one in-process node."""
        name, tag = split_image(image)
        deployment, predictor, version = self.base
        return NodeMetricsRecorder(self, {
            "deployment_name": deployment, "predictor_name": predictor, "predictor_version": version,
            "model_name": node, "model_image": name, "model_version": tag,
        })


class NodeMetricsRecorder:
    """Custom metrics and feedback counters of in-process nodes, in the executor's registry, named
    and labelled as ``seldon-core-microservice`` exposes them (labels: the metric's tags,
    ``method`` and the node's deployment labels), so a dashboard works either way.

    A metric whose label names differ from those it was first recorded with is refused
    (``BadMetric``, 500), as the microservice refuses it.
    """

    def __init__(self, owner: ExecutorMetrics, labels: dict[str, str]) -> None:
        self.registry = owner.registry
        self.labels = labels
        self.lock = owner.node_lock  # shared by every node's recorder (one registry)
        self.families = owner.node_families

    def _family(self, key: str, kind: str, labelnames: tuple[str, ...]) -> Any:
        name = key[:-6] if kind == "COUNTER" and key.endswith("_total") else key
        known = self.families.get(name)
        if known is None:
            fam: Any
            try:
                if kind == "COUNTER":
                    fam = Counter(name, "Custom COUNTER metric of the model", labelnames, registry=self.registry)
                elif kind == "GAUGE":
                    fam = Gauge(name, "Custom GAUGE metric of the model", labelnames, registry=self.registry)
                else:
                    fam = Histogram(name, "Custom TIMER metric of the model, in seconds", labelnames,
                                    buckets=TIMER_BUCKETS, registry=self.registry)
            except ValueError as exc:
                raise BadMetric(f"Bad metric created during request: {key}: {exc}") from None
            known = self.families[name] = (kind, labelnames, fam)
        if known[0] != kind or known[1] != labelnames:
            raise BadMetric(f"Bad metric created during request: {key}: recorded before as {known[0]} "
                            f"with labels {sorted(known[1])}, now {kind} with {sorted(labelnames)}")
        return known[2]

    def record(self, metrics: list[dict[str, Any]], method: str) -> None:
        with self.lock:
            resolved = []
            for m in metrics:  # all or nothing
                labels = {**{str(k): str(v) for k, v in (m.get("tags") or {}).items()}, "method": method,
                          **self.labels}
                names = tuple(sorted(labels))
                fam = self._family(m["key"], m["type"], names)
                resolved.append((fam.labels(**labels), m["type"], m["value"]))
            for child, kind, value in resolved:
                if kind == "COUNTER":
                    child.inc(value)
                elif kind == "GAUGE":
                    child.set(value)
                else:
                    child.observe(value / 1000.0)

    def feedback(self, reward: float) -> None:
        try:
            reward = float(reward)
        except (TypeError, ValueError):
            reward = math.nan
        with self.lock:
            labels = {"method": "feedback", **self.labels}
            names = tuple(sorted(labels))
            self._family(FEEDBACK, "COUNTER", names).labels(**labels).inc()
            if reward > 0 and math.isfinite(reward):
                self._family(FEEDBACK_REWARD, "COUNTER", names).labels(**labels).inc(reward)
