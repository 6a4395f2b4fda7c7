"""Reflect on the user's object once, at load time, into a dispatch table.

For every hook we record whether the class really implements it (methods left at the
:class:`~seldon_py.model.api.SeldonComponent` default count as absent) and build a caller that
passes exactly the arguments the signature accepts. A ``TypeError`` raised inside user code is
therefore a user error like any other, never a reason to call the method again (the reference
retries without ``meta``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .api import SeldonComponent

logger = logging.getLogger(__name__)

Caller = Callable[..., Any]

#: hooks called like predict: (X, names[, meta=...])
DATA_HOOKS = ("predict", "transform_input", "transform_output", "route")
#: hooks whose *_raw variant takes the whole message
RAW_HOOKS = (
    "predict",
    "transform_input",
    "transform_output",
    "route",
    "aggregate",
    "send_feedback",
)


def _implemented(obj: Any, name: str) -> Callable[..., Any] | None:
    """The bound method ``obj.name`` if the user really provides it, else None."""
    attr = getattr(obj, name, None)
    if attr is None or not callable(attr):
        return None
    base = getattr(SeldonComponent, name, None)
    cls_attr = getattr(type(obj), name, None)
    if base is not None and cls_attr is base:
        return None
    return attr


def _accepts(fn: Callable[..., Any]) -> tuple[int | None, set[str], bool]:
    """(max positional args or None for *args, keyword names, has **kwargs); unknown → permissive."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None, set(), True
    positional = 0
    var_positional = False
    keywords: set[str] = set()
    var_keyword = False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            keywords.add(p.name)
        if p.kind is p.VAR_POSITIONAL:
            var_positional = True
        if p.kind is p.VAR_KEYWORD:
            var_keyword = True
    return (None if var_positional else positional), keywords, var_keyword


def passes_meta(fn: Callable[..., Any]) -> bool:
    """Whether :func:`data_caller` passes ``meta`` on to ``fn``."""
    positional, keywords, var_kw = _accepts(fn)
    return "meta" in keywords or var_kw or positional is None or positional >= 3


def data_caller(fn: Callable[..., Any]) -> Caller:
    """A caller ``(X, names, meta) -> result`` for predict-like hooks, fixed at load time."""
    positional, keywords, var_kw = _accepts(fn)
    if "meta" in keywords or var_kw:
        return lambda X, names, meta: fn(X, names, meta=meta)
    if positional is None or positional >= 3:
        return lambda X, names, meta: fn(X, names, meta)
    if positional == 2:
        return lambda X, names, meta: fn(X, names)
    if positional == 1:
        return lambda X, names, meta: fn(X)
    return lambda X, names, meta: fn()


def feedback_caller(fn: Callable[..., Any]) -> Caller:
    """``(features, names, reward, truth, routing) -> result`` for send_feedback."""
    positional, keywords, var_kw = _accepts(fn)
    if "routing" in keywords or var_kw:
        return lambda f, n, r, t, routing: fn(f, n, r, t, routing=routing)
    if positional is None or positional >= 5:
        return lambda f, n, r, t, routing: fn(f, n, r, t, routing)
    return lambda f, n, r, t, routing: fn(*(f, n, r, t)[: positional or 0])


def aggregate_caller(fn: Callable[..., Any]) -> Caller:
    """``(Xs, names_list, metas) -> result`` for aggregate (meta passed only if accepted)."""
    positional, keywords, var_kw = _accepts(fn)
    if "meta" in keywords:
        return lambda Xs, names, metas: fn(Xs, names, meta=metas)
    if positional == 1:
        return lambda Xs, names, metas: fn(Xs)
    return lambda Xs, names, metas: fn(Xs, names)


#: the transports whose deprecated ``<hook>_<transport>`` methods are still honoured
LEGACY_TRANSPORTS = ("rest", "grpc")


@dataclass(frozen=True, slots=True)
class RawHook:
    """A method that takes the whole request message: ``<hook>_raw``, or a deprecated
    ``<hook>_rest``/``<hook>_grpc`` (``legacy``: its result is sent as it is, its metrics are not
    recorded, and ``SeldonNotImplementedError`` is not a fallback, as Seldon Core 1.x does)."""

    fn: Caller
    legacy: bool = False


