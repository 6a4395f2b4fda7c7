#!/usr/bin/env python3
"""Regenerate (or check) the Python code for the protos under ``proto/``.

Usage::

    python scripts/gen_proto.py           # rewrite seldon_py/proto/
    python scripts/gen_proto.py --check   # exit 1 and name the stale files

Sources and outputs::

    proto/prediction.proto                       -> seldon_py/proto/prediction_pb2{.py,.pyi,_grpc.py}
    proto/tensorflow/core/framework/<x>.proto    -> seldon_py/proto/tensorflow/core/framework/<x>_pb2{.py,.pyi}

The code is made by ``python -m grpc_tools.protoc`` and then post-processed, deterministically:

* **Imports.** protoc writes ``from tensorflow.core.framework import tensor_pb2`` and
  ``from proto import prediction_pb2``; both become imports from ``seldon_py.proto...`` so the
  package never imports (or shadows) a real ``tensorflow`` package.
* **Module names** passed to ``BuildTopDescriptorsAndMessages`` (they become the classes'
  ``__module__``, which pickle uses) are rewritten the same way.
* **Registration.** ``descriptor_pool.Default().AddSerializedFile(...)`` becomes
  ``seldon_py.proto._compat.add_serialized_file(...)``, which reuses a compatible earlier
  registration of the same file by TensorFlow or seldon_core instead of failing.
* **Version floors.** protoc stamps its own version into the code: the ``_pb2`` modules call
  ``ValidateProtobufRuntimeVersion(<protoc version>)`` and the ``_grpc`` module refuses any grpcio
  older than the grpcio-tools that generated it. With grpcio-tools 1.85.1 that would demand
  protobuf>=7.35.1 and grpcio>=1.85.1, which rules out e.g. TensorFlow <= 2.19 (protobuf<6) and
  seldon-core 1.19 (protobuf==5.29.5) in the same environment. The generated code itself is
  identical to what protoc 5.28 / grpcio-tools 1.68 emit (checked by diffing: only the version
  numbers and ``class X(object)`` spelling differ) and it uses no runtime API newer than those, so
  the stamps are lowered to :data:`PROTOBUF_FLOOR` and :data:`GRPCIO_FLOOR` (the minimums declared
  in setup.cfg). Keep these in sync with setup.cfg.

The file name registered for ``prediction.proto`` is ``proto/prediction.proto`` and the TensorFlow
files are ``tensorflow/core/framework/<x>.proto`` — the same names Seldon Core's own generated code
registers.

Output depends on the grpcio-tools version. :data:`GRPCIO_TOOLS_VERSION` is the version the
checked-in code was made with; with another version, ``--check`` compares only what matters on the
wire (the serialized file descriptors) and the import lines, and says so.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO / "proto"
OUT_DIR = REPO / "seldon_py" / "proto"
PACKAGE = "seldon_py.proto"

#: grpcio-tools version the checked-in code was generated with.
GRPCIO_TOOLS_VERSION = "1.85.1"
#: Minimum protobuf runtime the generated ``_pb2`` modules accept (keep in sync with setup.cfg).
PROTOBUF_FLOOR = (5, 28, 0)
#: Minimum grpcio the generated ``_grpc`` module accepts (keep in sync with setup.cfg).
GRPCIO_FLOOR = "1.66.0"

TF_PROTOS = ("types", "tensor_shape", "resource_handle", "tensor")
TF_DIR = "tensorflow/core/framework"

#: Files in seldon_py/proto/ that are written by hand, not by this script.
HAND_WRITTEN = frozenset({"_compat.py"})

INIT_FILES = {
    "__init__.py": (
        '"""Generated protobuf/gRPC code of the Seldon prediction protocol.\n'
        '\n'
        'Do not edit: regenerate with ``python scripts/gen_proto.py`` from ``proto/``.\n'
        '\n'
        '``prediction_pb2`` registers ``seldon.protos.*`` and ``tensorflow.*`` (TensorProto and\n'
        "friends) in protobuf's default descriptor pool under the file names Seldon Core and\n"
        'TensorFlow use (``proto/prediction.proto``, ``tensorflow/core/framework/*.proto``).\n'
        'Such files can be registered only once per process: if TensorFlow or seldon_core registered\n'
        'them first, their registration is reused (see ``_compat``). Importing this package imports\n'
        'nothing else; to make TensorFlow or seldon_core importable *after* it, call\n'
        ":func:`preload_foreign_protos` first (the server does, before it imports the user's class).\n"
        '"""\n'
        '\n'
        'from seldon_py.proto._compat import preload_foreign_protos\n'
        '\n'
        '__all__ = ["preload_foreign_protos"]\n'
    ),
    "tensorflow/__init__.py": '"""Generated code; see seldon_py.proto."""\n',
    "tensorflow/core/__init__.py": '"""Generated code; see seldon_py.proto."""\n',
    "tensorflow/core/framework/__init__.py": '"""Generated code; see seldon_py.proto."""\n',
}


