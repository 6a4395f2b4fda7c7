"""TorchServe's handler metrics API (``context.metrics``) mapped onto seldon_py custom metrics.

``add_counter`` → COUNTER, a GAUGE-typed metric (TorchServe's default for ``add_time``,
``add_size``, ``add_percent``) → GAUGE, a HISTOGRAM-typed one → TIMER (milliseconds; ``add_time``
in seconds is converted). Dimensions become tags. Names that are not valid Prometheus names are
rewritten (invalid characters → ``_``). What a handler records during one batch is collected here
and taken by the serving side (:meth:`TorchServeMetrics.drain`), which records it once per batch.
"""

from __future__ import annotations

import re
import threading
from typing import Any

_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_SECONDS_UNITS = frozenset({"s", "second", "seconds"})


def _name(name: Any, invalid: re.Pattern[str]) -> str:
    out = invalid.sub("_", str(name)) or "_"
    return "_" + out if out[0].isdigit() else out


def _type_name(metric_type: Any) -> str:
    """COUNTER/GAUGE/HISTOGRAM from a ``MetricTypes`` member (real or ours) or a string."""
    name = getattr(metric_type, "name", None) or str(metric_type)
    return name.rsplit(".", 1)[-1].upper()


def _seldon_metric(name: str, value: Any, unit: str, metric_type: Any,
                   tags: dict[str, str]) -> dict[str, Any]:
    kind = _type_name(metric_type)
    number = float(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else value
    if kind == "HISTOGRAM":
        out: dict[str, Any] = {"key": _name(name, _INVALID_NAME), "type": "TIMER",
                               "value": number * 1000 if unit in _SECONDS_UNITS else number}
    elif kind == "COUNTER":
        out = {"key": _name(name, _INVALID_NAME), "type": "COUNTER", "value": number}
    else:
        out = {"key": _name(name, _INVALID_NAME), "type": "GAUGE", "value": number}
    if tags:
        out["tags"] = tags
    return out


def _tags(dimensions: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    for dim in dimensions or ():
        name = getattr(dim, "name", None)
        if name is None and isinstance(dim, (tuple, list)) and len(dim) == 2:
            name, value = dim
        else:
            value = getattr(dim, "value", "")
        tags[_name(name, _INVALID_LABEL)] = str(value)
    return tags


class CachedMetric:
    """What ``add_metric_to_cache``/``get_metric`` return: a metric with fixed dimension names."""

    def __init__(self, owner: TorchServeMetrics, name: str, unit: str, dimension_names: list[str],
                 metric_type: Any) -> None:
        self.owner = owner
        self.metric_name = name
        self.unit = unit
        self.dimension_names = list(dimension_names or [])
        self.metric_type = metric_type

    def add_or_update(self, value: Any, dimension_values: list[str] | None = None, request_id: str = "") -> None:
        values = list(dimension_values or [])
        tags = {_name(n, _INVALID_LABEL): str(v) for n, v in zip(self.dimension_names, values, strict=False)}
        self.owner._add(self.metric_name, value, self.unit, self.metric_type, tags)

    def update(self, value: Any, request_id: str = "", dimensions: Any = None) -> None:
        tags = _tags(dimensions)
        self.owner._add(self.metric_name, value, self.unit, self.metric_type, tags)


class TorchServeMetrics:
    """``context.metrics`` for a handler: TorchServe's method names, seldon_py metric dicts out."""

    def __init__(self, model_name: str | None = None) -> None:
        self.model_name = model_name
        self.request_ids: Any = None
        self._cache: dict[tuple[str, str], CachedMetric] = {}
        self._collected: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------- serving side
    def drain(self) -> list[dict[str, Any]]:
        """The metrics recorded since the last call (one batch's worth)."""
        with self._lock:
            out, self._collected = self._collected, []
        return out

    def _add(self, name: str, value: Any, unit: str, metric_type: Any, tags: dict[str, str]) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"metric {name}: value {value!r} is not a number") from None
        metric = _seldon_metric(name, value, unit, metric_type, tags)
        with self._lock:
            self._collected.append(metric)

    # ------------------------------------------------------------- TorchServe's API
    def set_request_ids(self, request_ids: Any) -> None:
        self.request_ids = request_ids

    def add_metric(self, name: str, value: Any, unit: str = "", idx: Any = None, dimensions: Any = None,
                   metric_type: Any = "COUNTER") -> None:
        self._add(name, value, unit, metric_type, _tags(dimensions))

    def add_counter(self, name: str, value: Any, idx: Any = None, dimensions: Any = None) -> None:
        self._add(name, value, "count", "COUNTER", _tags(dimensions))

    def add_time(self, name: str, value: Any, idx: Any = None, unit: str = "ms", dimensions: Any = None,
                 metric_type: Any = "GAUGE") -> None:
        if unit not in ("ms", "s"):
            raise ValueError("the unit for a timed metric should be one of ['ms', 's']")
        self._add(name, value, unit, metric_type, _tags(dimensions))

    def add_size(self, name: str, value: Any, idx: Any = None, unit: str = "MB", dimensions: Any = None,
                 metric_type: Any = "GAUGE") -> None:
        if unit not in ("MB", "kB", "GB", "B"):
            raise ValueError("The unit for size based metric is one of ['MB','kB', 'GB', 'B']")
        self._add(name, value, unit, metric_type, _tags(dimensions))

    def add_percent(self, name: str, value: Any, idx: Any = None, dimensions: Any = None,
                    metric_type: Any = "GAUGE") -> None:
        self._add(name, value, "percent", metric_type, _tags(dimensions))

    def add_error(self, name: str, value: Any, dimensions: Any = None) -> None:
        self._add(name, value, "", "COUNTER", _tags(dimensions))

    def add_metric_to_cache(self, metric_name: str, unit: str = "count", dimension_names: Any = None,
                            metric_type: Any = "COUNTER") -> CachedMetric:
        metric = CachedMetric(self, metric_name, unit, list(dimension_names or []), metric_type)
        self._cache[(metric_name, _type_name(metric_type))] = metric
        return metric

    def get_metric(self, metric_name: str, metric_type: Any = "COUNTER") -> CachedMetric:
        try:
            return self._cache[(metric_name, _type_name(metric_type))]
        except KeyError:
            raise KeyError(f"metric {metric_name} of type {_type_name(metric_type)} is not in the cache") from None

    def initialize_cache(self) -> None:
        pass