@dataclass
class Dispatch:
    """What the user object provides, and how to call it. Built by :func:`reflect`."""

    obj: Any
    data: dict[str, Caller] = field(default_factory=dict)  # predict/transform_*/route
    meta_hooks: set[str] = field(default_factory=set)  # the data hooks that are given ``meta``
    raw: dict[str, Caller] = field(default_factory=dict)  # <hook> -> its *_raw method
    legacy: dict[tuple[str, str], Caller] = field(default_factory=dict)  # (hook, transport)
    #: transport → hook → the method that gets the whole message there (legacy ones first);
    #: resolved here, once, so no caller looks methods up by transport name per request
    raw_hooks: dict[str, dict[str, RawHook]] = field(default_factory=dict)
    aggregate: Caller | None = None
    send_feedback: Caller | None = None
    tags: Caller | None = None
    metrics: Caller | None = None
    class_names: Caller | None = None
    health_status: Caller | None = None
    health_status_raw: Caller | None = None
    init_metadata: Caller | None = None
    load: Caller | None = None
    unload: Caller | None = None  # at the end of a serving process (not a Seldon Core hook)
    model_error_handler: Any = None
    custom_service: Caller | None = None
    #: extension points (see :func:`reflect`): () -> flask.Blueprint, () -> grpc handlers
    rest_blueprint: Caller | None = None
    grpc_handlers: Caller | None = None

    def describe(self) -> str:
        """One log line saying what was found."""
        found = sorted(
            [*self.data, *(f"{h}_raw" for h in self.raw)]
            + [
                n
                for n in (
                    "aggregate",
                    "send_feedback",
                    "tags",
                    "metrics",
                    "class_names",
                    "health_status",
                    "init_metadata",
                    "load",
                )
                if getattr(self, n) is not None
            ]
        )
        return ", ".join(found) or "nothing"

    def raw_table(self, transport: str) -> dict[str, RawHook]:
        """hook → :class:`RawHook` for a serving process of ``transport`` ("rest" or "grpc")."""
        return self.raw_hooks.get(transport, {})


def reflect(obj: Any) -> Dispatch:
    """Inspect ``obj`` once and return its dispatch table.

    Besides the Seldon hooks, two extension points let a second protocol or a model convention
    (a TorchServe handler adapted to an object, say) serve more than the Seldon API without
    touching the transports:

    * ``rest_blueprint()`` → a :class:`flask.Blueprint`: registered on the REST app of every
      worker (called once per worker, after fork); its routes must not be Seldon's own.
    * ``grpc_handlers()`` → an iterable of :class:`grpc.GenericRpcHandler`: added to the gRPC
      server of every gRPC process (called once per process, after fork).
    """
    d = Dispatch(obj=obj)
    for hook in DATA_HOOKS:
        fn = _implemented(obj, hook)
        if fn is not None:
            d.data[hook] = data_caller(fn)
            if passes_meta(fn):
                d.meta_hooks.add(hook)
    for hook in RAW_HOOKS:
        fn = _implemented(obj, f"{hook}_raw")
        if fn is not None:
            d.raw[hook] = fn
        for transport in LEGACY_TRANSPORTS:
            legacy = getattr(obj, f"{hook}_{transport}", None)
            if callable(legacy):
                logger.warning(
                    "%s_%s is deprecated: implement %s_raw instead", hook, transport, hook
                )
                d.legacy[(hook, transport)] = legacy
    for transport in LEGACY_TRANSPORTS:
        table = {hook: RawHook(fn) for hook, fn in d.raw.items()}
        table.update({hook: RawHook(fn, legacy=True) for (hook, t), fn in d.legacy.items() if t == transport})
        d.raw_hooks[transport] = table
    agg = _implemented(obj, "aggregate")
    d.aggregate = aggregate_caller(agg) if agg else None
    fb = _implemented(obj, "send_feedback")
    d.send_feedback = feedback_caller(fb) if fb else None
    for name in ("tags", "metrics", "health_status", "health_status_raw", "init_metadata", "load", "unload"):
        setattr(d, name, _implemented(obj, name))
    # as the reference: a SeldonComponent subclass without its own health_status() is called
    # anyway; the default raises "not implemented", answered "not implemented - assuming healthy"
    if d.health_status is None and isinstance(obj, SeldonComponent):
        d.health_status = obj.health_status
    cn = getattr(obj, "class_names", None)
    if cn is not None:
        if callable(cn):
            d.class_names = _implemented(obj, "class_names")
        else:
            logger.warning("class_names as an attribute is deprecated: define class_names()")
            names = list(cn)
            d.class_names = lambda: names
    handler = getattr(obj, "model_error_handler", None)
    if handler is not None:
        d.model_error_handler = handler
    cs = getattr(obj, "custom_service", None)
    d.custom_service = cs if callable(cs) else None
    for name in ("rest_blueprint", "grpc_handlers"):
        fn = getattr(obj, name, None)
        setattr(d, name, fn if callable(fn) else None)
    return d
