"""examples/torchserve answers as its README says (TorchServe's multi-line JSON included)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from tests.conftest import free_ports
from tests.test_examples import cli_env, needs_curl, start, stop

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "torchserve"
MEASURED = re.compile(r'("key":"HandlerTime","type":"GAUGE","value":)[-+0-9.eE]+')


def readme_command() -> list[str]:
    text = (EXAMPLE / "README.md").read_text()
    match = re.search(r"^cd examples/torchserve && seldon-core-microservice (.+)$", text, re.MULTILINE)
    assert match is not None
    return shlex.split(match.group(1))


def readme_calls() -> list[tuple[str, str]]:
    """(curl command, expected output up to the next command or the end of the block)."""
    block = (EXAMPLE / "README.md").read_text().split("```console\n", 1)[1].split("```", 1)[0]
    calls = []
    for part in block.split("$ ")[1:]:
        cmd, _, out = part.partition("\n")
        calls.append((cmd, out.rstrip("\n")))
    return calls


@pytest.mark.e2e
@needs_curl
def test_torchserve_example_answers_as_its_readme_says(tmp_path):
    http, grpc, metrics = free_ports(3)
    args = readme_command()
    args[args.index("--http-port") + 1] = str(http)
    args += ["--grpc-port", str(grpc), "--metrics-port", str(metrics), "--grpc-workers", "0", "--host", "127.0.0.1"]
    server = start([sys.executable, "-m", "seldon_py.cli", *args], EXAMPLE, tmp_path / "server.log", http,
                   cli_env(), "torchserve")
    try:
        calls = readme_calls()
        assert len(calls) == 3
        for cmd, expected in calls:
            got = server.curl(cmd)
            assert MEASURED.sub(r"\1<t>", got.rstrip("\n")) == MEASURED.sub(r"\1<t>", expected), cmd
    finally:
        assert stop(server.proc) == 0, server.log.read_text()
