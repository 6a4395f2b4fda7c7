"""examples/graph is a valid SeldonDeployment for a cluster and resolves locally (no processes)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from seldon_py.localrun.classmap import ClassMap
from seldon_py.localrun.spec import load_deployment, walk

yaml = pytest.importorskip("yaml")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "graph"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def document() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLE / "deployment.yaml").read_text())


def test_is_a_seldon_deployment_the_operator_accepts() -> None:
    doc = document()
    assert doc["apiVersion"] == "machinelearning.seldon.io/v1" and doc["kind"] == "SeldonDeployment"
    assert DNS_LABEL.match(doc["metadata"]["name"])
    (pred,) = doc["spec"]["predictors"]
    containers = {c["name"]: c for cs in pred["componentSpecs"] for c in cs["spec"]["containers"]}
    nodes = walk(pred["graph"], "deployment.yaml")
    # the operator's rules: every node without an implementation has a container of its name,
    # names are DNS labels, types are known, parameters are typed name/value pairs (values strings)
    assert {n["name"] for n in nodes} == set(containers)
    for n in nodes:
        assert DNS_LABEL.match(n["name"]) and len(n["name"]) <= 63
        assert n["type"] in ("MODEL", "ROUTER", "COMBINER", "TRANSFORMER", "OUTPUT_TRANSFORMER")
        assert ":" in containers[n["name"]]["image"]
        for p in n.get("parameters", []):
            assert set(p) == {"name", "value", "type"} and isinstance(p["value"], str)
        if n["type"] in ("ROUTER", "COMBINER"):
            assert n.get("children")


def test_every_node_resolves_to_a_folder_with_its_class() -> None:
    dep = load_deployment(EXAMPLE / "deployment.yaml", None, ClassMap())
    assert dep.builtin == []
    for node in dep.nodes:
        if node.cls.startswith("seldon_py."):
            continue
        module = node.cls.split(".")[0]
        assert (Path(node.path) / f"{module}.py").is_file(), node
    kinds = {n.name: n.service_type for n in dep.nodes}
    assert kinds == {"transformer": "TRANSFORMER", "router": "ROUTER", "model-a": "MODEL",
                     "ensemble": "COMBINER", "model-b": "MODEL", "model-c": "MODEL"}


def test_example_code_imports_only_numpy() -> None:
    for path in EXAMPLE.glob("*/*.py"):
        for mod in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), re.MULTILINE):
            assert mod.split(".")[0] == "numpy", f"{path} imports {mod}"
