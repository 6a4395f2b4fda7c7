"""Running the batch commands as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("SELDON_BATCH_")}
    out["PYTHONPATH"] = str(ROOT)
    out.update(extra)
    return out


def processor(args: list[str], cwd: Path, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seldon_py.batch.processor", *args], cwd=cwd, env=env(**extra),
                          capture_output=True, text=True, timeout=timeout, check=False)


def evaluate(args: list[str], cwd: Path, timeout: float = 180, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seldon_py.batch.evaluation", *args], cwd=cwd, env=env(**extra),
                          capture_output=True, text=True, timeout=timeout, check=False)


def popen(module: str, args: list[str], cwd: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", module, *args], cwd=cwd, env=env(**extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process group (the subject was started in its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Until ``path`` exists (the subject process creates it when it reaches a point)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {path.name}:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} did not appear in {timeout}s")
        time.sleep(0.02)


def index_of(line: dict) -> int:
    meta = line["meta"]
    return int(meta["tags"]["batch_index"] if "tags" in meta else meta["batch_index"])


def write_lines(path: Path, items: list[str]) -> Path:
    path.write_text("".join(x + "\n" for x in items))
    return path
