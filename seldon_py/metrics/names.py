"""Metric names, label sets and buckets; and the registry of names shared by all processes."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from ..errors import BadMetric

NOT_IMPLEMENTED = "NOT_IMPLEMENTED"

#: labels of every custom metric and of the feedback counters, as Seldon Core 1.x names them
#: (its ``worker_id`` is deliberately absent: one series per label set, whatever the process)
DEPLOYMENT_LABELS = (
    "deployment_name",
    "model_name",
    "model_image",
    "model_version",
    "predictor_name",
    "predictor_version",
    "seldon_deployment_name",
    "image_name",
    "image_version",
)
#: the subset carried by the built-in request metrics (the last three are legacy duplicates)
REQUEST_DEPLOYMENT_LABELS = DEPLOYMENT_LABELS[:6]

#: TIMER buckets in seconds: 50 log-spaced bounds from 1 ms to 30 s, exactly the values Seldon
#: Core 1.19 exposes (numpy 1.26 ``logspace(-3, log10(30), 50)``; other numpy versions differ in
#: the last digit of a few bounds, so they are spelled out).
TIMER_BUCKETS = (
    0.001, 0.0012341553253454693, 0.0015231393670785815, 0.0018797905611233593,
    0.0023199535315445415, 0.002863183005509725, 0.0035336125536884733, 0.004361026750842238,
    0.005382184388525997, 0.006642451525090608, 0.008197816923039709, 0.010117379411776668,
    0.012486417679584786, 0.015410178873747385, 0.019018554321561593, 0.02347185009632733,
    0.028967908792092944, 0.03575089889988335, 0.04412216226317852, 0.05445360152285871,
    0.06720420230367624, 0.0829404241586763, 0.10236136616184238, 0.12632982515827532,
    0.15591062646904755, 0.19241792993472334, 0.2374736129208902, 0.2930793240153456,
    0.3617054084821892, 0.44640065608455204, 0.5509277469444613, 0.6799304127720881,
    0.8391397397870157, 1.035628778567157, 1.2781267721496807, 1.5774069623151439,
    1.9467652027782552, 2.402610642206036, 2.965194718810281, 3.65951085290597,
    4.516404807273444, 5.573945044312399, 6.879113959621136, 8.489895126924782,
    10.477849282518772, 12.931293490187748, 15.959224724520412, 19.696162182151948,
    24.30812344597087, 29.999999999999996,
)

#: request latency buckets (seconds) and payload size buckets (bytes: 256 B … 64 MiB, ×4)
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                    1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = tuple(float(256 * 4 ** i) for i in range(10))

FEEDBACK = "seldon_api_model_feedback"  # exposed as ..._total
FEEDBACK_REWARD = "seldon_api_model_feedback_reward"  # exposed as ..._total
REQUESTS = "seldon_api_model_requests"  # counter, exposed as ..._total
REQUEST_DURATION = "seldon_api_model_request_duration_seconds"
REQUESTS_IN_FLIGHT = "seldon_api_model_requests_in_flight"
REQUEST_SIZE = "seldon_api_model_request_size_bytes"
RESPONSE_SIZE = "seldon_api_model_response_size_bytes"
PROCESSES = "seldon_api_model_processes"
PROCESS_METRICS = ("process_cpu_seconds", "process_resident_memory_bytes",
                   "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                   "process_start_time_seconds")


def deployment_label_values(
    deployment_id: str | None,
    unit_id: str | None,
    unit_image: str | None,
    predictor_id: str | None,
    predictor_labels: dict[str, Any] | None,
) -> dict[str, str]:
    """The values of :data:`DEPLOYMENT_LABELS` from the Seldon environment (unset → NOT_IMPLEMENTED).

    The image is split like the metadata default: the tag after the last ``:`` unless that ``:``
    belongs to a registry port; a digest when there is no tag. (Seldon Core splits at the last
    ``:`` blindly, so ``repo/img`` gives it an empty image name and the version ``repo/img``.)
    """
    from ..protocol.seldon.metadata import _split_image

    image, version = _split_image(unit_image) if unit_image else ("", "")
    image = image or NOT_IMPLEMENTED
    version = version or NOT_IMPLEMENTED
    deployment = deployment_id or NOT_IMPLEMENTED
    predictor_version = (predictor_labels or {}).get("version")
    return {
        "deployment_name": deployment,
        "model_name": unit_id or NOT_IMPLEMENTED,
        "model_image": image,
        "model_version": version,
        "predictor_name": predictor_id or NOT_IMPLEMENTED,
        "predictor_version": str(predictor_version) if predictor_version else NOT_IMPLEMENTED,
        "seldon_deployment_name": deployment,
        "image_name": image,
        "image_version": version,
    }


def exposed_names(kind: str, family: str) -> tuple[str, ...]:
    """Every sample name a family of this kind puts in the exposition (and may collide on)."""
    if kind == "counter":
        return (family, family + "_total", family + "_created")
    if kind == "histogram":
        return (family, family + "_bucket", family + "_count", family + "_sum", family + "_created")
    return (family,)


class NameClaims:
    """Which family owns each exposed metric name, agreed by every process of the service.

    The first process to use a name claims it with an atomic ``link()`` of a file named after it
    in ``<multiprocess dir>/names``; the file says ``[kind, family, label names]``. Later users of
    the name (any process) must match it exactly, else :class:`~seldon_py.errors.BadMetric`:
    so a key keeps one type and one label set for the life of the service, and no two families
    ever collide in the exposition (``x`` COUNTER vs ``x_total`` GAUGE, ``t`` TIMER vs ``t_count``).
    Without a directory the claims are kept in this process only.
    """

    def __init__(self, path: str | None) -> None:
        self._dir = os.path.join(path, "names") if path else None
        if self._dir:
            os.makedirs(self._dir, exist_ok=True)
        self._local: dict[str, str] = {}
        self._lock = threading.Lock()

    def claim(self, kind: str, family: str, labelnames: tuple[str, ...], what: str) -> None:
        """Claim all names of the family, or raise BadMetric naming the owner of a taken one."""
        identity = json.dumps([kind, family, list(labelnames)])
        with self._lock:
            for name in exposed_names(kind, family):
                owner = self._local.get(name)
                if owner is None:
                    owner = self._claim_shared(name, identity)
                    if owner == identity:
                        self._local[name] = owner
                if owner != identity:
                    raise BadMetric(_conflict(what, name, kind, family, labelnames, owner))

    def _claim_shared(self, name: str, identity: str) -> str:
        if self._dir is None:
            return identity
        final = os.path.join(self._dir, name)
        tmp = os.path.join(self._dir, f".{name}.{os.getpid()}.{threading.get_ident()}")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(identity)
        try:
            os.link(tmp, final)
            return identity
        except FileExistsError:
            with open(final, encoding="utf-8") as fh:
                return fh.read()
        finally:
            os.unlink(tmp)


_KIND_WORD = {"counter": "COUNTER", "gauge": "GAUGE", "histogram": "TIMER"}


def _conflict(what: str, name: str, kind: str, family: str, labels: tuple[str, ...], owner: str) -> str:
    try:
        o_kind, o_family, o_labels = json.loads(owner)
    except ValueError:
        o_kind, o_family, o_labels = "?", "?", []

    def describe(k: str, f: str, ls: Any) -> str:
        return f"{f!r} as a {_KIND_WORD.get(k, k)} with labels [{', '.join(ls)}]"

    if o_family == family and o_kind == kind:
        why = "the same key must always carry the same tag names"
    elif o_family == family:
        why = "a key must keep one type"
    else:
        why = f"the exposed name {name!r} is taken"
    return (
        f"Bad metric {what}: it would record {describe(kind, family, labels)}, but "
        f"{describe(o_kind, o_family, o_labels)} was recorded first ({why} for the life of the service)"
    )
