"""Recording, in one serving process: custom metrics, feedback counters and request metrics.

:class:`ServiceMetrics` implements both :class:`~seldon_py.runtime.runtime.MetricsRecorder` (custom
metrics from ``metrics()``/``SeldonResponse``/raw responses, and feedback) and
:class:`~seldon_py.runtime.runtime.RequestObserver` (one call before and one after every REST request or
gRPC call). Values go to the multiprocess directory it is given (never through the environment or
prometheus_client's global value class: every value is written by :class:`~.mmapfile.ValueFile`
in prometheus_client's file format); the metrics server merges every process's files at scrape
time, so all counts are exact across workers, threads and recycled workers.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from bisect import bisect_left
from typing import Any

from ..errors import BadMetric
from . import names
from .mmapfile import ValueFile, value_key

logger = logging.getLogger(__name__)

_HELP = {
    "COUNTER": "Custom COUNTER metric of the model",
    "GAUGE": "Custom GAUGE metric of the model (most recent value set by any process)",
    "TIMER": "Custom TIMER metric of the model, in seconds",
}
_KIND = {"COUNTER": "counter", "GAUGE": "gauge", "TIMER": "histogram"}
_DURATION = names.DURATION_BUCKETS
_SIZE = names.SIZE_BUCKETS


class _Family:
    __slots__ = ("kind", "name", "labelnames")

    def __init__(self, kind: str, name: str, labelnames: tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name  # the family name in the exposition
        self.labelnames = labelnames


class _Child:
    """The value slots of one labelled series of a custom metric (or a feedback counter)."""

    __slots__ = ("kind", "slot", "buckets")

    def __init__(self, kind: str, slot: int, buckets: list[int] | None = None) -> None:
        self.kind = kind  # COUNTER: slot in the counter file; GAUGE: in the gauge file; TIMER: sum
        self.slot = slot
        self.buckets = buckets


class _Flight:
    """Slots of one (transport, endpoint): the in-flight gauge and the request size histogram."""

    __slots__ = ("in_flight", "size_sum", "size_buckets")

    def __init__(self, in_flight: int, size_sum: int, size_buckets: list[int]) -> None:
        self.in_flight = in_flight
        self.size_sum = size_sum
        self.size_buckets = size_buckets


class _Series:
    """Slots of one (transport, endpoint, code), plus its endpoint's :class:`_Flight`."""

    __slots__ = ("flight", "count", "duration_sum", "duration_buckets", "size_sum", "size_buckets")

    def __init__(self, flight: _Flight, count: int, duration_sum: int, duration_buckets: list[int],
                 size_sum: int, size_buckets: list[int]) -> None:
        self.flight = flight
        self.count = count
        self.duration_sum = duration_sum
        self.duration_buckets = duration_buckets
        self.size_sum = size_sum
        self.size_buckets = size_buckets


