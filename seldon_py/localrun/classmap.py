"""The class-map file: which Python class serves which graph node, when there is no container.

Format (YAML or JSON; shared with ``seldon-core-executor --class-map`` for its in-process mode)::

    {
      "nodes":  {"<node name>":  {"class": "Module.Class or Module", "path": "<dir>", "parameters": [...]}},
      "images": {"<image name without tag>": {same fields}}
    }

``class`` is required; ``path`` is the directory the class is imported from (relative to the
map file's directory; default that directory); ``parameters`` is an optional Seldon parameter list
(``[{"name": ..., "value": ..., "type": "INT|FLOAT|DOUBLE|STRING|BOOL|JSON"}]``). A node entry wins
over an image entry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Largest class-map file read (a local configuration file, not client input, but still bounded).
MAX_FILE_BYTES = 4 * 1024 * 1024


class GraphConfigError(Exception):
    """A deployment, class map or node folder is unusable; the message is one line naming it."""


@dataclass(frozen=True)
class ClassEntry:
    """One class-map entry, ``path`` already made absolute."""

    cls: str
    path: str
    parameters: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.cls, "path": self.path}
        if self.parameters is not None:
            out["parameters"] = self.parameters
        return out


@dataclass(frozen=True)
class ClassMap:
    nodes: dict[str, ClassEntry] = field(default_factory=dict)
    images: dict[str, ClassEntry] = field(default_factory=dict)


def read_structured(path: Path, what: str) -> Any:
    """A YAML or JSON file's content (JSON is tried first; YAML needs PyYAML)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise GraphConfigError(f"{what} {path}: {size} bytes is more than {MAX_FILE_BYTES}")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GraphConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError:
        raise GraphConfigError(f"{what} {path} is not JSON, and PyYAML is not installed to read YAML") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise GraphConfigError(f"{what} {path} is neither JSON nor valid YAML{where}") from None


def check_parameters(params: Any, where: str) -> list[dict[str, Any]]:
    """A Seldon parameter list, checked for shape (the microservice checks the values)."""
    if not isinstance(params, list):
        raise GraphConfigError(f"{where}: parameters must be a list of {{name, value, type}}")
    for p in params:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str) or "value" not in p:
            raise GraphConfigError(f"{where}: parameter {p!r} needs a name, a value and a type")
    return params


def parse_entry(raw: Any, base: Path, where: str) -> ClassEntry:
    if not isinstance(raw, dict):
        raise GraphConfigError(f"{where}: must be a mapping with 'class' (and optional 'path', 'parameters')")
    unknown = set(raw) - {"class", "path", "parameters"}
    if unknown:
        raise GraphConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    cls = raw.get("class")
    if not isinstance(cls, str) or not cls.strip():
        raise GraphConfigError(f"{where}: 'class' must be a non-empty string like Module.Class or Module")
    path = raw.get("path", ".")
    if not isinstance(path, str):
        raise GraphConfigError(f"{where}: 'path' must be a directory name")
    folder = (base / path).resolve()
    if not folder.is_dir():
        raise GraphConfigError(f"{where}: path {folder} is not a directory")
    params = raw.get("parameters")
    return ClassEntry(cls.strip(), str(folder), None if params is None else check_parameters(params, where))


def parse_class_map(data: Any, base: Path, source: str = "class map") -> ClassMap:
    if data is None:
        return ClassMap()
    if not isinstance(data, dict):
        raise GraphConfigError(f"{source}: must be a mapping with 'nodes' and/or 'images'")
    unknown = set(data) - {"nodes", "images"}
    if unknown:
        raise GraphConfigError(f"{source}: unknown top-level field(s) {', '.join(sorted(unknown))}")
    out: dict[str, dict[str, ClassEntry]] = {}
    for section in ("nodes", "images"):
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            raise GraphConfigError(f"{source}: '{section}' must map names to entries")
        out[section] = {
            str(name): parse_entry(raw, base, f"{source}: {section}.{name}") for name, raw in entries.items()
        }
    return ClassMap(nodes=out["nodes"], images=out["images"])


def load_class_map(path: str | os.PathLike[str]) -> ClassMap:
    p = Path(path)
    return parse_class_map(read_structured(p, "class map"), p.resolve().parent, f"class map {p}")


def dump_class_map(nodes: dict[str, ClassEntry]) -> str:
    """A class-map JSON document with absolute paths (valid wherever it is written)."""
    return json.dumps({"nodes": {name: e.to_json() for name, e in nodes.items()}}, indent=2) + "\n"
