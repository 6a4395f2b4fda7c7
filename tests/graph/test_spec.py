"""Graph spec parsing and start-up validation: one line naming the node."""

from __future__ import annotations

import base64
import json

import pytest

from seldon_py.graph.spec import GraphError, check_endpoints, decode_engine_predictor, parse_deployment, parse_predictor


def sdep(*predictors):
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": "dep", "namespace": "ns", "annotations": {"seldon.io/rest-timeout": "1500"}},
            "spec": {"predictors": list(predictors)}}


def pred(name, graph, **kw):
    return {"name": name, "graph": graph, **kw}


def test_parse_resolves_node_behaviour_and_images():
    p = parse_deployment(sdep(pred("default", {
        "name": "t", "type": "TRANSFORMER", "endpoint": {"type": "REST", "service_host": "h", "service_port": 9000},
        "children": [{"name": "m", "type": "MODEL",
                      "endpoint": {"type": "GRPC", "service_host": "h", "grpcPort": 9500}}],
    }, componentSpecs=[{"spec": {"containers": [{"name": "m", "image": "repo/m:1"}]}}], labels={"version": "v2"})))
    assert p.name == "default" and p.deployment_name == "dep" and p.namespace == "ns" and p.version == "v2"
    assert p.annotations["seldon.io/rest-timeout"] == "1500"
    t, m = p.nodes()
    assert t.input_method == "transform_input" and t.endpoint.rest_port == 9000 and t.endpoint.grpc_port == 0
    assert m.input_method == "predict" and m.takes_feedback and m.image == "repo/m:1"
    assert m.endpoint.grpc_port == 9500 and m.endpoint.rest_port == 0


def test_pick_predictor():
    doc = sdep(pred("a", {"name": "x", "type": "MODEL"}), pred("b", {"name": "y", "type": "MODEL"}))
    assert parse_deployment(doc, "b").graph.name == "y"
    with pytest.raises(GraphError, match="pick one with --predictor"):
        parse_deployment(doc)
    with pytest.raises(GraphError, match="no predictor named 'c'"):
        parse_deployment(doc, "c")


@pytest.mark.parametrize("graph,message", [
    ({"name": "n", "type": "MODDEL"}, "graph node 'n': unknown type 'MODDEL'"),
    ({"name": "r", "type": "ROUTER"}, "graph node 'r': a router needs children"),
    ({"name": "c", "type": "COMBINER"}, "graph node 'c': a combiner needs children"),
    ({"name": "m", "type": "MODEL", "implementation": "MAGIC"}, "graph node 'm': unknown implementation 'MAGIC'"),
    ({"name": "m", "type": "MODEL", "children": [{"name": "m", "type": "MODEL"}]},
     "graph node 'm': duplicate node name"),
    ({"name": "ab", "type": "ROUTER", "implementation": "RANDOM_ABTEST", "children": [{"name": "a"}]},
     "RANDOM_ABTEST needs exactly 2 children"),
    ({"name": "ab", "type": "ROUTER", "implementation": "RANDOM_ABTEST", "children": [{"name": "a"}, {"name": "b"}],
      "parameters": [{"name": "ratioA", "value": "2", "type": "FLOAT"}]}, "ratioA 2.0 is not between 0 and 1"),
    ({"name": "m", "methods": ["PREDICT"]}, "graph node 'm': unknown method 'PREDICT'"),
    ({"type": "MODEL"}, "graph node without a name"),
    ({"name": "m", "endpoint": {"type": "HTTP"}}, "endpoint.type 'HTTP' is not REST or GRPC"),
])
def test_invalid_graphs_are_refused_naming_the_node(graph, message):
    with pytest.raises(GraphError, match=message) as info:
        parse_predictor(pred("p", graph))
    assert "\n" not in str(info.value)


def test_missing_endpoint_names_the_node_unless_local_or_builtin():
    p = parse_predictor(pred("p", {"name": "ab", "type": "ROUTER", "implementation": "RANDOM_ABTEST",
                                   "children": [{"name": "a", "type": "MODEL"}, {"name": "b", "type": "MODEL",
                                   "endpoint": {"service_host": "h", "service_port": 1}}]}))
    with pytest.raises(GraphError, match="graph node 'a': no endpoint"):
        check_endpoints(p, set(), "rest")
    check_endpoints(p, {"a"}, "rest")


def test_depth_is_bounded():
    g: dict = {"name": "n0", "type": "MODEL"}
    cur = g
    for i in range(1, 100):
        cur["children"] = [{"name": f"n{i}", "type": "MODEL"}]
        cur = cur["children"][0]
    with pytest.raises(GraphError, match="nested deeper"):
        parse_predictor(pred("p", g))


def test_engine_predictor():
    raw = base64.b64encode(json.dumps(pred("p", {"name": "m", "type": "MODEL"})).encode()).decode()
    assert parse_predictor(decode_engine_predictor(raw)).graph.name == "m"
    with pytest.raises(GraphError, match="ENGINE_PREDICTOR"):
        decode_engine_predictor("not base64 json!!")
