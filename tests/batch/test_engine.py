"""The engine without I/O beyond a temp file: order, retries, splitting, stop on failure, resume."""

from __future__ import annotations

import json
import threading

import pytest

from seldon_py.batch.engine import (
    Engine,
    EngineOptions,
    InputError,
    Row,
    RowResult,
    StoppedOnFailure,
    parse_shard,
    select_shard,
    skip,
)
from seldon_py.batch.journal import ResumableOutput, ResumeError, read_journal
from seldon_py.batch.progress import LatencyStats, Progress


class Transient(Exception):
    pass


class FakeTask:
    """Echoes row values; rows listed in ``flaky`` fail that many times first; ``bad`` never work;
    a batch containing a bad row fails as a whole (not retryable)."""

    def __init__(self, flaky: dict[int, int] | None = None, bad: set[int] | None = None,
                 release: dict[int, threading.Event] | None = None) -> None:
        self.flaky = dict(flaky or {})
        self.bad = bad or set()
        self.release = release or {}
        self.calls: list[list[int]] = []
        self.lock = threading.Lock()

    def call(self, rows: list[Row]) -> list[RowResult]:
        with self.lock:
            self.calls.append([r.index for r in rows])
        for r in rows:
            ev = self.release.get(r.index)
            if ev is not None:
                assert ev.wait(30)
        for r in rows:
            if r.index in self.bad:
                raise InputError(f"bad row {r.index}")
        for r in rows:
            with self.lock:
                left = self.flaky.get(r.index, 0)
                if left:
                    self.flaky[r.index] = left - 1
                    raise Transient(f"transient {r.index}")
        return [RowResult([json.dumps({"i": r.index, "v": r.value}).encode()]) for r in rows]

    def failure(self, row: Row, error: BaseException) -> RowResult:
        return RowResult([json.dumps({"i": row.index, "error": str(error)}).encode()], failed=True)

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, Transient)


def run(tmp_path, task, rows, **opts):
    out = ResumableOutput(str(tmp_path / "out.jsonl"), {"t": 1})
    resumed = out.open()
    Engine(task, EngineOptions(backoff=0.001, **opts)).run(skip(rows, resumed.rows), out, Progress(None, "none"))
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    return out, lines


def rows(n):
    return [Row(i, f"v{i}") for i in range(n)]


def test_output_is_in_input_order_even_when_early_rows_finish_last(tmp_path):
    # row 0 is held until row 9 has been processed by another worker
    release = {0: threading.Event()}

    class Releasing(FakeTask):
        def call(self, rs):
            out = super().call(rs)
            if rs[0].index == 9:
                release[0].set()
            return out

    task = Releasing(release=release)
    out, lines = run(tmp_path, task, rows(30), workers=4)
    assert [x["i"] for x in lines] == list(range(30))
    assert out.rows == 30 and out.failures == 0


def test_transient_failures_are_retried_and_exhausted_ones_become_error_records(tmp_path):
    task = FakeTask(flaky={3: 2, 5: 5})
    out, lines = run(tmp_path, task, rows(8), workers=2, attempts=3)
    assert [x["i"] for x in lines] == list(range(8))
    assert lines[3] == {"i": 3, "v": "v3"}
    assert lines[5]["error"] == "transient 5"
    assert out.failures == 1
    assert sum(1 for c in task.calls if c == [5]) == 3


def test_a_bad_row_in_a_mini_batch_does_not_fail_its_neighbours(tmp_path):
    task = FakeTask(bad={5})
    out, lines = run(tmp_path, task, rows(8), workers=1, batch_size=4)
    assert [x["i"] for x in lines] == list(range(8))
    assert "error" in lines[5] and all("error" not in x for i, x in enumerate(lines) if i != 5)
    assert [0, 1, 2, 3] in task.calls and [4, 5, 6, 7] in task.calls and [4] in task.calls
    assert out.failures == 1


