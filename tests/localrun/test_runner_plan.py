"""What the runner would start, without starting anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seldon_py.localrun import runner as runner_mod
from seldon_py.localrun.classmap import ClassMap, load_class_map
from seldon_py.localrun.runner import LocalRunner
from seldon_py.localrun.spec import load_deployment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "graph" / "deployment.yaml"


@pytest.fixture(autouse=True)
def fake_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "find_command", lambda name: f"/bin/{name}")


def test_remote_plan_wires_nodes_to_distinct_loopback_ports() -> None:
    dep = load_deployment(EXAMPLE, None, ClassMap())
    r = LocalRunner(dep, http_port=0, grpc_port=0)
    try:
        children = r.plan()
        *nodes, exe = children
        assert [c.name for c in nodes] == ["transformer", "router", "model-a", "ensemble", "model-b", "model-c"]
        ports = []
        for c in nodes:
            assert c.cmd[:4] == ["/bin/seldon-core-microservice", c.cmd[1], "--service-type", c.cmd[3]]
            args = dict(zip(c.cmd[4::2], c.cmd[5::2], strict=False))
            assert args["--host"] == "127.0.0.1"
            ports += [int(args["--http-port"]), int(args["--grpc-port"]), int(args["--metrics-port"])]
            assert c.env["PREDICTIVE_UNIT_ID"] == c.name
        ports += [r.http_port, r.grpc_port]
        assert len(set(ports)) == len(ports) == 20
        router = nodes[1]
        assert router.cmd[1] == "seldon_py.components.bandits.EpsilonGreedy" and router.cmd[3] == "ROUTER"
        assert json.loads(router.env["PREDICTIVE_UNIT_PARAMETERS"])[0] == {"name": "n_branches", "value": "2",
                                                                          "type": "INT"}
        assert router.cwd.endswith("examples/graph/bandit-router")
        exe_args = dict(zip(exe.cmd[1::2], exe.cmd[2::2], strict=False))
        assert exe.cmd[0] == "/bin/seldon-core-executor" and "--class-map" not in exe_args
        assert exe_args["--predictor"] == "default" and exe_args["--host"] == "127.0.0.1"
        local = json.loads(Path(exe_args["--file"]).read_text())
        graph = local["spec"]["predictors"][0]["graph"]
        http = int(dict(zip(nodes[0].cmd[4::2], nodes[0].cmd[5::2], strict=False))["--http-port"])
        assert graph["endpoint"]["service_host"] == "127.0.0.1" and graph["endpoint"]["httpPort"] == http
        workdir = r.workdir
        assert workdir and Path(workdir).is_dir()
    finally:
        r.stop()
    assert not Path(workdir).exists()  # the temporary copy is removed


def test_in_process_plan_is_one_executor_with_a_class_map() -> None:
    dep = load_deployment(EXAMPLE, None, ClassMap())
    r = LocalRunner(dep, in_process=True, http_port=9100, grpc_port=5100)
    try:
        (exe,) = r.plan()
        args = dict(zip(exe.cmd[1::2], exe.cmd[2::2], strict=False))
        assert args["--file"] == str(EXAMPLE) and (args["--http_port"], args["--grpc_port"]) == ("9100", "5100")
        cmap = load_class_map(args["--class-map"])
        assert set(cmap.nodes) == {"transformer", "router", "model-a", "ensemble", "model-b", "model-c"}
        assert cmap.nodes["model-c"].cls == "LinearModel"
        assert cmap.nodes["model-c"].parameters == [{"name": "weight", "value": "3", "type": "FLOAT"},
                                                    {"name": "bias", "value": "1", "type": "FLOAT"}]
    finally:
        r.stop()
