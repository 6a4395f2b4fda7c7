"""`seldon-core-executor` stopped by SIGTERM while clients keep connecting (found by QA: the executor
reset connections the kernel had queued while it drained, where `seldon-core-microservice` answers
them or lets them be refused)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import load_through_sigterm
from tests.executor.harness import NODES_PY, ExecutorProcess, sdep

pytestmark = pytest.mark.e2e


def test_sigterm_under_load_resets_no_accepted_connection(tmp_path: Path) -> None:
    (tmp_path / "nodes.py").write_text(NODES_PY)
    # an in-process node that takes a moment per call, so SIGTERM finds requests in flight and
    # clients keep connecting while they finish
    cm = {"nodes": {"d": {"class": "nodes.Node", "path": str(tmp_path), "parameters": [
        {"name": "name", "value": "d", "type": "STRING"}, {"name": "mode", "value": "drain", "type": "STRING"},
        {"name": "delta", "value": "0.3", "type": "FLOAT"}]}}}
    ex = ExecutorProcess(tmp_path, "drain-load", sdep({"name": "d", "type": "MODEL"}), class_map=cm,
                         env={"DRAIN_MARK": str(tmp_path / "mark")}).wait()

    def sigterm() -> None:
        ex.proc.proc.send_signal(signal.SIGTERM)
        assert ex.proc.proc.wait(timeout=60) == 0, ex.proc.output()

    try:
        outcomes = load_through_sigterm(ex.http_port, sigterm, warmup=16, warmup_timeout=60)
    finally:
        ex.proc.stop()
    bad = {k: v for k, v in outcomes.items() if k not in ("status 200", "refused")}
    assert not bad, dict(outcomes)