def test_stop_on_failure_keeps_the_rows_before_it_and_resumes_at_the_failed_row(tmp_path):
    task = FakeTask(bad={4})
    with pytest.raises(StoppedOnFailure) as info:
        run(tmp_path, task, rows(10), stop_on_failure=True)
    assert info.value.row.index == 4
    text = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(x)["i"] for x in text] == [0, 1, 2, 3]
    _, lines = run(tmp_path, FakeTask(), rows(10), stop_on_failure=True)
    assert [x["i"] for x in lines] == list(range(10))


def test_resume_truncates_uncommitted_bytes_and_skips_committed_rows(tmp_path):
    path = tmp_path / "out.jsonl"
    out = ResumableOutput(str(path), {"t": 1}, commit_rows=3, commit_seconds=1e9)
    out.open()
    for i in range(7):  # commits after rows 3 and 6; row 7's line is not committed
        out.write([json.dumps({"i": i, "v": f"v{i}"}).encode()], failed=(i == 1))
    out._out.flush()  # as if the OS had the bytes when the process was killed
    _, last, done = read_journal(str(path) + ".journal")
    assert last is not None and last[0] == 6 and last[2] == 1 and not done
    # "SIGKILL": no close(); run the same thing again
    out2, lines = run(tmp_path, FakeTask(), rows(10))
    assert [x["i"] for x in lines] == list(range(10))
    assert out2.rows == 10 and out2.failures == 1  # the failure before the kill is still counted
    _, last, done = read_journal(str(path) + ".journal")
    assert done and last is not None and last[0] == 10


def test_a_journal_from_different_settings_is_refused(tmp_path):
    path = str(tmp_path / "out.jsonl")
    out = ResumableOutput(path, {"input": "a"})
    out.open()
    out.write([b"{}"], False)
    out.commit()
    with pytest.raises(ResumeError, match="different settings"):
        ResumableOutput(path, {"input": "b"}).open()
    again = ResumableOutput(path, {"input": "b"}, resume=False)
    assert again.open().rows == 0


def test_an_output_shorter_than_its_journal_is_refused(tmp_path):
    path = tmp_path / "out.jsonl"
    out = ResumableOutput(str(path), {"t": 1})
    out.open()
    out.write([b'{"i": 0}'], False)
    out.commit()
    path.unlink()  # someone removed the results but not the journal
    with pytest.raises(ResumeError, match="shorter than its journal"):
        ResumableOutput(str(path), {"t": 1}).open()


def test_a_finished_run_starts_over(tmp_path):
    run(tmp_path, FakeTask(), rows(3))
    out, lines = run(tmp_path, FakeTask(), rows(3))
    assert len(lines) == 3 and out.rows == 3


def test_shards_partition_the_rows():
    assert parse_shard("1/3") == (1, 3) and parse_shard(None) is None
    for bad in ("3/3", "x", "1/0", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    parts = [[r.index for r in select_shard(rows(10), (i, 3))] for i in range(3)]
    assert sorted(i for p in parts for i in p) == list(range(10))
    assert parts[1] == [1, 4, 7]


def test_latency_percentiles():
    s = LatencyStats()
    for i in range(1, 101):
        s.add(i / 1000)
    assert s.count == 100 and s.maximum == 0.1
    assert s.percentile(50) == pytest.approx(0.05, abs=0.0011)
    assert s.percentile(99) == pytest.approx(0.099, abs=0.0011)


class FakeTTY:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_bar_on_a_terminal_and_log_lines_otherwise(caplog):
    tty = FakeTTY()
    p = Progress(100, "auto", stream=tty)
    assert p.mode == "bar"
    p.update(40, 2)
    p.finish()
    assert "[#########" in tty.text and "40/100 rows (40%)" in tty.text and "rows/s" in tty.text
    assert "ETA" in tty.text and "2 failed" in tty.text and tty.text.endswith("\n")
    import io
    import logging

    caplog.set_level(logging.INFO, logger="seldon_py.batch")
    q = Progress(10, "auto", stream=io.StringIO())
    assert q.mode == "log"
    q.update(5, 0)
    assert "5/10 rows (50%)" in caplog.text
    s = q.summary(10, 1)
    assert s["rows"] == 10 and s["failed"] == 1 and s["succeeded"] == 9
