"""Model archives (``.mar``) and model folders with ``MAR-INF/MANIFEST.json``.

A ``.mar`` is a zip file. It is extracted once, in the process that prepares the service, into a
private temporary folder (removed when that process exits), with every member checked first:
no absolute names, no ``..``, no links or devices, at most :data:`MAX_MEMBERS` members and
:data:`MAX_TOTAL_BYTES` uncompressed bytes, each member's declared size enforced while copying.
"""

from __future__ import annotations

import atexit
import importlib.metadata
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

logger = logging.getLogger(__name__)

MANIFEST = PurePosixPath("MAR-INF", "MANIFEST.json")
MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 32 * 1024**3
MAX_MANIFEST_BYTES = 1024**2
_CHUNK = 1 << 20


class ArchiveError(Exception):
    """The archive or model folder cannot be used; the message says why."""


@dataclass
class ModelFolder:
    """An unpacked model: its folder, manifest and model config (``configFile``, parsed YAML)."""

    path: Path
    manifest: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None  # the .mar it came from, if any

    @property
    def model(self) -> dict[str, Any]:
        model = self.manifest.get("model")
        return model if isinstance(model, dict) else {}


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def is_archive(path: Path) -> bool:
    """A zip file holding ``MAR-INF/MANIFEST.json`` (any name; ``.mar`` by convention)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(PurePosixPath(n) == MANIFEST for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _member_target(root: Path, info: zipfile.ZipInfo) -> Path | None:
    """Where a member goes under ``root`` (None for a directory entry); raises if unsafe."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if not name or name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        raise ArchiveError(f"unsafe member name {info.filename!r} in the archive")
    mode = (info.external_attr >> 16) & 0o170000
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ArchiveError(f"archive member {info.filename!r} is a link or special file: refused")
    target = root.joinpath(*[p for p in parts if p not in ("", ".")])
    if info.is_dir():
        return None
    return target


def extract(archive: Path, dest: Path, max_members: int = MAX_MEMBERS,
            max_total_bytes: int = MAX_TOTAL_BYTES) -> None:
    """Extract ``archive`` into ``dest`` safely (see the module docstring)."""
    try:
        zf = zipfile.ZipFile(archive)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArchiveError(f"{archive} is not a readable model archive: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise ArchiveError(f"{archive} has {len(infos)} members; the limit is {max_members}")
        declared = sum(i.file_size for i in infos)
        if declared > max_total_bytes:
            raise ArchiveError(f"{archive} would unpack to {declared} bytes; the limit is {max_total_bytes}")
        root = dest.resolve()
        for info in infos:
            target = _member_target(root, info)
            if target is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > info.file_size:
                        raise ArchiveError(f"archive member {info.filename!r} is larger than it declares")
                    out.write(chunk)


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ArchiveError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes")
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("model"), dict):
        raise ArchiveError(f"{path} has no \"model\" object")
    return manifest


def _read_config(folder: Path, config_file: Any) -> dict[str, Any]:
    """The model's ``configFile`` (TorchServe's model-config YAML), or {} when it has none."""
    if not config_file:
        return {}
    path = folder / str(config_file)
    if not path.is_file():
        raise ArchiveError(f"the manifest names configFile {config_file!r}, which is not in the model folder")
    try:
        import yaml
    except ImportError:
        raise ArchiveError(f"reading configFile {config_file!r} needs PyYAML (pip install pyyaml)") from None
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ArchiveError(f"cannot read configFile {config_file!r}: {exc}") from None
    return config if isinstance(config, dict) else {}


def _remove_later(path: Path) -> None:
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)


def open_model(path: Path) -> ModelFolder:
    """The model in ``path``: a folder with ``MAR-INF/MANIFEST.json``, or a ``.mar`` (extracted)."""
    source = None
    if path.is_dir():
        folder = path
    else:
        source = path
        folder = Path(tempfile.mkdtemp(prefix=f"seldon-mar-{path.stem}-"))
        _remove_later(folder)
        extract(path, folder)
        logger.info("Extracted model archive %s into %s", path, folder)
    manifest = _read_manifest(folder)
    config = _read_config(folder, manifest["model"].get("configFile"))
    return ModelFolder(folder.resolve(), manifest, config, source)


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def missing_requirements(requirements_file: Path) -> list[str]:
    """The requirement lines of ``requirements_file`` whose distribution is not installed.

    Only presence is checked (not versions); options (``-r``, ``--index-url``), URLs and
    comments are skipped.
    """
    missing = []
    try:
        lines = requirements_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"cannot read requirements file {requirements_file.name}: {exc}") from None
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-") or "://" in line:
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match is None:
            continue
        try:
            importlib.metadata.distribution(match.group(1))
        except importlib.metadata.PackageNotFoundError:
            missing.append(line)
    return missing
