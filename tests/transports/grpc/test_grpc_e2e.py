"""gRPC against a real `python -m seldon_py.cli` process tree: every RPC over a real channel with
``--grpc-workers 2``, error statuses, health, reflection, loading, and the SIGTERM drain."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import grpc
import pytest
import requests
from google.protobuf import empty_pb2, json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from seldon_py.proto import prediction_pb2 as pb
from seldon_py.proto import prediction_pb2_grpc as pbg
from seldon_py.transports.grpc.servicer import SERVICE_NAMES
from tests.conftest import wait_until

from .helpers import GrpcService, start_service

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

D = json_format.MessageToDict
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
MAX_PAYLOAD = 4096

EVERYTHING = {"Everything.py": '''
    import os
    import numpy as np

    class Everything:
        def predict(self, X, names, meta=None):
            if isinstance(X, str):
                if X == "pid":
                    return str(os.getpid())
                if X == "boom":
                    raise RuntimeError("user code failed: boom")
            return X

        def transform_input(self, X, names, meta=None):
            return X * 2

        def transform_output(self, X, names, meta=None):
            return X + 1

        def route(self, X, names):
            return 1

        def aggregate(self, Xs, names):
            return np.mean(np.array(Xs), axis=0)

        def send_feedback(self, features, names, reward, truth, routing=None):
            return None

        def init_metadata(self):
            return {"name": "everything", "versions": ["v1"], "custom": {"k": "v"}}
'''}


def P(d, cls=pb.SeldonMessage):
    return json_format.ParseDict(d, cls())


def rpc_error(fn, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn(*args, **kwargs)
    return err.value


@pytest.fixture(scope="module")
def everything(tmp_path_factory) -> Iterator[GrpcService]:
    """One service for the read-only tests: two gRPC workers, a small payload limit."""
    svc = start_service(tmp_path_factory.mktemp("everything"), EVERYTHING, "Everything",
                        ["--grpc-workers", "2", "--grpc-threads", "2",
                         "--max-payload-size", str(MAX_PAYLOAD)])
    yield svc
    svc.stop()


def test_every_rpc(everything):
    ch = everything.channel()
    nd = P({"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}, "meta": {"puid": "p1", "tags": {"x": "y"}}})
    two_d = {"meta": {"puid": "p1", "tags": {"x": "y"}}, "data": {"names": ["t:0", "t:1"], "ndarray": [[1.0, 2.0]]}}
    tensor = P({"data": {"tensor": {"shape": [2], "values": [1, 2]}}})
    feedback = P({"request": {"data": {"ndarray": [[1, 2]]}}, "reward": 1.0}, pb.Feedback)
    pair = P({"seldonMessages": [{"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"a": 1}}},
                                 {"data": {"ndarray": [[3, 4]]}, "meta": {"tags": {"b": 2}}}]}, pb.SeldonMessageList)
    mean = {"meta": {"tags": {"a": 1.0, "b": 2.0}}, "data": {"names": ["t:0", "t:1"], "ndarray": [[2.0, 3.0]]}}
    route = {"meta": {}, "data": {"names": ["t:0"], "tensor": {"shape": [1, 1], "values": [1.0]}}}
    fb = {"meta": {}, "data": {"ndarray": []}}
    metadata = {"name": "everything", "versions": ["v1"], "custom": {"k": "v"}}

    generic, model, seldon = pbg.GenericStub(ch), pbg.ModelStub(ch), pbg.SeldonStub(ch)
    assert D(model.Predict(nd)) == two_d
    assert D(seldon.Predict(nd)) == two_d
    assert D(generic.TransformInput(tensor)) == {"meta": {}, "data": {"tensor": {"shape": [2], "values": [2.0, 4.0]}}}
    assert D(pbg.TransformerStub(ch).TransformInput(tensor))["data"]["tensor"]["values"] == [2.0, 4.0]
    assert D(generic.TransformOutput(tensor))["data"]["tensor"]["values"] == [2.0, 3.0]
    assert D(pbg.OutputTransformerStub(ch).TransformOutput(tensor))["data"]["tensor"]["values"] == [2.0, 3.0]
    assert D(generic.Route(tensor)) == route
    assert D(pbg.RouterStub(ch).Route(tensor)) == route
    assert D(generic.Aggregate(pair)) == mean
    assert D(pbg.CombinerStub(ch).Aggregate(pair)) == mean
    for stub in (generic, model, pbg.RouterStub(ch), seldon):
        assert D(stub.SendFeedback(feedback)) == fb
    assert D(model.Metadata(empty_pb2.Empty())) == metadata
    assert D(seldon.ModelMetadata(pb.SeldonModelMetadataRequest(name="everything"))) == metadata
    err = rpc_error(seldon.GraphMetadata, empty_pb2.Empty())
    assert (err.code(), err.details()) == (grpc.StatusCode.UNIMPLEMENTED,
                                           "GraphMetadata not available on the Model level")


def test_two_worker_processes_share_the_port(everything):
    pids = set()
    deadline = time.monotonic() + 20  # the second worker may still be starting up
    while len(pids) < 2 and time.monotonic() < deadline:
        # a new connection each time: SO_REUSEPORT spreads connections over the workers
        with grpc.insecure_channel(everything.address, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
            pids.add(pbg.ModelStub(ch).Predict(P({"strData": "pid"})).strData)
    assert len(pids) == 2, everything.output()


@pytest.mark.parametrize("request_json, details", [
    ({}, "SeldonMessage carries no payload"),
    ({"meta": {"puid": "x"}}, "SeldonMessage carries no payload"),
    ({"data": {"tensor": {"shape": [2, 2], "values": [1, 2, 3]}}}, "3 values do not fit shape [2, 2]"),
])
def test_bad_input(everything, request_json, details):
    stub = pbg.ModelStub(everything.channel())
    err = rpc_error(stub.Predict, P(request_json))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and details in err.details()
    assert stub.Predict(P({"strData": "still serving"})).strData == "still serving"


def test_error_statuses(everything):
    ch = everything.channel()
    err = rpc_error(pbg.ModelStub(ch).Predict, P({"strData": "boom"}))
    assert (err.code(), err.details()) == (grpc.StatusCode.INTERNAL, "user code failed: boom")
    err = rpc_error(ch.unary_unary("/seldon.protos.Model/Explain"), b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    wrong = P({"request": {"strData": "x"}}, pb.Feedback).SerializeToString()  # a Feedback to Predict
    err = rpc_error(ch.unary_unary("/seldon.protos.Model/Predict"), wrong)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(pbg.ModelStub(ch).Predict, P({"strData": "x" * (MAX_PAYLOAD + 100)}))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert pbg.ModelStub(ch).Predict(P({"strData": "ok"})).strData == "ok"


def test_health_and_reflection(everything):
    for service in ("", *SERVICE_NAMES):
        assert everything.health(service) == SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(everything.channel())
    (resp,) = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for s in resp.list_services_response.service}
    assert names == {*SERVICE_NAMES, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"}


def test_health_waits_for_load(grpc_service, tmp_path):
    svc = grpc_service({"Slow.py": '''
        import os, time
        class Slow:
            def load(self):  # until the test says go
                while not os.path.exists("go"):
                    time.sleep(0.02)
            def predict(self, X, names, meta=None):
                return X
    '''}, "Slow", serving=False)
    deadline = time.monotonic() + 20
    while True:  # the server answers while load() is still running
        try:
            status = svc.health()
            break
        except grpc.RpcError:
            assert svc.proc.poll() is None and time.monotonic() < deadline, svc.output()
            time.sleep(0.05)
    assert status == NOT_SERVING
    err = rpc_error(pbg.ModelStub(svc.channel()).Predict, P({"strData": "x"}))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "load()" in err.details()
    (tmp_path / "go").touch()
    svc.wait_serving()
    assert pbg.ModelStub(svc.channel()).Predict(P({"strData": "x"})).strData == "x"


def test_sigterm_drains_inflight_calls(grpc_service, tmp_path):
    (tmp_path / "entered").mkdir()
    svc = grpc_service({"Gated.py": '''
        import os, time, uuid
        class Gated:
            def predict(self, X, names, meta=None):
                open(os.path.join("entered", uuid.uuid4().hex), "w").close()
                while not os.path.exists("release"):  # the test's gate
                    time.sleep(0.01)
                return X
    '''}, "Gated", ["--grpc-workers", "2", "--grpc-threads", "5", "--graceful-timeout", "60"])
    watch = health_pb2_grpc.HealthStub(svc.channel()).Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == SERVING
    calls = []
    for i in range(5):
        ch = svc.channel(**{"grpc.use_local_subchannel_pool": 1})
        calls.append(pbg.ModelStub(ch).Predict.future(P({"strData": f"call {i}"})))
    wait_until(lambda: len(os.listdir(tmp_path / "entered")) == 5, what="5 calls inside predict",
               detail=svc.output)
    svc.proc.send_signal(signal.SIGTERM)

    assert next(watch).status == NOT_SERVING  # health flips before the server goes away
    (tmp_path / "release").touch()  # only now, while the workers drain, may the calls finish
    assert [c.result(timeout=60).strData for c in calls] == [f"call {i}" for i in range(5)]
    assert svc.proc.wait(timeout=60) == 0, svc.output()
    wait_until(lambda: svc.session_pids() == [], what="every process of the service gone", detail=svc.output)


def test_zero_grpc_workers_disables_grpc(grpc_service):
    svc = grpc_service(EVERYTHING, "Everything", ["--grpc-workers", "0"], serving=False)

    def rest_ready() -> bool:  # load() done in the REST worker: every child was forked before it
        assert svc.proc.poll() is None, svc.output()
        try:
            return requests.get(f"http://127.0.0.1:{svc.http_port}/health/status", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    wait_until(rest_ready, what="the REST server", detail=svc.output)
    with grpc.insecure_channel(svc.address) as ch:
        with pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(ch).result(timeout=1)
    assert svc.proc.poll() is None


def test_failing_load_stops_the_service(grpc_service):
    svc = grpc_service({"Broken.py": '''
        class Broken:
            def load(self):
                raise RuntimeError("weights missing")
            def predict(self, X, names, meta=None):
                return X
    '''}, "Broken", serving=False)
    assert svc.proc.wait(timeout=30) != 0
    assert "weights missing" in svc.output()
