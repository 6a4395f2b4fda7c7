"""The bandit routers: parameters, learning from feedback, convergence, thread safety, and e2e."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading

import numpy as np
import pytest

from seldon_py.components.bandits import EpsilonGreedy, ThompsonSampling
from seldon_py.errors import BadRequest, InvalidParameters
from tests.conftest import ROOT, free_ports

BANDITS = [EpsilonGreedy, ThompsonSampling]


def simulate(router: EpsilonGreedy | ThompsonSampling, rates: list[float], rounds: int, seed: int) -> list[int]:
    """Route `rounds` one-row requests; each branch succeeds with its rate; return the choices."""
    world = random.Random(seed)
    choices = []
    x = np.array([[1.0]])
    for _ in range(rounds):
        b = router.route(x, [])
        assert isinstance(b, int) and 0 <= b < len(rates)
        choices.append(b)
        router.send_feedback(x, [], 1.0 if world.random() < rates[b] else 0.0, None, routing=b)
    return choices


@pytest.mark.parametrize("cls", BANDITS)
def test_converges_to_the_best_branch(cls: type) -> None:
    router = cls(n_branches=3, seed=7)
    choices = simulate(router, [0.2, 0.8, 0.5], 1500, seed=3)
    last = choices[-500:]
    assert last.count(1) / len(last) > 0.8
    stats = router.stats()
    assert stats["branch_1"]["tries"] > stats["branch_0"]["tries"]


@pytest.mark.parametrize("cls", BANDITS)
def test_same_seed_same_choices(cls: type) -> None:
    a = simulate(cls(n_branches=2, seed=11), [0.4, 0.6], 200, seed=1)
    b = simulate(cls(n_branches=2, seed=11), [0.4, 0.6], 200, seed=1)
    assert a == b


def test_epsilon_greedy_exploits_after_feedback() -> None:
    router = EpsilonGreedy(n_branches=2, epsilon=0.0, best_branch=0, seed=1)
    assert {router.route(None, None) for _ in range(20)} == {0}
    router.send_feedback(np.zeros((4, 1)), [], 1.0, None, routing=1)   # 4 successes on branch 1
    router.send_feedback(np.zeros((1, 1)), [], 0.0, None, routing=0)   # 1 failure on branch 0
    assert {router.route(None, None) for _ in range(20)} == {1}
    assert router.stats() == {"branch_0": {"successes": 0.0, "tries": 1.0},
                              "branch_1": {"successes": 4.0, "tries": 4.0}}


def test_epsilon_one_explores_every_branch() -> None:
    router = EpsilonGreedy(n_branches=4, epsilon=1.0, best_branch=0, seed=5)
    assert {router.route(None, None) for _ in range(200)} == {0, 1, 2, 3}


def test_reward_is_a_proportion_of_the_batch() -> None:
    router = ThompsonSampling(n_branches=2, seed=0, alpha=2, beta="1:3")
    router.send_feedback(np.zeros((10, 2)), [], 0.7, None, routing=1)
    (a0, b0), (a1, b1) = router.posterior()
    assert (a0, b0) == (2.0, 1.0)
    assert a1 == pytest.approx(2 + 7) and b1 == pytest.approx(3 + 3)
    # lists of rows count by length; anything else is one row
    router.send_feedback([[1], [2]], [], 1.0, None, routing=0)
    router.send_feedback("x", [], 1.0, None, routing=0)
    assert router.posterior()[0] == (5.0, 1.0)


def test_thompson_strong_prior_wins_before_feedback() -> None:
    router = ThompsonSampling(n_branches=2, seed=3, alpha=[1, 500], beta=[500, 1])
    assert {router.route(None, None) for _ in range(50)} == {1}


@pytest.mark.parametrize("cls", BANDITS)
@pytest.mark.parametrize("routing, reward, match", [
    (None, 1.0, "no routing"),
    (2, 1.0, "not a branch"),
    (-1, 1.0, "not a branch"),
    ("x", 1.0, "not a branch number"),
    (0, 1.5, r"must be in \[0, 1\]"),
    (0, float("nan"), r"must be in \[0, 1\]"),
    (0, "lots", "not a number"),
])
def test_bad_feedback_is_a_400(cls: type, routing: object, reward: object, match: str) -> None:
    router = cls(n_branches=2, seed=0)
    with pytest.raises(BadRequest, match=match) as info:
        router.send_feedback(np.zeros((1, 1)), [], reward, None, routing=routing)
    assert info.value.status_code == 400
    assert router.stats()["branch_0"]["tries"] == 0


@pytest.mark.parametrize("kwargs, match", [
    ({}, "n_branches is required"),
    ({"n_branches": 0}, "n_branches: 0 must be between 1 and 1024"),
    ({"n_branches": 5000}, "n_branches: 5000 must be between"),
    ({"n_branches": "two"}, "n_branches: 'two' is not an integer"),
    ({"n_branches": 2.5}, "is not an integer"),
    ({"n_branches": True}, "is not an integer"),
    ({"n_branches": 2, "verbose": "maybe"}, "verbose"),
    ({"n_branches": 2, "branch_names": "a:b:c"}, "3 names given for n_branches=2"),
    ({"n_branches": 2, "branch_names": "a:a"}, "distinct"),
    ({"n_branches": 2, "seed": -1}, "seed: -1 must be at least 0"),
])
@pytest.mark.parametrize("cls", BANDITS)
def test_bad_parameters_say_which(cls: type, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidParameters, match=match) as info:
        cls(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, match", [
    ({"epsilon": 1.5}, r"epsilon: 1.5 must be in \[0.0, 1.0\]"),
    ({"epsilon": "x"}, "epsilon: 'x' is not a number"),
    ({"best_branch": 2}, "best_branch: 2 must be between 0 and 1"),
])
def test_bad_epsilon_greedy_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidParameters, match=match):
        EpsilonGreedy(n_branches=2, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 0}, r"alpha: 0.0 must be in \(0.0"),
    ({"beta": "1:2:3"}, "beta: 3 values given for n_branches=2"),
    ({"alpha": "[1, \"x\"]"}, "alpha: 'x' is not a number"),
])
def test_bad_thompson_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidParameters, match=match):
        ThompsonSampling(n_branches=2, **kwargs)


def test_parameters_accept_seldon_string_forms() -> None:
    router = EpsilonGreedy(n_branches="3", epsilon="0.25", best_branch="2", verbose="true",
                           branch_names="a, b, c", seed="4")
    assert (router.n_branches, router.epsilon, router.best_branch, router.verbose) == (3, 0.25, 2, True)
    assert router.branch_names == ["a", "b", "c"]
    assert ThompsonSampling(n_branches=2, branch_names='["x","y"]').branch_names == ["x", "y"]


@pytest.mark.parametrize("cls", BANDITS)
def test_concurrent_route_and_feedback_lose_no_update(cls: type) -> None:
    router = cls(n_branches=2, seed=1)
    per_thread = 300

    def work(i: int) -> None:
        for _ in range(per_thread):
            b = router.route(None, None)
            router.send_feedback(np.zeros((2, 1)), [], 0.5, None, routing=b)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = router.stats()
    assert sum(s["tries"] for s in stats.values()) == 8 * per_thread * 2
    assert sum(s["successes"] for s in stats.values()) == 8 * per_thread


# ------------------------------------------------------------------ as a real microservice
def _cli(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seldon_py.cli", *args], check=False, capture_output=True,
                          text=True, timeout=60, cwd=ROOT, **kw)  # type: ignore[call-overload]


@pytest.mark.e2e
def test_bad_parameters_stop_the_microservice_with_one_line() -> None:
    http, grpc, metrics = free_ports(3)
    out = _cli(["seldon_py.components.bandits.EpsilonGreedy", "--service-type", "ROUTER",
                "--parameters", ('[{"name":"n_branches","value":"2","type":"INT"},'
                                 '{"name":"epsilon","value":"2","type":"FLOAT"}]'),
                "--host", "127.0.0.1", "--http-port", str(http), "--grpc-port", str(grpc),
                "--metrics-port", str(metrics)])
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if "error" in ln]
    assert lines == ["seldon-core-microservice: error: EpsilonGreedy: parameter epsilon: 2.0 must be in [0.0, 1.0]"]
    assert "Traceback" not in out.stderr


@pytest.mark.e2e
def test_epsilon_greedy_learns_over_rest(start_service) -> None:  # type: ignore[no-untyped-def]
    import requests

    params = [{"name": "n_branches", "value": "2", "type": "INT"},
              {"name": "epsilon", "value": "0", "type": "FLOAT"},
              {"name": "best_branch", "value": "0", "type": "INT"},
              {"name": "seed", "value": "1", "type": "INT"}]
    svc = start_service({}, ["seldon_py.components.bandits.EpsilonGreedy", "--service-type", "ROUTER",
                             "--parameters", json.dumps(params)],
                        env={"PREDICTIVE_UNIT_ID": "bandit", "PYTHONPATH": str(ROOT)})
    msg = {"data": {"ndarray": [[1.0, 2.0]]}}
    r = requests.post(svc.url + "/route", json=msg, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["ndarray"] == [[0]]
    fb = {"request": msg, "response": {"meta": {"routing": {"bandit": 1}}, "data": {"ndarray": [[3]]}},
          "reward": 1.0}
    r = requests.post(svc.url + "/send-feedback", json=fb, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(svc.url + "/route", json=msg, timeout=10)
    assert r.json()["data"]["ndarray"] == [[1]]
    bad = dict(fb, reward=3)
    r = requests.post(svc.url + "/send-feedback", json=bad, timeout=10)
    assert r.status_code == 400
    assert "must be in [0, 1]" in r.json()["status"]["info"]


@pytest.mark.e2e
def test_bandits_example_readme_does_what_it_says(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """examples/bandits/README.md: its one command, then every `$ curl` line gives the line below it."""
    import re
    import shlex

    from tests.test_examples import README_PORT, cli_env, needs_curl, start, stop

    if needs_curl.args[0]:
        pytest.skip("curl is not installed")
    text = (ROOT / "examples" / "bandits" / "README.md").read_text()
    (cmd,) = re.findall(r"^PREDICTIVE_UNIT_ID=bandit seldon-core-microservice (.+)$", text, re.MULTILINE)
    args = shlex.split(cmd)
    http, grpc, metrics = free_ports(3)
    args[args.index("--http-port") + 1] = str(http)
    args += ["--grpc-port", str(grpc), "--metrics-port", str(metrics), "--host", "127.0.0.1"]
    server = start([sys.executable, "-m", "seldon_py.cli", *args], tmp_path, tmp_path / "server.log", http,
                   cli_env({"PREDICTIVE_UNIT_ID": "bandit"}), "bandits")
    try:
        lines = text.splitlines()
        calls = [(ln[2:], lines[i + 1]) for i, ln in enumerate(lines) if ln.startswith("$ curl ")]
        assert len(calls) == 4
        for call, expected in calls:
            assert README_PORT in call
            assert server.curl(call).strip() == expected, call
    finally:
        assert stop(server.proc) == 0
