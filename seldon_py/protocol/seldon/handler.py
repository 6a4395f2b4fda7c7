"""The Seldon protocol handler: what predict/transform/route/aggregate/feedback/health/metadata do
for a decoded Seldon request, on top of the protocol-neutral :class:`~seldon_py.runtime.runtime.ModelRuntime`.

It owns the Seldon-specific parts: response meta merging (puid, tags, metrics, requestPath),
the ``method`` labels, payload kinds and building responses. REST and gRPC are thin adapters over
:class:`SeldonHandler`; each hands in its codec (``seldon_py.protocol.seldon.json_codec`` or
``seldon_py.transports.grpc.codec``): an object with ``decode_message(raw) -> Payload``,
``decode_message_list(raw) -> list``, ``raw_metrics(result)`` and ``strip_raw_metrics(result)``.
No I/O happens here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ...errors import (
    BadMetadata,
    BadRequest,
    MethodNotDefined,
    SeldonNotImplementedError,
)
from ...runtime.batching import SharedResponse
from ...runtime.runtime import MetricsRecorder, ModelRuntime
from .meta import merge_meta
from .payload import DATA_KINDS, FeedbackPayload, Payload, RawResult, Response, build_response, unwrap

if TYPE_CHECKING:
    import threading

    from ...model.reflection import Dispatch
    from ...runtime.batching import Batcher

__all__ = ["METHOD_LABELS", "Codec", "DataPlane", "FeedbackPayload", "SeldonHandler", "UnitInfo"]

logger = logging.getLogger(__name__)

#: value of the ``method`` label / tag for each hook, as Seldon Core names them
METHOD_LABELS = {
    "predict": "predict",
    "transform_input": "inputtransform",
    "transform_output": "outputtransform",
    "route": "router",
    "aggregate": "aggregate",
    "send_feedback": "feedback",
    "health_status": "health",
}

_MISSING = object()


class Codec(Protocol):
    """What a transport hands the handler to read its messages (JSON or protobuf)."""

    def decode_message(self, raw: Any) -> Payload: ...

    def decode_message_list(self, raw: Any) -> list[Any]: ...

    def raw_metrics(self, result: Any) -> Any: ...

    def strip_raw_metrics(self, result: Any) -> Any: ...


@dataclass(frozen=True)
class UnitInfo:
    """Facts about this graph node that shape every response (from the Seldon environment)."""

    unit_id: str | None = None  # PREDICTIVE_UNIT_ID
    image: str | None = None  # PREDICTIVE_UNIT_IMAGE
    include_metrics: bool = True  # INCLUDE_METRICS_IN_CLIENT_RESPONSE
    executor_enabled: bool = True  # SELDON_EXECUTOR_ENABLED (false: no feedback counters)

    @property
    def request_path(self) -> dict[str, str]:
        if not self.unit_id:
            return {}
        return {self.unit_id: self.image or "NOT_IMPLEMENTED:NOT_IMPLEMENTED"}


class SeldonHandler:
    """Calls the user's object through the runtime's method table and builds Seldon responses.

    ``transport`` ("rest" or "grpc") picks, once, which methods take the whole request message
    (``*_raw``, and the deprecated ``*_rest``/``*_grpc`` of that transport).
    """

    def __init__(
        self,
        runtime: ModelRuntime,
        unit: UnitInfo | None = None,
        metadata: dict[str, Any] | None = None,
        metadata_error: str | None = None,
        transport: str = "rest",
    ) -> None:
        self.runtime = runtime
        self._dispatch = runtime.dispatch
        self._raw_hooks = runtime.dispatch.raw_table(transport)
        self.unit = unit or UnitInfo()
        self._metadata = metadata
        self._metadata_error = metadata_error
        self._request_path = self.unit.request_path

    # ----------------------------------------------------------------- lifecycle (the runtime's)
    @property
    def ready(self) -> threading.Event:
        return self.runtime.ready

    @property
    def batcher(self) -> Batcher | None:
        return self.runtime.batcher

    def load(self) -> None:
        self.runtime.load()

    def close(self) -> None:
        self.runtime.close()

    def check_ready(self) -> None:
        self.runtime.check_ready()

    def takes_message(self, hook: str) -> bool:
        """Whether ``hook`` is answered by a user method that gets the whole request message (so
        a transport must hand it the parsed message, not a cheaper view)."""
        return hook in self._raw_hooks

    def _meta(
        self,
        request_metas: list[dict[str, Any] | None],
        runtime_tags: dict[str, Any] | None,
        metrics: list[dict[str, Any]],
        echo: bool,
    ) -> dict[str, Any]:
        """Rebuild response meta (spec §5.5, :func:`~.meta.merge_meta`): the request's puid, tags,
        metrics and requestPath, the user's ``tags()`` and the call's tags, this call's metrics
        (unless the unit leaves them out of responses), this node's request path."""
        return merge_meta(
            request_metas,
            echo=echo,
            extra_tags=(self.runtime.user_tags(), runtime_tags),
            metrics=metrics if self.unit.include_metrics else (),
            own_path=self._request_path,
        )

    def _raw(self, hook: str, raw: Any, codec: Codec) -> Any:
        """Call the hook's whole-message method if the class has one; else _MISSING."""
        entry = self._raw_hooks.get(hook)
        if entry is None:
            return _MISSING
        if entry.legacy:
            return RawResult(entry.fn(raw))
        try:
            result = entry.fn(raw)
        except SeldonNotImplementedError:
            return _MISSING
        metrics = codec.raw_metrics(result)
        if metrics:
            self.runtime.record_metrics(metrics, METHOD_LABELS[hook])
            if not self.unit.include_metrics:
                result = codec.strip_raw_metrics(result)
        return RawResult(result)

    # ----------------------------------------------------------------- endpoints
    def _data_hook(self, hook: str, raw: Any, codec: Codec) -> Response | RawResult:
        self.check_ready()
        out = self._raw(hook, raw, codec)
        if out is not _MISSING:
            return out
        payload = codec.decode_message(raw)
        result: Any = _MISSING
        fn = self._dispatch.data.get(hook)
        if fn is not None:
            try:
                batcher = self.runtime.batcher
                if batcher is not None and hook == "predict" and payload.kind in DATA_KINDS:
                    result = batcher.submit(payload.value, payload.names, payload.meta, payload.kind)
                else:
                    result = fn(payload.value, payload.names, payload.meta)
            except SeldonNotImplementedError:
                result = _MISSING
        if result is _MISSING:
            result = [] if hook == "predict" else payload.value
        data, rt_tags, rt_metrics = unwrap(result)
        metrics = self.runtime.collect_metrics(rt_metrics, METHOD_LABELS[hook],
                                               record_returned=not isinstance(result, SharedResponse))
        meta = self._meta([payload.meta], rt_tags, metrics, echo=True)
        return build_response(data, payload.kind, self._dispatch.class_names, meta)

    def predict(self, raw: Any, codec: Codec) -> Response | RawResult:
        return self._data_hook("predict", raw, codec)

    def transform_input(self, raw: Any, codec: Codec) -> Response | RawResult:
        return self._data_hook("transform_input", raw, codec)

    def transform_output(self, raw: Any, codec: Codec) -> Response | RawResult:
        return self._data_hook("transform_output", raw, codec)

    def route(self, raw: Any, codec: Codec) -> Response | RawResult:
        self.check_ready()
        out = self._raw("route", raw, codec)
        if out is not _MISSING:
            return out
        payload = codec.decode_message(raw)
        fn = self._dispatch.data.get("route")
        if fn is None:
            raise MethodNotDefined("Route not defined")
        try:
            result = fn(payload.value, payload.names, payload.meta)
        except SeldonNotImplementedError:
            raise MethodNotDefined("Route not defined") from None
        data, rt_tags, rt_metrics = unwrap(result)
        if not isinstance(data, int):
            raise BadRequest(f"Routing response must be int but got {data}")
        metrics = self.runtime.collect_metrics(rt_metrics, METHOD_LABELS["route"])
        meta = self._meta([payload.meta], rt_tags, metrics, echo=False)
        # a bool is an int to Python (and to the reference's check); it answers [[true]] there too
        return build_response(
            np.array([[data if isinstance(data, bool) else int(data)]]), payload.kind,
            self._dispatch.class_names, meta
        )

    def aggregate(self, raw: Any, codec: Codec) -> Response | RawResult:
        self.check_ready()
        out = self._raw("aggregate", raw, codec)
        if out is not _MISSING:
            return out
        payloads = [codec.decode_message(m) for m in codec.decode_message_list(raw)]
        fn = self._dispatch.aggregate
        if fn is None:
            raise MethodNotDefined("Aggregate not defined")
        try:
            result = fn(
                [p.value for p in payloads], [p.names for p in payloads], [p.meta for p in payloads]
            )
        except SeldonNotImplementedError:
            raise MethodNotDefined("Aggregate not defined") from None
        data, rt_tags, rt_metrics = unwrap(result)
        metrics = self.runtime.collect_metrics(rt_metrics, METHOD_LABELS["aggregate"])
        meta = self._meta([p.meta for p in payloads], rt_tags, metrics, echo=True)
        return build_response(data, payloads[0].kind, self._dispatch.class_names, meta)

    def send_feedback(self, feedback: Any, fb: FeedbackPayload, codec: Codec) -> Response | RawResult:
        """``feedback`` is the Feedback message as the transport has it; ``fb`` its decoded view."""
        self.check_ready()
        if self.unit.executor_enabled:
            self.runtime.feedback(fb.reward)
        out = self._raw("send_feedback", feedback, codec)
        if out is not _MISSING:
            return out
        routing = fb.routing_table.get(self.unit.unit_id or "0")
        result: Any = None
        fn = self._dispatch.send_feedback
        if fn is not None:
            try:
                result = fn(fb.features, fb.names, fb.reward, fb.truth, routing)
            except SeldonNotImplementedError:
                result = None
        if result is None:
            result = np.array([])
        data, rt_tags, rt_metrics = unwrap(result)
        if data is None:
            data = np.array([])
        metrics = self.runtime.collect_metrics(rt_metrics, METHOD_LABELS["send_feedback"])
        meta = self._meta([fb.request_meta], rt_tags, metrics, echo=False)
        return build_response(data, fb.request_kind, self._dispatch.class_names, meta)

    def health_status(self, codec: Codec) -> Response | RawResult:
        self.check_ready()
        raw_fn = self._dispatch.health_status_raw
        if raw_fn is not None:
            try:
                return RawResult(raw_fn())
            except SeldonNotImplementedError:
                pass
        fn = self._dispatch.health_status
        if fn is None:
            result: Any = "healthy"
        else:
            try:
                result = fn()
            except SeldonNotImplementedError:
                result = "not implemented - assuming healthy"
        data, rt_tags, rt_metrics = unwrap(result)
        metrics = self.runtime.collect_metrics(rt_metrics, METHOD_LABELS["health_status"])
        meta = self._meta([], rt_tags, metrics, echo=False)
        return build_response(data, None, self._dispatch.class_names, meta)

    def metadata(self) -> dict[str, Any]:
        """The validated model metadata; 500 MICROSERVICE_BAD_METADATA if it did not validate."""
        if self._metadata is None:
            raise BadMetadata("Model metadata unavailable" + (
                f": {self._metadata_error}" if self._metadata_error else ""
            ))
        return self._metadata


class DataPlane(SeldonHandler):
    """A :class:`SeldonHandler` over a fresh :class:`ModelRuntime` built from ``dispatch``: the
    one-call form for tests and tools (the composition root builds the two separately)."""

    def __init__(
        self,
        dispatch: Dispatch,
        unit: UnitInfo | None = None,
        recorder: MetricsRecorder | None = None,
        metadata: dict[str, Any] | None = None,
        metadata_error: str | None = None,
        batching: tuple[int, float] | None = None,
        preloaded: bool = False,
        transport: str = "rest",
    ) -> None:
        super().__init__(ModelRuntime(dispatch, recorder, batching, preloaded), unit, metadata,
                         metadata_error, transport)
