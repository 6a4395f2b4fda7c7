"""The batch engine: rows → mini-batches → N worker threads → results written in input order.

Front doors (``seldon-batch-processor``, ``seldon-evaluate``) supply a :class:`Task` (how to call
the model for a list of rows, what a failed row's record is, which errors are worth retrying); the
engine does the rest:

* **Order**: batches are submitted in input order and their results are taken from the head of a
  bounded window (``4 × workers`` batches), so the output is in input order and memory is bounded.
* **Retries**: a call is attempted ``attempts`` times (exponential backoff) while its error is
  retryable. A mini-batch that fails for a non-retryable reason (one bad row, a response with the
  wrong number of rows) is split and its rows are tried one by one, so one bad row does not fail
  its neighbours. A row that still fails becomes an error record: no row is ever dropped.
* **Resume**: results go to a :class:`~.journal.ResumableOutput`; rows it already has are skipped.
* **Stop on failure** (Starwhale ``fail_on_error``): the rows before the first failed row are
  written and committed, then :class:`StoppedOnFailure` is raised.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from .journal import ResumableOutput
from .progress import Progress

logger = logging.getLogger("seldon_py.batch")


#: upper bounds on the options (threads, rows held per call, tries): a typo must not exhaust memory
MAX_WORKERS = 1024
MAX_BATCH_SIZE = 100_000
MAX_ATTEMPTS = 100


class InputError(Exception):
    """A row could not be read or turned into a request (never retried)."""


@dataclass(slots=True)
class Row:
    index: int  # position in the dataset, 0-based, before sharding
    value: Any  # the parsed row; an InputError when it could not be parsed


@dataclass(slots=True)
class RowResult:
    records: list[bytes]  # the row's output lines (may be empty)
    failed: bool = False


class Task(Protocol):
    def call(self, rows: list[Row]) -> list[RowResult]:
        """One model call for these rows; one result per row, in order; raises on failure."""
        ...

    def failure(self, row: Row, error: BaseException) -> RowResult:
        """The record of a row that failed for good."""
        ...

    def retryable(self, error: BaseException) -> bool: ...


class StoppedOnFailure(Exception):
    """A row failed and the run was asked to stop at the first failure."""

    def __init__(self, row: Row, error: BaseException | None) -> None:
        super().__init__(f"row {row.index} failed: {error}")
        self.row = row
        self.error = error


@dataclass
class EngineOptions:
    workers: int = 1
    batch_size: int = 1
    attempts: int = 3  # tries per call (Seldon's --retries)
    backoff: float = 0.1  # seconds before the 2nd try, doubling, at most max_backoff
    max_backoff: float = 2.0
    min_interval: float = 0.0  # at least this many seconds between the starts of a worker's calls
    stop_on_failure: bool = False

    def validate(self) -> None:
        """Raises ValueError (one line) for options out of bounds."""
        if self.workers < 1 or self.batch_size < 1 or self.attempts < 1:
            raise ValueError("workers, batch size and retries must each be at least 1")
        if self.workers > MAX_WORKERS or self.batch_size > MAX_BATCH_SIZE or self.attempts > MAX_ATTEMPTS:
            raise ValueError(f"at most {MAX_WORKERS} workers, {MAX_BATCH_SIZE} rows per call and "
                             f"{MAX_ATTEMPTS} attempts")


def select_shard(rows: Iterable[Row], shard: tuple[int, int] | None) -> Iterator[Row]:
    """Rows whose dataset index ≡ i (mod n): deterministic, balanced, and needs no row count."""
    if shard is None:
        yield from rows
        return
    i, n = shard
    for row in rows:
        if row.index % n == i:
            yield row


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` → (i, n) with 0 ≤ i < n; empty → None."""
    if not text:
        return None
    try:
        a, b = text.split("/")
        i, n = int(a), int(b)
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard {text}: need 0 <= i < n")
    return i, n


@dataclass(slots=True)
class _Done:
    results: list[tuple[Row, RowResult, BaseException | None]]
    seconds: list[float]


