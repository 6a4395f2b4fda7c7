"""Resolving a SeldonDeployment's graph nodes to local classes (no processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from seldon_py.localrun.classmap import (
    ClassMap,
    GraphConfigError,
    dump_class_map,
    load_class_map,
    parse_class_map,
)
from seldon_py.localrun.spec import (
    image_folder_name,
    load_deployment,
    node_env,
    parse_s2i_environment,
    strip_tag,
    with_local_endpoints,
)


def sdep(graph: dict[str, Any], containers: list[dict[str, Any]], predictors: int = 1) -> dict[str, Any]:
    preds = [{"name": f"p{i}", "graph": graph, "componentSpecs": [{"spec": {"containers": containers}}]}
             for i in range(predictors)]
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"name": "demo"}, "spec": {"predictors": preds}}


def write(tmp: Path, doc: dict[str, Any], name: str = "deployment.json") -> Path:
    path = tmp / name
    path.write_text(json.dumps(doc))
    return path


def s2i_folder(tmp: Path, folder: str, env: str) -> Path:
    d = tmp / folder / ".s2i"
    d.mkdir(parents=True)
    (d / "environment").write_text(env)
    return tmp / folder


GRAPH = {"name": "step", "type": "TRANSFORMER", "children": [
    {"name": "ab", "implementation": "RANDOM_ABTEST", "children": [
        {"name": "a", "type": "MODEL", "parameters": [{"name": "k", "value": "2", "type": "INT"}]},
        {"name": "b", "type": "MODEL"},
    ]},
]}
CONTAINERS = [{"name": "step", "image": "myorg/transformer:0.1", "env": [{"name": "X", "value": "1"}]},
              {"name": "a", "image": "registry:5000/models/model-a:2"},
              {"name": "b", "image": "model-b"}]


@pytest.mark.parametrize("image, stripped, folder", [
    ("myorg/transformer:0.1", "myorg/transformer", "transformer"),
    ("registry:5000/models/model-a:2", "registry:5000/models/model-a", "model-a"),
    ("registry:5000/x", "registry:5000/x", "x"),
    ("plain", "plain", "plain"),
    ("org/img@sha256:abc", "org/img", "img"),
])
def test_image_names(image: str, stripped: str, folder: str) -> None:
    assert strip_tag(image) == stripped
    assert image_folder_name(image) == folder


def test_s2i_environment_parsing() -> None:
    text = ("# comment\nMODEL_NAME=Transformer\n\nSERVICE_TYPE = TRANSFORMER\nPERSISTENCE=0\n"
            "Q=\"quoted value\"\nbad line\n")
    assert parse_s2i_environment(text) == {"MODEL_NAME": "Transformer", "SERVICE_TYPE": "TRANSFORMER",
                                           "PERSISTENCE": "0", "Q": "quoted value"}


def test_nodes_resolve_by_convention(tmp_path: Path) -> None:
    s2i_folder(tmp_path, "transformer", "MODEL_NAME=Scaler\nSERVICE_TYPE=TRANSFORMER\nPERSISTENCE=0\nFOO=bar\n")
    s2i_folder(tmp_path, "model-a", "MODEL_NAME=pkg.mod.ModelA\nSERVICE_TYPE=MODEL\n")
    s2i_folder(tmp_path, "model-b", "MODEL_NAME=ModelB\n")
    dep = load_deployment(write(tmp_path, sdep(GRAPH, CONTAINERS)), None, ClassMap())
    assert (dep.name, dep.builtin) == ("demo", ["ab"])
    step, a, b = dep.nodes
    assert (step.name, step.cls, step.service_type, step.path) == (
        "step", "Scaler", "TRANSFORMER", str((tmp_path / "transformer").resolve()))
    assert step.env == {"FOO": "bar", "X": "1"}          # s2i env + container env; PERSISTENCE dropped
    assert step.parameters is None
    assert (a.cls, a.service_type, a.parameters) == ("pkg.mod.ModelA", "MODEL",
                                                     [{"name": "k", "value": "2", "type": "INT"}])
    assert (b.cls, b.service_type) == ("ModelB", "MODEL")   # SERVICE_TYPE from the graph type


def test_class_map_wins_nodes_over_images_over_folders(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    s2i_folder(tmp_path, "model-b", "MODEL_NAME=ModelB\n")
    cmap = {"nodes": {"step": {"class": "Step", "path": "code", "parameters": []}},
            "images": {"registry:5000/models/model-a": {"class": "A"}, "model-b": {"class": "B", "path": "code"}}}
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "map.json").write_text(json.dumps(cmap).replace('"code"', '"../code"'))
    dep = load_deployment(write(tmp_path, sdep(GRAPH, CONTAINERS)), None,
                          load_class_map(tmp_path / "maps" / "map.json"))
    step, a, b = dep.nodes
    assert (step.cls, step.path, step.parameters) == ("Step", str((tmp_path / "code").resolve()), [])
    assert (a.cls, a.path) == ("A", str((tmp_path / "maps").resolve()))   # path defaults to the map's folder
    assert a.parameters == [{"name": "k", "value": "2", "type": "INT"}]   # graph parameters kept
    assert (b.cls, b.source) == ("B", "class map entry images.model-b")


def test_yaml_deployment_and_predictor_choice(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    s2i_folder(tmp_path, "model-b", "MODEL_NAME=ModelB\n")
    doc = sdep({"name": "b", "type": "MODEL"}, CONTAINERS, predictors=2)
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(GraphConfigError, match="has 2 predictors .*p0, p1.*--predictor"):
        load_deployment(path, None, ClassMap())
    with pytest.raises(GraphConfigError, match="no predictor 'zz'"):
        load_deployment(path, "zz", ClassMap())
    dep = load_deployment(path, "p1", ClassMap())
    assert dep.predictor_index == 1 and [n.name for n in dep.nodes] == ["b"]
    local = with_local_endpoints(dep, {"b": (1111, 2222)})
    assert [p["name"] for p in local["spec"]["predictors"]] == ["p1"]
    assert local["spec"]["predictors"][0]["graph"]["endpoint"] == {
        "type": "REST", "service_host": "127.0.0.1", "service_port": 1111, "httpPort": 1111, "grpcPort": 2222}
    assert "endpoint" not in doc["spec"]["predictors"][1]["graph"]   # the original is untouched


@pytest.mark.parametrize("graph, containers, match", [
    ({"name": "x", "type": "MODEL"}, [], "node 'x': no container named 'x'"),
    ({"name": "x", "type": "WIDGET"}, [], "node 'x': unknown type 'WIDGET'"),
    ({"name": "x", "implementation": "SKLEARN_SERVER"}, [], "node 'x': implementation SKLEARN_SERVER"),
    ({"name": "x", "type": "MODEL"}, [{"name": "x", "image": "org/nothere:1"}], "needs a folder .*nothere"),
    ({"name": "x", "children": [{"name": "x"}]}, [], "node 'x': duplicate node name"),
    ({"name": "x", "type": "MODEL", "parameters": {"a": 1}}, [{"name": "x", "image": "m"}],
     "parameters must be a list"),
])
def test_bad_graphs_name_the_node(tmp_path: Path, graph: dict, containers: list, match: str) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(GraphConfigError, match=match):
        load_deployment(write(tmp_path, sdep(graph, containers)), None, ClassMap())


def test_folder_without_model_name(tmp_path: Path) -> None:
    s2i_folder(tmp_path, "m", "SERVICE_TYPE=MODEL\n")
    with pytest.raises(GraphConfigError, match="does not set MODEL_NAME"):
        load_deployment(write(tmp_path, sdep({"name": "x"}, [{"name": "x", "image": "m:1"}])), None, ClassMap())
    (tmp_path / "n").mkdir()
    with pytest.raises(GraphConfigError, match=r"\.s2i/environment is missing"):
        load_deployment(write(tmp_path, sdep({"name": "x"}, [{"name": "x", "image": "n:1"}])), None, ClassMap())


def test_deep_graph_is_refused(tmp_path: Path) -> None:
    node: dict[str, Any] = {"name": "n0", "implementation": "SIMPLE_MODEL"}
    for i in range(1, 100):
        node = {"name": f"n{i}", "implementation": "SIMPLE_MODEL", "children": [node]}
    with pytest.raises(GraphConfigError, match="deeper than 64"):
        load_deployment(write(tmp_path, sdep(node, [])), None, ClassMap())


@pytest.mark.parametrize("data, match", [
    ([], "must be a mapping"),
    ({"modules": {}}, "unknown top-level field"),
    ({"nodes": {"a": {"path": "."}}}, r"nodes\.a: 'class' must be"),
    ({"nodes": {"a": {"class": "A", "path": "nope"}}}, "is not a directory"),
    ({"images": {"i": {"class": "A", "colour": 1}}}, "unknown field"),
    ({"nodes": {"a": {"class": "A", "parameters": "x"}}}, "parameters must be a list"),
])
def test_bad_class_maps(tmp_path: Path, data: Any, match: str) -> None:
    with pytest.raises(GraphConfigError, match=match):
        parse_class_map(data, tmp_path)


def test_class_map_round_trip(tmp_path: Path) -> None:
    s2i_folder(tmp_path, "model-b", "MODEL_NAME=ModelB\n")
    dep = load_deployment(write(tmp_path, sdep({"name": "b", "type": "MODEL"}, CONTAINERS)), None, ClassMap())
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "map.json"
    path.write_text(dump_class_map({n.name: n.class_entry() for n in dep.nodes}))
    again = load_class_map(path)
    assert again.nodes["b"].cls == "ModelB" and again.nodes["b"].path == dep.nodes[0].path


def test_node_env_is_what_the_operator_sets(tmp_path: Path) -> None:
    s2i_folder(tmp_path, "model-a", "MODEL_NAME=A\n")
    graph = {"name": "a", "parameters": [{"name": "k", "value": "1", "type": "INT"}]}
    dep = load_deployment(write(tmp_path, sdep(graph, CONTAINERS)), None, ClassMap())
    env = node_env(dep, dep.nodes[0], 1, 2, 3)
    assert env["PREDICTIVE_UNIT_ID"] == "a"
    assert env["PREDICTIVE_UNIT_IMAGE"] == "registry:5000/models/model-a:2"
    assert (env["PREDICTOR_ID"], env["SELDON_DEPLOYMENT_ID"]) == ("p0", "demo")
    assert json.loads(env["PREDICTIVE_UNIT_PARAMETERS"]) == [{"name": "k", "value": "1", "type": "INT"}]
    assert env["PREDICTIVE_UNIT_HTTP_SERVICE_PORT"] == "1"


def test_s2i_parameters_are_the_default(tmp_path: Path) -> None:
    s2i_folder(tmp_path, "model-b", 'MODEL_NAME=ModelB\nPARAMETERS=[{"name":"k","value":"5","type":"INT"}]\n')
    s2i_folder(tmp_path, "model-a", "MODEL_NAME=A\nPREDICTIVE_UNIT_PARAMETERS=[{\"name\":\"k\"}]\n")
    dep = load_deployment(write(tmp_path, sdep({"name": "b", "type": "MODEL"}, CONTAINERS)), None, ClassMap())
    assert dep.nodes[0].parameters == [{"name": "k", "value": "5", "type": "INT"}]
    assert "PARAMETERS" not in dep.nodes[0].env
    graph = {"name": "b", "type": "MODEL", "parameters": [{"name": "k", "value": "6", "type": "INT"}]}
    dep = load_deployment(write(tmp_path, sdep(graph, CONTAINERS)), None, ClassMap())
    assert dep.nodes[0].parameters == [{"name": "k", "value": "6", "type": "INT"}]   # the graph wins
    with pytest.raises(GraphConfigError, match="PREDICTIVE_UNIT_PARAMETERS: parameter .* needs a name, a value"):
        load_deployment(write(tmp_path, sdep({"name": "a"}, CONTAINERS)), None, ClassMap())
    s2i_folder(tmp_path, "c", "MODEL_NAME=C\nPARAMETERS=[oops\n")
    with pytest.raises(GraphConfigError, match="PARAMETERS is not valid JSON"):
        load_deployment(write(tmp_path, sdep({"name": "c"}, [{"name": "c", "image": "c"}])), None, ClassMap())