class ServiceMetrics:
    """All metrics of one serving process. Create it in that process (after fork).

    ``directory`` is the multiprocess directory (see :class:`~.mpdir.MultiprocessDir`); ``labels``
    the values of :data:`names.DEPLOYMENT_LABELS`.
    """

    def __init__(self, directory: str, labels: dict[str, str]) -> None:
        self.directory = directory
        self.labels = dict(labels)
        self.pid = os.getpid()
        self._claims = names.NameClaims(directory)
        self._families: dict[str, _Family] = {}
        self._children: dict[tuple[Any, ...], _Child] = {}
        self._lock = threading.Lock()
        self._warned_reward = False
        self._init_request_metrics()

        feedback_labels = tuple(sorted(("method", *names.DEPLOYMENT_LABELS)))
        for family in (names.FEEDBACK, names.FEEDBACK_REWARD):
            self._claims.claim("counter", family, feedback_labels, family)
            # a user COUNTER of the same name and labels shares these (as in Seldon Core)
            self._families[family] = _Family("COUNTER", family, feedback_labels)
        fb_values = {**self.labels, "method": "feedback"}
        with self._lock:
            self._feedback = self._counter_slot(names.FEEDBACK, fb_values, "Feedback requests received")
            self._reward = self._counter_slot(names.FEEDBACK_REWARD, fb_values,
                                              "Sum of the rewards received (negative ones included)")

    # ------------------------------------------------------------------ custom metrics
    def _counter_slot(self, family: str, labels: dict[str, str], help_text: str) -> int:
        """(Under the lock.) A new counter value ``<family>_total`` with these labels."""
        return self._req_counter.add_slot(value_key(family, family + "_total", labels, help_text))

    def record(self, metrics: list[dict[str, Any]], method: str) -> None:
        """Record validated metric dicts; BadMetric (500) if one cannot be recorded as it is."""
        with self._lock:
            resolved = [self._resolve(m, method) for m in metrics]  # all or nothing
            counters, gauges, histograms = self._req_counter.view, self._gauge.view, self._req_histogram.view
            now = time.time()
            for child, m in zip(resolved, metrics, strict=True):
                value = m["value"]
                if child.kind == "COUNTER":
                    counters[child.slot] += value
                elif child.kind == "GAUGE":
                    gauges[child.slot] = float(value)
                    gauges[child.slot + 1] = now  # prometheus_client's "mostrecent": latest wins
                else:
                    seconds = value / 1000.0
                    assert child.buckets is not None
                    histograms[child.slot] += seconds
                    histograms[child.buckets[bisect_left(names.TIMER_BUCKETS, seconds)]] += 1.0

    def _resolve(self, m: dict[str, Any], method: str) -> _Child:
        """(Under the lock.)"""
        key, kind, value = m["key"], m["type"], m["value"]
        if kind != "GAUGE" and not math.isfinite(value):
            raise BadMetric(f"Bad metric created during request: {key}: {kind} value {value} is not finite")
        tags = m.get("tags") or {}
        cache_key = (key, kind, method, tuple(tags.items()))
        hit = self._children.get(cache_key)
        if hit is not None:
            return hit
        labels = {**tags, "method": method, **self.labels}
        labelnames = tuple(sorted(labels))
        family = self._family(key, kind, labelnames)
        help_text = _HELP[kind]
        if kind == "COUNTER":
            child = _Child(kind, self._counter_slot(family.name, labels, help_text))
        elif kind == "GAUGE":
            child = _Child(kind, self._gauge.add_slot(value_key(family.name, family.name, labels, help_text)))
        else:
            total, buckets = self._histogram_slots(family.name, help_text, labels, names.TIMER_BUCKETS)
            child = _Child(kind, total, buckets)
        self._children[cache_key] = child
        return child

    def _family(self, key: str, kind: str, labelnames: tuple[str, ...]) -> _Family:
        """(Under the lock.) The family of a custom metric, claimed service-wide on first use."""
        # COUNTER "x" and "x_total" are one family "x", exposed as x_total (prometheus_client's rule)
        family_name = key[:-6] if kind == "COUNTER" and key.endswith("_total") else key
        fam = self._families.get(family_name)
        if fam is not None and fam.kind == kind and fam.labelnames == labelnames:
            return fam
        reserved = [n for n in labelnames if n.startswith("__") or (kind == "TIMER" and n == "le")]
        if reserved:
            raise BadMetric(f"Bad metric created during request: {key}: reserved label name {reserved[0]!r}")
        self._claims.claim(_KIND[kind], family_name, labelnames, f"{key!r} ({kind})")
        fam = self._families.get(family_name)
        if fam is None:
            fam = self._families[family_name] = _Family(kind, family_name, labelnames)
        return fam

    def feedback(self, reward: float) -> None:
        """Count a feedback and add its reward, negative ones included, so that
        ``reward_total / feedback_total`` is the mean reward. A reward that is not a finite number
        is not added (it would poison the sum for the life of the service); the feedback is still
        counted."""
        try:
            reward = float(reward)
        except (TypeError, ValueError):
            reward = math.nan
        counted = math.isfinite(reward)
        with self._lock:
            counters = self._req_counter.view
            counters[self._feedback] += 1.0
            if counted and reward:
                counters[self._reward] += reward
        if not counted and not self._warned_reward:
            self._warned_reward = True
            logger.warning("feedback reward %r not added to %s_total: it is not a finite number "
                           "(the feedback itself is counted)", reward, names.FEEDBACK_REWARD)

    # ------------------------------------------------------------------ request metrics
    def _init_request_metrics(self) -> None:
        pid, d = self.pid, self.directory
        self._req_counter = ValueFile(os.path.join(d, f"counter_{pid}.req.db"))
        self._req_histogram = ValueFile(os.path.join(d, f"histogram_{pid}.req.db"))
        self._req_gauge = ValueFile(os.path.join(d, f"gauge_livesum_{pid}.req.db"))
        self._gauge = ValueFile(os.path.join(d, f"gauge_mostrecent_{pid}.req.db"))  # custom GAUGEs
        self._req_labels = {k: self.labels[k] for k in names.REQUEST_DEPLOYMENT_LABELS}
        with_code = tuple(sorted(("transport", "endpoint", "code", *names.REQUEST_DEPLOYMENT_LABELS)))
        no_code = tuple(sorted(("transport", "endpoint", *names.REQUEST_DEPLOYMENT_LABELS)))
        for kind, family, labelnames in (
            ("counter", names.REQUESTS, with_code),
            ("histogram", names.REQUEST_DURATION, with_code),
            ("histogram", names.RESPONSE_SIZE, with_code),
            ("histogram", names.REQUEST_SIZE, no_code),
            ("gauge", names.REQUESTS_IN_FLIGHT, no_code),
            ("gauge", names.PROCESSES, ()),
            *(("gauge", n, ()) for n in names.PROCESS_METRICS),
        ):
            self._claims.claim(kind, family, labelnames, family)
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._flights: dict[tuple[str, str], _Flight] = {}

    def _histogram_slots(self, family: str, help_text: str, labels: dict[str, str],
                         bounds: tuple[float, ...]) -> tuple[int, list[int]]:
        from prometheus_client.utils import floatToGoString

        f = self._req_histogram
        total = f.add_slot(value_key(family, family + "_sum", labels, help_text))
        buckets = [
            f.add_slot(value_key(family, family + "_bucket", {**labels, "le": floatToGoString(b)}, help_text))
            for b in (*bounds, math.inf)
        ]
        return total, buckets

    def _flight(self, transport: str, endpoint: str) -> _Flight:
        """(Under the lock.) The slots of an endpoint, allocated on first use."""
        flight = self._flights.get((transport, endpoint))
        if flight is None:
            labels = {**self._req_labels, "transport": transport, "endpoint": endpoint}
            gauge = self._req_gauge.add_slot(value_key(
                names.REQUESTS_IN_FLIGHT, names.REQUESTS_IN_FLIGHT, labels, "Requests being processed"))
            s_sum, s_buckets = self._histogram_slots(
                names.REQUEST_SIZE, "Request body size (Content-Length or serialized message)",
                labels, names.SIZE_BUCKETS)
            flight = self._flights[(transport, endpoint)] = _Flight(gauge, s_sum, s_buckets)
        return flight

    def _new_series(self, transport: str, endpoint: str, code: str) -> _Series:
        """(Under the lock.) The slots of an (endpoint, code), allocated on first use."""
        labels = {**self._req_labels, "transport": transport, "endpoint": endpoint, "code": code}
        count = self._req_counter.add_slot(value_key(
            names.REQUESTS, names.REQUESTS + "_total", labels, "Requests answered"))
        d_sum, d_buckets = self._histogram_slots(
            names.REQUEST_DURATION, "Time from receiving a request to handing its response to the server",
            labels, names.DURATION_BUCKETS)
        s_sum, s_buckets = self._histogram_slots(
            names.RESPONSE_SIZE, "Response body size (Content-Length or serialized message)",
            labels, names.SIZE_BUCKETS)
        series = self._series[(transport, endpoint, code)] = _Series(
            self._flight(transport, endpoint), count, d_sum, d_buckets, s_sum, s_buckets)
        return series

    def request_started(self, transport: str, endpoint: str) -> None:
        with self._lock:
            flight = self._flights.get((transport, endpoint)) or self._flight(transport, endpoint)
            self._req_gauge.view[flight.in_flight] += 1.0

    def request_finished(
        self,
        transport: str,
        endpoint: str,
        code: str,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        with self._lock:
            s = self._series.get((transport, endpoint, code)) or self._new_series(transport, endpoint, code)
            flight = s.flight
            self._req_gauge.view[flight.in_flight] -= 1.0
            self._req_counter.view[s.count] += 1.0
            h = self._req_histogram.view
            h[s.duration_sum] += seconds
            h[s.duration_buckets[bisect_left(_DURATION, seconds)]] += 1.0
            h[flight.size_sum] += request_bytes
            h[flight.size_buckets[bisect_left(_SIZE, request_bytes)]] += 1.0
            h[s.size_sum] += response_bytes
            h[s.size_buckets[bisect_left(_SIZE, response_bytes)]] += 1.0
