"""The layering the package tree promises, checked on the import statements of every module.

runtime/ knows no protocol and no transport; protocol/ knows no transport; codecs do not import
the handler; one transport does not reach into another; only the composition root (server.py)
and the CLI put everything together; util/ is the bottom layer (its modules may use each other,
nothing else of ours).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "seldon_py"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every seldon_py module ``path`` imports (at module level or inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("seldon_py"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.startswith("seldon_py"):
                out.add(mod)
                out.update(f"{mod}.{a.name}" for a in node.names)
    return out


MODULES = {_module_name(p): _imports(p) for p in PKG.rglob("*.py") if "proto" not in p.relative_to(PKG).parts[:1]}

#: seldon_py's top-level modules and packages other than util/ (the bottom layer: its modules
#: may use each other, nothing else of ours)
_ABOVE_UTIL = tuple(sorted({f"seldon_py.{m.split('.')[1]}" for m in MODULES if m.count(".") >= 1} - {"seldon_py.util"}))

#: (modules under this prefix, must not import anything under these prefixes)
RULES = [
    ("seldon_py.runtime", ("seldon_py.protocol", "seldon_py.transports", "seldon_py.server", "seldon_py.settings")),
    ("seldon_py.model", ("seldon_py.protocol", "seldon_py.transports", "seldon_py.runtime", "seldon_py.server")),
    ("seldon_py.protocol", ("seldon_py.transports", "seldon_py.server", "seldon_py.settings")),
    ("seldon_py.protocol.seldon.proto_codec", ("seldon_py.protocol.seldon.handler",)),
    ("seldon_py.protocol.seldon.json_codec", ("seldon_py.protocol.seldon.handler",)),
    ("seldon_py.protocol.seldon.wire", ("seldon_py.protocol.seldon.handler",)),
    ("seldon_py.transports.grpc", ("seldon_py.transports.rest", "seldon_py.model")),
    ("seldon_py.transports.rest", ("seldon_py.transports.grpc", "seldon_py.model")),
    ("seldon_py.process", ("seldon_py.protocol", "seldon_py.transports", "seldon_py.runtime", "seldon_py.model")),
    ("seldon_py.util", _ABOVE_UTIL),
]


def test_every_module_was_read():
    assert "seldon_py.runtime.runtime" in MODULES and "seldon_py.transports.grpc.servicer" in MODULES


@pytest.mark.parametrize(("prefix", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_layering(prefix, forbidden):
    broken = sorted(
        f"{mod} imports {imp}"
        for mod, imports in MODULES.items()
        if mod == prefix or mod.startswith(prefix + ".")
        for imp in imports
        if any(imp == f or imp.startswith(f if f.endswith(".") else f + ".") for f in forbidden)
    )
    assert not broken, "\n".join(broken)


def test_the_rule_checker_can_fail():
    # a made-up module breaking a rule is reported (guards against a checker that sees nothing)
    MODULES["seldon_py.runtime._probe"] = {"seldon_py.protocol.seldon.handler"}
    try:
        with pytest.raises(AssertionError):
            test_layering("seldon_py.runtime", ("seldon_py.protocol",))
    finally:
        del MODULES["seldon_py.runtime._probe"]
