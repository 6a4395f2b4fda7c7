"""The server image and the s2i builder, built and run for real with podman.

Each test starts a container with its ports published on loopback, calls it the way a user does
(REST predict and readiness, gRPC Predict, a Prometheus scrape) and stops it with ``podman stop``,
which sends SIGTERM: the server is PID 1 and must drain and exit 0 within the grace period.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import grpc
import pytest
import requests

from seldon_py.proto import prediction_pb2 as pb
from seldon_py.proto import prediction_pb2_grpc as rpc
from tests.conftest import ROOT

from .conftest import Container, podman

pytestmark = [pytest.mark.container, pytest.mark.e2e]

IDENTITY = ROOT / "examples" / "identity"
GRACE_S = 20  # podman stop -t: SIGKILL after this many seconds


def call_like_a_user(c: Container) -> None:
    """REST predict + readiness, gRPC Predict and a metrics scrape against a running container."""
    r = requests.post(c.url + "/api/v1.0/predictions", json={"data": {"ndarray": [[1, 2]]}}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["ndarray"] == [[1, 2]]
    assert requests.get(c.url + "/health/ping", timeout=5).text.strip('"\n') == "pong"
    assert requests.get(c.url + "/health/status", timeout=5).status_code == 200

    msg = pb.SeldonMessage()
    msg.data.tensor.shape.extend([1, 2])
    msg.data.tensor.values.extend([3.0, 4.0])
    with grpc.insecure_channel(f"127.0.0.1:{c.grpc}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        reply = rpc.ModelStub(channel).Predict(msg, timeout=10)
    assert list(reply.data.tensor.values) == [3.0, 4.0]

    scrape = requests.get(f"http://127.0.0.1:{c.metrics}/metrics", timeout=5).text
    assert 'seldon_api_model_requests_total{' in scrape
    assert 'transport="grpc"' in scrape and 'transport="rest"' in scrape


def stop_and_check_clean_exit(c: Container) -> None:
    """podman stop (SIGTERM): exit 0 before the grace period ends, nothing left running."""
    started = time.monotonic()
    podman("stop", "-t", str(GRACE_S), c.name, timeout=GRACE_S + 30)
    took = time.monotonic() - started
    state = c.state()
    assert state["running"] == "false" and state["status"] == "exited", state
    # 0 means the server handled SIGTERM itself; podman's SIGKILL after the grace would give 137
    assert state["exit_code"] == "0", f"exit {state['exit_code']} after {took:.1f}s:\n{c.logs()}"
    assert took < GRACE_S, f"stop took {took:.1f}s, the whole grace period"


def test_server_image_serves_a_mounted_model_and_stops_cleanly(server_image: str) -> None:
    c = Container(server_image, env={"MODEL_NAME": "IdentityModel"}, volumes={IDENTITY: "/microservice"})
    try:
        c.wait_ready()
        # PID 1 is the server itself (the run script exec'd it), so SIGTERM reaches it
        cmdline = podman("exec", c.name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
        assert "seldon-core-microservice IdentityModel" in cmdline, cmdline
        user = podman("exec", c.name, "id", "-u").stdout.strip()
        assert user == "8888"
        call_like_a_user(c)
        stop_and_check_clean_exit(c)
        assert "Traceback" not in c.logs()
    finally:
        c.remove()


def test_server_image_without_model_name_fails_with_a_clear_message(server_image: str) -> None:
    out = podman("run", "--rm", server_image, check=False, timeout=120)
    assert out.returncode != 0
    assert "MODEL_NAME is not set" in out.stderr + out.stdout


def test_image_ships_the_executor_and_batch_entry_points(server_image: str) -> None:
    for command in ("seldon-core-microservice", "seldon-core-executor", "seldon-batch-processor"):
        out = podman("run", "--rm", server_image, command, "--help", check=False, timeout=120)
        if out.returncode != 0 and "executable file" in out.stderr and command != "seldon-core-microservice":
            pytest.fail(f"{command} is not in the image: {out.stderr.strip()}")
        assert out.returncode == 0, out.stderr
        assert "usage:" in out.stdout.lower()


# ------------------------------------------------------------------ s2i
def make_source(tmp_path: Path, environment: str | None) -> Path:
    """A model source as users write it: the class, requirements.txt (a local wheel, so the build
    needs no network) and .s2i/environment."""
    src = tmp_path / "src"
    (src / ".s2i").mkdir(parents=True)
    (src / "Doubler.py").write_text(
        "import tinydep\n\n"
        "class Doubler:\n"
        "    def predict(self, X, names, meta=None):\n"
        "        return X * tinydep.FACTOR\n"
    )
    pkg = tmp_path / "tinydep"
    (pkg / "tinydep").mkdir(parents=True)
    (pkg / "tinydep" / "__init__.py").write_text("FACTOR = 2\n")
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinydep"\nversion = "0.1"\n'
    )
    wheels = src / ".wheels"
    subprocess.run(
        [str(Path(__import__("sys").executable)), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(pkg)],
        check=True, capture_output=True,
    )
    (src / "requirements.txt").write_text("tinydep==0.1\n")
    if environment is not None:
        (src / ".s2i" / "environment").write_text(environment)
    return src


def assemble(builder: str, src: Path, name: str, *env: str) -> subprocess.CompletedProcess[str]:
    """What `s2i build` does, without the s2i binary: copy the source to /tmp/src in a container
    of the builder and run its assemble script there as the assemble user (root)."""
    args = ["create", "--name", name, "--user", "0"]
    for e in env:
        args += ["-e", e]
    podman(*args, builder, "/s2i/bin/assemble")
    podman("cp", f"{src}/.", f"{name}:/tmp/src")
    return podman("start", "-a", name, check=False, timeout=600)


def test_s2i_assemble_builds_a_model_image_that_runs(builder_image: str, tmp_path: Path) -> None:
    src = make_source(tmp_path, "MODEL_NAME=Doubler\nSERVICE_TYPE=MODEL\nPIP_NO_INDEX=1\n")
    name = f"seldon-py-s2i-build-{tmp_path.name[-8:]}".lower()
    model_image = f"localhost/seldon-py-s2i-model:{tmp_path.name[-8:]}".lower()
    try:
        out = assemble(builder_image, src, name)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Build finished: the image runs 'Doubler' as a MODEL" in out.stdout
        podman("commit", "-q", "--change", "USER 8888", "--change", 'CMD ["/s2i/bin/run"]', name, model_image)
    finally:
        podman("rm", "-f", name, check=False)
    c = Container(model_image)
    try:
        c.wait_ready()
        r = requests.post(c.url + "/api/v1.0/predictions", json={"data": {"ndarray": [[1, 2]]}}, timeout=10)
        assert r.status_code == 200 and r.json()["data"]["ndarray"] == [[2, 4]], r.text
        stop_and_check_clean_exit(c)
    finally:
        c.remove()
        podman("rmi", "-f", model_image, check=False)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (None, "MODEL_NAME is not set"),
        ("MODEL_NAME=Doubler\n", "SERVICE_TYPE is not set"),
        ("MODEL_NAME=Doubler\nSERVICE_TYPE=BOGUS\n", "SERVICE_TYPE=BOGUS is not one of"),
        ("MODEL_NAME=NoSuchModel\nSERVICE_TYPE=MODEL\nPIP_NO_INDEX=1\n", "module 'NoSuchModel' is not in the source"),
        ("MODEL_NAME Doubler\n", "is not KEY=VALUE"),
    ],
)
def test_s2i_assemble_fails_clearly_on_bad_settings(
    builder_image: str, tmp_path: Path, environment: str | None, message: str
) -> None:
    src = make_source(tmp_path, environment)
    name = f"seldon-py-s2i-bad-{tmp_path.name[-8:]}".lower()
    try:
        out = assemble(builder_image, src, name)
    finally:
        podman("rm", "-f", name, check=False)
    assert out.returncode != 0
    assert message in out.stderr, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
