"""Differential-test fixtures: the reference Seldon Core 1.19 wrapper and seldon_py, side by side.

The reference is located through ``SELDON_REF_PYTHON`` (the python of a venv that has
``seldon-core==1.19.0``; ``/tmp/ref/bin/python`` by default). Its ``seldon-core-microservice``
script sits next to that python. Without it the whole compat suite is skipped.

Both servers of a pair are started with the same user class (``tests/compat/models``), the same
environment and free loopback ports; all pairs start concurrently once per session and are killed
at teardown (whole process groups: the reference leaves children behind on SIGTERM).
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_ports

HERE = Path(__file__).resolve().parent
MODELS_DIR = HERE / "models"
REPO_ROOT = HERE.parent.parent
DEFAULT_REF_PYTHON = "/tmp/ref/bin/python"
STARTUP_TIMEOUT = 60.0

# Extra environment per model class (on top of a scrubbed base environment).
MODEL_ENV: dict[str, dict[str, str]] = {
    "CompatIdentity": {},
    "CompatTagged": {"PREDICTIVE_UNIT_ID": "mymodel", "PREDICTIVE_UNIT_IMAGE": "repo/img:0.3"},
    "CompatTransformer": {},
    "CompatRouter": {},
    "CompatCombiner": {},
    "CompatTypes": {},
    "CompatHealthMeta": {},
    "CompatRaw": {},
}

# Variables either wrapper reads; removed so the caller's shell cannot change the responses.
_SCRUB_PREFIXES = ("PREDICTIVE_UNIT_", "SELDON_", "GUNICORN_", "FLASK_", "GRPC_", "PREDICTOR_",
                   "JAEGER_")
_SCRUB_NAMES = {"MODEL_METADATA", "INCLUDE_METRICS_IN_CLIENT_RESPONSE", "PAYLOAD_PASSTHROUGH",
                "TRACING", "PYTHONPATH", "USE_MULTIPROCESS_PACKAGE", "PROMETHEUS_MULTIPROC_DIR"}


def reference_python() -> str | None:
    """Path of the reference venv's python, or None when unavailable."""
    path = os.environ.get("SELDON_REF_PYTHON") or DEFAULT_REF_PYTHON
    if not os.path.exists(path):
        return None
    return path


def reference_microservice(python: str) -> Path:
    # Not resolved: the venv's bin/python is usually a symlink out of the venv.
    return Path(python).parent / "seldon-core-microservice"


def reference_skip_reason() -> str | None:
    python = reference_python()
    if python is None:
        checked = os.environ.get("SELDON_REF_PYTHON") or DEFAULT_REF_PYTHON
        return ("reference Seldon Core wrapper not found: set SELDON_REF_PYTHON to the python of a "
                f"venv with seldon-core==1.19.0 ({checked} does not exist; default "
                f"{DEFAULT_REF_PYTHON})")
    if not reference_microservice(python).exists():
        return f"no seldon-core-microservice next to {python} (SELDON_REF_PYTHON)"
    return None




def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    log: object = field(repr=False)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 15.0) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def output(self) -> str:
        try:
            self.log.flush()
            return self.log_path.read_text(errors="replace")[-4000:]
        except Exception:  # noqa: BLE001 - diagnostics only
            return ""

    def is_ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()}")
        try:
            return self.request("GET", "/health/ping", timeout=1.0).status == 200
        except OSError:
            return False

    def kill(self, graceful: bool) -> None:
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if graceful and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if pgid is not None:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


@dataclass
class Pair:
    model: str
    ref: Server
    ours: Server


def _start(name: str, cmd: list[str], env: dict[str, str], log_path: Path, port: int) -> Server:
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=MODELS_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(name, port, proc, log_path, log)


@pytest.fixture(scope="session")
def compat_pairs(tmp_path_factory) -> dict[str, Pair]:
    """All (reference, ours) server pairs, keyed by model class name."""
    reason = reference_skip_reason()
    if reason:
        pytest.skip(reason)
    ref_python = reference_python()
    ref_cli = str(reference_microservice(ref_python))
    logdir = tmp_path_factory.mktemp("compat-logs")
    servers: list[Server] = []
    pairs: dict[str, Pair] = {}
    try:
        ports = iter(free_ports(6 * len(MODEL_ENV)))
        for model, extra in MODEL_ENV.items():
            ref_ports = [next(ports) for _ in range(3)]
            our_ports = [next(ports) for _ in range(3)]
            ref_env = {**_base_env(), **extra}
            # gunicorn >= 23 opens a control socket under $HOME; give each master its own.
            home = logdir / f"home-{model}"
            home.mkdir()
            ref_env["HOME"] = str(home)
            ref = _start(
                f"reference:{model}",
                [ref_python, ref_cli, model, "--http-port", str(ref_ports[0]),
                 "--grpc-port", str(ref_ports[1]), "--metrics-port", str(ref_ports[2])],
                ref_env, logdir / f"ref-{model}.log", ref_ports[0])
            servers.append(ref)
            our_env = {**_base_env(), **extra, "PYTHONPATH": str(REPO_ROOT)}
            ours = _start(
                f"seldon_py:{model}",
                [os.environ.get("SELDON_PY_PYTHON", sys.executable), "-m", "seldon_py.cli", model,
                 "--http-port", str(our_ports[0]), "--grpc-port", str(our_ports[1]),
                 "--metrics-port", str(our_ports[2])],
                our_env, logdir / f"ours-{model}.log", our_ports[0])
            servers.append(ours)
            pairs[model] = Pair(model, ref, ours)

        deadline = time.monotonic() + STARTUP_TIMEOUT
        pending = list(servers)
        while pending:
            pending = [s for s in pending if not s.is_ready()]
            if pending and time.monotonic() > deadline:
                raise RuntimeError(f"not ready after {STARTUP_TIMEOUT}s: {[s.name for s in pending]}\n"
                                   f"{pending[0].output()}")
            if pending:
                time.sleep(0.1)
        yield pairs
    finally:
        for server in servers:
            # The reference hangs on SIGTERM (non-daemon gRPC parent): SIGKILL its group at once.
            server.kill(graceful=server.name.startswith("seldon_py"))
