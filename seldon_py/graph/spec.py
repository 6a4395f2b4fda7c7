"""A SeldonDeployment predictor's inference graph: parsed, validated, and resolved per node.

Pure functions over already-loaded documents (dicts); no I/O. Every problem is a
:class:`GraphError` whose message is one line naming the node (or the document part) at fault.

What each node does on a request is decided here once, from its ``type`` and its optional
``methods`` override (spec §16.2), so the walker only reads booleans.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

NODE_TYPES = frozenset({"MODEL", "ROUTER", "COMBINER", "TRANSFORMER", "OUTPUT_TRANSFORMER", "UNKNOWN_TYPE"})
METHODS = frozenset({"TRANSFORM_INPUT", "TRANSFORM_OUTPUT", "ROUTE", "AGGREGATE", "SEND_FEEDBACK"})
#: implementations the executor runs itself (no container, no endpoint)
BUILTIN_IMPLEMENTATIONS = frozenset({"SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER"})
#: Seldon's prepackaged model servers (a container of their own: remote nodes with an endpoint);
#: any other ``*_SERVER`` name is accepted too (the operator's configmap may define more)
PREPACKAGED_SERVERS = frozenset({
    "SKLEARN_SERVER", "XGBOOST_SERVER", "TENSORFLOW_SERVER", "MLFLOW_SERVER", "TRITON_SERVER",
    "HUGGINGFACE_SERVER", "TEMPO_SERVER", "ALIBI_DETECT_SERVER", "ALIBI_EXPLAIN_SERVER",
})
LOGGER_MODES = frozenset({"all", "request", "response"})
ENDPOINT_TYPES = frozenset({"REST", "GRPC"})

#: bounds on what a spec may contain (an operator-written spec is far below these)
MAX_NODES = 1000
MAX_DEPTH = 64


class GraphError(Exception):
    """The graph spec cannot be served; the message is one line naming what is wrong."""


@dataclass(frozen=True)
class Endpoint:
    """Where a remote node listens: ``rest_port`` / ``grpc_port`` are 0 when unknown."""

    host: str
    rest_port: int
    grpc_port: int
    type: str  # REST | GRPC: the node's own declared transport


@dataclass(frozen=True)
class LoggerSpec:
    url: str | None
    mode: str  # all | request | response

    @property
    def requests(self) -> bool:
        return self.mode in ("all", "request")

    @property
    def responses(self) -> bool:
        return self.mode in ("all", "response")


@dataclass(frozen=True)
class GraphNode:
    name: str
    type: str
    implementation: str | None
    methods: frozenset[str]
    endpoint: Endpoint | None
    parameters: tuple[dict[str, Any], ...]
    logger: LoggerSpec | None
    children: tuple[GraphNode, ...]
    image: str | None = None  # the container image of the component spec with this name
    # what the node does, resolved from type + methods (spec §16.2)
    input_method: str | None = None  # "predict" | "transform_input" | None
    routes: bool = False
    aggregates: bool = False
    transforms_output: bool = False
    takes_feedback: bool = False
    builtin: str | None = None  # one of BUILTIN_IMPLEMENTATIONS when the executor runs it

    def walk(self) -> list[GraphNode]:
        """This node and all below it, depth-first, parents first."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out

    def parameter(self, name: str) -> Any:
        for p in self.parameters:
            if p.get("name") == name:
                return p.get("value")
        return None


@dataclass(frozen=True)
class Predictor:
    name: str
    graph: GraphNode
    deployment_name: str = ""
    namespace: str = ""
    version: str = ""  # predictor label "version", as the Go executor's metrics use
    annotations: dict[str, str] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # container name → image

    def nodes(self) -> list[GraphNode]:
        return self.graph.walk()

    def node(self, name: str) -> GraphNode | None:
        for n in self.nodes():
            if n.name == name:
                return n
        return None


# ------------------------------------------------------------------------------ parsing
def _where(name: str | None) -> str:
    return f"graph node {name!r}" if name else "graph node (unnamed)"


def _port(value: Any, what: str, name: str) -> int:
    if value in (None, "", 0):
        return 0
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise GraphError(f"{_where(name)}: endpoint.{what} {value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise GraphError(f"{_where(name)}: endpoint.{what} {port} is not a port number (1-65535)")
    return port


def _endpoint(raw: Any, name: str, default_type: str) -> Endpoint | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise GraphError(f"{_where(name)}: endpoint must be a mapping")
    etype = str(raw.get("type") or default_type).upper()
    if etype not in ENDPOINT_TYPES:
        raise GraphError(f"{_where(name)}: endpoint.type {raw.get('type')!r} is not REST or GRPC")
    service_port = _port(raw.get("service_port"), "service_port", name)
    rest = _port(raw.get("httpPort"), "httpPort", name) or (service_port if etype == "REST" else 0)
    grpc = _port(raw.get("grpcPort"), "grpcPort", name) or (service_port if etype == "GRPC" else 0)
    host = raw.get("service_host") or ""
    if not isinstance(host, str):
        raise GraphError(f"{_where(name)}: endpoint.service_host must be a string")
    if not host and not rest and not grpc:
        return None
    return Endpoint(host=host, rest_port=rest, grpc_port=grpc, type=etype)


def _logger(raw: Any, name: str) -> LoggerSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise GraphError(f"{_where(name)}: logger must be a mapping with url and mode")
    mode = str(raw.get("mode") or "all").lower()
    if mode not in LOGGER_MODES:
        raise GraphError(f"{_where(name)}: logger.mode {raw.get('mode')!r} is not all, request or response")
    url = raw.get("url") or None
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise GraphError(f"{_where(name)}: logger.url {url!r} is not an http(s) URL")
    return LoggerSpec(url=url, mode=mode)


def _parameters(raw: Any, name: str) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(p, dict) and "name" in p for p in raw):
        raise GraphError(f"{_where(name)}: parameters must be a list of {{name, value, type}} mappings")
    return tuple(dict(p) for p in raw)


