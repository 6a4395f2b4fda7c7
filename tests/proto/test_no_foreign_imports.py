"""Importing seldon_py.proto imports nothing foreign; sharing protobuf's descriptor pool with
TensorFlow / seldon_core is an explicit step (the composition root takes it before importing the
user's class)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fake_seldon_core(tmp_path: Path) -> Path:
    pkg = tmp_path / "seldon_core" / "proto"
    pkg.mkdir(parents=True)
    (tmp_path / "seldon_core" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "prediction_pb2.py").write_text("")
    return tmp_path


def _run(tmp_path: Path, code: str) -> str:
    env_path = f"{_fake_seldon_core(tmp_path)}:{ROOT}"
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_importing_the_generated_code_imports_no_foreign_package(tmp_path):
    assert _run(tmp_path, """
        import sys
        import seldon_py.proto.prediction_pb2
        print(sorted(m for m in sys.modules if m.startswith(("seldon_core", "tensorflow"))))
    """) == "[]"


def test_the_composition_root_shares_the_pool_before_importing_the_user_class(tmp_path):
    (tmp_path / "Model.py").write_text(textwrap.dedent("""
        import sys
        SEEN = "seldon_core.proto.prediction_pb2" in sys.modules

        class Model:
            def predict(self, X, names):
                return X
    """))
    assert _run(tmp_path, f"""
        from seldon_py.server import Microservice
        from seldon_py.settings import parse_settings
        ms = Microservice(parse_settings(["Model"], {{}}), recorder_factory=lambda: None)
        ms.settings.interface_name  # noqa
        import os; os.chdir({str(tmp_path)!r})
        ms.prepare()
        import Model
        print(Model.SEEN)
    """) == "True"
