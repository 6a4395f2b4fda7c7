"""Progress (a bar on a terminal, log lines otherwise) and the final summary of a batch run."""

from __future__ import annotations

import logging
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

logger = logging.getLogger("seldon_py.batch")

#: latencies kept for the percentiles (a uniform reservoir sample beyond this)
RESERVOIR = 100_000


@dataclass
class LatencyStats:
    """Call latencies: exact count/mean/max, percentiles from a bounded reservoir sample."""

    count: int = 0
    total: float = 0.0
    maximum: float = 0.0
    sample: list[float] = field(default_factory=list)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)
        if len(self.sample) < RESERVOIR:
            self.sample.append(seconds)
        else:
            j = self._rng.randrange(self.count)
            if j < RESERVOIR:
                self.sample[j] = seconds

    def percentile(self, p: float) -> float:
        if not self.sample:
            return 0.0
        ordered = sorted(self.sample)
        k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
        return ordered[k]


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Progress:
    """Reports rows done / failed. ``mode``: ``bar`` (redrawn line on ``stream``), ``log`` (a log
    line every ``log_every`` seconds), ``none``; ``auto`` picks ``bar`` when ``stream`` is a TTY."""

    def __init__(self, total: int | None, mode: str = "auto", stream: TextIO | None = None,
                 already: int = 0, log_every: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bar" if isatty is not None and isatty() else "log"
        self.mode = mode
        self.total = total
        self.already = already
        self.done = already
        self.failed = 0
        self.started = time.monotonic()
        self.log_every = log_every
        self._last = 0.0
        self.latency = LatencyStats()

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.done - self.already) / elapsed if elapsed > 0 else 0.0

    def update(self, done: int, failed: int) -> None:
        self.done, self.failed = done, failed
        now = time.monotonic()
        if self.mode == "bar" and now - self._last >= 0.2:
            self._last = now
            self.stream.write("\r" + self.line(bar=True))
            self.stream.flush()
        elif self.mode == "log" and now - self._last >= self.log_every:
            self._last = now
            logger.info("%s", self.line(bar=False))

    def line(self, bar: bool) -> str:
        rate = self.rate()
        parts = []
        if self.total:
            frac = min(1.0, self.done / self.total)
            if bar:
                width = 24
                filled = int(frac * width)
                parts.append("[" + "#" * filled + "-" * (width - filled) + "]")
            parts.append(f"{self.done}/{self.total} rows ({frac:.0%})")
        else:
            parts.append(f"{self.done} rows")
        parts.append(f"{rate:.1f} rows/s")
        if self.total and rate > 0:
            parts.append(f"ETA {_duration((self.total - self.done) / rate)}")
        parts.append(f"{self.failed} failed")
        return " ".join(parts)

    def finish(self) -> None:
        if self.mode == "bar":
            self.stream.write("\r" + self.line(bar=True) + "\n")
            self.stream.flush()

    def summary(self, rows: int, failures: int) -> dict[str, Any]:
        """The run's summary; ``rows``/``failures`` include rows done by an earlier, resumed run."""
        elapsed = time.monotonic() - self.started
        this_run = self.done - self.already
        lat = self.latency
        return {
            "rows": rows,
            "succeeded": rows - failures,
            "failed": failures,
            "rows_this_run": this_run,
            "resumed_after": self.already,
            "elapsed_seconds": round(elapsed, 3),
            "rows_per_second": round(this_run / elapsed, 2) if elapsed > 0 else 0.0,
            "calls": lat.count,
            "latency_seconds": {
                "mean": round(lat.total / lat.count, 6) if lat.count else 0.0,
                "p50": round(lat.percentile(50), 6),
                "p90": round(lat.percentile(90), 6),
                "p99": round(lat.percentile(99), 6),
                "max": round(lat.maximum, 6),
            },
        }


def format_summary(s: dict[str, Any]) -> str:
    lat = s["latency_seconds"]
    resumed = f" (resumed after {s['resumed_after']})" if s["resumed_after"] else ""
    return (f"{s['rows']} rows{resumed}: {s['succeeded']} succeeded, {s['failed']} failed; "
            f"{s['rows_this_run']} rows in {s['elapsed_seconds']:.2f}s = {s['rows_per_second']:.1f} rows/s; "
            f"{s['calls']} calls, latency p50 {lat['p50'] * 1000:.1f} ms, p90 {lat['p90'] * 1000:.1f} ms, "
            f"p99 {lat['p99'] * 1000:.1f} ms, max {lat['max'] * 1000:.1f} ms")
