"""Helpers for the convention tests: model files in a temp folder, imported under unique names."""

from __future__ import annotations

import itertools
import sys
import textwrap
from pathlib import Path
from typing import Any

from seldon_py.conventions import load_target, resolve

_counter = itertools.count()


def write_module(folder: Path, source: str, stem: str = "model") -> str:
    """Write ``source`` as a new module in ``folder``; its (unique) module name."""
    name = f"{stem}_{next(_counter)}_{id(folder) % 10_000}"
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return name


def target(folder: Path, source: str, attr: str | None = None, stem: str = "model") -> Any:
    module = write_module(folder, source, stem)
    return load_target(f"{module}.{attr}" if attr else module, str(folder))


def adapted(folder: Path, source: str, attr: str | None, parameters: dict[str, Any] | None = None,
            forced: str = "auto") -> Any:
    module = write_module(folder, source)
    resolved = resolve(f"{module}.{attr}" if attr else module, parameters or {}, forced, str(folder))
    return resolved
