"""Fixtures for the container tests: podman, the server image and the s2i builder image.

These tests build and run real images with podman (no Docker engine here). They need the
environment of ``../shared/tools/container-env.sh`` (podman, a local ``python:3.11-slim`` base,
``CONTAINERS_CONF``); without it they are skipped, unless ``SELDON_CONTAINER_TESTS=1`` (set by
``.ci/run``), which turns a missing podman into a failure so CI cannot pass by skipping them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_ports

REQUIRED = os.environ.get("SELDON_CONTAINER_TESTS") == "1"


def podman(*args: str, check: bool = True, timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run podman; on failure the assertion shows its stderr."""
    out = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    if check and out.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return out  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def container_env() -> None:
    why = None
    if shutil.which("podman") is None:
        why = "podman is not installed"
    elif not os.environ.get("CONTAINERS_CONF"):
        why = "the container environment is not set up"
    if why:
        msg = f"{why}: run `source ../shared/tools/container-env.sh` first"
        if REQUIRED:
            pytest.fail(msg + " (SELDON_CONTAINER_TESTS=1 requires the container tests)")
        pytest.skip(msg)


def _tag(name: str) -> str:
    return f"localhost/{name}:test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def server_image(container_env: None) -> Iterator[str]:
    """The repository's Dockerfile, built with --pull=never (the base is local)."""
    tag = _tag("seldon-py")
    podman("build", "--pull=never", "--format", "docker", "-q", "-t", tag, str(ROOT))
    yield tag
    podman("rmi", "-f", tag, check=False)


@pytest.fixture(scope="session")
def builder_image(server_image: str) -> Iterator[str]:
    """The s2i builder (s2i/Dockerfile) on top of the server image."""
    tag = _tag("seldon-py-s2i")
    podman("build", "--pull=never", "--format", "docker", "-q", "--build-arg", f"BASE_IMAGE={server_image}",
           "-t", tag, str(ROOT / "s2i"))
    yield tag
    podman("rmi", "-f", tag, check=False)


class Container:
    """A detached container with its REST, gRPC and metrics ports published on loopback."""

    def __init__(self, image: str, *args: str, env: dict[str, str] | None = None,
                 volumes: dict[Path, str] | None = None, command: list[str] | None = None) -> None:
        self.name = f"seldon-py-test-{uuid.uuid4().hex[:10]}"
        self.rest, self.grpc, self.metrics = free_ports(3)
        cmd = ["run", "-d", "--name", self.name,
               "-p", f"127.0.0.1:{self.rest}:9000", "-p", f"127.0.0.1:{self.grpc}:5000",
               "-p", f"127.0.0.1:{self.metrics}:6000"]
        for k, v in (env or {}).items():
            cmd += ["-e", f"{k}={v}"]
        for host, inside in (volumes or {}).items():
            cmd += ["-v", f"{host}:{inside}:ro,Z"]
        cmd += [*args, image, *(command or [])]
        podman(*cmd)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest}"

    def logs(self) -> str:
        out = podman("logs", self.name, check=False)
        return out.stdout + out.stderr

    def state(self) -> dict[str, str]:
        fmt = "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}"
        status, code, running = podman("inspect", "--format", fmt, self.name).stdout.split()
        return {"status": status, "exit_code": code, "running": running}

    def wait_ready(self, path: str = "/health/status", timeout: float = 90.0) -> None:
        """Poll readiness until 200 (the container's own signal that load() finished)."""
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state()["running"] != "true":
                raise AssertionError(f"container exited before it was ready:\n{self.logs()}")
            try:
                if requests.get(self.url + path, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise AssertionError(f"not ready after {timeout}s:\n{self.logs()}")

    def remove(self) -> None:
        podman("rm", "-f", "-t", "0", self.name, check=False)
