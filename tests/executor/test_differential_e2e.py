"""Differential: the executor over the reference Seldon Core 1.19 wrapper's nodes answers exactly as
over seldon_py's own nodes (REST and gRPC). Skipped when the reference is not installed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from tests.executor.harness import NODES_PY, ExecutorProcess, NodeService, sdep
from tests.executor.test_executor_e2e import GRAPHS, grpc_predict

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REF_PYTHON = os.environ.get("SELDON_REF_PYTHON") or "/tmp/seldon-ref-venv/bin/python"
REF_CLI = str(Path(REF_PYTHON).parent / "seldon-core-microservice")
NAMES = ("a", "b", "r", "c", "t", "o")


@pytest.fixture(scope="module")
def setups(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if not os.path.exists(REF_CLI):
        pytest.skip(f"reference wrapper not installed ({REF_CLI}); set SELDON_REF_PYTHON")
    started: list[Any] = []
    reference_procs: list[Any] = []
    out: dict[str, dict[str, NodeService]] = {}
    try:
        for side, reference in (("ours", None), ("ref", REF_CLI)):
            d = tmp_path_factory.mktemp(f"diff-{side}")
            (d / "nodes.py").write_text(NODES_PY)
            out[side] = {n: NodeService(n, d, d / "feedback.log", reference=reference) for n in NAMES}
            (reference_procs if reference else started).extend(s.proc for s in out[side].values())
        for s in [*out["ours"].values(), *out["ref"].values()]:
            s.proc.wait_http(f"http://127.0.0.1:{s.http_port}/health/status", timeout=120)
        executors: dict[tuple[str, str], ExecutorProcess] = {}

        def executor(side: str, graph: str) -> ExecutorProcess:
            key = (side, graph)
            if key not in executors:
                d = tmp_path_factory.mktemp(f"diff-ex-{side}-{graph}")
                executors[key] = ExecutorProcess(d, graph, sdep(GRAPHS[graph](out[side])),
                                                 env={"SELDON_ENABLE_ROUTING_INJECTION": "true"}).wait()
                started.append(executors[key].proc)
            return executors[key]

        yield executor
    finally:
        for p in started:
            p.stop()
        for p in reference_procs:  # the reference's processes do not all stop on SIGTERM
            p.stop(graceful=False)


@pytest.mark.parametrize("graph,body", [
    ("chain", {"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"req": "x"}, "puid": "p"}}),
    ("tmo", {"data": {"tensor": {"shape": [1, 2], "values": [1.5, 2]}}}),
    ("router", {"data": {"ndarray": [[1]]}}),
    ("router", {"data": {"ndarray": [[-1]]}}),
    ("combiner", {"data": {"names": ["x", "y"], "ndarray": [[1.0, 2.0]]}}),
    ("combiner", {"strData": "not numbers"}),
])
def test_same_answers_over_reference_nodes(setups, graph, body):
    ours, ref = setups("ours", graph), setups("ref", graph)
    a, b = ours.predict(body), ref.predict(body)
    assert a.status_code == b.status_code
    assert a.json() == b.json()
    if a.status_code == 200:
        ga, _ = grpc_predict(ours, body)
        gb, _ = grpc_predict(ref, body)
        assert json_format.MessageToDict(ga) == json_format.MessageToDict(gb)
