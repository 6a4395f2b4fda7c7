"""The examples do what their READMEs say, and the s2i scripts build and run a model.

Each ``examples/<name>/README.md`` holds one command line
``cd examples/<name> && seldon-core-microservice <Class> ...`` and a console block of
``$ curl ...`` lines, each followed by the exact response. The end-to-end tests start that
command on free loopback ports (from the example's folder, gRPC off), run every curl line in
order against it, compare the output byte for byte (after stripping the trailing newline), then
stop the server with SIGTERM and expect exit status 0.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_ports

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
S2I_BIN = REPO / "s2i" / "bin"
NAMES = ["identity", "tags_metrics", "transformer", "router", "combiner"]
README_PORT = "http://localhost:9000"
COMMAND_RE = re.compile(r"^cd examples/(?P<dir>\S+) && seldon-core-microservice (?P<args>.+)$", re.M)
# A measured TIMER value differs between runs: compared as "a number" only.
TIMER_RE = re.compile(r'("type":"TIMER","value":)[-+0-9.eE]+')
STARTUP_DEADLINE_S = 15.0


# ------------------------------------------------------------------ README parsing
def readme(name: str) -> str:
    return (EXAMPLES / name / "README.md").read_text(encoding="utf-8")


def readme_command(name: str) -> list[str]:
    """The arguments after ``seldon-core-microservice`` on the README's one command line."""
    matches = COMMAND_RE.findall(readme(name))
    assert len(matches) == 1, (f"{name}/README.md must hold exactly one "
                               f"'cd examples/{name} && seldon-core-microservice ...' line")
    folder, args = matches[0]
    assert folder == name
    return shlex.split(args)


def readme_calls(name: str) -> list[tuple[str, str]]:
    """(curl command, expected output) pairs from the README's ``$ curl`` lines."""
    lines = readme(name).splitlines()
    calls = []
    for i, line in enumerate(lines):
        if line.startswith("$ curl "):
            calls.append((line[2:], lines[i + 1]))
    return calls


def normalise(text: str) -> str:
    return TIMER_RE.sub(r"\1<measured>", text.strip())


# ------------------------------------------------------------------ static checks
@pytest.mark.parametrize("name", NAMES)
def test_readme_has_its_command_and_calls(name: str) -> None:
    args = readme_command(name)
    interface = args[0]
    assert (EXAMPLES / name / f"{interface}.py").is_file(), f"{interface}.py missing in examples/{name}"
    assert "--http-port" in args and args[args.index("--http-port") + 1] == "9000"
    assert "pip install ." in readme(name)
    calls = readme_calls(name)
    assert calls, f"{name}/README.md has no '$ curl' lines"
    for cmd, expected in calls:
        assert README_PORT in cmd
        assert expected.startswith(("{", "[")), f"no expected output after: {cmd}"


@pytest.mark.parametrize("name", NAMES)
def test_example_imports_only_seldon_py_and_numpy(name: str) -> None:
    allowed = {"seldon_py", "numpy", "random", "time", "math"}
    for path in (EXAMPLES / name).glob("*.py"):
        for mod in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), re.M):
            assert mod.split(".")[0] in allowed | {"__future__"}, f"{path.name} imports {mod}"


# ------------------------------------------------------------------ helpers


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PREDICTIVE_UNIT_PARAMETERS", None)
    env.update(extra or {})
    return env


_HELP: str | None = None


def cli_help() -> str:
    global _HELP
    if _HELP is None:
        _HELP = subprocess.run([sys.executable, "-m", "seldon_py.cli", "--help"], env=cli_env(),
                               capture_output=True, text=True, timeout=30).stdout
    return _HELP


def http_get_status(port: int, path: str) -> int | None:
    """Status of GET path on 127.0.0.1:port, or None if nothing answers yet (stdlib only)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64).decode("latin-1")
    except OSError:
        return None
    m = re.match(r"HTTP/1\.[01] (\d{3})", head)
    return int(m.group(1)) if m else None


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before it was ready:\n{log.read_text()}")
        if http_get_status(port, "/health/status") == 200:
            return
        time.sleep(0.05)
    pytest.fail(f"server not ready after {STARTUP_DEADLINE_S}s:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int | None:
    """SIGTERM the server; SIGKILL its whole group if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            return None
    return proc.returncode


