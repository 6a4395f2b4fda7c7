"""Executor flags (Go spellings and dashed), environment and annotations; class-map parsing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seldon_py.executor import config
from seldon_py.executor.inprocess import match, parse_class_map
from seldon_py.executor.main import main
from seldon_py.graph.spec import GraphError, parse_predictor
from seldon_py.settings import ConfigError
from tests.conftest import ROOT


def test_go_and_dashed_spellings():
    for argv in (["--file", "x.yaml", "--http_port", "9000", "--grpc_port", "9001", "--full_health_checks"],
                 ["--file", "x.yaml", "--http-port", "9000", "--grpc-port", "9001", "--full-health-checks", "true"]):
        s = config.parse(argv, {})
        assert (s.http_port, s.grpc_port, s.full_health_checks) == (9000, 9001, True)
    s = config.parse(["--file", "x"], {})
    assert (s.http_port, s.grpc_port, s.prometheus_path, s.transport) == (8080, 5000, "/metrics", "rest")


@pytest.mark.parametrize("argv,message", [
    (["--file", "x", "--protocol", "kfserving"], "--protocol 'kfserving' is not supported"),
    ([], "no graph: give --file"),
    (["--file", "x", "--http_port", "5000"], "both 5000"),
    (["--file", "x", "--transport", "smoke"], "invalid choice"),
    (["--file", "x", "--prometheus_path", "metrics"], "must start with /"),
])
def test_bad_flags(argv, message):
    with pytest.raises(ConfigError, match=message):
        config.parse(argv, {})


def test_env_and_annotations():
    s = config.parse([], {"ENGINE_PREDICTOR": "e30=", "SELDON_ENABLE_ROUTING_INJECTION": "true",
                          "REQUEST_LOGGER_DEFAULT_ENDPOINT": "http://sink"},
                     'seldon.io/rest-timeout="250"\nseldon.io/rest-timeout.slow="5000"\n')
    config.apply_annotations(s, {"seldon.io/rest-timeout": "999", "seldon.io/grpc-timeout": "1200"})
    assert s.inject_routing and s.logger_default_endpoint == "http://sink"
    assert s.node_timeout_s("fast", "rest") == 0.25  # the pod's annotations file wins over the deployment's
    assert s.node_timeout_s("slow", "rest") == 5.0
    assert s.node_timeout_s("fast", "grpc") == 1.2
    with pytest.raises(ConfigError, match="seldon.io/grpc-timeout.x"):
        config.apply_annotations(s, {"seldon.io/grpc-timeout.x": "soon"})


def test_cli_errors_are_one_line(capsys):
    assert main(["--file", "/nonexistent.yaml"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["seldon-core-executor: error: cannot read /nonexistent.yaml: No such file or directory"]
    assert main(["--bogus"]) == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_help():
    out = subprocess.run([sys.executable, "-m", "seldon_py.executor.main", "--help"], capture_output=True,
                         text=True, timeout=60, check=True, env={"PYTHONPATH": str(ROOT)}).stdout
    for flag in ("--file", "--predictor", "--http_port", "--class_map", "ENGINE_PREDICTOR", "seldon.io/rest-timeout"):
        assert flag in out


def test_class_map_matches_by_name_then_image(tmp_path):
    by_node, by_image = parse_class_map(
        {"nodes": {"m": {"class": "A", "path": "models"}}, "images": {"repo/img": {"class": "B"}}}, str(tmp_path))
    assert by_node["m"].path == str(tmp_path / "models") and by_image["repo/img"].path == str(tmp_path)
    pred = parse_predictor({"name": "p", "graph": {"name": "m", "children": [{"name": "x"}, {"name": "y"}]},
                            "componentSpecs": [{"spec": {"containers": [{"name": "m", "image": "repo/img:1"},
                                                                        {"name": "x", "image": "repo/img:2"},
                                                                        {"name": "y", "image": "reg:5000/other"}]}}]})
    m, x, y = pred.nodes()
    assert match(m, by_node, by_image).class_name == "A"
    assert match(x, by_node, by_image).class_name == "B"
    assert match(y, by_node, by_image) is None
    with pytest.raises(GraphError, match="class map nodes.m: needs a 'class'"):
        parse_class_map({"nodes": {"m": {"path": "."}}}, ".")


def test_class_that_cannot_be_imported_names_the_node(tmp_path, capsys):
    (tmp_path / "g.yaml").write_text(
        "kind: SeldonDeployment\nspec:\n  predictors:\n  - name: p\n    graph: {name: mine, type: MODEL}\n")
    (tmp_path / "cm.yaml").write_text("nodes:\n  mine: {class: nosuchmodule.Model}\n")
    assert main(["--file", str(tmp_path / "g.yaml"), "--class-map", str(tmp_path / "cm.yaml")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("seldon-core-executor: error: graph node 'mine': class 'nosuchmodule.Model'")


def test_engine_predictor_as_the_operator_passes_it():
    import base64
    import json

    from seldon_py.executor.main import prepare

    predictor = {"name": "main", "annotations": {"seldon.io/rest-timeout": "1234"},
                 "graph": {"name": "m", "type": "MODEL", "endpoint": {"type": "REST", "service_host": "m-svc",
                                                                      "service_port": 9000}}}
    env = {"ENGINE_PREDICTOR": base64.b64encode(json.dumps(predictor).encode()).decode()}
    s = config.parse(["--sdep", "mydep", "--namespace", "prod"], env)
    pred, local = prepare(s)
    assert (pred.name, pred.graph.name, local) == ("main", "m", {})
    assert pred.graph.endpoint.host == "m-svc" and s.node_timeout_s("m", "rest") == 1.234


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "seldon-core-executor"
    if not script.exists():
        pytest.skip(f"package not installed into {script.parent} (pip install -e .)")
    proc = subprocess.run([str(script), "--protocol", "v2", "--file", "x"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2 and "--protocol 'v2' is not supported" in proc.stderr


def test_help_states_every_default_and_describes_every_flag():
    """Found by QA: --graceful_timeout's default (15) and what --log_level does were missing from --help."""
    from seldon_py.executor.config import build_parser

    parser = build_parser()
    for action in parser._actions:
        if action.dest in ("help", "file", "predictor", "sdep", "namespace", "class_map", "full_health_checks"):
            continue
        assert action.help and "default" in action.help, action.dest
