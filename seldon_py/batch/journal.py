"""A resumable, append-only output file and its progress journal.

Layout, for an output ``out.jsonl``:

* ``out.jsonl`` — the results, one line per record, appended strictly in input order by one writer.
* ``out.jsonl.journal`` — line 1 is a JSON header (what run this is: input, shard, mode, batch id);
  then one line ``<rows> <bytes> <failures>`` per commit; ``done <rows> <bytes> <failures>`` last.

A commit flushes and fsyncs the output *first*, then appends and fsyncs the journal line, so a
journal line never claims bytes that are not on disk. ``rows`` counts input rows fully handled
(some rows write no record, e.g. a Starwhale ``predict`` returning ``None``), ``bytes`` is the
output size at that point.

Resuming (the same command after a SIGKILL or a crash): the last complete journal line gives
(rows, bytes, failures); the output is truncated to ``bytes`` (dropping records written after the
last commit, which will be produced again) and the first ``rows`` input rows are skipped. Every
row is therefore in the output exactly once. A journal whose header does not match the command
is refused (the output belongs to another run); a finished journal (``done``) means a new run
starts from scratch, as a re-run of a finished job would.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


class ResumeError(Exception):
    """The output cannot be resumed (and must not be overwritten silently)."""


@dataclass
class Resumed:
    rows: int = 0
    failures: int = 0
    header: dict[str, Any] | None = None


def read_journal(path: str) -> tuple[dict[str, Any] | None, tuple[int, int, int] | None, bool]:
    """(header, last complete commit, done) of a journal file."""
    with open(path, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is a torn write
    if not complete:
        return None, None, False
    try:
        header = json.loads(complete[0])
    except ValueError:
        return None, None, False
    last: tuple[int, int, int] | None = None
    done = False
    for line in complete[1:]:
        parts = line.split()
        is_done = bool(parts) and parts[0] == b"done"
        if is_done:
            parts = parts[1:]
        try:
            rows, size, failures = (int(p) for p in parts)
        except ValueError:
            break
        last, done = (rows, size, failures), is_done
    return header, last, done


class ResumableOutput:
    """Append-only output with a journal; see the module docstring."""

    def __init__(self, path: str, header: dict[str, Any], resume: bool = True,
                 commit_rows: int = 1000, commit_seconds: float = 0.5) -> None:
        if not path:
            raise ResumeError("an output path is required")
        self.path = path
        self.journal_path = path + ".journal"
        self.header = header
        self.resume = resume
        self.commit_rows = commit_rows
        self.commit_seconds = commit_seconds
        self.rows = 0
        self.failures = 0
        self._committed_rows = 0
        self._last_commit = time.monotonic()
        self._out: Any = None
        self._journal: Any = None

    def open(self, defaults: dict[str, Any] | None = None) -> Resumed:
        """Open for appending; returns what an earlier, interrupted run of this command did.

        A header value that is None (e.g. a batch id the user did not give) is taken from the
        interrupted run's journal when resuming, else from ``defaults``."""
        resumed = Resumed()
        start_size = 0
        if self.resume and os.path.exists(self.journal_path):
            header, last, done = read_journal(self.journal_path)
            if header is not None and not done:
                mismatch = {k: (header.get(k), v) for k, v in self.header.items()
                            if v is not None and header.get(k) is not None and header.get(k) != v}
                if mismatch:
                    detail = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in sorted(mismatch.items()))
                    raise ResumeError(
                        f"{self.path} belongs to an unfinished run with different settings ({detail}); "
                        f"re-run with those settings to resume, or pass --no-resume to start over")
                if last is not None:
                    resumed.rows, start_size, resumed.failures = last
                resumed.header = header
                size = os.path.getsize(self.path) if os.path.exists(self.path) else 0
                if size < start_size:
                    raise ResumeError(f"{self.path} is shorter than its journal says ({start_size} bytes): "
                                      f"it was changed by something else; pass --no-resume to start over")
        out_dir = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(out_dir, exist_ok=True)
        if resumed.header is not None:
            self.header = {**self.header, **{k: v for k, v in resumed.header.items() if self.header.get(k) is None}}
            self._out = open(self.path, "ab" if os.path.exists(self.path) else "wb")  # noqa: SIM115 - held until close()
            self._out.truncate(start_size)
            self._out.seek(start_size)
            self._journal = open(self.journal_path, "ab")  # noqa: SIM115 - held until close()
            if resumed.rows:
                logger.info("Resuming %s: %d rows already done (%d failed), continuing after them",
                            self.path, resumed.rows, resumed.failures)
        else:
            self.header = {**self.header, **{k: v for k, v in (defaults or {}).items()
                                             if self.header.get(k) is None}}
            self._out = open(self.path, "wb")  # noqa: SIM115 - held until close()
            self._journal = open(self.journal_path, "wb")  # noqa: SIM115 - held until close()
            self._journal.write(json.dumps(self.header, sort_keys=True).encode() + b"\n")
            self._journal.write(b"0 0 0\n")
            self._sync(self._journal)
        self.rows = self._committed_rows = resumed.rows
        self.failures = resumed.failures
        return resumed

    @staticmethod
    def _sync(fh: Any) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    def write(self, records: list[bytes], failed: bool) -> None:
        """Record one input row: its output lines (possibly none), and whether it failed."""
        for rec in records:
            self._out.write(rec)
            self._out.write(b"\n")
        self.rows += 1
        if failed:
            self.failures += 1
        if (self.rows - self._committed_rows >= self.commit_rows
                or time.monotonic() - self._last_commit >= self.commit_seconds):
            self.commit()

    def commit(self, done: bool = False) -> None:
        self._sync(self._out)
        line = f"{'done ' if done else ''}{self.rows} {self._out.tell()} {self.failures}\n"
        self._journal.write(line.encode())
        self._sync(self._journal)
        self._committed_rows = self.rows
        self._last_commit = time.monotonic()

    def close(self, done: bool) -> None:
        """Commit what was written; ``done`` marks the run finished."""
        if self._out is None:
            return
        try:
            self.commit(done=done)
        finally:
            self._out.close()
            self._journal.close()
            self._out = self._journal = None