def _node(raw: Any, depth: int, count: list[int], images: dict[str, str], default_type: str) -> GraphNode:
    if not isinstance(raw, dict):
        raise GraphError("graph node must be a mapping (with name, type, children...)")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise GraphError("graph node without a name: every node needs a non-empty 'name'")
    count[0] += 1
    if count[0] > MAX_NODES:
        raise GraphError(f"graph has more than {MAX_NODES} nodes")
    if depth > MAX_DEPTH:
        raise GraphError(f"{_where(name)}: graph is nested deeper than {MAX_DEPTH} levels")
    ntype = raw.get("type") or "UNKNOWN_TYPE"
    if ntype not in NODE_TYPES:
        raise GraphError(f"{_where(name)}: unknown type {ntype!r} (valid: {', '.join(sorted(NODE_TYPES))})")
    impl = raw.get("implementation") or None
    if impl == "UNKNOWN_IMPLEMENTATION":
        impl = None
    if impl is not None and not (
        impl in BUILTIN_IMPLEMENTATIONS or impl in PREPACKAGED_SERVERS
        or (isinstance(impl, str) and impl.endswith("_SERVER"))
    ):
        raise GraphError(
            f"{_where(name)}: unknown implementation {impl!r} (built in: {', '.join(sorted(BUILTIN_IMPLEMENTATIONS))};"
            " or a prepackaged *_SERVER)"
        )
    methods_raw = raw.get("methods") or []
    if not isinstance(methods_raw, list) or not all(isinstance(m, str) for m in methods_raw):
        raise GraphError(f"{_where(name)}: methods must be a list of method names")
    unknown = [m for m in methods_raw if m not in METHODS]
    if unknown:
        raise GraphError(f"{_where(name)}: unknown method {unknown[0]!r} (valid: {', '.join(sorted(METHODS))})")
    methods = frozenset(methods_raw)
    children_raw = raw.get("children") or []
    if not isinstance(children_raw, list):
        raise GraphError(f"{_where(name)}: children must be a list of nodes")
    children = tuple(_node(c, depth + 1, count, images, default_type) for c in children_raw)
    builtin = impl if impl in BUILTIN_IMPLEMENTATIONS else None

    if builtin == "RANDOM_ABTEST" or builtin == "SIMPLE_ROUTER":
        input_method, routes, aggregates, out, feedback = None, True, False, False, False
    elif builtin == "AVERAGE_COMBINER":
        input_method, routes, aggregates, out, feedback = None, False, True, False, False
    elif builtin == "SIMPLE_MODEL":
        input_method, routes, aggregates, out, feedback = "predict", False, False, False, False
    else:
        if ntype == "TRANSFORMER" or "TRANSFORM_INPUT" in methods:
            input_method = "transform_input"
        elif ntype == "MODEL":
            input_method = "predict"
        else:
            input_method = None
        routes = ntype == "ROUTER" or "ROUTE" in methods
        aggregates = ntype == "COMBINER" or "AGGREGATE" in methods
        out = ntype == "OUTPUT_TRANSFORMER" or "TRANSFORM_OUTPUT" in methods
        feedback = ntype in ("MODEL", "ROUTER") or "SEND_FEEDBACK" in methods

    if routes and not children:
        raise GraphError(f"{_where(name)}: a router needs children to route to, it has none")
    if aggregates and not children:
        raise GraphError(f"{_where(name)}: a combiner needs children to combine, it has none")
    if builtin == "RANDOM_ABTEST" and len(children) != 2:
        raise GraphError(f"{_where(name)}: RANDOM_ABTEST needs exactly 2 children, it has {len(children)}")
    params = _parameters(raw.get("parameters"), name)
    return GraphNode(
        name=name,
        type=ntype,
        implementation=impl,
        methods=methods,
        endpoint=_endpoint(raw.get("endpoint"), name, default_type),
        parameters=params,
        logger=_logger(raw.get("logger"), name),
        children=children,
        image=images.get(name),
        input_method=input_method,
        routes=routes,
        aggregates=aggregates,
        transforms_output=out,
        takes_feedback=feedback,
        builtin=builtin,
    )