class Server:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path, name: str = "") -> None:
        self.proc, self.port, self.log, self.name = proc, port, log, name

    def curl(self, cmd: str) -> str:
        cmd = cmd.replace(README_PORT, f"http://127.0.0.1:{self.port}")
        out = subprocess.run(["bash", "-c", cmd + " --max-time 10"], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, f"{cmd}\nexit {out.returncode}: {out.stderr}\n{self.log.read_text()}"
        return out.stdout


def start(cmd: list[str], cwd: Path, log: Path, port: int, env: dict[str, str], name: str = "") -> Server:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = Server(proc, port, log, name)
    try:
        wait_ready(proc, port, log)
    except BaseException:
        stop(proc, 5)
        raise
    return server


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


# ------------------------------------------------------------------ the examples, end to end
@pytest.fixture(params=NAMES)
def example_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    name = request.param
    http, grpc, metrics = free_ports(3)
    args = readme_command(name)
    i = args.index("--http-port")
    args[i + 1] = str(http)
    args += ["--grpc-port", str(grpc), "--metrics-port", str(metrics)]
    if "--grpc-workers" in cli_help():
        args += ["--grpc-workers", "0"]
    if "--host" in cli_help():
        args += ["--host", "127.0.0.1"]
    server = start([sys.executable, "-m", "seldon_py.cli", *args], EXAMPLES / name,
                   tmp_path / "server.log", http, cli_env(), name)
    try:
        yield server
    finally:
        code = stop(server.proc)
    assert code == 0, f"server did not exit 0 on SIGTERM (got {code}):\n{server.log.read_text()}"


@pytest.mark.e2e
@needs_curl
def test_example_answers_as_its_readme_says(example_server: Server) -> None:
    name = example_server.name
    for cmd, expected in readme_calls(name):
        got = example_server.curl(cmd)
        assert normalise(got) == normalise(expected), f"examples/{name}: {cmd}"


def test_tags_metrics_timer_is_a_number() -> None:
    # the README's TIMER value is only a sample: make sure the mask keeps the rest exact
    calls = readme_calls("tags_metrics")
    assert all(TIMER_RE.search(expected) for _, expected in calls)


# ------------------------------------------------------------------ s2i scripts
def s2i_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    exe = shim / "seldon-core-microservice"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m seldon_py.cli "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    env = cli_env({
        "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}",
        "S2I_SRC_DIR": str(tmp_path / "src"),
        "S2I_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "APP_ROOT": str(tmp_path / "app"),
        "PYTHON": sys.executable,
    })
    for key in ("MODEL_NAME", "SERVICE_TYPE", "PERSISTENCE", "API_TYPE"):
        env.pop(key, None)
    env.update(extra)
    return env


def run_script(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(S2I_BIN / script), *args], env=env, capture_output=True, text=True, timeout=60)


def test_s2i_scripts_are_executable() -> None:
    for script in ("assemble", "run", "usage", "save-artifacts"):
        assert os.access(S2I_BIN / script, os.X_OK), script


def test_s2i_assemble_help_and_loud_failures(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "identity", tmp_path / "src")
    out = run_script("assemble", s2i_env(tmp_path), "-h")
    assert out.returncode == 0 and "MODEL_NAME" in out.stdout and "s2i build" in out.stdout

    out = run_script("assemble", s2i_env(tmp_path, SERVICE_TYPE="MODEL"))
    assert out.returncode != 0 and "MODEL_NAME is not set" in out.stderr

    out = run_script("assemble", s2i_env(tmp_path, MODEL_NAME="IdentityModel"))
    assert out.returncode != 0 and "SERVICE_TYPE is not set" in out.stderr

    out = run_script("assemble", s2i_env(tmp_path, MODEL_NAME="IdentityModel", SERVICE_TYPE="BOGUS"))
    assert out.returncode != 0 and "SERVICE_TYPE=BOGUS" in out.stderr

    out = run_script("assemble", s2i_env(tmp_path, MODEL_NAME="NoSuchModel", SERVICE_TYPE="MODEL"))
    assert out.returncode != 0 and "NoSuchModel" in out.stderr

    out = run_script("run", s2i_env(tmp_path, SERVICE_TYPE="MODEL"))
    assert out.returncode != 0 and "MODEL_NAME is not set" in out.stderr


