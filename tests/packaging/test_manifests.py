"""Every Kubernetes manifest in examples/ is valid, and uses only ports, paths and variables that
seldon_py really serves and reads.

Core kinds (Deployment, Service, Job, ...) are validated with ``kubernetes-validate`` (the
Kubernetes OpenAPI schemas, offline); SeldonDeployment and PodMonitor (custom resources) against a
JSON schema of the fields we rely on. Then the cross-checks: a container port is one the server
listens on given its environment; a probe path is one the REST app answers; a PodMonitor path is the
metrics path the pod's environment sets; an environment variable is one some seldon_py code reads.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"
PACKAGE = ROOT / "seldon_py"

#: paths our servers answer GET on (microservice REST app; the executor's probes)
MICROSERVICE_PROBE_PATHS = {"/health/ping", "/health/status", "/api/v1.0/health/status"}
EXECUTOR_PROBE_PATHS = {"/ready", "/live"}
#: variables Kubernetes or the operator set that no seldon_py code needs to read
EXTERNAL_VARIABLES = {"JOB_COMPLETION_INDEX"}

GRAPH_NODE: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "type": {"enum": ["MODEL", "ROUTER", "COMBINER", "TRANSFORMER", "OUTPUT_TRANSFORMER", "UNKNOWN_TYPE"]},
        "implementation": {"enum": ["SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER",
                                    "UNKNOWN_IMPLEMENTATION"]},
        "methods": {"type": "array", "items": {"enum": ["TRANSFORM_INPUT", "TRANSFORM_OUTPUT", "ROUTE",
                                                        "AGGREGATE", "SEND_FEEDBACK"]}},
        "endpoint": {
            "type": "object",
            "properties": {"type": {"enum": ["REST", "GRPC"]}, "service_host": {"type": "string"},
                           "service_port": {"type": "integer"}, "httpPort": {"type": "integer"},
                           "grpcPort": {"type": "integer"}},
            "additionalProperties": False,
        },
        "parameters": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "value", "type"],
                      "properties": {"name": {"type": "string"}, "value": {"type": "string"},
                                     "type": {"enum": ["INT", "FLOAT", "DOUBLE", "STRING", "BOOL", "JSON"]}},
                      "additionalProperties": False},
        },
        "logger": {"type": "object", "properties": {"url": {"type": "string"},
                                                    "mode": {"enum": ["all", "request", "response"]}},
                   "additionalProperties": False},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
        "modelUri": {"type": "string"},
        "serviceAccountName": {"type": "string"},
        "envSecretRefName": {"type": "string"},
        "storageInitializerImage": {"type": "string"},
    },
    "additionalProperties": False,
}

SELDON_DEPLOYMENT: dict[str, Any] = {
    "$defs": {"node": GRAPH_NODE},
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"enum": ["machinelearning.seldon.io/v1", "machinelearning.seldon.io/v1alpha2"]},
        "kind": {"const": "SeldonDeployment"},
        "metadata": {"type": "object", "required": ["name"],
                     "properties": {"annotations": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {
            "type": "object",
            "required": ["predictors"],
            "properties": {
                "protocol": {"enum": ["seldon"]},
                "predictors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "graph"],
                        "properties": {
                            "name": {"type": "string"},
                            "replicas": {"type": "integer", "minimum": 0},
                            "traffic": {"type": "integer", "minimum": 0, "maximum": 100},
                            "graph": {"$ref": "#/$defs/node"},
                            "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "componentSpecs": {
                                "type": "array",
                                "items": {"type": "object", "required": ["spec"],
                                          "properties": {"spec": {"type": "object", "required": ["containers"]}}},
                            },
                        },
                    },
                },
            },
        },
    },
}

POD_MONITOR: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "spec": {
            "type": "object",
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": {"type": "object", "required": ["matchLabels"]},
                "podMetricsEndpoints": {
                    "type": "array", "minItems": 1,
                    "items": {"type": "object", "required": ["port", "path"],
                              "properties": {"port": {"type": "string"}, "path": {"type": "string"},
                                             "interval": {"type": "string"}}},
                },
            },
        },
    },
}


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object in examples/**/*.yaml (files without apiVersion+kind are skipped)."""
    found = []
    for path in sorted(EXAMPLES.rglob("*.y*ml")):
        if path.suffix not in (".yaml", ".yml"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                found.append((path, doc))
    return found


def containers(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) pairs of any workload kind."""
    kind = doc["kind"]
    if kind == "SeldonDeployment":
        for predictor in doc["spec"]["predictors"]:
            for cs in predictor.get("componentSpecs", []):
                for c in cs["spec"]["containers"]:
                    yield cs["spec"], c
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        pod = doc["spec"]["template"]["spec"]
        for c in pod.get("containers", []):
            yield pod, c


def graph_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children", []):
        yield from graph_nodes(child)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e.get("value", "")) for e in container.get("env", [])}


def package_strings() -> set[str]:
    """Every string constant in seldon_py's source: a variable we read is named in one of them."""
    out: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "proto" in path.relative_to(PACKAGE).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.add(node.value)
    return out


ALL = manifests()
IDS = [f"{p.relative_to(EXAMPLES)}:{d['kind']}/{d['metadata'].get('name', '?')}" for p, d in ALL]


def test_the_examples_hold_the_manifests_the_readme_promises() -> None:
    kinds = {d["kind"] for _, d in ALL}
    assert {"SeldonDeployment", "Deployment", "Service", "PodMonitor"} <= kinds, kinds
    graphs = [d for _, d in ALL if d["kind"] == "SeldonDeployment"
              and any(len(list(graph_nodes(p["graph"]))) > 1 for p in d["spec"]["predictors"])]
    assert graphs, "no SeldonDeployment with a graph in examples/"


@pytest.mark.parametrize(("path", "doc"), ALL, ids=IDS)
def test_manifest_is_valid(path: Path, doc: dict[str, Any]) -> None:
    kind = doc["kind"]
    if kind == "SeldonDeployment":
        jsonschema.validate(doc, SELDON_DEPLOYMENT)
        for predictor in doc["spec"]["predictors"]:
            names = [n["name"] for n in graph_nodes(predictor["graph"])]
            assert len(names) == len(set(names)), f"duplicate graph node names {names}"
            container_names = {c["name"] for _, c in containers({"kind": kind, "spec": {"predictors": [predictor]}})}
            for node in graph_nodes(predictor["graph"]):
                if "implementation" not in node:  # the operator pairs a node with its container by name
                    assert node["name"] in container_names, f"node {node['name']} has no container of that name"
    elif kind == "PodMonitor":
        jsonschema.validate(doc, POD_MONITOR)
    else:
        kubernetes_validate = pytest.importorskip("kubernetes_validate")
        kubernetes_validate.validate(doc, "1.30.0", strict=True)


@pytest.mark.parametrize(("path", "doc"), ALL, ids=IDS)
def test_manifest_uses_only_what_seldon_py_serves_and_reads(path: Path, doc: dict[str, Any]) -> None:
    known = package_strings()
    for pod, c in containers(doc):
        env = env_of(c)
        for name in env:
            assert name in known or name in EXTERNAL_VARIABLES, f"{c['name']}: {name} is read by nothing in seldon_py"
        command = " ".join(c.get("command", []) + c.get("args", []))
        executor = "seldon-core-executor" in command
        batch = "seldon-batch-processor" in command or doc["kind"] == "Job"
        if batch:
            continue
        listens = {
            9000 if not executor else 8080: "http",  # the executor listens on 8080 by default
            5000: "grpc",
            6000: "metrics",
        }
        for var, default in (("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", 9000), ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", 5000),
                             ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", 6000)):
            if var in env:
                listens[int(env[var])] = listens.pop(default)
        named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        for p in c.get("ports", []):
            assert p["containerPort"] in listens, f"{c['name']}: port {p['containerPort']} is not one the server uses"
        paths = EXECUTOR_PROBE_PATHS if executor else MICROSERVICE_PROBE_PATHS
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = c.get(probe, {}).get("httpGet")
            if get:
                assert get["path"] in paths, f"{c['name']} {probe}: {get['path']} is not served"
                port = named.get(get["port"], get["port"])
                assert listens.get(port) == "http", f"{c['name']} {probe}: port {get['port']} is not the REST port"
        grace = pod.get("terminationGracePeriodSeconds", 30)
        drain = int(env.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
        assert grace > drain, f"{c['name']}: terminationGracePeriodSeconds {grace} must exceed the drain {drain}s"


def test_pod_monitors_scrape_the_path_their_pods_serve() -> None:
    pods = [d for _, d in ALL if d["kind"] == "Deployment"]
    for _, mon in [(p, d) for p, d in ALL if d["kind"] == "PodMonitor"]:
        labels = mon["spec"]["selector"]["matchLabels"]
        targets = [d for d in pods if labels.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert targets, f"PodMonitor {mon['metadata']['name']} selects no Deployment in examples/"
        for d in targets:
            for _, c in containers(d):
                path = env_of(c).get("PREDICTIVE_UNIT_METRICS_ENDPOINT", "/metrics")
                named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
                for ep in mon["spec"]["podMetricsEndpoints"]:
                    assert ep["path"] == path
                    assert named.get(ep["port"]) == int(env_of(c).get("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "6000"))
