"""From a SeldonDeployment file to the local processes that run its graph (no I/O beyond reading files).

For each graph node of the chosen predictor, :func:`resolve_graph` decides how to run it:

* a built-in ``implementation`` (``SIMPLE_MODEL``, ``SIMPLE_ROUTER``, ``RANDOM_ABTEST``,
  ``AVERAGE_COMBINER``) runs inside the executor: no process;
* otherwise the node runs a Python class, found in this order:

  1. the class map's ``nodes.<node name>`` entry;
  2. the class map's ``images.<image>`` entry, ``<image>`` being the node's container image
     without its tag (``myorg/transformer:0.1`` → ``myorg/transformer``, then ``transformer``);
  3. the folder next to the deployment file named after the image's last path component without
     tag (``myorg/transformer:0.1`` → ``./transformer/``), read as the s2i builder would: its
     ``.s2i/environment`` gives ``MODEL_NAME`` (the class), ``SERVICE_TYPE``, default parameters
     (``PARAMETERS`` or ``PREDICTIVE_UNIT_PARAMETERS``, a JSON list) and any other environment
     variables of the image.

Parameters: the class-map entry's ``parameters`` if given, else the node's ``parameters`` in
the graph (as the operator passes them in ``PREDICTIVE_UNIT_PARAMETERS``), else the s2i
environment's ``PARAMETERS`` / ``PREDICTIVE_UNIT_PARAMETERS``.

Environment: the s2i environment, then the container's ``env`` values from the componentSpecs,
then what the operator sets (``PREDICTIVE_UNIT_ID`` and friends).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .classmap import (
    ClassEntry,
    ClassMap,
    GraphConfigError,
    check_parameters,
    read_structured,
)

NODE_TYPES = ("MODEL", "ROUTER", "COMBINER", "TRANSFORMER", "OUTPUT_TRANSFORMER", "UNKNOWN_TYPE")
#: Implementations the executor runs itself: no process, no class.
BUILTIN_IMPLEMENTATIONS = frozenset({"SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER"})
#: microservice --service-type for a graph node type.
SERVICE_TYPE_FOR_NODE = {
    "MODEL": "MODEL", "ROUTER": "ROUTER", "COMBINER": "COMBINER", "TRANSFORMER": "TRANSFORMER",
    "OUTPUT_TRANSFORMER": "OUTPUT_TRANSFORMER", "UNKNOWN_TYPE": "MODEL",
}
MAX_GRAPH_DEPTH = 64
MAX_GRAPH_NODES = 256
S2I_ENV_FILE = ".s2i/environment"


@dataclass
class Node:
    """A graph node that runs as a microservice (or, in-process, as a class in the executor)."""

    name: str
    node_type: str
    service_type: str
    cls: str
    path: str
    parameters: list[dict[str, Any]] | None
    image: str | None
    env: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def class_entry(self) -> ClassEntry:
        return ClassEntry(self.cls, self.path, self.parameters)


@dataclass
class Deployment:
    """The parsed file, the chosen predictor, and the nodes that need a class."""

    path: Path
    document: dict[str, Any]
    name: str
    predictor: dict[str, Any]
    predictor_index: int
    nodes: list[Node]
    builtin: list[str]


def strip_tag(image: str) -> str:
    """``registry:5000/org/name:tag@sha256:…`` → ``registry:5000/org/name``."""
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


def image_folder_name(image: str) -> str:
    return strip_tag(image).rsplit("/", 1)[-1]


def parse_s2i_environment(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments skipped; one pair of quotes stripped."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if key:
            env[key] = value
    return env


def choose_predictor(document: Any, wanted: str | None, source: str) -> tuple[str, int, dict[str, Any]]:
    """(deployment name, predictor index, predictor) from a SeldonDeployment document."""
    if not isinstance(document, dict):
        raise GraphConfigError(f"{source}: not a SeldonDeployment (expected a mapping)")
    kind = document.get("kind")
    if kind is not None and kind != "SeldonDeployment":
        raise GraphConfigError(f"{source}: kind is {kind!r}, expected SeldonDeployment")
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise GraphConfigError(f"{source}: has no spec")
    predictors = spec.get("predictors")
    if not isinstance(predictors, list) or not predictors:
        raise GraphConfigError(f"{source}: spec.predictors is empty")
    meta: dict[str, Any] = document["metadata"] if isinstance(document.get("metadata"), dict) else {}
    name = str(meta.get("name") or spec.get("name") or "local")
    names = [p.get("name") if isinstance(p, dict) else None for p in predictors]
    if wanted is None:
        if len(predictors) > 1:
            raise GraphConfigError(
                f"{source}: has {len(predictors)} predictors ({', '.join(map(str, names))}); "
                "choose one with --predictor"
            )
        index = 0
    elif wanted in names:
        index = names.index(wanted)
    else:
        raise GraphConfigError(f"{source}: no predictor {wanted!r} (there are: {', '.join(map(str, names))})")
    predictor = predictors[index]
    if not isinstance(predictor, dict) or not isinstance(predictor.get("graph"), dict):
        raise GraphConfigError(f"{source}: predictor {names[index]!r} has no graph")
    return name, index, predictor


def containers(predictor: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Container name → container spec, over every componentSpec of the predictor."""
    out: dict[str, dict[str, Any]] = {}
    for cs in predictor.get("componentSpecs") or []:
        spec = cs.get("spec") if isinstance(cs, dict) else None
        for c in (spec or {}).get("containers") or []:
            if isinstance(c, dict) and isinstance(c.get("name"), str):
                out[c["name"]] = c
    return out


