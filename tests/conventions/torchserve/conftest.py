"""Fixtures: real .mar archives built with torch-model-archiver (when installed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def archiver() -> list[str]:
    exe = shutil.which("torch-model-archiver", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("torch-model-archiver is not installed (pip install -e '.[torchserve]')")
    return [exe]


def build_mar(workdir: Path, name: str, handler_source: str, version: str = "1.0",
              extra: dict[str, str] | None = None, config: str | None = None,
              requirements: str | None = None, handler_file: str = "handler.py") -> Path:
    """A real model archive made by torch-model-archiver from the given sources."""
    src = workdir / f"src-{name}"
    src.mkdir(parents=True, exist_ok=True)
    (src / handler_file).write_text(handler_source)
    cmd = [*archiver(), "--model-name", name, "--version", version, "--handler", str(src / handler_file),
           "--export-path", str(workdir), "--force"]
    if extra:
        for fname, text in extra.items():
            (src / fname).write_text(text)
        cmd += ["--extra-files", ",".join(str(src / f) for f in extra)]
    if config is not None:
        (src / "model-config.yaml").write_text(config)
        cmd += ["--config-file", str(src / "model-config.yaml")]
    if requirements is not None:
        (src / "requirements.txt").write_text(requirements)
        cmd += ["--requirements-file", str(src / "requirements.txt")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return workdir / f"{name}.mar"
