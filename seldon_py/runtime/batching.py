"""Adaptive batching of concurrent ``predict`` calls (``--max-batch-size``, ``--max-batch-latency-ms``).

Concurrent requests in one serving process whose ``X`` arrays agree in dtype kind and trailing
shape (and whose payload kind and names agree) are concatenated along the first axis, the user's
``predict`` is called once, and its result is split back into one slice per request. A batch is
run as soon as it holds ``max_batch_size`` rows, or when its oldest request has waited
``max_latency`` seconds. Requests that cannot be batched (no array, 0-d, a batch of one that
would exceed the size on its own) are called alone.

``meta``: when ``predict`` takes a ``meta`` argument, only requests with equal ``meta`` share a
batch (the batched call passes that one ``meta``), so the model never sees another request's
``meta``. A request whose ``meta`` is not JSON-like or is larger than :data:`MAX_META_KEY_BYTES`
serialised is called alone. When ``predict`` takes no ``meta``, ``meta`` does not matter.

Runtime metrics (a :class:`SeldonResponse`'s ``metrics``) returned by one batched call are
recorded once: the first request's slice is a plain :class:`SeldonResponse`, the others are
:class:`SharedResponse` (its metrics are echoed in that response's ``meta.metrics`` but not
recorded again). Runtime tags are copied to every slice.

:class:`BatchPolicy` is the pure part (no threads, no clock of its own: every call takes ``now``),
unit-tested with a fake clock; :class:`Batcher` drives it with threads and a real clock. Batching
needs concurrency inside the process: use ``--threads`` (REST) / ``--grpc-threads`` (gRPC) > 1.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model.api import SeldonResponse

logger = logging.getLogger(__name__)

#: A ``meta`` longer than this, serialised, keeps its request out of batches (the key is bounded).
MAX_META_KEY_BYTES = 4096


class SharedResponse(SeldonResponse):
    """A slice of a batched call's result whose runtime ``metrics`` another slice records.

    The handler echoes ``metrics`` in the response's ``meta.metrics`` but must not record them:
    they were returned by one call, which served several requests.
    """

    __slots__ = ()


@dataclass
class Batch:
    key: Hashable
    opened_at: float
    items: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(self.rows)


class BatchPolicy:
    """Which requests go together, and when a batch is due. Not thread-safe: callers lock."""

    def __init__(self, max_batch_size: int, max_latency: float) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.max_batch_size = max_batch_size
        self.max_latency = max_latency
        self.pending: dict[Hashable, Batch] = {}

    def offer(self, key: Hashable, item: Any, rows: int, now: float) -> list[Batch]:
        """Add a request; return the batches that are now ready to run (full ones)."""
        ready: list[Batch] = []
        batch = self.pending.get(key)
        if batch is not None and batch.size + rows > self.max_batch_size:
            ready.append(self.pending.pop(key))  # would overflow: run what is there first
            batch = None
        if batch is None:
            batch = self.pending[key] = Batch(key, now)
        batch.items.append(item)
        batch.rows.append(rows)
        if batch.size >= self.max_batch_size:
            ready.append(self.pending.pop(key))
        return ready

    def expired(self, now: float) -> list[Batch]:
        """Pop the batches whose oldest request has waited ``max_latency``."""
        due = [k for k, b in self.pending.items() if now - b.opened_at >= self.max_latency]
        return [self.pending.pop(k) for k in due]

    def next_deadline(self) -> float | None:
        if not self.pending:
            return None
        return min(b.opened_at for b in self.pending.values()) + self.max_latency


_UNKEYABLE = object()


def meta_key(meta: Any) -> Hashable:
    """A hashable, bounded stand-in for ``meta``: equal for equal JSON values; ``_UNKEYABLE`` when
    ``meta`` is not JSON-like or too large to key on."""
    if meta is None:
        return None
    if isinstance(meta, dict) and not meta:
        return "{}"
    try:
        text = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return _UNKEYABLE
    return text if len(text) <= MAX_META_KEY_BYTES else _UNKEYABLE


def batch_key(X: Any, kind: str, names: list[str], meta: Any = None, by_meta: bool = False) -> Hashable | None:
    """Requests with equal keys can share a batch; None means "call alone".

    ``by_meta``: ``predict`` sees ``meta``, so requests with different ``meta`` must not share."""
    if not isinstance(X, np.ndarray) or X.ndim == 0 or X.dtype.kind not in "biuf":
        return None
    if not by_meta:
        return (kind, X.dtype.kind, X.shape[1:], tuple(names))
    mk = meta_key(meta)
    if mk is _UNKEYABLE:
        return None
    return (kind, X.dtype.kind, X.shape[1:], tuple(names), mk)


def run_batch(
    fn: Callable[[Any, list[str], Any], Any], batch: Batch
) -> None:
    """Call ``fn`` once on the concatenated inputs and resolve each request's future with its slice.

    The items of one batch have equal keys, so with ``by_meta`` their ``meta`` is the same; the
    first item's is passed. Runtime metrics go with the first slice only (see the module doc)."""
    futures: list[Future[Any]] = [it[3] for it in batch.items]
    try:
        if len(batch.items) == 1:
            X, names, meta, fut = batch.items[0]
            fut.set_result(fn(X, names, meta))
            return
        Xs = [it[0] for it in batch.items]
        names, meta = batch.items[0][1], batch.items[0][2]
        result = fn(np.concatenate(Xs, axis=0), names, meta)
        data, tags, metrics = (
            (result.data, result.tags, result.metrics)
            if isinstance(result, SeldonResponse)
            else (result, None, None)
        )
        total = sum(batch.rows)
        if isinstance(data, list):
            data = np.array(data)
        if not isinstance(data, np.ndarray) or data.ndim == 0 or data.shape[0] != total:
            raise ValueError(
                f"with batching, predict must return an array with one row per input row "
                f"({total} rows in, got {type(data).__name__}"
                f"{' of shape ' + str(data.shape) if isinstance(data, np.ndarray) else ''})"
            )
        start = 0
        for i, (rows, fut) in enumerate(zip(batch.rows, futures, strict=True)):
            part = data[start:start + rows]
            start += rows
            if metrics and i > 0:
                fut.set_result(SharedResponse(part, tags, metrics))
            else:
                fut.set_result(SeldonResponse(part, tags, metrics) if tags or metrics else part)
    except BaseException as exc:  # noqa: BLE001 - delivered to every waiting request
        for fut in futures:
            if not fut.done():
                fut.set_exception(exc)


