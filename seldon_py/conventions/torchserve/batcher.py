"""TorchServe batching (``batch_size``, ``max_batch_delay``) on seldon_py's batching policy.

Every request of the model is one row under one key of :class:`seldon_py.batching.BatchPolicy`:
a batch runs when it holds ``batch_size`` requests (in the thread of the request that filled it)
or when its oldest request has waited ``max_batch_delay`` (in a dispatcher thread). The handler
receives the whole batch in one call. Like every in-process batching, this needs several request
threads (``--threads`` for REST, ``--grpc-threads`` for gRPC) of at least ``batch_size``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from ...runtime.batching import Batch, BatchPolicy
from .service import TSRequest, TSResponse

_KEY = "torchserve"

Runner = Callable[[list[TSRequest]], list[TSResponse]]


class HandlerBatcher:
    """Collects concurrent requests into batches for ``run`` (one call per batch)."""

    def __init__(self, run: Runner, batch_size: int, max_delay: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.run = run
        self.batch_size = batch_size
        self.clock = clock
        self.policy = BatchPolicy(batch_size, max_delay) if batch_size > 1 else None
        self.cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, request: TSRequest) -> TSResponse:
        if self.policy is None:
            return self.run([request])[0]
        fut: Future[TSResponse] = Future()
        with self.cond:
            self._ensure_thread()
            ready = self.policy.offer(_KEY, (request, fut), 1, self.clock())
            self.cond.notify()
        for batch in ready:
            self._run(batch)
        return fut.result()

    def _ensure_thread(self) -> None:
        if self._thread is None or self._pid != os.getpid():  # started lazily, after fork
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._dispatch, name="torchserve-batcher", daemon=True)
            self._thread.start()

    def _run(self, batch: Batch) -> None:
        futures: list[Future[TSResponse]] = [item[1] for item in batch.items]
        try:
            responses = self.run([item[0] for item in batch.items])
            for fut, resp in zip(futures, responses, strict=True):
                fut.set_result(resp)
        except BaseException as exc:  # noqa: BLE001 - delivered to every waiting request
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)

    def _dispatch(self) -> None:
        assert self.policy is not None
        while True:
            with self.cond:
                deadline = self.policy.next_deadline()
                if deadline is None:
                    self.cond.wait()
                    continue
                now = self.clock()
                if deadline > now:
                    self.cond.wait(deadline - now)
                due = self.policy.expired(self.clock())
            for batch in due:
                self._run(batch)
