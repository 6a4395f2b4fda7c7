"""Prometheus metrics, correct across processes (REST workers, gRPC processes, recycled workers).

Design: prometheus_client's multiprocess mode. The supervisor creates a private directory
(:class:`MultiprocessDir`) before the user module is imported and before any fork; every serving
process writes its values to memory-mapped files there; a thread of the supervisor merges them
per scrape (:mod:`.server`). When a REST worker exits, gunicorn's arbiter folds its files into an
archive (:func:`process_exited`, via :func:`gunicorn_hooks`), so counters never go back across
worker recycling and the file count stays bounded; gRPC processes live as long as the service.

Exposed metrics (labels ``D`` = deployment_name, model_name, model_image, model_version,
predictor_name, predictor_version; ``D+`` = ``D`` + the legacy seldon_deployment_name,
image_name, image_version; unset environment → ``NOT_IMPLEMENTED``):

=============================================== ========= ==============================================
name                                            type      labels
=============================================== ========= ==============================================
``<key>_total`` (custom COUNTER)                counter   the metric's tags, method, ``D+``
``<key>`` (custom GAUGE)                        gauge     the metric's tags, method, ``D+``
``<key>`` (custom TIMER, ms in, s out)          histogram the metric's tags, method, ``D+``; 50 buckets
``seldon_api_model_feedback_total``             counter   method="feedback", ``D+`` (reward 0 counted)
``seldon_api_model_feedback_reward_total``      counter   method="feedback", ``D+`` (every finite reward)
``seldon_api_model_requests_total``             counter   transport, endpoint, code, ``D``
``seldon_api_model_request_duration_seconds``   histogram transport, endpoint, code, ``D``
``seldon_api_model_response_size_bytes``        histogram transport, endpoint, code, ``D``
``seldon_api_model_request_size_bytes``         histogram transport, endpoint, ``D``
``seldon_api_model_requests_in_flight``         gauge     transport, endpoint, ``D``
``process_*``, ``seldon_api_model_processes``   various   none (whole process tree, see :mod:`.process`)
=============================================== ========= ==============================================

GAUGE semantics across processes: the most recent value set by any process wins (prometheus_client
``mostrecent``), which is Seldon Core's "last value wins" for one worker. A key keeps its first
type and tag names for the life of the service; a request that breaks that gets 500
``MICROSERVICE_BAD_METRIC`` (:class:`.names.NameClaims`).

Importing this package does not import prometheus_client, and nothing here keeps module-level
state, writes ``os.environ`` or patches prometheus_client: the composition root
(:mod:`seldon_py.server`) creates the directory and one :class:`~.recorder.ServiceMetrics` per
serving process, and passes them down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .mpdir import ENV, MultiprocessDir, process_exited

if TYPE_CHECKING:
    from .recorder import ServiceMetrics

__all__ = ["ENV", "MultiprocessDir", "process_exited", "service_metrics", "gunicorn_hooks"]


def service_metrics(settings: Any, directory: str) -> ServiceMetrics:
    """A new :class:`~.recorder.ServiceMetrics` writing to ``directory``, labelled from ``settings``.

    Not cached here: the composition root makes one per serving process and passes it down."""
    from .names import deployment_label_values
    from .recorder import ServiceMetrics

    labels = deployment_label_values(
        settings.deployment_id, settings.unit_id, settings.unit_image,
        settings.predictor_id, settings.predictor_labels,
    )
    return ServiceMetrics(directory, labels)


def gunicorn_hooks(directory: str) -> dict[str, Any]:
    """gunicorn server hooks: fold an exited worker's metric files (runs in the arbiter)."""

    def child_exit(server: Any, worker: Any) -> None:
        process_exited(worker.pid, directory)

    return {"child_exit": child_exit}