def _installed_tools_version() -> str:
    from importlib.metadata import version

    return version("grpcio-tools")


def _protoc(args: list[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "grpc_tools.protoc", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"protoc failed ({proc.returncode}): {' '.join(cmd)}")


def _rewrite(text: str) -> str:
    # Imports of the generated TensorFlow modules and of prediction_pb2 (from the _grpc module).
    text = re.sub(r"(?m)^from tensorflow\.core\.framework import ",
                  f"from {PACKAGE}.tensorflow.core.framework import ", text)
    text = re.sub(r"(?m)^from proto import prediction_pb2", f"from {PACKAGE} import prediction_pb2", text)
    # __module__ of the generated classes.
    text = re.sub(
        r"BuildTopDescriptorsAndMessages\(DESCRIPTOR, "
        r"'(tensorflow\.core\.framework\.\w+|proto\.prediction_pb2)', _globals\)",
        lambda m: "BuildTopDescriptorsAndMessages(DESCRIPTOR, "
        f"'{PACKAGE}.{m.group(1).removeprefix('proto.')}', _globals)",
        text,
    )
    # Registration that tolerates an earlier, compatible registration (see seldon_py/proto/_compat.py).
    text, n = re.subn(
        r"(?m)^DESCRIPTOR = _descriptor_pool\.Default\(\)\.AddSerializedFile\(",
        f"from {PACKAGE} import _compat as _seldon_py_compat\nDESCRIPTOR = _seldon_py_compat.add_serialized_file(",
        text,
    )
    if "_descriptor_pool.Default().AddSerializedFile(" in text:
        raise SystemExit("gen_proto: an AddSerializedFile call was left un-rewritten")
    # protobuf runtime floor.
    major, minor, patch = PROTOBUF_FLOOR
    text, n = re.subn(
        r"(?m)^# Protobuf Python Version: (\S+)$",
        rf"# Protobuf Python Version: \1 (runtime check lowered to {major}.{minor}.{patch} by scripts/gen_proto.py)",
        text,
    )
    if n:
        text, n2 = re.subn(
            r"(ValidateProtobufRuntimeVersion\(\n\s+_runtime_version\.Domain\.PUBLIC,\n)(\s+)\d+,\n\s+\d+,\n\s+\d+,\n",
            lambda m: f"{m.group(1)}{m.group(2)}{major},\n{m.group(2)}{minor},\n{m.group(2)}{patch},\n",
            text,
        )
        if n2 != 1:
            raise SystemExit("gen_proto: could not find ValidateProtobufRuntimeVersion in protoc output")
    # grpcio floor.
    text, n = re.subn(
        r"(?m)^GRPC_GENERATED_VERSION = '([^']+)'$",
        rf"# Lowered from \1 by scripts/gen_proto.py (the code needs nothing newer).\n"
        rf"GRPC_GENERATED_VERSION = '{GRPCIO_FLOOR}'",
        text,
    )
    if "import grpc\n" in text and n != 1:
        raise SystemExit("gen_proto: could not find GRPC_GENERATED_VERSION in protoc output")
    if re.search(r"(?m)^(from|import) (tensorflow|proto)\b", text):
        raise SystemExit("gen_proto: an import was left un-rewritten")
    return text


def generate() -> dict[str, str]:
    """All files of seldon_py/proto/ as {path relative to it: text}."""
    files: dict[str, str] = dict(INIT_FILES)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        outs = [f"--python_out={out}", f"--pyi_out={out}"]
        # TensorFlow files: registered as tensorflow/core/framework/<x>.proto.
        _protoc(["-I.", *outs, *(f"{TF_DIR}/{name}.proto" for name in TF_PROTOS)], cwd=PROTO_DIR)
        # prediction.proto: registered as proto/prediction.proto; its TF imports resolve via -Iproto.
        _protoc(["-I.", "-Iproto", *outs, f"--grpc_python_out={out}", "proto/prediction.proto"], cwd=REPO)
        for path in sorted(out.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(out).as_posix()
            rel = rel.removeprefix("proto/")
            files[rel] = _rewrite(path.read_text(encoding="utf-8"))
    return dict(sorted(files.items()))


def _checked_in() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(OUT_DIR.rglob("*")):
        rel = path.relative_to(OUT_DIR).as_posix()
        generated = path.suffix in (".py", ".pyi") and "__pycache__" not in path.parts and rel not in HAND_WRITTEN
        if path.is_file() and generated:
            found[rel] = path.read_text(encoding="utf-8")
    return found


_SEMANTIC = re.compile(
    r"(?m)^(?:DESCRIPTOR = .*(?:add_serialized_file|AddSerializedFile)\(.*\)"
    r"|from seldon_py\..*|\s*'/seldon\.protos\.\w+/\w+',)$"
)


def _semantic(text: str) -> list[str]:
    """What must match regardless of the grpcio-tools version: descriptors, imports, RPC paths."""
    return _SEMANTIC.findall(text)


def check() -> list[str]:
    """Names (relative to seldon_py/proto/) of files that are missing, extra or stale."""
    fresh = generate()
    have = _checked_in()
    exact = _installed_tools_version() == GRPCIO_TOOLS_VERSION
    stale = []
    for rel in sorted(set(fresh) | set(have)):
        if rel not in have:
            stale.append(f"{rel} (missing)")
        elif rel not in fresh:
            stale.append(f"{rel} (not generated by this script)")
        elif exact and fresh[rel] != have[rel]:
            diff = difflib.unified_diff(have[rel].splitlines(), fresh[rel].splitlines(), "checked-in", "fresh",
                                        lineterm="", n=1)
            lines = [line if len(line) <= 160 else line[:157] + "..." for line in list(diff)[:20]]
            stale.append(f"{rel} (differs)\n" + "\n".join(lines))
        elif not exact and _semantic(fresh[rel]) != _semantic(have[rel]):
            stale.append(f"{rel} (descriptor/imports differ)")
    return stale


def write() -> None:
    fresh = generate()
    for rel in _checked_in():
        if rel not in fresh:
            (OUT_DIR / rel).unlink()
    for rel, text in fresh.items():
        dest = OUT_DIR / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_text(encoding="utf-8") != text:
            dest.write_text(text, encoding="utf-8")
            print(f"wrote seldon_py/proto/{rel}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the checked-in code is stale")
    args = parser.parse_args(argv)
    installed = _installed_tools_version()
    if installed != GRPCIO_TOOLS_VERSION:
        print(
            f"note: grpcio-tools {installed} is installed but the checked-in code was made with "
            f"{GRPCIO_TOOLS_VERSION}; "
            + ("comparing descriptors and imports only" if args.check
               else f"update GRPCIO_TOOLS_VERSION in {__file__}"),
            file=sys.stderr,
        )
    if args.check:
        stale = check()
        for item in stale:
            print(f"stale: seldon_py/proto/{item}")
        if stale:
            print("run: python scripts/gen_proto.py", file=sys.stderr)
            return 1
        print("seldon_py/proto is up to date")
        return 0
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
