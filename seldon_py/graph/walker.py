"""Walking a predictor's graph for one request, exactly as Seldon Core's executor does (spec §16.2,
§16.3), over an abstract :class:`NodeCaller` per node (remote, in-process or built-in): no I/O.

Per node: input (``predict`` for a MODEL, ``transform_input`` for a TRANSFORMER / TRANSFORM_INPUT)
→ route (ROUTER / ROUTE / built-in) → children (−1 all in parallel, −2 none: the message is the
answer, n child n) → aggregate (COMBINER / AGGREGATE: the list of child answers; else child 0's) →
``transform_output`` (OUTPUT_TRANSFORMER / TRANSFORM_OUTPUT). Every node with children gets a
``routing`` entry. Feedback goes back depth-first along ``response.meta.routing``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BadRequest
from . import messages
from .errors import BadRoute
from .spec import GraphNode, Predictor

#: the calls a node can get
METHODS = ("predict", "transform_input", "transform_output", "route", "aggregate", "send_feedback")


@dataclass
class CallContext:
    """One request's state, shared by every hop of its walk."""

    transport: str = messages.REST  # the ingress transport: rest | grpc
    headers: dict[str, str] = field(default_factory=dict)  # forwarded on every hop (REST names, or gRPC metadata keys)
    puid: str = ""
    skip_logging: bool = False
    routing: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def new_puid() -> str:
        return str(uuid.uuid4())


class NodeCaller(Protocol):
    """Calls one node. ``msg`` is a message (see :mod:`.messages`), for ``aggregate`` a list of
    them, for ``send_feedback`` a feedback message. Raises a SeldonMicroserviceException
    (e.g. :class:`~.errors.NodeReplyError`) on failure."""

    def call(self, method: str, msg: Any, ctx: CallContext) -> Any: ...


class WalkObserver(Protocol):
    """Sees what enters and leaves each node (payload logging); must not block."""

    def node_request(self, node: GraphNode, msg: Any, ctx: CallContext) -> None: ...

    def node_response(self, node: GraphNode, msg: Any, ctx: CallContext) -> None: ...

    def node_feedback(self, node: GraphNode, fb: Any, ctx: CallContext) -> None: ...


class Walker:
    """Walks one predictor's graph; thread-safe, one per executor.

    ``pool`` runs fan-out children in parallel (``None``: one after another). A waiting parent
    runs any child the pool has not started yet itself, so nested fan-outs cannot deadlock a
    bounded pool. ``choose`` draws RANDOM_ABTEST's uniform number (injectable for tests).
    """

    def __init__(
        self,
        predictor: Predictor,
        callers: Mapping[str, NodeCaller],
        pool: Executor | None = None,
        inject_routing: bool = False,
        observer: WalkObserver | None = None,
    ) -> None:
        missing = [n.name for n in predictor.nodes() if n.name not in callers]
        if missing:
            raise ValueError(f"no caller for graph node {missing[0]!r}")
        self.predictor = predictor
        self.root = predictor.graph
        self.callers = dict(callers)
        self.pool = pool
        self.inject_routing = inject_routing
        self.observer = observer

    # ------------------------------------------------------------------ predict
    def predict(self, msg: Any, ctx: CallContext) -> Any:
        out = self._predict(self.root, msg, ctx)
        if self.inject_routing:
            out = messages.with_routing(out, ctx.routing)
        return out

    def _predict(self, node: GraphNode, msg: Any, ctx: CallContext) -> Any:
        observer = None if ctx.skip_logging else self.observer
        if observer is not None:
            observer.node_request(node, msg, ctx)
        caller = self.callers[node.name]
        if node.input_method is not None:
            msg = caller.call(node.input_method, msg, ctx)
        if node.children:
            route = self._route(node, caller, msg, ctx) if node.routes else -1
            ctx.routing[node.name] = route
            if route != -2:
                if route == -1:
                    outs = self._each(node.children, lambda child: self._predict(child, msg, ctx))
                else:
                    outs = [self._predict(node.children[route], msg, ctx)]
                msg = caller.call("aggregate", outs, ctx) if node.aggregates else outs[0]
        if node.transforms_output:
            msg = caller.call("transform_output", msg, ctx)
        if observer is not None:
            observer.node_response(node, msg, ctx)
        return msg

    def _route(self, node: GraphNode, caller: NodeCaller, msg: Any, ctx: CallContext) -> int:
        route = messages.route_index(caller.call("route", msg, ctx), node.name)
        return self._check_route(node, route)

    @staticmethod
    def _check_route(node: GraphNode, route: int) -> int:
        if route < -2 or route >= len(node.children):
            raise BadRoute(
                f"router {node.name!r} chose route {route}, but it has {len(node.children)} children "
                f"(valid: 0..{len(node.children) - 1}, -1 for all, -2 for none)"
            )
        return route

    # ----------------------------------------------------------------- feedback
    def feedback(self, fb: Any, ctx: CallContext) -> Any:
        routing = messages.feedback_routing(fb)
        self._check_feedback_routing(routing)
        out = self._feedback(self.root, fb, routing, ctx)
        return messages.feedback_reply(fb) if out is None else out

    def _check_feedback_routing(self, routing: dict[str, int]) -> None:
        """The routing comes from the client (the prediction's ``meta.routing`` sent back): a route
        no node can take is the client's error, found before any node is called."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            route = routing.get(node.name)
            if node.children and route is not None and not -2 <= route < len(node.children):
                raise BadRequest(
                    f"feedback response.meta.routing gives node {node.name!r} route {route}, but it has "
                    f"{len(node.children)} children (valid: 0..{len(node.children) - 1}, -1 for all, -2 for none)")

    def _feedback(self, node: GraphNode, fb: Any, routing: dict[str, int], ctx: CallContext) -> Any:
        if node.children:
            route = self._check_route(node, routing.get(node.name, -1))
            if route == -1:
                self._each(node.children, lambda child: self._feedback(child, fb, routing, ctx))
            elif route >= 0:
                self._feedback(node.children[route], fb, routing, ctx)
        if not node.takes_feedback:
            return None
        if self.observer is not None and not ctx.skip_logging:
            self.observer.node_feedback(node, fb, ctx)
        return self.callers[node.name].call("send_feedback", fb, ctx)

    # ----------------------------------------------------------------- fan-out
    def _each(self, children: tuple[GraphNode, ...], fn: Callable[[GraphNode], Any]) -> list[Any]:
        """``fn(child)`` for every child, in parallel; the lowest-index failure is raised."""
        if len(children) == 1 or self.pool is None:
            return [fn(c) for c in children]
        futures: list[Future[Any]] = [self.pool.submit(fn, c) for c in children[1:]]
        results: list[Any] = [None] * len(children)
        errors: list[BaseException | None] = [None] * len(children)
        try:
            results[0] = fn(children[0])
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the siblings finish
            errors[0] = exc
        for i, fut in enumerate(futures, start=1):
            if fut.cancel():  # not started yet: run it here rather than wait for a free thread
                try:
                    results[i] = fn(children[i])
                except Exception as exc:  # noqa: BLE001
                    errors[i] = exc
                continue
            try:
                results[i] = fut.result()
            except Exception as exc:  # noqa: BLE001
                errors[i] = exc
        for err in errors:
            if err is not None:
                raise err
        return results


class LockedRandom:
    """A thread-safe uniform [0, 1) source (RANDOM_ABTEST)."""

    def __init__(self, seed: int | None = None) -> None:
        import random

        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._rng.random()
