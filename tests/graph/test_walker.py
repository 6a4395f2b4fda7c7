"""The walker over fake node callers: no sockets, no processes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from seldon_py.errors import SeldonMicroserviceException
from seldon_py.graph import messages
from seldon_py.graph.builtins import BuiltinNode
from seldon_py.graph.errors import BadRoute, NodeUnavailable
from seldon_py.graph.spec import parse_predictor
from seldon_py.graph.walker import CallContext, Walker
from seldon_py.protocol.seldon.payload import Response


class Fake:
    """A node that appends its name to data.ndarray[0] and records every call."""

    def __init__(self, name: str, log: list[tuple[str, str]], route: int = 0, fail: Exception | None = None):
        self.name, self.log, self.route, self.fail = name, log, route, fail

    def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
        self.log.append((self.name, method))
        if self.fail is not None:
            raise self.fail
        if method == "route":
            return {"data": {"ndarray": [[self.route]]}}
        if method == "aggregate":
            joined = "+".join(m["data"]["ndarray"][0] for m in msg)
            return {"data": {"ndarray": [f"agg({joined})"]}, "meta": {}}
        if method == "send_feedback":
            return {"data": {"ndarray": [f"fb:{self.name}"]}, "meta": {}}
        prev = msg["data"]["ndarray"][0]
        return {"data": {"ndarray": [f"{prev}>{self.name}.{method}"]}, "meta": {}}


def node(name: str, type_: str = "MODEL", children: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "children": children or [], **kw}


def walker(graph: dict[str, Any], routes: dict[str, int] | None = None, fail: dict[str, Exception] | None = None,
           pool: Any = None, inject: bool = False, uniform: Any = None) -> tuple[Walker, list[tuple[str, str]]]:
    pred = parse_predictor({"name": "p", "graph": graph})
    log: list[tuple[str, str]] = []
    callers: dict[str, Any] = {}
    for n in pred.nodes():
        if n.builtin:
            callers[n.name] = BuiltinNode(n, uniform or (lambda: 0.0))
        else:
            callers[n.name] = Fake(n.name, log, (routes or {}).get(n.name, 0), (fail or {}).get(n.name))
    return Walker(pred, callers, pool=pool, inject_routing=inject), log


REQ = {"data": {"ndarray": ["in"]}}


def out(msg: Any) -> str:
    return messages.to_json(msg)["data"]["ndarray"][0]


def test_single_model_calls_predict():
    w, log = walker(node("m"))
    assert out(w.predict(REQ, CallContext())) == "in>m.predict"
    assert log == [("m", "predict")]


def test_model_with_child_chains():
    w, _log = walker(node("a", children=[node("b", children=[node("c")])]))
    ctx = CallContext()
    assert out(w.predict(REQ, ctx)) == "in>a.predict>b.predict>c.predict"
    assert ctx.routing == {"a": -1, "b": -1}  # leaves get no routing entry


def test_transformer_model_output_transformer():
    g = node("t", "TRANSFORMER", [node("ot", "OUTPUT_TRANSFORMER", [node("m")])])
    w, log = walker(g)
    assert out(w.predict(REQ, CallContext())) == "in>t.transform_input>m.predict>ot.transform_output"
    assert log == [("t", "transform_input"), ("m", "predict"), ("ot", "transform_output")]


def test_methods_override_type_defaults():
    g = node("x", "UNKNOWN_TYPE", [node("m")], methods=["TRANSFORM_INPUT", "TRANSFORM_OUTPUT"])
    w, _log = walker(g)
    assert out(w.predict(REQ, CallContext())) == "in>x.transform_input>m.predict>x.transform_output"


@pytest.mark.parametrize("route,expected,called", [
    (0, "in>a.predict", ["a"]),
    (1, "in>b.predict", ["b"]),
    (-1, "in>a.predict", ["a", "b"]),  # all children, child 0's answer
    (-2, "in", []),  # the request comes back
])
def test_router_routes(route, expected, called):
    w, log = walker(node("r", "ROUTER", [node("a"), node("b")]), routes={"r": route})
    ctx = CallContext()
    assert out(w.predict(REQ, ctx)) == expected
    assert sorted(n for n, m in log if m == "predict") == called
    assert ctx.routing == {"r": route}


@pytest.mark.parametrize("route", [2, -3])
def test_router_out_of_range_names_the_router(route):
    w, _ = walker(node("r", "ROUTER", [node("a"), node("b")]), routes={"r": route})
    with pytest.raises(BadRoute, match=f"router 'r' chose route {route}"):
        w.predict(REQ, CallContext())


def test_combiner_gets_children_answers_in_order():
    pool = ThreadPoolExecutor(4)
    try:
        w, _log = walker(node("c", "COMBINER", [node("a"), node("b"), node("d")]), pool=pool)
        assert out(w.predict(REQ, CallContext())) == "agg(in>a.predict+in>b.predict+in>d.predict)"
    finally:
        pool.shutdown()


def test_fan_out_runs_children_in_parallel():
    """Both children must be inside their call at the same time (each waits for the other)."""
    barrier = threading.Barrier(2, timeout=30)

    class Waits:
        def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
            barrier.wait()
            return msg

    pred = parse_predictor({"name": "p", "graph": node("c", "COMBINER", [node("a"), node("b")])})
    pool = ThreadPoolExecutor(2)
    try:
        seen = []

        class Agg:
            def call(self, method: str, msg: Any, ctx: CallContext) -> Any:
                seen.append(len(msg))
                return msg[0]

        w = Walker(pred, {"c": Agg(), "a": Waits(), "b": Waits()}, pool=pool)
        w.predict(REQ, CallContext())
        assert seen == [2]
    finally:
        pool.shutdown()


def test_nested_fan_out_does_not_deadlock_a_one_thread_pool():
    pool = ThreadPoolExecutor(1)
    try:
        g = node("c", "COMBINER", [node("c1", "COMBINER", [node("a"), node("b")]),
                                   node("c2", "COMBINER", [node("d"), node("e")])])
        w, _ = walker(g, pool=pool)
        assert out(w.predict(REQ, CallContext())).startswith("agg(agg(")
    finally:
        pool.shutdown()


def test_fan_out_returns_lowest_index_error():
    pool = ThreadPoolExecutor(4)
    try:
        w, _ = walker(node("c", "COMBINER", [node("a"), node("b"), node("d")]), pool=pool,
                      fail={"b": NodeUnavailable("b down"), "d": NodeUnavailable("d down")})
        with pytest.raises(NodeUnavailable, match="b down"):
            w.predict(REQ, CallContext())
    finally:
        pool.shutdown()


def test_error_stops_the_walk():
    w, log = walker(node("a", children=[node("b", children=[node("c")])]), fail={"b": NodeUnavailable("x")})
    with pytest.raises(NodeUnavailable):
        w.predict(REQ, CallContext())
    assert ("c", "predict") not in log


def test_routing_injection_only_when_enabled():
    g = node("r", "ROUTER", [node("a"), node("b")])
    w, _ = walker(g, routes={"r": 1}, inject=True)
    assert w.predict(REQ, CallContext())["meta"]["routing"] == {"r": 1}
    w, _ = walker(g, routes={"r": 1})
    assert "routing" not in w.predict(REQ, CallContext())["meta"]


def test_feedback_reaches_exactly_the_nodes_on_the_route():
    g = node("r", "ROUTER", [node("a", children=[node("a1")]), node("b")])
    w, log = walker(g)
    fb = {"request": REQ, "response": {"meta": {"routing": {"r": 0, "a": -1}}}, "reward": 1}
    reply = w.feedback(fb, CallContext())
    assert log == [("a1", "send_feedback"), ("a", "send_feedback"), ("r", "send_feedback")]  # depth-first
    assert out(reply) == "fb:r"


def test_feedback_without_routing_goes_to_all_children():
    w, log = walker(node("r", "ROUTER", [node("a"), node("b")]))
    w.feedback({"reward": 1}, CallContext())
    assert sorted(n for n, _ in log) == ["a", "b", "r"]


def test_feedback_to_a_root_that_takes_none_answers_the_feedback():
    w, log = walker(node("t", "TRANSFORMER", [node("m")]))
    fb = {"reward": 0.5}
    assert w.feedback(fb, CallContext()) == fb
    assert log == [("m", "send_feedback")]


@pytest.mark.parametrize("route", [5, 2, -3])
def test_feedback_route_out_of_range_is_the_clients_error(route):
    """The routing in a feedback comes from the client: out of range is a 400 naming it, not a 500
    blaming the router (found by QA), and nothing is called."""
    w, log = walker(node("r", "ROUTER", [node("a"), node("b")]))
    with pytest.raises(SeldonMicroserviceException) as err:
        w.feedback({"response": {"meta": {"routing": {"r": route}}}}, CallContext())
    assert not isinstance(err.value, BadRoute)
    assert err.value.status_code == 400
    assert "response.meta.routing" in str(err.value) and "'r'" in str(err.value)
    assert log == []


def test_feedback_route_minus_two_reaches_no_child():
    w, log = walker(node("r", "ROUTER", [node("a"), node("b")]))
    w.feedback({"response": {"meta": {"routing": {"r": -2}}}}, CallContext())
    assert log == [("r", "send_feedback")]


@pytest.mark.parametrize("u,child", [(0.1, "a"), (0.9, "b")])
def test_random_abtest(u, child):
    g = node("ab", "ROUTER", [node("a"), node("b")], implementation="RANDOM_ABTEST",
             parameters=[{"name": "ratioA", "value": "0.5", "type": "FLOAT"}])
    w, _log = walker(g, uniform=lambda: u)
    assert out(w.predict(REQ, CallContext())) == f"in>{child}.predict"


def test_simple_router_and_model_and_average_combiner():
    g = node("avg", "COMBINER", [node("s1", implementation="SIMPLE_MODEL"), node("s2", implementation="SIMPLE_MODEL")],
             implementation="AVERAGE_COMBINER")
    w, _ = walker(g)
    res = w.predict({"data": {"ndarray": [[1, 2], [3, 4]]}}, CallContext())
    assert isinstance(res, Response)
    np.testing.assert_allclose(res.value, [[0.1, 0.9, 0.5]] * 2)
    assert res.names == ["class0", "class1", "class2"]
    w, _log = walker(node("sr", "ROUTER", [node("a"), node("b")], implementation="SIMPLE_ROUTER"))
    assert out(w.predict(REQ, CallContext())) == "in>a.predict"


@pytest.mark.parametrize("reply,index", [
    ({"data": {"ndarray": [[1]]}}, 1), ({"data": {"ndarray": [1]}}, 1), ([1], 1),
    ({"data": {"tensor": {"shape": [1, 1], "values": [1.0]}}}, 1),
    ({"data": {"tftensor": {"dtype": "DT_INT32", "intVal": [1]}}}, 1),
    (Response("ndarray", np.array([[-2]]), [], {}), -2),
])
def test_route_index_forms(reply, index):
    assert messages.route_index(reply, "r") == index


@pytest.mark.parametrize("reply", [{"data": {"ndarray": [["x"]]}}, {"jsonData": {}}, {"data": {"ndarray": [[1.5]]}}])
def test_route_index_rejects(reply):
    with pytest.raises(BadRoute, match="router 'r'"):
        messages.route_index(reply, "r")


def test_in_process_payload_matches_what_a_remote_hop_gives():
    resp = Response("tensor", np.array([[1, 2]], dtype=np.int64), 2, {"tags": {"a": 1}})
    p_rest = messages.to_payload(resp, messages.REST)
    assert p_rest.value.dtype == np.int64 and p_rest.names == ["t:0", "t:1"]
    p_grpc = messages.to_payload(resp, messages.GRPC)
    assert p_grpc.value.dtype == np.float64
    f32 = Response("ndarray", np.array([0.5], dtype=np.float32), [], {})
    assert messages.to_payload(f32, messages.REST).value.dtype == np.float64
