"""The protocol-neutral runtime: the user object, its method table, load/readiness, batching and
custom-metrics recording, for one serving process.

A protocol handler (:class:`seldon_py.protocol.seldon.handler.SeldonHandler` today, an Open
Inference handler later) sits on top of a :class:`ModelRuntime`: it decodes the protocol's
messages, calls the user through the runtime's method table and builds the protocol's responses.
Nothing here knows a message shape. Transports (REST, gRPC) take the model-loading lifecycle from
here: :func:`start_loading` runs ``load()`` in the background and :attr:`ModelRuntime.ready` says
when it has finished.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import BadRequest, NotReady, SeldonNotImplementedError
from . import custom_metrics

if TYPE_CHECKING:
    from ..model.reflection import Dispatch
    from .batching import Batcher

logger = logging.getLogger(__name__)

#: gunicorn's exit code for "worker failed to boot": its arbiter halts on it (and so does ours)
WORKER_BOOT_ERROR = 3


class MetricsRecorder(Protocol):
    """Where custom metrics and feedback go (Prometheus in production, see seldon_py.metrics)."""

    def record(self, metrics: list[dict[str, Any]], method: str) -> None: ...

    def feedback(self, reward: float) -> None: ...


class RequestObserver(Protocol):
    """Built-in request metrics, called by the transports once per request/RPC."""

    def request_started(self, transport: str, endpoint: str) -> None: ...

    def request_finished(
        self,
        transport: str,
        endpoint: str,
        code: str,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None: ...


class NullObserver:
    """Observes nothing."""

    def request_started(self, transport: str, endpoint: str) -> None:
        pass

    def request_finished(
        self,
        transport: str,
        endpoint: str,
        code: str,
        seconds: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        pass


class NullRecorder:
    """Records nothing (unit tests, or metrics disabled)."""

    def record(self, metrics: list[dict[str, Any]], method: str) -> None:
        pass

    def feedback(self, reward: float) -> None:
        pass


class ModelRuntime:
    """The user object behind one serving process: method table, lifecycle, batching, metrics."""

    def __init__(
        self,
        dispatch: Dispatch,
        recorder: MetricsRecorder | None = None,
        batching: tuple[int, float] | None = None,
        preloaded: bool = False,
    ) -> None:
        """``batching`` is (max batch size, max latency in seconds) or None; ``preloaded`` means the
        user's ``load()`` already ran in the parent before fork (``--preload``)."""
        self.dispatch = dispatch
        self.recorder: MetricsRecorder = recorder or NullRecorder()
        self.preloaded = preloaded
        self.batcher: Batcher | None = None
        predict = dispatch.data.get("predict")
        if batching is not None and batching[0] > 1 and predict is not None:
            from .batching import Batcher

            self.batcher = Batcher(predict, batching[0], batching[1], by_meta="predict" in dispatch.meta_hooks)
        self.ready = threading.Event()

    # ----------------------------------------------------------------- lifecycle
    def load(self) -> None:
        """Run the user's ``load()`` (in the serving process), then mark the runtime ready."""
        fn = self.dispatch.load
        if fn is not None and not self.preloaded:
            try:
                fn()
            except (NotImplementedError, SeldonNotImplementedError):
                pass
        self.ready.set()

    def close(self) -> None:
        """At the end of this serving process, after draining: the user's ``unload()``, once (the
        conventions use it for e.g. Rafiki's ``destroy()``); an error is logged, not raised."""
        fn, self.dispatch.unload = self.dispatch.unload, None
        if fn is None:
            return
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - user code, and the process is ending anyway
            logger.error("unload() failed: %s: %s", type(exc).__name__, exc)

    def check_ready(self) -> None:
        if not self.ready.is_set():
            raise NotReady("The model is still loading: load() has not finished")

    # ----------------------------------------------------------------- custom metrics
    def record_metrics(self, metrics: Any, method: str) -> list[dict[str, Any]]:
        """Validate ``metrics`` (a list of metric dicts), tag them with ``method``, record them, and
        return the tagged copies."""
        custom_metrics.validate_metrics(metrics)
        tagged = custom_metrics.with_method_tag(metrics, method)
        self.recorder.record(tagged, method)
        return tagged

    def collect_metrics(self, returned: list[dict[str, Any]] | None, method: str,
                        record_returned: bool = True) -> list[dict[str, Any]]:
        """The user's ``metrics()`` plus the metrics one call ``returned``: validated, recorded
        once, and returned with their method tags.

        ``record_returned`` false: ``returned`` came from a batched call that another request's
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
        if returned is not None:
            custom_metrics.validate_metrics(returned)
            collected.extend(returned)
            if record_returned:
                recorded = len(collected)
        if not collected:
            return collected
        tagged = custom_metrics.with_method_tag(collected, method)
        if recorded:
            self.recorder.record(tagged[:recorded], method)
        return tagged

    def user_tags(self) -> dict[str, Any] | None:
        """What the user's ``tags()`` returns (None when it has none)."""
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

    def feedback(self, reward: float) -> None:
        self.recorder.feedback(reward)


def start_loading(runtime: ModelRuntime, where: str) -> threading.Thread:
    """Run ``load()`` in a background thread; on failure log it and end this process with
    :data:`WORKER_BOOT_ERROR` (a serving process must not serve a model that did not load)."""

    def run() -> None:
        try:
            runtime.load()
        except BaseException as exc:  # noqa: BLE001 - anything from user code
            logger.error("load() failed in %s (pid %d): %s: %s", where, os.getpid(),
                         type(exc).__name__, exc, exc_info=exc)
            logging.shutdown()
            os._exit(WORKER_BOOT_ERROR)
        logger.info("%s (pid %d) ready: load() finished", where, os.getpid())

    t = threading.Thread(target=run, name="seldon-load", daemon=True)
    t.start()
    return t
