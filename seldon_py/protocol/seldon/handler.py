"""The transport-agnostic core: what predict/transform/route/aggregate/feedback/health/metadata
do, given a decoded request. REST and gRPC are thin adapters over :class:`DataPlane`.

Each transport hands in its codec (``seldon_py.protocol.seldon.json_codec`` or ``seldon_py.transports.grpc.codec``): a module
with ``TRANSPORT``, ``decode_message(raw) -> Payload``, ``decode_message_list(raw) -> list``,
``raw_metrics(result)`` and ``strip_raw_metrics(result)``. No I/O happens here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ...runtime import custom_metrics
from ...errors import (
    BadMetadata,
    BadRequest,
    MethodNotDefined,
    NotReady,
    SeldonNotImplementedError,
)
from ...runtime.batching import SharedResponse
from ...runtime.runtime import MetricsRecorder, NullRecorder
from .payload import DATA_KINDS, Payload, RawResult, Response, build_response, unwrap
from ...model.reflection import Dispatch

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
    TRANSPORT: str

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


@dataclass(slots=True)
class FeedbackPayload:
    """A decoded Feedback message."""

    request_kind: str | None
    features: Any
    names: list[str]
    request_meta: dict[str, Any]
    reward: float
    truth: Any
    routing_table: dict[str, int]


class DataPlane:
    """Calls the user's object through its dispatch table and builds responses."""

    def __init__(
        self,
        dispatch: Dispatch,
        unit: UnitInfo | None = None,
        recorder: MetricsRecorder | None = None,
        metadata: dict[str, Any] | None = None,
        metadata_error: str | None = None,
        batching: tuple[int, float] | None = None,
        preloaded: bool = False,
    ) -> None:
        """``batching`` is (max batch size, max latency in seconds) or None; ``preloaded`` means the
        user's ``load()`` already ran in the parent before fork (``--preload``)."""
        self.dispatch = dispatch
        self.preloaded = preloaded
        self.batcher = None
        predict = dispatch.data.get("predict")
        if batching is not None and batching[0] > 1 and predict is not None:
            from ...runtime.batching import Batcher

            self.batcher = Batcher(predict, batching[0], batching[1], by_meta="predict" in dispatch.meta_hooks)
        self.unit = unit or UnitInfo()
        self.recorder = recorder or NullRecorder()
        self._metadata = metadata
        self._metadata_error = metadata_error
        self._request_path = self.unit.request_path
        self.ready = threading.Event()
        self.load_error: BaseException | None = None

    # ----------------------------------------------------------------- lifecycle
    def load(self) -> None:
        """Run the user's ``load()`` (in the serving process), then mark the node ready."""
        fn = self.dispatch.load
        if fn is not None and not self.preloaded:
            try:
                fn()
            except (NotImplementedError, SeldonNotImplementedError):
                pass
        self.ready.set()

    def check_ready(self) -> None:
        if not self.ready.is_set():
            raise NotReady("The model is still loading: load() has not finished")

    # ----------------------------------------------------------------- helpers
    def _custom_metrics(self, runtime: Any, method: str, record_runtime: bool = True) -> list[dict[str, Any]]:
        """Validate, record and return (with method tags) the user's metrics for one call.

        ``record_runtime`` false: ``runtime`` came from a batched call that another request's
        response records (:class:`~seldon_py.runtime.batching.SharedResponse`); only echo it."""
        collected: list[dict[str, Any]] = []
        fn = self.dispatch.metrics
        if fn is not None:
            try:
                user = fn()
            except SeldonNotImplementedError:
                user = None
            if user is not None:
                custom_metrics.validate_metrics(user)
                collected.extend(user)
        recorded = len(collected)
        if runtime is not None:
            custom_metrics.validate_metrics(runtime)
            collected.extend(runtime)
            if record_runtime:
                recorded = len(collected)
        if not collected:
            return collected
        tagged = custom_metrics.with_method_tag(collected, method)
        if recorded:
            self.recorder.record(tagged[:recorded], method)
        return tagged

    def _user_tags(self) -> dict[str, Any] | None:
        fn = self.dispatch.tags
        if fn is None:
            return None
        try:
            tags = fn()
        except SeldonNotImplementedError:
            return None
        if tags is not None and not isinstance(tags, dict):
            raise BadRequest(f"tags() must return a dict, got {type(tags).__name__}")
        return tags

    def _meta(
        self,
        request_metas: list[dict[str, Any] | None],
        runtime_tags: dict[str, Any] | None,
        metrics: list[dict[str, Any]],
        echo: bool,
    ) -> dict[str, Any]:
        """Rebuild response meta (spec §5.5): puid, tags, metrics, requestPath; routing dropped."""
        out: dict[str, Any] = {}
        first = request_metas[0] if request_metas else None
        if first:
            puid = first.get("puid")
            if puid:
                out["puid"] = puid
        tags: dict[str, Any] = {}
        echoed: list[Any] = []
        verbatim: Any = None
        path = dict(self._request_path)
        if echo:
            for m in request_metas:
                if not m:
                    continue
                t = m.get("tags")
                if isinstance(t, dict):
                    tags.update(t)
                em = m.get("metrics")
                if isinstance(em, list):
                    echoed.extend(em)
                elif em is not None:
                    verbatim = em  # not a list: echoed as it came, as the reference does
                rp = m.get("requestPath")
                if isinstance(rp, dict):
                    path.update(rp)
        user_tags = self._user_tags()
        if user_tags:
            tags.update(user_tags)
        if runtime_tags:
            if not isinstance(runtime_tags, dict):
                raise BadRequest("SeldonResponse tags must be a dict")
            tags.update(runtime_tags)
        if tags:
            out["tags"] = tags
        if self.unit.include_metrics:
            echoed.extend(metrics)
        if echoed:
            out["metrics"] = echoed
        elif verbatim is not None:
            out["metrics"] = verbatim
        if path:
            out["requestPath"] = path
        return out

    def _raw(self, hook: str, raw: Any, codec: Codec) -> Any:
        """Call a *_raw (or deprecated *_rest/*_grpc) hook if the class has one; else _MISSING."""
        legacy = self.dispatch.legacy.get((hook, codec.TRANSPORT))
        if legacy is not None:
            return RawResult(legacy(raw))
        fn = self.dispatch.raw.get(hook)
        if fn is None:
            return _MISSING
        try:
            result = fn(raw)
        except SeldonNotImplementedError:
            return _MISSING
        metrics = codec.raw_metrics(result)
        if metrics:
            custom_metrics.validate_metrics(metrics)
            label = METHOD_LABELS[hook]
            self.recorder.record(custom_metrics.with_method_tag(metrics, label), label)
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
        fn = self.dispatch.data.get(hook)
        if fn is not None:
            try:
                if self.batcher is not None and hook == "predict" and payload.kind in DATA_KINDS:
                    result = self.batcher.submit(payload.value, payload.names, payload.meta, payload.kind)
                else:
                    result = fn(payload.value, payload.names, payload.meta)
            except SeldonNotImplementedError:
                result = _MISSING
        if result is _MISSING:
            result = [] if hook == "predict" else payload.value
        data, rt_tags, rt_metrics = unwrap(result)
        metrics = self._custom_metrics(rt_metrics, METHOD_LABELS[hook], not isinstance(result, SharedResponse))
        meta = self._meta([payload.meta], rt_tags, metrics, echo=True)
        return build_response(data, payload.kind, self.dispatch.class_names, meta)

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
        fn = self.dispatch.data.get("route")
        if fn is None:
            raise MethodNotDefined("Route not defined")
        try:
            result = fn(payload.value, payload.names, payload.meta)
        except SeldonNotImplementedError:
            raise MethodNotDefined("Route not defined") from None
        data, rt_tags, rt_metrics = unwrap(result)
        if not isinstance(data, int):
            raise BadRequest(f"Routing response must be int but got {data}")
        metrics = self._custom_metrics(rt_metrics, METHOD_LABELS["route"])
        meta = self._meta([payload.meta], rt_tags, metrics, echo=False)
        return build_response(
            np.array([[int(data)]]), payload.kind, self.dispatch.class_names, meta
        )

    def aggregate(self, raw: Any, codec: Codec) -> Response | RawResult:
        self.check_ready()
        out = self._raw("aggregate", raw, codec)
        if out is not _MISSING:
            return out
        payloads = [codec.decode_message(m) for m in codec.decode_message_list(raw)]
        fn = self.dispatch.aggregate
        if fn is None:
            raise MethodNotDefined("Aggregate not defined")
        try:
            result = fn(
                [p.value for p in payloads], [p.names for p in payloads], [p.meta for p in payloads]
            )
        except SeldonNotImplementedError:
            raise MethodNotDefined("Aggregate not defined") from None
        data, rt_tags, rt_metrics = unwrap(result)
        metrics = self._custom_metrics(rt_metrics, METHOD_LABELS["aggregate"])
        meta = self._meta([p.meta for p in payloads], rt_tags, metrics, echo=True)
        return build_response(data, payloads[0].kind, self.dispatch.class_names, meta)

    def send_feedback(self, feedback: Any, fb: FeedbackPayload, codec: Codec) -> Response | RawResult:
        """``feedback`` is the Feedback message as the transport has it; ``fb`` its decoded view."""
        self.check_ready()
        if self.unit.executor_enabled:
            self.recorder.feedback(fb.reward)
        out = self._raw("send_feedback", feedback, codec)
        if out is not _MISSING:
            return out
        routing = fb.routing_table.get(self.unit.unit_id or "0")
        result: Any = None
        fn = self.dispatch.send_feedback
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
        metrics = self._custom_metrics(rt_metrics, METHOD_LABELS["send_feedback"])
        meta = self._meta([fb.request_meta], rt_tags, metrics, echo=False)
        return build_response(data, fb.request_kind, self.dispatch.class_names, meta)

    def health_status(self, codec: Codec) -> Response | RawResult:
        self.check_ready()
        raw_fn = self.dispatch.health_status_raw
        if raw_fn is not None:
            try:
                return RawResult(raw_fn())
            except SeldonNotImplementedError:
                pass
        fn = self.dispatch.health_status
        if fn is None:
            result: Any = "healthy"
        else:
            try:
                result = fn()
            except SeldonNotImplementedError:
                result = "not implemented - assuming healthy"
        data, rt_tags, rt_metrics = unwrap(result)
        metrics = self._custom_metrics(rt_metrics, METHOD_LABELS["health_status"])
        meta = self._meta([], rt_tags, metrics, echo=False)
        return build_response(data, None, self.dispatch.class_names, meta)

    def metadata(self) -> dict[str, Any]:
        """The validated model metadata; 500 MICROSERVICE_BAD_METADATA if it did not validate."""
        if self._metadata is None:
            raise BadMetadata("Model metadata unavailable" + (
                f": {self._metadata_error}" if self._metadata_error else ""
            ))
        return self._metadata