def walk(graph: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """Every node of the graph, depth-first, checked for shape, names unique, size bounded."""
    seen: list[dict[str, Any]] = []
    names: set[str] = set()

    def visit(node: Any, depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise GraphConfigError(f"{source}: graph deeper than {MAX_GRAPH_DEPTH} levels")
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not node["name"]:
            raise GraphConfigError(f"{source}: a graph node has no name")
        name = node["name"]
        if name in names:
            raise GraphConfigError(f"{source}: node {name!r}: duplicate node name")
        names.add(name)
        seen.append(node)
        if len(seen) > MAX_GRAPH_NODES:
            raise GraphConfigError(f"{source}: more than {MAX_GRAPH_NODES} graph nodes")
        children = node.get("children") or []
        if not isinstance(children, list):
            raise GraphConfigError(f"{source}: node {name!r}: children must be a list")
        for child in children:
            visit(child, depth + 1)

    visit(graph, 0)
    return seen


def _container_env(container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and "value" in item:
            env[item["name"]] = str(item["value"])
    return env


def resolve_node(
    node: dict[str, Any], container: dict[str, Any] | None, class_map: ClassMap, base: Path, source: str
) -> Node | None:
    """How to run one graph node; None for a built-in implementation the executor runs itself."""
    name = node["name"]
    node_type = str(node.get("type") or "UNKNOWN_TYPE").upper()
    if node_type not in NODE_TYPES:
        raise GraphConfigError(f"{source}: node {name!r}: unknown type {node_type!r}")
    implementation = str(node.get("implementation") or "UNKNOWN_IMPLEMENTATION").upper()
    entry = class_map.nodes.get(name)
    if entry is None and implementation in BUILTIN_IMPLEMENTATIONS:
        return None
    image = container.get("image") if container else None
    if image is not None and not isinstance(image, str):
        raise GraphConfigError(f"{source}: node {name!r}: container image must be a string")
    how = f"class map entry nodes.{name}"
    if entry is None and image:
        for key in (strip_tag(image), image_folder_name(image)):
            if key in class_map.images:
                entry, how = class_map.images[key], f"class map entry images.{key}"
                break
    graph_params = node.get("parameters")
    if graph_params is not None:
        graph_params = check_parameters(graph_params, f"{source}: node {name!r}")
    env = _container_env(container) if container else {}
    service_type = SERVICE_TYPE_FOR_NODE[node_type]
    if entry is not None:
        params = entry.parameters if entry.parameters is not None else graph_params
        return Node(name, node_type, service_type, entry.cls, entry.path, params, image, env, how)
    if implementation != "UNKNOWN_IMPLEMENTATION":
        raise GraphConfigError(
            f"{source}: node {name!r}: implementation {implementation} is a prepackaged server; "
            "give the node a class with --class-map"
        )
    if not image:
        raise GraphConfigError(
            f"{source}: node {name!r}: no container named {name!r} in componentSpecs and no implementation"
        )
    folder = base / image_folder_name(image)
    env_file = folder / S2I_ENV_FILE
    if not folder.is_dir():
        raise GraphConfigError(
            f"{source}: node {name!r}: image {image} needs a folder {folder} (or a --class-map entry)"
        )
    try:
        s2i = parse_s2i_environment(env_file.read_text(encoding="utf-8"))
    except OSError:
        raise GraphConfigError(f"{source}: node {name!r}: {env_file} is missing (it names MODEL_NAME)") from None
    model_name = s2i.pop("MODEL_NAME", "").strip()
    if not model_name:
        raise GraphConfigError(f"{source}: node {name!r}: {env_file} does not set MODEL_NAME")
    s2i_type = s2i.pop("SERVICE_TYPE", "").strip().upper()
    if s2i_type:
        if s2i_type not in SERVICE_TYPE_FOR_NODE.values() and s2i_type != "OUTLIER_DETECTOR":
            raise GraphConfigError(f"{source}: node {name!r}: {env_file}: unknown SERVICE_TYPE {s2i_type}")
        service_type = s2i_type
    for ignored in ("PERSISTENCE", "API_TYPE"):
        s2i.pop(ignored, None)
    params = graph_params
    for var in ("PREDICTIVE_UNIT_PARAMETERS", "PARAMETERS"):
        text = s2i.pop(var, None)
        if text is not None and params is None:
            try:
                params = check_parameters(json.loads(text), f"{source}: node {name!r}: {env_file}: {var}")
            except ValueError:
                raise GraphConfigError(f"{source}: node {name!r}: {env_file}: {var} is not valid JSON") from None
    return Node(name, node_type, service_type, model_name, str(folder.resolve()), params, image,
                {**s2i, **env}, f"folder {folder}")


def load_deployment(path: str | Path, predictor: str | None, class_map: ClassMap) -> Deployment:
    p = Path(path)
    source = str(p)
    document = read_structured(p, "deployment")
    name, index, pred = choose_predictor(document, predictor, source)
    by_name = containers(pred)
    base = p.resolve().parent
    nodes: list[Node] = []
    builtin: list[str] = []
    for raw in walk(pred["graph"], source):
        resolved = resolve_node(raw, by_name.get(raw["name"]), class_map, base, source)
        if resolved is None:
            builtin.append(raw["name"])
        else:
            nodes.append(resolved)
    return Deployment(p, document, name, pred, index, nodes, builtin)


def with_local_endpoints(
    dep: Deployment, ports: dict[str, tuple[int, int]], host: str | dict[str, str] = "127.0.0.1"
) -> dict[str, Any]:
    """A copy of the deployment whose chosen predictor has only that predictor, every process node
    pointing at its host (``host``, or ``host[node name]``) and its (http, grpc) ports."""
    doc = copy.deepcopy(dep.document)
    predictor = doc["spec"]["predictors"][dep.predictor_index]
    doc["spec"]["predictors"] = [predictor]

    def visit(node: dict[str, Any]) -> None:
        if node["name"] in ports:
            http, grpc = ports[node["name"]]
            where = host if isinstance(host, str) else host[node["name"]]
            node["endpoint"] = {"type": (node.get("endpoint") or {}).get("type", "REST"),
                                "service_host": where, "service_port": http, "httpPort": http, "grpcPort": grpc}
        for child in node.get("children") or []:
            visit(child)

    visit(predictor["graph"])
    return doc


def node_env(dep: Deployment, node: Node, http: int, grpc: int, metrics: int) -> dict[str, str]:
    """Environment the operator would give the node's container (on top of the node's own)."""
    env = dict(node.env)
    env.update({
        "PREDICTIVE_UNIT_ID": node.name,
        "PREDICTIVE_UNIT_IMAGE": node.image or f"local/{node.name}:local",
        "PREDICTIVE_UNIT_SERVICE_PORT": str(http),
        "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(http),
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": str(grpc),
        "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(metrics),
        "PREDICTOR_ID": str(dep.predictor.get("name") or "default"),
        "SELDON_DEPLOYMENT_ID": dep.name,
        "SELDON_EXECUTOR_ENABLED": "true",
    })
    if node.parameters is not None:
        env["PREDICTIVE_UNIT_PARAMETERS"] = json.dumps(node.parameters)
    return env
