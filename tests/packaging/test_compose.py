"""The example graph as containers: examples/graph/compose.yaml brought up with podman-compose,
called end to end through the executor, and torn down with nothing left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import ROOT, free_ports

from .conftest import REQUIRED, podman

pytestmark = [pytest.mark.container, pytest.mark.e2e]

COMPOSE = ROOT / "examples" / "graph" / "compose.yaml"


class Compose:
    def __init__(self, image: str) -> None:
        self.project = f"sptest{uuid.uuid4().hex[:8]}"
        self.http, self.grpc = free_ports(2)
        self.env = {**os.environ, "SELDON_PY_IMAGE": image,
                    "SELDON_PY_GRAPH_HTTP_PORT": str(self.http), "SELDON_PY_GRAPH_GRPC_PORT": str(self.grpc)}

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman-compose", "-p", self.project, "-f", str(COMPOSE), *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout, check=False)

    def containers(self) -> list[str]:
        out = podman("ps", "-a", "--filter", f"label=io.podman.compose.project={self.project}",
                     "--format", "{{.Names}}")
        return out.stdout.split()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{podman('logs', name, check=False).stderr[-3000:]}"
                         for name in self.containers())


@pytest.fixture
def compose(server_image: str) -> Iterator[Compose]:
    if shutil.which("podman-compose") is None:
        msg = "podman-compose is not installed (apt-get install podman-compose)"
        if REQUIRED:
            pytest.fail(msg)
        pytest.skip(msg)
    c = Compose(server_image)
    try:
        yield c
    finally:
        c.run("down", "-t", "5")


def test_example_graph_runs_as_containers_and_tears_down_clean(compose: Compose) -> None:
    up = compose.run("up", "-d")
    assert up.returncode == 0, up.stdout + up.stderr
    assert len(compose.containers()) == 7  # six nodes and the executor
    url = f"http://127.0.0.1:{compose.http}"
    deadline = time.monotonic() + 120
    while True:  # /ready is 200 once every node accepts connections
        try:
            if requests.get(url + "/ready", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "graph not ready after 120 s\n" + compose.logs()
        time.sleep(0.5)

    r = requests.post(url + "/api/v1.0/predictions", json={"data": {"ndarray": [[1, 2]]}}, timeout=30)
    assert r.status_code == 200, r.text + compose.logs()
    body = r.json()
    assert body["data"]["ndarray"] == [[4.5, 8.5]]  # x*2 → router → mean(x, 3x+1); as examples/graph/README.md
    assert set(body["meta"]["requestPath"]) == {"transformer", "ensemble", "model-b", "model-c"}
    assert r.headers.get("Seldon-Puid") or body["meta"].get("puid")

    # feedback reaches the bandit across containers: it now prefers model-a (×10)
    fb = {"request": {"data": {"ndarray": [[1, 2]]}}, "response": {"meta": {"routing": {"router": 0}}}, "reward": 1}
    assert requests.post(url + "/api/v1.0/feedback", json=fb, timeout=30).status_code == 200
    r = requests.post(url + "/api/v1.0/predictions", json={"data": {"ndarray": [[1, 2]]}}, timeout=30)
    assert r.json()["data"]["ndarray"] == [[20.0, 40.0]], r.text

    down = compose.run("down", "-t", "10")
    assert down.returncode == 0, down.stdout + down.stderr
    assert compose.containers() == []
    pods = podman("pod", "ps", "--filter", f"name={compose.project}", "--format", "{{.Name}}").stdout.split()
    assert pods == []