def test_s2i_scripts_read_the_source_environment_file_without_s2i(tmp_path: Path) -> None:
    """Without the s2i binary nothing exports .s2i/environment: assemble and run read it."""
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES / "identity", src)
    (src / ".s2i").mkdir()
    (src / ".s2i" / "environment").write_text(
        "# a comment\n\nMODEL_NAME=IdentityModel\nSERVICE_TYPE=\"TRANSFORMER\"\r\n"
    )
    out = run_script("assemble", s2i_env(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the image runs 'IdentityModel' as a TRANSFORMER" in out.stdout
    # what is set in the environment wins over the file
    out = run_script("assemble", s2i_env(tmp_path, SERVICE_TYPE="BOGUS"))
    assert out.returncode != 0 and "SERVICE_TYPE=BOGUS is not one of" in out.stderr
    # nothing in the file is executed; a malformed line is named
    (src / ".s2i" / "environment").write_text("MODEL_NAME=IdentityModel\n$(touch pwned)\n")
    out = run_script("assemble", s2i_env(tmp_path))
    assert out.returncode != 0 and "line 2 is not KEY=VALUE" in out.stderr
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


@pytest.mark.e2e
@needs_curl
def test_s2i_assemble_then_run_serves_the_model(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(EXAMPLES / "identity", src)
    before_run = src / "before-run"
    before_run.write_text("#!/bin/sh\necho before-run-was-here > before-run.out\n")
    before_run.chmod(0o755)
    artifacts = tmp_path / "artifacts" / ".wheels"
    artifacts.mkdir(parents=True)
    (artifacts / "restored.txt").write_text("from the previous build\n")

    http, grpc, metrics = free_ports(3)
    env = s2i_env(tmp_path, MODEL_NAME="IdentityModel", SERVICE_TYPE="MODEL", PERSISTENCE="0",
                  PREDICTIVE_UNIT_HTTP_SERVICE_PORT=str(http),
                  PREDICTIVE_UNIT_GRPC_SERVICE_PORT=str(grpc),
                  PREDICTIVE_UNIT_METRICS_SERVICE_PORT=str(metrics),
                  GRPC_WORKERS="0", SELDON_HOST="127.0.0.1")
    out = run_script("assemble", env)
    assert out.returncode == 0, out.stdout + out.stderr
    app = tmp_path / "app"
    assert (app / "IdentityModel.py").is_file()
    assert (app / ".wheels" / "restored.txt").is_file()

    saved = subprocess.run([str(S2I_BIN / "save-artifacts")], env=env, capture_output=True, timeout=30)
    assert saved.returncode == 0 and b".wheels/restored.txt" in saved.stdout

    server = start([str(S2I_BIN / "run")], tmp_path, tmp_path / "run.log", http, env)
    try:
        assert (app / "before-run.out").read_text() == "before-run-was-here\n"
        cmd, expected = readme_calls("identity")[0]
        assert server.curl(cmd).strip() == expected
    finally:
        code = stop(server.proc)
    assert code == 0, server.log.read_text()


# ------------------------------------------------------------------ images (static checks; built by hand)
def test_dockerfile_contract() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M) and "ARG BASE_IMAGE=python:3.11-slim" in text
    assert "pip install --no-cache-dir" in text
    assert re.search(r"^USER 8888$", text, re.M)
    assert re.search(r"^WORKDIR /microservice$", text, re.M)
    assert re.search(r"^EXPOSE 9000 5000 6000$", text, re.M)
    # no image defaults for these: they would override a source's .s2i/environment (see s2i/bin/run)
    assert not re.search(r"^\s*(ENV\s+)?(MODEL_NAME|SERVICE_TYPE)=", text, re.M)
    assert re.search(r'^CMD \["/s2i/bin/run"\]$', text, re.M)  # exec form, no shell left as PID 1
    run = (S2I_BIN / "run").read_text()
    assert 'exec seldon-core-microservice "$MODEL_NAME" --service-type "$SERVICE_TYPE"' in run
    s2i = (REPO / "s2i" / "Dockerfile").read_text()
    assert 'io.openshift.s2i.scripts-url="image:///s2i/bin"' in s2i
    assert "io.openshift.s2i.assemble-user" in s2i
    ignored = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()]
    assert not {"s2i", "s2i/", "s2i/bin", "s2i/bin/", "README.md", "setup.cfg", "pyproject.toml"} & set(ignored)