class Engine:
    def __init__(self, task: Task, options: EngineOptions) -> None:
        options.validate()
        self.task = task
        self.opt = options
        self._local = threading.local()

    # ------------------------------------------------------------------ in the workers
    def _pace(self) -> None:
        if self.opt.min_interval <= 0:
            return
        last = getattr(self._local, "last", None)
        now = time.monotonic()
        if last is not None and now - last < self.opt.min_interval:
            time.sleep(self.opt.min_interval - (now - last))
        self._local.last = time.monotonic()

    def _attempt(self, rows: list[Row], seconds: list[float]) -> list[RowResult]:
        delay = self.opt.backoff
        for attempt in range(1, self.opt.attempts + 1):
            self._pace()
            started = time.perf_counter()
            try:
                results = self.task.call(rows)
            except Exception as exc:
                if attempt == self.opt.attempts or not self.task.retryable(exc):
                    raise
                logger.debug("rows %d..%d: attempt %d failed (%s), retrying", rows[0].index, rows[-1].index,
                             attempt, exc)
                time.sleep(delay)
                delay = min(delay * 2, self.opt.max_backoff)
                continue
            seconds.append(time.perf_counter() - started)
            if len(results) != len(rows):
                raise InputError(f"{len(results)} results for {len(rows)} rows")
            return results
        raise AssertionError("unreachable")

    def _run_batch(self, rows: list[Row]) -> _Done:
        seconds: list[float] = []
        try:
            results = self._attempt(rows, seconds)
            return _Done([(r, res, None) for r, res in zip(rows, results, strict=True)], seconds)
        except Exception as exc:  # noqa: BLE001
            if len(rows) == 1 or self.task.retryable(exc):
                return _Done([(r, self.task.failure(r, exc), exc) for r in rows], seconds)
            logger.debug("batch of rows %d..%d failed (%s): trying its rows one by one",
                         rows[0].index, rows[-1].index, exc)
        out: list[tuple[Row, RowResult, BaseException | None]] = []
        for row in rows:
            try:
                out.append((row, self._attempt([row], seconds)[0], None))
            except Exception as exc:  # noqa: BLE001
                out.append((row, self.task.failure(row, exc), exc))
        return _Done(out, seconds)

    # ------------------------------------------------------------------ in the caller's thread
    def run(self, rows: Iterable[Row], output: ResumableOutput, progress: Progress) -> None:
        """Process ``rows`` (already sharded and with resumed rows skipped) into ``output``."""
        if self.opt.workers == 1:
            self._run_inline(rows, output, progress)
            return
        window = 4 * self.opt.workers
        pending: deque[Future[_Done]] = deque()
        finished = False
        pool = ThreadPoolExecutor(self.opt.workers, thread_name_prefix="batch")
        try:
            it = iter(rows)
            while True:
                batch = list(itertools.islice(it, self.opt.batch_size))
                if not batch:
                    break
                pending.append(pool.submit(self._run_batch, batch))
                while len(pending) >= window:
                    self._write(pending.popleft(), output, progress)
            while pending:
                self._write(pending.popleft(), output, progress)
            finished = True
        finally:
            for fut in pending:
                fut.cancel()
            # interrupted: do not wait for calls in flight (their rows are redone on resume)
            pool.shutdown(wait=finished, cancel_futures=True)
            output.close(done=finished)
            progress.update(output.rows, output.failures)
            progress.finish()

    def _run_inline(self, rows: Iterable[Row], output: ResumableOutput, progress: Progress) -> None:
        """One worker: call in this thread (no hand-off to a pool thread and back per call)."""
        finished = False
        try:
            it = iter(rows)
            while batch := list(itertools.islice(it, self.opt.batch_size)):
                self._record(self._run_batch(batch), output, progress)
            finished = True
        finally:
            output.close(done=finished)
            progress.update(output.rows, output.failures)
            progress.finish()

    def _write(self, fut: Future[_Done], output: ResumableOutput, progress: Progress) -> None:
        self._record(fut.result(), output, progress)

    def _record(self, done: _Done, output: ResumableOutput, progress: Progress) -> None:
        for s in done.seconds:
            progress.latency.add(s)
        for row, result, error in done.results:
            if result.failed and self.opt.stop_on_failure:
                raise StoppedOnFailure(row, error)
            output.write(result.records, result.failed)
        progress.update(output.rows, output.failures)


def stop_on_sigterm() -> None:
    """SIGTERM (Kubernetes stopping the pod) stops a run like Ctrl-C: what is written is committed,
    and the same command continues from there."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def skip(rows: Iterable[Row], n: int) -> Iterator[Row]:
    """All but the first ``n`` rows (those an interrupted run already wrote)."""
    return itertools.islice(rows, n, None)


def json_line(obj: Any) -> bytes:
    """One output record as Python's ``json.dumps`` writes it (as Seldon's batch processor does)."""
    import json

    return json.dumps(obj).encode()
