"""`seldon-core-graph run` end to end: real microservices + the real executor, then nothing left.

Also runs examples/graph as its README says, remote and --in-process, and checks both give the
README's answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_ports

EXAMPLE = ROOT / "examples" / "graph"
pytestmark = pytest.mark.e2e
needs_executor = pytest.mark.skipif(importlib.util.find_spec("seldon_py.executor") is None,
                                    reason="the executor (seldon_py.executor) is not in this tree yet")
READY_TIMEOUT = 120.0


def all_pids() -> dict[int, tuple[int, int]]:
    """pid → (ppid, pgid) for every process, from /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(d)] = (int(fields[1]), int(fields[2]))
    return out


def descendants(root: int) -> set[int]:
    procs = all_pids()
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, (pp, _) in procs.items() if pp in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Run:
    """`python -m seldon_py.localrun.cli run ...` with its output collected."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.http, self.grpc = free_ports(2)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seldon_py.localrun.cli", "run", *args,
             "--http-port", str(self.http), "--grpc-port", str(self.grpc), "--grace", "15"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=open(log, "wb"),  # noqa: SIM115
            start_new_session=True)
        self.out = ""
        self.url = f"http://127.0.0.1:{self.http}"

    def wait_for(self, text: str, timeout: float = READY_TIMEOUT) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while text not in self.out:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} after {timeout}s; stdout:\n{self.out}\nlog:\n{self.log.read_text()}")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536).decode()
                if not chunk:
                    raise AssertionError(f"runner exited ({self.proc.wait()}): {self.out}\n{self.log.read_text()}")
                self.out += chunk

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for r in started:
        tree = descendants(r.proc.pid)
        if r.proc.poll() is None:
            r.stop()
        for pid in tree:  # belt and braces: never leave anything behind a failed test
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def readme_calls() -> list[tuple[dict, str, dict]]:
    """(request body, path, expected response) for each `$ curl` line of the README."""
    lines = (EXAMPLE / "README.md").read_text().splitlines()
    calls = []
    for i, line in enumerate(lines):
        if line.startswith("$ curl "):
            body = json.loads(re.search(r"-d '([^']+)'", line).group(1))  # type: ignore[union-attr]
            path = re.search(r"http://localhost:9000(\S+)", line).group(1)  # type: ignore[union-attr]
            calls.append((body, path, json.loads(lines[i + 1])))
    return calls


@needs_executor
@pytest.mark.parametrize("mode", ["remote", "in-process"])
def test_example_graph_runs_learns_and_stops_clean(runs: list[Run], tmp_path: Path, mode: str) -> None:
    import requests

    extra = ["--in-process"] if mode == "in-process" else []
    r = Run([str(EXAMPLE / "deployment.yaml"), *extra], tmp_path / "run.log")
    runs.append(r)
    r.wait_for("Press Ctrl-C to stop.")
    assert f"http://localhost:{r.http}/api/v1.0/predictions" in r.out
    tree = descendants(r.proc.pid)
    groups = {all_pids()[p][1] for p in tree if p in all_pids()}
    if mode == "remote":
        assert len(groups) == 7, r.out  # six nodes and the executor, each its own process group
        for node in ("transformer", "router", "model-a", "ensemble", "model-b", "model-c"):
            assert f"node {node}: http://127.0.0.1:" in r.out
    else:
        assert len(groups) == 1, r.out
    calls = readme_calls()
    # gRPC ingress too (before any feedback: the router's gRPC process has learnt nothing either)
    import grpc

    from seldon_py.proto import prediction_pb2 as pb
    from seldon_py.proto import prediction_pb2_grpc as pb_grpc

    msg = pb.SeldonMessage()
    msg.data.ndarray.extend([[1, 2]])
    with grpc.insecure_channel(f"127.0.0.1:{r.grpc}") as channel:
        reply = pb_grpc.SeldonStub(channel).Predict(msg, timeout=30)
    assert [[x.number_value for x in v.list_value.values] for v in reply.data.ndarray.values] == [[4.5, 8.5]]
    assert [path for _, path, _ in calls] == ["/api/v1.0/predictions", "/api/v1.0/feedback", "/api/v1.0/predictions"]
    for body, path, expected in calls:  # predict (ensemble), feedback for model-a, predict (model-a)
        resp = requests.post(r.url + path, json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json() == expected, path

    assert r.stop(signal.SIGTERM if mode == "remote" else signal.SIGINT) == 0  # SIGINT: Ctrl-C
    left = [p for p in tree if alive(p)]
    assert not left, f"left running: {left}"
    assert not [p for p, (_, g) in all_pids().items() if g in groups and alive(p)]


@needs_executor
def test_node_that_cannot_start_stops_everything(runs: list[Run], tmp_path: Path) -> None:
    for name in ("good", "bad"):
        (tmp_path / name / ".s2i").mkdir(parents=True)
    (tmp_path / "good" / ".s2i" / "environment").write_text("MODEL_NAME=Good\n")
    (tmp_path / "good" / "Good.py").write_text("class Good:\n    def predict(self, X, names):\n        return X\n")
    (tmp_path / "bad" / ".s2i" / "environment").write_text("MODEL_NAME=Missing\n")
    doc = {"kind": "SeldonDeployment", "metadata": {"name": "broken"}, "spec": {"predictors": [{
        "name": "p", "graph": {"name": "a", "type": "MODEL", "children": [{"name": "b", "type": "MODEL"}]},
        "componentSpecs": [{"spec": {"containers": [{"name": "a", "image": "x/good:1"},
                                                    {"name": "b", "image": "x/bad:1"}]}}]}]}}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    r = Run([str(tmp_path / "d.json")], tmp_path / "run.log")
    runs.append(r)
    seen: set[int] = set()
    while r.proc.poll() is None:  # watch the tree until the runner gives up
        seen |= descendants(r.proc.pid)
        time.sleep(0.05)
    assert r.proc.returncode == 1
    errors = [ln for ln in r.log.read_text().splitlines() if ln.startswith("seldon-core-graph: error")]
    assert len(errors) == 1 and "node 'b'" in errors[0] and "before it was ready" in errors[0], errors
    assert seen, "the runner never started the nodes"
    assert not [p for p in seen if alive(p)]


def test_bad_deployment_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text(json.dumps({"kind": "SeldonDeployment", "spec": {"predictors": [
        {"name": "p", "graph": {"name": "a", "type": "MODEL"}, "componentSpecs": []}]}}))
    out = subprocess.run([sys.executable, "-m", "seldon_py.localrun.cli", "run", str(tmp_path / "d.json")],
                         check=False, capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        (f"seldon-core-graph: error: {tmp_path / 'd.json'}: node 'a': no container named 'a' in componentSpecs"
         " and no implementation")
    ]


def one_node_deployment(tmp_path: Path) -> Path:
    (tmp_path / "echo" / ".s2i").mkdir(parents=True)
    (tmp_path / "echo" / ".s2i" / "environment").write_text("MODEL_NAME=Echo\nSERVICE_TYPE=MODEL\n")
    (tmp_path / "echo" / "Echo.py").write_text("class Echo:\n    def predict(self, X, names):\n        return X\n")
    doc = {"kind": "SeldonDeployment", "metadata": {"name": "one"}, "spec": {"predictors": [{
        "name": "p", "graph": {"name": "echo", "type": "MODEL"},
        "componentSpecs": [{"spec": {"containers": [{"name": "echo", "image": "me/echo:1"}]}}]}]}}
    (tmp_path / "d.json").write_text(json.dumps(doc))
    return tmp_path / "d.json"


@needs_executor
def test_children_stop_when_the_runner_is_killed(runs: list[Run], tmp_path: Path) -> None:
    """SIGKILL leaves the runner no chance to clean up: the children's parent-death signal does."""
    r = Run([str(one_node_deployment(tmp_path))], tmp_path / "run.log")
    runs.append(r)
    r.wait_for("Press Ctrl-C to stop.")
    tree = descendants(r.proc.pid)
    assert len(tree) >= 2
    os.kill(r.proc.pid, signal.SIGKILL)
    r.proc.wait(10)
    deadline = time.monotonic() + 90
    while [p for p in tree if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in tree if alive(p)], "children outlived a killed runner"