class Batcher:
    """Thread driver: request threads call :meth:`submit`; a dispatcher thread runs due batches."""

    def __init__(
        self,
        fn: Callable[[Any, list[str], Any], Any],
        max_batch_size: int,
        max_latency: float,
        clock: Callable[[], float] = time.monotonic,
        by_meta: bool = True,
    ) -> None:
        """``by_meta``: ``fn`` passes ``meta`` on to the model (see :func:`batch_key`)."""
        self.fn = fn
        self.by_meta = by_meta
        self.clock = clock
        self.policy = BatchPolicy(max_batch_size, max_latency)
        self.cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _ensure_thread(self) -> None:
        import os

        if self._thread is None or self._pid != os.getpid():  # started lazily, after fork
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._dispatch, name="seldon-batcher", daemon=True)
            self._thread.start()

    def submit(self, X: Any, names: list[str], meta: Any, kind: str) -> Any:
        key = batch_key(X, kind, names, meta, self.by_meta)
        if key is None or X.shape[0] >= self.policy.max_batch_size:
            return self.fn(X, names, meta)
        fut: Future[Any] = Future()
        with self.cond:
            self._ensure_thread()
            ready = self.policy.offer(key, (X, names, meta, fut), X.shape[0], self.clock())
            self.cond.notify_all()
        for batch in ready:  # full: run it here, no hand-off latency
            run_batch(self.fn, batch)
        return fut.result()

    def _dispatch(self) -> None:
        while True:
            with self.cond:
                deadline = self.policy.next_deadline()
                now = self.clock()
                if deadline is None:
                    self.cond.wait()
                    continue
                if deadline > now:
                    self.cond.wait(deadline - now)
                due = self.policy.expired(self.clock())
            for batch in due:
                run_batch(self.fn, batch)
