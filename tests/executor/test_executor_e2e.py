"""End to end: `seldon-core-executor` over real `seldon-core-microservice` node processes, REST and
gRPC, plus in-process mode giving the same answers."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format

from seldon_py.proto import prediction_pb2 as pb
from seldon_py.proto import prediction_pb2_grpc as pbg
from tests.conftest import ROOT, free_ports
from tests.executor.harness import NODE_SPECS, NODES_PY, ExecutorProcess, NodeService, Recorder, params, sdep

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("executor-e2e")
    (d / "nodes.py").write_text(NODES_PY)
    return d


@pytest.fixture(scope="module")
def nodes(workdir: Path) -> Any:
    log = workdir / "feedback.log"
    services = {name: NodeService(name, workdir, log) for name in NODE_SPECS}
    try:
        for s in services.values():
            s.proc.wait_http(f"http://127.0.0.1:{s.http_port}/health/status")
        yield services
    finally:
        for s in services.values():
            s.proc.stop()


@pytest.fixture(scope="module")
def executors(workdir: Path) -> Any:
    started: dict[str, ExecutorProcess] = {}

    def start(tag: str, deployment: dict[str, Any], wait: str = "/ready", **kw: Any) -> ExecutorProcess:
        if tag not in started:
            started[tag] = ExecutorProcess(workdir, tag, deployment, **kw).wait(wait)
        return started[tag]

    yield start
    codes = {tag: ex.proc.stop() for tag, ex in started.items()}  # stop all before judging any
    bad = {tag: code for tag, code in codes.items() if code != 0}
    assert not bad, f"executors not exiting 0 on SIGTERM: {bad}"


def n(nodes: dict[str, NodeService], name: str, type_: str = "MODEL", children: list[Any] | None = None,
      **kw: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "endpoint": nodes[name].endpoint(), "parameters": params(name),
            "children": children or [], **kw}


GRAPHS = {
    "chain": lambda ns: n(ns, "a", children=[n(ns, "b")]),
    "tmo": lambda ns: n(ns, "t", "TRANSFORMER", [n(ns, "o", "OUTPUT_TRANSFORMER", [n(ns, "a")])]),
    "router": lambda ns: n(ns, "r", "ROUTER", [n(ns, "a"), n(ns, "b")]),
    "combiner": lambda ns: n(ns, "c", "COMBINER", [n(ns, "a"), n(ns, "b")]),
}
CLASS_MAP = {"nodes": {name: {"class": "nodes.Node", "path": "."} for name in NODE_SPECS}}


def remote(executors: Any, nodes: Any, graph: str) -> ExecutorProcess:
    return executors(graph, sdep(GRAPHS[graph](nodes)), env={"SELDON_ENABLE_ROUTING_INJECTION": "true"})


def local(executors: Any, nodes: Any, graph: str) -> ExecutorProcess:
    return executors(f"{graph}-inprocess", sdep(GRAPHS[graph](nodes)), class_map=CLASS_MAP,
                     env={"SELDON_ENABLE_ROUTING_INJECTION": "true", "FEEDBACK_LOG": str(nodes["a"].feedback_log)})


def grpc_predict(ex: ExecutorProcess, body: dict[str, Any], metadata: Any = ()) -> tuple[pb.SeldonMessage, Any]:
    with grpc.insecure_channel(ex.grpc_target) as ch:
        stub = pbg.SeldonStub(ch)
        msg = json_format.ParseDict(body, pb.SeldonMessage())
        reply, call = stub.Predict.with_call(msg, metadata=metadata, timeout=60)
        return reply, call.initial_metadata()


def values(reply: dict[str, Any]) -> Any:
    return reply["data"]["ndarray"] if "ndarray" in reply["data"] else reply["data"]["tensor"]["values"]


# ----------------------------------------------------------------------------------- walking
def test_chain(nodes, executors):
    ex = remote(executors, nodes, "chain")
    r = ex.predict({"data": {"ndarray": [[1, 2]]}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert values(body) == [[12.0, 13.0]]
    # the wrapper at each hop echoes the request's tags and requestPath: they accumulate
    assert body["meta"]["tags"] == {"node_a": 1, "node_b": 1}
    assert set(body["meta"]["requestPath"]) == {"a", "b"}
    reply, _ = grpc_predict(ex, {"data": {"ndarray": [[1, 2]]}})
    assert list(reply.data.ndarray[0]) == [12.0, 13.0]


def test_transformer_model_output_transformer(nodes, executors):
    ex = remote(executors, nodes, "tmo")
    # t: x*2 → a: +1 → o: -3
    assert values(ex.predict({"data": {"ndarray": [[1.0]]}}).json()) == [[0.0]]
    reply, _ = grpc_predict(ex, {"data": {"tensor": {"shape": [1, 1], "values": [5.0]}}})
    assert list(reply.data.tensor.values) == [8.0]


@pytest.mark.parametrize("route,expected", [(0, [[1.0]]), (1, [[11.0]]), (-1, [[0.0]]), (-2, [[-2]])])
def test_router_routes(nodes, executors, route, expected):
    ex = remote(executors, nodes, "router")
    x = route if route != -1 else -1
    body = ex.predict({"data": {"ndarray": [[x]]}}).json()
    if route == -1:
        expected = [[0.0]]  # all children, child 0's answer: -1 + 1
    assert values(body) == expected
    if route == -2:  # the request itself comes back; routing is injected only into an existing meta
        assert "meta" not in body
        body = ex.predict({"data": {"ndarray": [[x]]}, "meta": {}}).json()
    assert body["meta"]["routing"] == {"r": route}
    reply, _ = grpc_predict(ex, {"data": {"ndarray": [[x]]}})
    assert dict(reply.meta.routing) == {"r": route}


def test_router_out_of_range_is_a_clear_error(nodes, executors):
    ex = remote(executors, nodes, "router")
    r = ex.predict({"data": {"ndarray": [[5]]}})
    assert r.status_code == 500
    assert "router 'r' chose route 5" in r.json()["status"]["info"]
    with pytest.raises(grpc.RpcError) as info:
        grpc_predict(ex, {"data": {"ndarray": [[5]]}})
    assert info.value.code() == grpc.StatusCode.INTERNAL and "router 'r'" in info.value.details()


def test_combiner_over_two_models(nodes, executors):
    ex = remote(executors, nodes, "combiner")
    body = ex.predict({"data": {"ndarray": [[1.0, 2.0]]}}).json()
    assert values(body) == [[13.0, 15.0]]  # (x+1) + (x+10)
    reply, _ = grpc_predict(ex, {"data": {"ndarray": [[1.0, 2.0]]}})
    assert list(reply.data.ndarray[0]) == [13.0, 15.0]


# ----------------------------------------------------------------------------------- feedback
def _feedback_log(workdir: Path) -> list[str]:
    path = workdir / "feedback.log"
    lines = path.read_text().split("\n") if path.exists() else []
    path.write_text("")
    return [line for line in lines if line]


def test_feedback_reaches_exactly_the_nodes_on_the_route(nodes, executors, workdir):
    ex = remote(executors, nodes, "router")
    _feedback_log(workdir)
    request = {"data": {"ndarray": [[1]]}}
    response = ex.predict(request).json()
    assert response["meta"]["routing"] == {"r": 1}
    r = ex.post("/api/v1.0/feedback", {"request": request, "response": response, "reward": 1.0})
    assert r.status_code == 200, r.text
    assert _feedback_log(workdir) == ["b None", "r 1"]  # child first, and the router learns its route

    # gRPC: route 0 this time
    request = {"data": {"ndarray": [[0]]}}
    reply, _ = grpc_predict(ex, request)
    with grpc.insecure_channel(ex.grpc_target) as ch:
        fb = pb.Feedback(request=json_format.ParseDict(request, pb.SeldonMessage()), response=reply, reward=1.0)
        pbg.SeldonStub(ch).SendFeedback(fb, timeout=60)
    assert _feedback_log(workdir) == ["a None", "r 0"]


# ----------------------------------------------------------------------------------- errors
@pytest.fixture(scope="module")
def errors_executor(nodes, executors):
    down_port = free_ports(1)[0]
    down = {"name": "down", "type": "MODEL", "endpoint": {"type": "REST", "service_host": "127.0.0.1",
                                                          "service_port": down_port, "grpcPort": down_port}}
    graph = n(nodes, "r", "ROUTER", [n(nodes, "a"), down, n(nodes, "s"), n(nodes, "f")])
    annotations = {"seldon.io/rest-timeout.s": "700", "seldon.io/grpc-timeout.s": "700"}
    return executors("errors", sdep(graph, annotations=annotations), wait="/live")


def test_node_down_gives_503_naming_the_node_and_hop(errors_executor):
    ex = errors_executor
    r = ex.predict({"data": {"ndarray": [[1]]}})
    assert r.status_code == 503 and r.headers["Content-Type"] == "application/json"
    info = r.json()["status"]["info"]
    assert "node 'down'" in info and "/predict" in info
    with pytest.raises(grpc.RpcError) as e:
        grpc_predict(ex, {"data": {"ndarray": [[1]]}})
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "node 'down'" in e.value.details()
    ready = ex.post("/ready", None)  # POST or GET: /ready is 503 while a node is unreachable
    assert ready.status_code == 503 and "down" in ready.text


def test_node_timeout_gives_504(errors_executor):
    ex = errors_executor
    r = ex.predict({"data": {"ndarray": [[2]]}})
    assert r.status_code == 504
    assert "node 's' did not answer within 0.7s" in r.json()["status"]["info"]
    with pytest.raises(grpc.RpcError) as e:
        grpc_predict(ex, {"data": {"ndarray": [[2]]}})
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and "node 's'" in e.value.details()


def test_node_error_comes_back_unchanged(nodes, errors_executor):
    ex = errors_executor
    direct = __import__("requests").post(f"http://127.0.0.1:{nodes['f'].http_port}/predict",
                                         json={"data": {"ndarray": [[3]]}}, timeout=30)
    r = ex.predict({"data": {"ndarray": [[3]]}})
    assert (r.status_code, r.content) == (direct.status_code, direct.content)
    assert r.status_code == 418 and r.headers["Content-Type"] == "application/json"
    assert r.json()["status"]["info"] == "node f refuses"


def test_invalid_graph_is_refused_at_start_naming_the_node(workdir):
    spec = workdir / "invalid.json"
    import json

    endpoint = {"service_host": "x", "service_port": 1}
    spec.write_text(json.dumps(sdep({"name": "root", "type": "MODEL", "endpoint": endpoint,
                                     "children": [{"name": "lonely", "type": "ROUTER"}]})))
    http_port, grpc_port = free_ports(2)
    proc = subprocess.run([sys.executable, "-m", "seldon_py.executor.main", "--file", str(spec),
                           "--http_port", str(http_port), "--grpc_port", str(grpc_port)],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "seldon-core-executor: error: graph node 'lonely': a router needs children to route to, it has none"]


# ----------------------------------------------------------------------------------- headers
@pytest.fixture(scope="module")
def recorder():
    rec = Recorder()
    yield rec
    rec.stop()


def test_puid_and_headers_are_forwarded_on_every_hop(nodes, executors, recorder):
    fake = {"name": "rec", "type": "MODEL", "endpoint": {"type": "REST", "service_host": "127.0.0.1",
                                                         "service_port": recorder.port}}
    ex = executors("headers", sdep(n(nodes, "a", children=[fake])))
    recorder.records.clear()
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = ex.predict({"data": {"ndarray": [[1]]}}, headers={"Seldon-Puid": "my-puid", "traceparent": trace,
                                                         "X-Custom": "yes"})
    assert r.status_code == 200 and r.headers["Seldon-Puid"] == "my-puid"
    path, headers, body = recorder.wait_for(1)[0]
    assert path == "/predict" and body["data"]["ndarray"] == [[2.0]]
    assert headers["Seldon-Puid"] == "my-puid" and headers["Traceparent"] == trace and headers["X-Custom"] == "yes"
    assert headers["Content-Type"] == "application/json"

    r = ex.predict({"data": {"ndarray": [[1]]}})
    generated = r.headers["Seldon-Puid"]
    assert str(uuid.UUID(generated)) == generated
    assert recorder.wait_for(2)[1][1]["Seldon-Puid"] == generated

    _reply, md = grpc_predict(ex, {"data": {"ndarray": [[1]]}}, metadata=(("seldon-puid", "g-puid"), ("x-custom", "g")))
    assert ("seldon-puid", "g-puid") in tuple(md)
    rec_headers = {k.lower(): v for k, v in recorder.wait_for(3)[2][1].items()}
    assert rec_headers["seldon-puid"] == "g-puid" and rec_headers["x-custom"] == "g"  # gRPC in, REST-only node
    assert not any(k.startswith("grpc-") for k in rec_headers)


# ----------------------------------------------------------------------------------- payload logging
def test_payload_logging_sends_each_event_once(nodes, executors):
    sink = Recorder(reply=b"{}")
    default_sink = Recorder(reply=b"{}")
    try:
        graph = n(nodes, "a", children=[n(nodes, "b", logger={"mode": "request"})],
                  logger={"url": sink.url + "/events", "mode": "all"})
        ex = executors("logging", sdep(graph), env={"REQUEST_LOGGER_DEFAULT_ENDPOINT": default_sink.url})
        r = ex.predict({"data": {"ndarray": [[1]]}}, headers={"Seldon-Puid": "log-puid"})
        assert r.status_code == 200
        events = sink.wait_for(2)
        defaults = default_sink.wait_for(1)
        assert sorted(h["Ce-Type"] for _, h, _ in events) == [
            "io.seldon.serving.inference.request", "io.seldon.serving.inference.response"]
        for path, h, _ in events:
            assert path == "/events" and h["Ce-Modelid"] == "a" and h["Ce-Requestid"] == "log-puid"
            assert h["Ce-Specversion"] == "1.0" and h["Ce-Inferenceservicename"] == "dep"
            assert h["Ce-Namespace"] == "test" and h["Ce-Endpoint"] == "default"
        by_type = {h["Ce-Type"]: body for _, h, body in events}
        assert by_type["io.seldon.serving.inference.request"] == {"data": {"ndarray": [[1]]}}
        assert by_type["io.seldon.serving.inference.response"]["data"]["ndarray"] == [[12.0]]
        assert [(h["Ce-Modelid"], h["Ce-Type"], b["data"]["ndarray"]) for _, h, b in defaults] == [
            ("b", "io.seldon.serving.inference.request", [[2.0]])]

        ex.predict({"data": {"ndarray": [[1]]}}, headers={"Seldon-Skip-Logging": "true"})
        ex.predict({"data": {"ndarray": [[5]]}})  # a marker after the skipped one
        assert sink.wait_for(4)[2][2]["data"]["ndarray"] == [[5]]
        assert len(sink.records) == 4 and len(default_sink.wait_for(2)) == 2
    finally:
        sink.stop()
        default_sink.stop()


# ----------------------------------------------------------------------------------- in-process mode
@pytest.mark.parametrize("graph,request_body", [
    ("chain", {"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"req": "x"}}}),
    ("tmo", {"data": {"tensor": {"shape": [1, 2], "values": [1.5, 2]}}}),
    ("router", {"data": {"ndarray": [[1]]}}),
    ("router", {"data": {"ndarray": [[-1]]}}),
    ("router", {"data": {"ndarray": [[-2]]}}),
    ("combiner", {"data": {"ndarray": [[1.0, 2.0]]}, "meta": {"puid": "p1"}}),
])
def test_in_process_gives_the_same_answers_as_remote(nodes, executors, graph, request_body):
    rem, loc = remote(executors, nodes, graph), local(executors, nodes, graph)
    a, b = rem.predict(request_body), loc.predict(request_body)
    assert (a.status_code, a.content) == (b.status_code, b.content)
    ga, _ = grpc_predict(rem, request_body)
    gb, _ = grpc_predict(loc, request_body)
    assert json_format.MessageToDict(ga) == json_format.MessageToDict(gb)


def test_in_process_nodes_custom_metrics_are_exposed(nodes, executors):
    import requests

    ex = local(executors, nodes, "chain")
    ex.predict({"data": {"ndarray": [[1.0]]}})
    text = requests.get(ex.url + "/metrics", timeout=30).text
    line = next(x for x in text.splitlines() if x.startswith("node_calls_total{") and 'model_name="b"' in x)
    assert 'method="predict"' in line and 'node="b"' in line and 'deployment_name="dep"' in line
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_in_process_errors_match_remote(nodes, executors):
    graph = n(nodes, "a", children=[n(nodes, "f")])
    rem = executors("fail", sdep(graph))
    loc = executors("fail-inprocess", sdep(graph), class_map=CLASS_MAP)
    a, b = rem.predict({"data": {"ndarray": [[1]]}}), loc.predict({"data": {"ndarray": [[1]]}})
    assert (a.status_code, a.content) == (b.status_code, b.content)


def test_in_process_feedback_matches_remote(nodes, executors, workdir):
    rem, loc = remote(executors, nodes, "router"), local(executors, nodes, "router")
    request = {"data": {"ndarray": [[0]]}}
    outs = []
    for ex in (rem, loc):
        _feedback_log(workdir)
        response = ex.predict(request).json()
        r = ex.post("/api/v1.0/feedback", {"request": request, "response": response, "reward": 1.0})
        outs.append((r.status_code, r.content, _feedback_log(workdir)))
    assert outs[0] == outs[1]
    assert outs[0][2] == ["a None", "r 0"]


# ----------------------------------------------------------------------------------- other endpoints
def test_status_metadata_metrics_endpoints(nodes, executors):
    ex = remote(executors, nodes, "combiner")
    import requests

    assert requests.get(ex.url + "/live", timeout=30).status_code == 200
    ce = ex.predict({"data": {"ndarray": [[1.0]]}}, headers={"Ce-Specversion": "1.0", "Ce-Id": "e1",
                                                            "Ce-Type": "x", "Ce-Source": "me"})
    assert ce.headers["Ce-Id"] == "e1" and ce.headers["Ce-Type"] == "io.seldon.serving.inference.response"
    assert ce.headers["Ce-Specversion"] == "1.0" and ce.headers["Ce-Path"] == "/api/v1.0/predictions"
    assert "Ce-Id" not in ex.predict({"data": {"ndarray": [[1.0]]}}).headers
    st = requests.get(ex.url + "/api/v1.0/status/a", timeout=30)
    direct = requests.get(f"http://127.0.0.1:{nodes['a'].http_port}/health/status", timeout=30)
    assert (st.status_code, st.content) == (direct.status_code, direct.content) and st.status_code == 200
    md = requests.get(ex.url + "/api/v1.0/metadata", timeout=30).json()
    assert md["name"] == "default" and set(md["models"]) == {"c", "a", "b"}
    assert requests.get(ex.url + "/api/v1.0/metadata/zz", timeout=30).status_code == 404
    ex.predict({"data": {"ndarray": [[1.0]]}})
    text = requests.get(ex.url + "/metrics", timeout=30).text
    assert 'seldon_api_executor_server_requests_seconds_count{code="200",deployment_name="dep",method="POST",' \
           'predictor_name="default",predictor_version="",service="predictions"}' in text
    assert 'model_name="a"' in text and 'service="/predict"' in text and 'service="/aggregate"' in text
    with grpc.insecure_channel(ex.grpc_target) as ch:
        gm = pbg.SeldonStub(ch).GraphMetadata(empty_pb2.Empty(), timeout=30)
    assert gm.name == "default" and set(gm.models) == {"c", "a", "b"}


# ----------------------------------------------------------------------------------- shutdown
def test_sigterm_drains_in_flight_requests(workdir, tmp_path):
    import signal
    import threading
    import time

    mark = tmp_path / "in-flight"
    cm = {"nodes": {"d": {"class": "nodes.Node", "path": str(workdir), "parameters": [
        {"name": "name", "value": "d", "type": "STRING"}, {"name": "mode", "value": "drain", "type": "STRING"},
        {"name": "delta", "value": "2", "type": "FLOAT"}]}}}
    ex = ExecutorProcess(tmp_path, "drain", sdep({"name": "d", "type": "MODEL"}), class_map=cm,
                         env={"DRAIN_MARK": str(mark)}).wait()
    results: dict[str, Any] = {}

    def rest() -> None:
        results["rest"] = ex.predict({"data": {"ndarray": [[1.0]]}})

    def grpc_call() -> None:
        results["grpc"] = grpc_predict(ex, {"data": {"ndarray": [[1.0]]}})[0]

    threads = [threading.Thread(target=rest), threading.Thread(target=grpc_call)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while not (mark.exists() and mark.read_text().count("in") == 2):  # both requests are inside the node
            assert time.monotonic() < deadline, ex.proc.output()
            time.sleep(0.02)
        ex.proc.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        assert results["rest"].status_code == 200 and results["rest"].json()["data"]["ndarray"] == [[3.0]]  # x + delta
        assert list(results["grpc"].data.ndarray[0]) == [3.0]
        assert ex.proc.proc.wait(60) == 0
    finally:
        ex.proc.stop()


# ----------------------------------------------------------------------------------- health, mixed transports
def _grpc_health(ex: ExecutorProcess) -> int:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(ex.grpc_target) as ch:
        stub: Any = health_pb2_grpc.HealthStub(ch)
        return stub.Check(health_pb2.HealthCheckRequest(), timeout=30).status


def test_grpc_health_follows_readiness(nodes, executors, errors_executor):
    from grpc_health.v1 import health_pb2

    assert _grpc_health(remote(executors, nodes, "chain")) == health_pb2.HealthCheckResponse.SERVING
    assert _grpc_health(errors_executor) == health_pb2.HealthCheckResponse.NOT_SERVING  # a node is down


def test_mixed_transports_and_full_health_checks(nodes, executors):
    """REST in, to a node that only has gRPC (and gRPC in, to one that only has REST)."""
    grpc_only = {**n(nodes, "b"), "endpoint": {"type": "GRPC", "service_host": "127.0.0.1",
                                               "service_port": nodes["b"].grpc_port}}
    rest_only = {**n(nodes, "a", children=[grpc_only]),
                 "endpoint": {"type": "REST", "service_host": "127.0.0.1", "service_port": nodes["a"].http_port}}
    ex = executors("mixed", sdep(rest_only), extra=["--full_health_checks"])
    chain = remote(executors, nodes, "chain")
    body = {"data": {"ndarray": [[1.0, 2.0]]}}
    assert values(ex.predict(body).json()) == values(chain.predict(body).json()) == [[12.0, 13.0]]
    reply, _ = grpc_predict(ex, body)
    assert list(reply.data.ndarray[0]) == [12.0, 13.0]


def test_grpc_metadata_is_forwarded_on_grpc_hops(nodes, executors):
    """A gRPC-only node (a real grpc server in this test) sees the caller's metadata and the puid."""
    from concurrent import futures

    seen: list[dict[str, str]] = []

    def predict(request: pb.SeldonMessage, context: grpc.ServicerContext) -> pb.SeldonMessage:
        seen.append(dict(context.invocation_metadata()))
        return request

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handler = grpc.unary_unary_rpc_method_handler(predict, request_deserializer=pb.SeldonMessage.FromString,
                                                  response_serializer=pb.SeldonMessage.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("seldon.protos.Model",
                                                                          {"Predict": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        echo = {"name": "echo", "type": "MODEL", "endpoint": {"type": "GRPC", "service_host": "127.0.0.1",
                                                              "service_port": port}}
        ex = executors("grpc-headers", sdep(n(nodes, "a", children=[echo])))
        reply, md = grpc_predict(ex, {"data": {"ndarray": [[1.0]]}},
                                 metadata=(("seldon-puid", "gp"), ("traceparent", "00-ab-cd-01"), ("x-team", "t")))
        assert list(reply.data.ndarray[0]) == [2.0] and ("seldon-puid", "gp") in tuple(md)
        assert seen[-1]["seldon-puid"] == "gp" and seen[-1]["traceparent"] == "00-ab-cd-01"
        assert seen[-1]["x-team"] == "t"
        # REST in, to the gRPC-only node: headers become metadata, the generated puid too
        r = ex.predict({"data": {"ndarray": [[1.0]]}}, headers={"X-Team": "rest"})
        assert r.status_code == 200
        assert seen[-1]["x-team"] == "rest" and seen[-1]["seldon-puid"] == r.headers["Seldon-Puid"]
    finally:
        server.stop(0)


def test_an_in_process_node_that_fails_to_load_stops_the_executor(tmp_path):
    (tmp_path / "broken.py").write_text(
        "class Broken:\n    def load(self):\n        raise RuntimeError('weights.bin is missing')\n"
        "    def predict(self, X, names=None):\n        return X\n")
    cm = {"nodes": {"m": {"class": "broken.Broken", "path": str(tmp_path)}}}
    ex = ExecutorProcess(tmp_path, "broken", sdep({"name": "m", "type": "MODEL"}), class_map=cm)
    try:
        assert ex.proc.proc.wait(60) != 0
        out = ex.proc.output()
        assert "in-process node 'm' failed to load (RuntimeError: weights.bin is missing)" in out
    finally:
        ex.proc.stop()
