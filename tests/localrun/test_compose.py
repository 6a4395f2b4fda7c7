"""``seldon-core-graph compose``: the compose file generated from a SeldonDeployment."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml

from seldon_py.localrun.classmap import ClassMap
from seldon_py.localrun.compose import compose_document, render
from seldon_py.localrun.spec import load_deployment
from tests.conftest import ROOT

GRAPH = ROOT / "examples" / "graph"


def test_the_example_compose_file_is_what_the_generator_writes() -> None:
    """examples/graph/compose.yaml is generated: a stale copy fails here (regenerate it with the
    command in its first lines)."""
    committed = (GRAPH / "compose.yaml").read_text()
    dep = load_deployment(GRAPH / "deployment.yaml", None, ClassMap())
    fresh = render(dep, GRAPH.resolve(), "seldon-core-graph compose examples/graph/deployment.yaml -o "
                   "examples/graph/compose.yaml")
    assert committed == fresh


def test_every_node_gets_a_container_and_the_executor_gets_the_predictor(tmp_path: Path) -> None:
    dep = load_deployment(GRAPH / "deployment.yaml", None, ClassMap())
    doc = compose_document(dep, GRAPH.resolve())
    services = doc["services"]
    assert set(services) == {n.name for n in dep.nodes} | {"executor"}
    model_b = services["model-b"]
    assert model_b["volumes"] == ["./linear-model:/microservice:ro"]
    assert model_b["environment"]["MODEL_NAME"] == "LinearModel"
    assert model_b["environment"]["PREDICTIVE_UNIT_ID"] == "model-b"
    executor = services["executor"]
    predictor = json.loads(base64.b64decode(executor["environment"]["ENGINE_PREDICTOR"]))
    endpoints = {}

    def visit(node: dict) -> None:  # type: ignore[type-arg]
        endpoints[node["name"]] = node.get("endpoint")
        for child in node.get("children", []):
            visit(child)

    visit(predictor["graph"])
    assert endpoints["model-c"] == {"type": "REST", "service_host": "model-c", "service_port": 9000,
                                    "httpPort": 9000, "grpcPort": 5000}
    assert sorted(executor["depends_on"]) == sorted(n.name for n in dep.nodes)
    # only the executor is published, on loopback
    assert all("ports" not in s for name, s in services.items() if name != "executor")
    assert all(p.startswith("127.0.0.1:") for p in executor["ports"])
    assert yaml.safe_load(yaml.safe_dump(doc)) == doc
