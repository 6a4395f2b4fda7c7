"""The implementations the executor runs itself, as node callers (no container, no I/O).

* ``RANDOM_ABTEST`` — a router: child 0 with probability ``ratioA`` (default 0.5), else child 1.
* ``SIMPLE_ROUTER`` — a router that always picks child 0.
* ``SIMPLE_MODEL`` — a stub model (Seldon's old Java engine's): every input row becomes
  ``[0.1, 0.9, 0.5]`` with names ``class0, class1, class2``; useful to try a graph's wiring.
* ``AVERAGE_COMBINER`` — a combiner: the element-wise mean of its children's ``data`` arrays
  (same shape required), with the first child's kind, names and meta.

Each takes no feedback (a send_feedback is a no-op that answers an empty message).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import BadRequest
from ..protocol.seldon.payload import DATA_KINDS, Response
from . import messages
from .spec import GraphNode, abtest_ratio
from .walker import CallContext

SIMPLE_MODEL_VALUES = (0.1, 0.9, 0.5)
SIMPLE_MODEL_NAMES = ["class0", "class1", "class2"]


class BuiltinNode:
    def __init__(self, node: GraphNode, uniform: Callable[[], float]) -> None:
        self.node = node
        self.kind = node.builtin
        self.ratio = abtest_ratio(node) if node.builtin == "RANDOM_ABTEST" else 0.5
        self.uniform = uniform

    def _route(self) -> int:
        if self.kind == "RANDOM_ABTEST":
            return 0 if self.uniform() < self.ratio else 1
        return 0

    def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
        if method == "route":
            return Response("ndarray", np.array([[self._route()]]), [], {})
        if method == "predict" and self.kind == "SIMPLE_MODEL":
            p = messages.to_payload(msg, ctx.transport)
            rows = p.value.shape[0] if isinstance(p.value, np.ndarray) and p.value.ndim >= 1 else 1
            out = np.tile(np.array(SIMPLE_MODEL_VALUES), (max(rows, 1), 1))
            kind = p.kind if p.kind in DATA_KINDS else "ndarray"
            return Response(kind, out, list(SIMPLE_MODEL_NAMES), dict(p.meta or {}))
        if method == "aggregate" and self.kind == "AVERAGE_COMBINER":
            return self._average(msg, ctx)
        if method == "send_feedback":
            return Response("ndarray", [], [], {})
        return msg  # nothing else to do for this built-in: pass the message on

    def _average(self, msgs: list[Any], ctx: CallContext) -> Response:
        payloads = [messages.to_payload(m, ctx.transport) for m in msgs]
        arrays = []
        for i, p in enumerate(payloads):
            if p.kind not in DATA_KINDS or not isinstance(p.value, np.ndarray) or p.value.dtype.kind not in "biuf":
                raise BadRequest(f"AVERAGE_COMBINER {self.node.name!r}: child {i} answered no numeric data to average")
            arrays.append(p.value.astype(np.float64))
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise BadRequest(
                f"AVERAGE_COMBINER {self.node.name!r}: children answered different shapes {sorted(shapes)}"
            )
        first = payloads[0]
        return Response(first.kind, np.mean(np.stack(arrays), axis=0), list(first.names), dict(first.meta or {}))
