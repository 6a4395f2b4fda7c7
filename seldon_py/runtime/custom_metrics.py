"""Validation of user metric dicts (``metrics()``, ``SeldonResponse.metrics``, raw responses).

A metric dict is ``{"key": str, "type": "COUNTER"|"GAUGE"|"TIMER", "value": number,
"tags": {str: str}}`` (tags optional). Pure functions, no Prometheus here: recording is the job of
:mod:`seldon_py.metrics`.
"""

from __future__ import annotations

import numbers
import re
from typing import Any

from ..errors import BadMetric

METRIC_TYPES = frozenset({"COUNTER", "GAUGE", "TIMER"})
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _bad(metrics: Any, why: str) -> BadMetric:
    from ..util import jsonutil

    try:
        shown = jsonutil.dumps(metrics).decode().rstrip("\n")
    except TypeError:
        shown = repr(metrics)
    return BadMetric(f"Bad metric created during request: {shown} ({why})")


def validate_metrics(metrics: Any) -> None:
    """Raise :class:`BadMetric` (HTTP 500 ``MICROSERVICE_BAD_METRIC``) unless ``metrics`` is valid."""
    if not isinstance(metrics, list):
        raise _bad(metrics, "metrics must be a list of metric dicts")
    for m in metrics:
        if not isinstance(m, dict):
            raise _bad(metrics, f"metric {m!r} is not a dict")
        key = m.get("key")
        if not isinstance(key, str) or not _NAME.match(key):
            raise _bad(metrics, f"metric key {key!r} is not a valid Prometheus metric name")
        if m.get("type") not in METRIC_TYPES:
            raise _bad(metrics, f"metric {key}: type must be one of COUNTER, GAUGE, TIMER")
        value = m.get("value")
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise _bad(metrics, f"metric {key}: value {value!r} is not a number")
        if m["type"] == "COUNTER" and value < 0:
            raise _bad(metrics, f"metric {key}: a COUNTER cannot be increased by a negative value")
        tags = m.get("tags")
        if tags is not None:
            if not isinstance(tags, dict):
                raise _bad(metrics, f"metric {key}: tags must be a dict of strings")
            for name, val in tags.items():
                if not isinstance(name, str) or not _LABEL.match(name):
                    raise _bad(metrics, f"metric {key}: tag name {name!r} is not a valid label")
                if not isinstance(val, str):
                    raise _bad(metrics, f"metric {key}: tag {name} has non-string value {val!r}")


def with_method_tag(metrics: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    """The metrics as recorded and echoed: those that carry ``tags`` gain ``"method": method``.

    Seldon Core 1.x clients see this tag in ``meta.metrics`` (the reference injects it while
    recording); we reproduce it on copies and never mutate the user's dicts.
    """
    out = []
    for m in metrics:
        tags = m.get("tags")
        if tags is not None:
            m = dict(m)
            m["tags"] = {**tags, "method": method}
        out.append(m)
    return out
