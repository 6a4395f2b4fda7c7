"""Model archives: safe extraction, manifest, config, requirements."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from seldon_py.conventions.torchserve import archive


def make_zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, target)
    return path


MANIFEST = json.dumps({"model": {"modelName": "m", "handler": "h.py", "modelVersion": "1.0"}}).encode()


@pytest.mark.parametrize("bad", ["../evil.py", "/etc/evil", "a/../../evil", "C:/evil", "a\\..\\..\\evil"])
def test_path_traversal_is_refused(tmp_path, bad):
    mar = make_zip(tmp_path / "m.mar", {"MAR-INF/MANIFEST.json": MANIFEST, bad: b"x"})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(archive.ArchiveError, match="unsafe member"):
        archive.extract(mar, dest)
    assert not (tmp_path / "evil.py").exists()


def test_links_are_refused(tmp_path):
    mar = make_zip(tmp_path / "m.mar", {"MAR-INF/MANIFEST.json": MANIFEST}, links={"h.py": "/etc/passwd"})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(archive.ArchiveError, match="link"):
        archive.extract(mar, dest)


def test_size_and_member_count_are_bounded(tmp_path):
    mar = make_zip(tmp_path / "m.mar", {"MAR-INF/MANIFEST.json": MANIFEST, "big.bin": b"\0" * 10_000})
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(archive.ArchiveError, match="would unpack to"):
        archive.extract(mar, dest, max_total_bytes=5_000)
    with pytest.raises(archive.ArchiveError, match="members"):
        archive.extract(mar, dest, max_members=1)


def test_open_model_reads_manifest_and_config(tmp_path):
    manifest = {"model": {"modelName": "m", "handler": "h.py", "modelVersion": "3", "configFile": "c.yaml"}}
    mar = make_zip(tmp_path / "m.mar", {"MAR-INF/MANIFEST.json": json.dumps(manifest).encode(),
                                        "h.py": b"def handle(d, c):\n    return d\n",
                                        "c.yaml": b"batchSize: 2\nmaxBatchDelay: 7\n"})
    assert archive.is_archive(mar) and not archive.is_model_folder(mar)
    folder = archive.open_model(mar)
    assert folder.model["modelVersion"] == "3"
    assert folder.config == {"batchSize": 2, "maxBatchDelay": 7}
    assert (folder.path / "h.py").is_file()
    assert archive.is_model_folder(folder.path)


def test_not_an_archive(tmp_path):
    (tmp_path / "x.mar").write_bytes(b"not a zip")
    assert not archive.is_archive(tmp_path / "x.mar")
    no_manifest = make_zip(tmp_path / "y.mar", {"h.py": b""})
    assert not archive.is_archive(no_manifest)


def test_missing_requirements(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\nnumpy>=1\nsurely-not-installed-pkg==1.0  # x\n--index-url https://x\n\n")
    assert archive.missing_requirements(req) == ["surely-not-installed-pkg==1.0"]