def abtest_ratio(node: GraphNode) -> float:
    """RANDOM_ABTEST's ``ratioA`` (probability of child 0), default 0.5."""
    value = node.parameter("ratioA")
    if value is None:
        return 0.5
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise GraphError(f"{_where(node.name)}: ratioA {value!r} is not a number") from None
    if not 0.0 <= ratio <= 1.0:
        raise GraphError(f"{_where(node.name)}: ratioA {ratio} is not between 0 and 1")
    return ratio


def _component_images(predictor: dict[str, Any]) -> dict[str, str]:
    images: dict[str, str] = {}
    specs = predictor.get("componentSpecs") or []
    if not isinstance(specs, list):
        return images
    for cs in specs:
        containers = (((cs or {}).get("spec") or {}).get("containers") or []) if isinstance(cs, dict) else []
        for c in containers if isinstance(containers, list) else []:
            if isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("image"), str):
                images[c["name"]] = c["image"]
    return images


def parse_predictor(
    predictor: Any,
    deployment_name: str = "",
    namespace: str = "",
    annotations: dict[str, str] | None = None,
    default_transport: str = "REST",
) -> Predictor:
    """One predictor mapping (as in ``spec.predictors[]``) → :class:`Predictor`, validated."""
    if not isinstance(predictor, dict):
        raise GraphError("predictor must be a mapping with a name and a graph")
    name = predictor.get("name") or ""
    graph = predictor.get("graph")
    if graph is None:
        raise GraphError(f"predictor {name!r} has no graph")
    images = _component_images(predictor)
    root = _node(graph, 0, [0], images, default_transport.upper())
    seen: set[str] = set()
    for n in root.walk():
        if n.name in seen:
            raise GraphError(f"{_where(n.name)}: duplicate node name (every node name must be unique)")
        seen.add(n.name)
        if n.builtin == "RANDOM_ABTEST":
            abtest_ratio(n)
    anns = dict(annotations or {})
    pann = predictor.get("annotations")
    if isinstance(pann, dict):
        anns.update({str(k): str(v) for k, v in pann.items()})
    labels = predictor.get("labels") if isinstance(predictor.get("labels"), dict) else {}
    return Predictor(
        name=str(name),
        graph=root,
        deployment_name=deployment_name,
        namespace=namespace,
        version=str((labels or {}).get("version", "")),
        annotations=anns,
        images=images,
    )


def parse_deployment(
    doc: Any, predictor_name: str | None = None, default_transport: str = "REST"
) -> Predictor:
    """A whole SeldonDeployment (loaded YAML/JSON) → the predictor named ``predictor_name``
    (required when there are several)."""
    if not isinstance(doc, dict):
        raise GraphError("the deployment file must hold one SeldonDeployment mapping")
    kind = doc.get("kind")
    if kind is not None and kind != "SeldonDeployment":
        raise GraphError(f"the deployment file holds a {kind!r}, not a SeldonDeployment")
    raw_meta, spec = doc.get("metadata"), doc.get("spec")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    if not isinstance(spec, dict):
        raise GraphError("the SeldonDeployment has no spec")
    predictors = spec.get("predictors")
    if not isinstance(predictors, list) or not predictors:
        raise GraphError("the SeldonDeployment has no spec.predictors")
    names = [p.get("name") if isinstance(p, dict) else None for p in predictors]
    if predictor_name:
        if predictor_name not in names:
            have = ", ".join(map(str, names))
            raise GraphError(f"no predictor named {predictor_name!r} (the deployment has: {have})")
        chosen = predictors[names.index(predictor_name)]
    elif len(predictors) == 1:
        chosen = predictors[0]
    else:
        have = ", ".join(map(str, names))
        raise GraphError(f"the deployment has {len(predictors)} predictors ({have}): pick one with --predictor")
    annotations = {}
    for source in (meta.get("annotations"), spec.get("annotations")):
        if isinstance(source, dict):
            annotations.update({str(k): str(v) for k, v in source.items()})
    return parse_predictor(
        chosen,
        deployment_name=str(spec.get("name") or meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        annotations=annotations,
        default_transport=default_transport,
    )


def decode_engine_predictor(text: str) -> Any:
    """``ENGINE_PREDICTOR``: base64 of the predictor's JSON, as the operator passes it."""
    try:
        raw = base64.b64decode(text.strip(), validate=False)
        return json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise GraphError(f"ENGINE_PREDICTOR is not base64-encoded JSON: {exc}") from None


def check_endpoints(predictor: Predictor, local: set[str], transport: str) -> None:
    """Every node the executor calls over the network needs an endpoint it can reach on
    ``transport`` (``rest``/``grpc``); in-process (``local``) and built-in nodes need none."""
    for n in predictor.nodes():
        if n.builtin or n.name in local:
            continue
        if n.endpoint is None or not (n.endpoint.rest_port or n.endpoint.grpc_port):
            raise GraphError(
                f"{_where(n.name)}: no endpoint (service_host/service_port) to call it at, and no in-process "
                "class for it in --class-map"
            )
