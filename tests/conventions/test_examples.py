"""examples/vessl, examples/rafiki, examples/starwhale do what their READMEs say (byte for byte),
with the harness of tests/test_examples.py."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_ports
from tests.test_examples import (
    EXAMPLES,
    README_PORT,
    Server,
    cli_env,
    needs_curl,
    normalise,
    readme,
    readme_calls,
    readme_command,
    start,
    stop,
)

NAMES = ["vessl", "rafiki", "starwhale"]


@pytest.mark.parametrize("name", NAMES)
def test_readme_has_its_command_and_calls(name: str) -> None:
    args = readme_command(name)
    module = args[0].split(".")[0]
    assert (EXAMPLES / name / f"{module}.py").is_file()
    assert "--http-port" in args and args[args.index("--http-port") + 1] == "9000"
    assert "pip install ." in readme(name)
    calls = readme_calls(name)
    assert calls and all(README_PORT in cmd and out.startswith("{") for cmd, out in calls)


@pytest.mark.parametrize("name", NAMES)
def test_example_does_not_import_seldon_py(name: str) -> None:
    for path in (EXAMPLES / name).glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), re.MULTILINE)
        own = [m for m in imports if m.startswith("seldon_py")]
        assert not own, f"{path.name} must be written as its project writes it"


@pytest.fixture(params=NAMES)
def example_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    name = request.param
    http, grpc, metrics = free_ports(3)
    args = readme_command(name)
    args[args.index("--http-port") + 1] = str(http)
    args += ["--grpc-port", str(grpc), "--metrics-port", str(metrics), "--grpc-workers", "0", "--host", "127.0.0.1"]
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
    assert f"as a {name} model" in example_server.log.read_text()
