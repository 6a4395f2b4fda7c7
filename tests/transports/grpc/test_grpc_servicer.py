"""The gRPC servicer on an in-process ``grpc.server``: goldens, every RPC, errors, metadata,
puid, observer, raw hooks, health and reflection.

Golden responses are seldon-core 1.19.0's (spec §7.2.1, plus a few more observed the same way),
compared as ``json_format.MessageToDict`` output.
"""

from __future__ import annotations

import threading
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import empty_pb2, json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from seldon_py import SeldonMicroserviceException, SeldonResponse
from seldon_py.model.reflection import reflect
from seldon_py.proto import prediction_pb2 as pb
from seldon_py.proto import prediction_pb2_grpc as pbg
from seldon_py.protocol.seldon.handler import DataPlane
from seldon_py.transports.grpc.servicer import SERVICE_NAMES, SERVICES

from .helpers import make_dataplane

pytestmark = pytest.mark.timeout(30)

D = json_format.MessageToDict


def P(d: dict[str, Any], cls: type = pb.SeldonMessage) -> Any:
    return json_format.ParseDict(d, cls())


# ---------------------------------------------------------------------------- toy user classes
class Identity:
    def predict(self, X, names, meta=None):
        return X


class Doubler:
    def transform_input(self, X, names, meta=None):
        return X * 2


class RouterOne:
    def route(self, X, names):
        return 1


class MeanCombiner:
    def aggregate(self, Xs, names):
        return np.mean(np.array(Xs), axis=0)


class Everything:
    """Implements every hook, so every RPC of every service answers."""

    def predict(self, X, names, meta=None):
        return X

    def transform_input(self, X, names, meta=None):
        return X

    def transform_output(self, X, names, meta=None):
        return X

    def route(self, X, names):
        return 0

    def aggregate(self, Xs, names):
        return Xs[0]

    def send_feedback(self, features, names, reward, truth, routing=None):
        return None


class Failing:
    def predict(self, X, names, meta=None):
        if isinstance(X, str):
            raise SeldonMicroserviceException(f"no strings please: {X}", status_code=404)
        raise ValueError("model exploded")


# ---------------------------------------------------------------------------- goldens
GOLDEN = [
    # (user class, service, method, request class, request, response) — reference 1.19.0
    (Identity, "Model", "Predict", pb.SeldonMessage,
     {"data": {"names": ["a", "b"], "ndarray": [[1, 2]]}, "meta": {"puid": "gp", "tags": {"x": "y"}}},
     {"meta": {"puid": "gp", "tags": {"x": "y"}}, "data": {"names": ["t:0", "t:1"], "ndarray": [[1.0, 2.0]]}}),
    (Identity, "Model", "Predict", pb.SeldonMessage,
     {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}}},
     {"meta": {}, "data": {"names": ["t:0", "t:1"], "tensor": {"shape": [1, 2], "values": [1.0, 2.0]}}}),
    (Identity, "Model", "Predict", pb.SeldonMessage, {"jsonData": {"a": 1}}, {"meta": {}, "jsonData": {"a": 1.0}}),
    (Identity, "Model", "Predict", pb.SeldonMessage, {"binData": "AAE="}, {"meta": {}, "binData": "AAE="}),
    (Identity, "Model", "Predict", pb.SeldonMessage, {"data": {"names": ["a"]}}, {"meta": {}, "data": {"ndarray": []}}),
    (Doubler, "Generic", "TransformInput", pb.SeldonMessage,
     {"data": {"tensor": {"shape": [2], "values": [1, 2]}}},
     {"meta": {}, "data": {"tensor": {"shape": [2], "values": [2.0, 4.0]}}}),
    (RouterOne, "Router", "Route", pb.SeldonMessage, {"data": {"ndarray": [[1]]}},
     {"meta": {}, "data": {"names": ["t:0"], "ndarray": [[1.0]]}}),
    (MeanCombiner, "Combiner", "Aggregate", pb.SeldonMessageList,
     {"seldonMessages": [{"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"a": 1}}},
                         {"data": {"ndarray": [[3, 4]]}, "meta": {"tags": {"b": 2}}}]},
     {"meta": {"tags": {"a": 1.0, "b": 2.0}}, "data": {"names": ["t:0", "t:1"], "ndarray": [[2.0, 3.0]]}}),
    (Identity, "Model", "SendFeedback", pb.Feedback,
     {"request": {"data": {"ndarray": [[1, 2]]}}, "reward": 1.0},
     {"meta": {}, "data": {"ndarray": []}}),
    (Identity, "Model", "Metadata", empty_pb2.Empty, {}, {"versions": [""]}),
    # more, observed the same way on 1.19.0
    (RouterOne, "Router", "Route", pb.SeldonMessage,
     {"data": {"ndarray": [[1]]}, "meta": {"puid": "r1", "tags": {"a": 1}}},
     {"meta": {"puid": "r1"}, "data": {"names": ["t:0"], "ndarray": [[1.0]]}}),
    (Identity, "Model", "SendFeedback", pb.Feedback, {"request": {"jsonData": {"a": 1}}, "reward": 1.0},
     {"meta": {}, "data": {"tensor": {"shape": [0]}}}),
    (RouterOne, "Model", "Predict", pb.SeldonMessage, {"strData": "hi"},
     {"meta": {}, "data": {"tensor": {"shape": [0]}}}),
    (RouterOne, "Seldon", "ModelMetadata", pb.SeldonModelMetadataRequest, {"name": "x"}, {"versions": [""]}),
    (RouterOne, "Generic", "TransformOutput", pb.SeldonMessage, {"data": {"ndarray": [[1, 2]]}},
     {"meta": {}, "data": {"names": ["t:0", "t:1"], "ndarray": [[1.0, 2.0]]}}),
    (RouterOne, "Model", "Predict", pb.SeldonMessage,
     {"data": {"tensor": {"shape": [1, 2], "values": [1, 2]}},
      "meta": {"tags": {"n": 1}, "routing": {"x": 1}, "requestPath": {"a": "b"}}},
     {"meta": {"tags": {"n": 1.0}, "requestPath": {"a": "b"}}, "data": {"tensor": {"shape": [0]}}}),
]


def call(channel: grpc.Channel, service: str, method: str, request: Any,
         response_cls: type = pb.SeldonMessage, **kwargs: Any) -> Any:
    rpc = channel.unary_unary(f"/seldon.protos.{service}/{method}",
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=response_cls.FromString)
    return rpc(request, **kwargs)


def response_class(method: str) -> type:
    return pb.SeldonModelMetadata if method in ("Metadata", "ModelMetadata") else pb.SeldonMessage


@pytest.mark.parametrize("user, service, method, req_cls, request_json, expected", GOLDEN,
                         ids=[f"{g[1]}/{g[2]}-{i}" for i, g in enumerate(GOLDEN)])
def test_golden(grpc_server, user, service, method, req_cls, request_json, expected):
    channel, _ = grpc_server(user())
    out = call(channel, service, method, P(request_json, req_cls), response_class(method))
    assert D(out) == expected


def test_generated_stubs_work(grpc_server):
    channel, _ = grpc_server(Identity())
    out = pbg.SeldonStub(channel).Predict(P({"data": {"ndarray": [[1, 2]]}}))
    assert D(out)["data"]["ndarray"] == [[1.0, 2.0]]


@pytest.mark.parametrize("service, method", [(s, m) for s, ms in SERVICES.items() for m in ms])
def test_every_rpc_answers(grpc_server, service, method):
    channel, _ = grpc_server(Everything())
    req_cls = SERVICES[service][method]
    request = {
        pb.SeldonMessage: {"data": {"ndarray": [[1, 2]]}},
        pb.SeldonMessageList: {"seldonMessages": [{"data": {"ndarray": [[1, 2]]}}]},
        pb.Feedback: {"request": {"data": {"ndarray": [[1, 2]]}}, "reward": 1},
    }.get(req_cls, {})
    if method == "GraphMetadata":
        with pytest.raises(grpc.RpcError) as err:
            call(channel, service, method, P(request, req_cls))
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert err.value.details() == "GraphMetadata not available on the Model level"
        return
    out = call(channel, service, method, P(request, req_cls), response_class(method))
    assert out.ByteSize() > 0


def test_large_tensor_roundtrip(grpc_server):
    channel, _ = grpc_server(Doubler())
    values = np.random.default_rng(1).random((2, 50_000))
    req = pb.SeldonMessage()
    req.data.tensor.shape.extend(values.shape)
    req.data.tensor.values.extend(values.ravel().tolist())
    out = pbg.TransformerStub(channel).TransformInput(req)
    assert list(out.data.tensor.shape) == [2, 50_000]
    assert np.array_equal(np.array(out.data.tensor.values), (values * 2).ravel())
    assert len(out.data.names) == 50_000 and out.data.names[-1] == "t:49999"


def test_tensor_sent_unpacked_is_decoded_too(grpc_server):
    """Clients may send repeated scalars unpacked (legal protobuf): the slow path handles it."""
    channel, _ = grpc_server(Identity())
    # data { tensor { shape: 2 (unpacked varint)  values: 1.5, 2.5 (unpacked fixed64) } }
    tensor = b"\x08\x02" + b"\x11" + np.float64(1.5).tobytes() + b"\x11" + np.float64(2.5).tobytes()
    data = b"\x12" + bytes([len(tensor)]) + tensor
    wire = b"\x1a" + bytes([len(data)]) + data
    rpc = channel.unary_unary("/seldon.protos.Model/Predict", response_deserializer=pb.SeldonMessage.FromString)
    assert D(rpc(wire)) == {"meta": {}, "data": {"tensor": {"shape": [2], "values": [1.5, 2.5]}}}


# ---------------------------------------------------------------------------- errors
def rpc_error(fn: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn(*args, **kwargs)
    return err.value


@pytest.mark.parametrize("request_json, code, details", [
    ({}, "INVALID_ARGUMENT", "SeldonMessage carries no payload"),
    ({"meta": {"puid": "x"}}, "INVALID_ARGUMENT", "SeldonMessage carries no payload"),
    ({"data": {"tensor": {"shape": [3], "values": [1, 2]}}}, "INVALID_ARGUMENT",
     "data.tensor: 2 values do not fit shape [3]"),
    ({"data": {"tensor": {"shape": [-1], "values": [1, 2]}}}, "INVALID_ARGUMENT",
     "data.tensor.shape must be non-negative"),
    ({"data": {"ndarray": [[1, 2], [3]]}}, "INVALID_ARGUMENT", "data.ndarray is not a rectangular array"),
])
def test_bad_input_is_invalid_argument(grpc_server, request_json, code, details):
    channel, _ = grpc_server(Identity())
    err = rpc_error(pbg.ModelStub(channel).Predict, P(request_json))
    assert err.code().name == code
    assert details in err.details()
    # and the server keeps serving
    assert D(pbg.ModelStub(channel).Predict(P({"strData": "ok"}))) == {"meta": {}, "strData": "ok"}


def test_undecodable_and_wrong_message(grpc_server):
    channel, _ = grpc_server(Identity())
    raw = channel.unary_unary("/seldon.protos.Model/Predict")
    err = rpc_error(raw, b"\xff\xff\xff")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("request is not a valid seldon.protos.SeldonMessage")
    # a SeldonMessageList sent to Predict
    wrong = P({"seldonMessages": [{"data": {"ndarray": [[1]]}}]}, pb.SeldonMessageList).SerializeToString()
    assert rpc_error(raw, wrong).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_error(channel.unary_unary("/seldon.protos.Combiner/Aggregate"), b"").code() == \
        grpc.StatusCode.INVALID_ARGUMENT  # empty list


def test_missing_methods_are_unimplemented(grpc_server):
    channel, _ = grpc_server(Identity())
    err = rpc_error(pbg.RouterStub(channel).Route, P({"data": {"ndarray": [[1]]}}))
    assert (err.code(), err.details()) == (grpc.StatusCode.UNIMPLEMENTED, "Route not defined")
    err = rpc_error(pbg.CombinerStub(channel).Aggregate,
                    P({"seldonMessages": [{"data": {"ndarray": [[1]]}}]}, pb.SeldonMessageList))
    assert (err.code(), err.details()) == (grpc.StatusCode.UNIMPLEMENTED, "Aggregate not defined")
    err = rpc_error(channel.unary_unary("/seldon.protos.Model/Nope"), b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
    err = rpc_error(channel.unary_unary("/seldon.protos.Nothing/Predict"), b"")
    assert err.code() == grpc.StatusCode.UNIMPLEMENTED


def test_user_exceptions(grpc_server, caplog):
    channel, _ = grpc_server(Failing())
    stub = pbg.ModelStub(channel)
    err = rpc_error(stub.Predict, P({"data": {"ndarray": [[1]]}}))
    assert (err.code(), err.details()) == (grpc.StatusCode.INTERNAL, "model exploded")
    assert any("model exploded" in r.getMessage() and r.exc_info for r in caplog.records)
    err = rpc_error(stub.Predict, P({"strData": "s"}))
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "no strings please: s")


def test_not_loaded_is_unavailable(grpc_server):
    dp = DataPlane(reflect(Identity()))  # load() not run
    channel, _ = grpc_server(dataplane=dp, serving=False)
    err = rpc_error(pbg.ModelStub(channel).Predict, P({"strData": "x"}))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "load()" in err.details()


def test_oversize_request_and_response(grpc_server):
    class Grow:
        def predict(self, X, names, meta=None):
            return "x" * 5000

    channel, _ = grpc_server(Grow(), max_payload_bytes=4096)
    stub = pbg.ModelStub(channel)
    err = rpc_error(stub.Predict, P({"strData": "y" * 5000}))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    err = rpc_error(stub.Predict, P({"strData": "small"}))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "exceeds the maximum payload size of 4096 bytes" in err.details()


# ---------------------------------------------------------------------------- metadata
def test_metadata_rpcs(grpc_server):
    md = {"name": "my-model", "versions": ["v1"], "platform": "sk", "custom": {"author": "me"},
          "inputs": [{"messagetype": "tensor", "schema": {"names": ["a", "b"], "shape": [2]}}],
          "outputs": [{"datatype": "FP32", "name": "out", "shape": [1]}], "extra": "ignored"}
    channel, _ = grpc_server(dataplane=make_dataplane(Identity(), metadata=md))
    expected = {"name": "my-model", "versions": ["v1"], "platform": "sk", "custom": {"author": "me"},
                "inputs": [{"messagetype": "tensor", "schema": {"names": ["a", "b"], "shape": [2.0]}}],
                "outputs": [{"datatype": "FP32", "name": "out", "shape": ["1"]}]}
    assert D(pbg.ModelStub(channel).Metadata(empty_pb2.Empty())) == expected
    assert D(pbg.SeldonStub(channel).ModelMetadata(pb.SeldonModelMetadataRequest(name="x"))) == expected


def test_invalid_metadata_is_internal_with_reason(grpc_server):
    dp = DataPlane(reflect(Identity()), metadata=None, metadata_error="versions must be a list")
    dp.load()
    channel, _ = grpc_server(dataplane=dp)
    err = rpc_error(pbg.ModelStub(channel).Metadata, empty_pb2.Empty())
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == "Model metadata unavailable: versions must be a list"
    # predictions keep working
    assert pbg.ModelStub(channel).Predict(P({"strData": "a"})).strData == "a"


# ---------------------------------------------------------------------------- puid, observer, raw
def test_puid_header_echoed_not_invented(grpc_server):
    channel, _ = grpc_server(Identity())
    stub = pbg.ModelStub(channel)
    _, c = stub.Predict.with_call(P({"strData": "a"}), metadata=[("seldon-puid", "abc-1")])
    assert ("seldon-puid", "abc-1") in [(m.key, m.value) for m in c.initial_metadata()]
    _, c = stub.Predict.with_call(P({"strData": "a"}))
    assert "seldon-puid" not in [m.key for m in c.initial_metadata()]  # the reference sends none
    err = rpc_error(stub.Predict, P({}), metadata=[("seldon-puid", "abc-2")])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


class RecordingObserver:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def request_started(self, transport: str, endpoint: str) -> None:
        self.events.append(("start", transport, endpoint))

    def request_finished(self, transport, endpoint, code, seconds, request_bytes, response_bytes) -> None:
        self.events.append(("end", transport, endpoint, code, seconds, request_bytes, response_bytes))


def test_observer_sees_every_rpc(grpc_server):
    obs = RecordingObserver()
    channel, _ = grpc_server(Identity(), observer=obs)
    req = P({"data": {"ndarray": [[1, 2]]}})
    out = pbg.ModelStub(channel).Predict(req)
    rpc_error(pbg.RouterStub(channel).Route, req)
    pbg.SeldonStub(channel).ModelMetadata(pb.SeldonModelMetadataRequest())
    ends = [e for e in obs.events if e[0] == "end"]
    starts = [e for e in obs.events if e[0] == "start"]
    assert [s[1:] for s in starts] == [("grpc", "/seldon.protos.Model/Predict"),
                                       ("grpc", "/seldon.protos.Router/Route"),
                                       ("grpc", "/seldon.protos.Seldon/ModelMetadata")]
    predict, route, md = ends
    assert predict[1:4] == ("grpc", "/seldon.protos.Model/Predict", "OK")
    assert predict[5:] == (req.ByteSize(), out.ByteSize()) and predict[4] > 0
    assert route[3] == "UNIMPLEMENTED" and route[6] == 0
    assert md[3] == "OK"


def test_raw_hooks(grpc_server):
    class Raw:
        def predict_raw(self, msg):
            out = pb.SeldonMessage()
            out.strData = "raw:" + msg.strData
            out.meta.metrics.add(key="c", value=1)
            return out

        def transform_input_raw(self, msg):
            return {"jsonData": {"via": "dict"}}

        def transform_output_raw(self, msg):
            return 42

    channel, _ = grpc_server(Raw())
    out = pbg.ModelStub(channel).Predict(P({"strData": "x"}))
    assert D(out) == {"strData": "raw:x", "meta": {"metrics": [{"key": "c", "value": 1.0}]}}
    assert D(pbg.TransformerStub(channel).TransformInput(P({"strData": "x"}))) == {"jsonData": {"via": "dict"}}
    err = rpc_error(pbg.OutputTransformerStub(channel).TransformOutput, P({"strData": "x"}))
    assert err.code() == grpc.StatusCode.INTERNAL and "transform_output_raw returned int" in err.details()


def test_seldon_response_tags_and_metrics(grpc_server):
    class Tagged:
        def predict(self, X, names, meta=None):
            return SeldonResponse(X, tags={"rt": "tag"}, metrics=[{"type": "GAUGE", "key": "g", "value": 2}])

        def tags(self):
            return {"static": 1}

    channel, _ = grpc_server(Tagged())
    out = D(pbg.ModelStub(channel).Predict(P({"data": {"ndarray": [1, 2]}, "meta": {"tags": {"req": "t"}}})))
    assert out["meta"]["tags"] == {"req": "t", "static": 1.0, "rt": "tag"}
    assert out["meta"]["metrics"] == [{"key": "g", "type": "GAUGE", "value": 2.0}]
    assert out["data"] == {"ndarray": [1.0, 2.0]}


# ---------------------------------------------------------------------------- health, reflection, stop
def test_health_follows_loading_and_shutdown(grpc_server):
    channel, srv = grpc_server(Identity(), serving=False)
    health = health_pb2_grpc.HealthStub(channel)
    check = lambda svc="": health.Check(health_pb2.HealthCheckRequest(service=svc)).status  # noqa: E731
    assert check() == health_pb2.HealthCheckResponse.NOT_SERVING
    srv.set_serving()
    assert check() == check("seldon.protos.Model") == health_pb2.HealthCheckResponse.SERVING
    assert rpc_error(health.Check, health_pb2.HealthCheckRequest(service="nope")).code() == grpc.StatusCode.NOT_FOUND

    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    # an open Watch must not hold the drain for the whole grace period: with a grace of 10 minutes,
    # stop() returns only if the Watch is ended (the join timeout is a guard, not a timing)
    stopper = threading.Thread(target=srv.stop, args=(600,), daemon=True)
    stopper.start()
    stopper.join(timeout=60)
    assert not stopper.is_alive(), "stop() waited for the open Watch"
    assert [r.status for r in watch] == [health_pb2.HealthCheckResponse.NOT_SERVING]


def test_stop_lets_inflight_calls_finish(grpc_server):
    entered = threading.Semaphore(0)
    release = threading.Event()

    class Gated:
        def predict(self, X, names, meta=None):
            entered.release()
            assert release.wait(60)
            return X

    channel, srv = grpc_server(Gated(), threads=2)

    class StopSignals:  # the real server, telling the test once stop() has begun
        def __init__(self, real):
            self.real = real
            self.stopping = threading.Event()

        def stop(self, grace):
            done = self.real.stop(grace)
            self.stopping.set()
            return done

    srv.server = proxy = StopSignals(srv.server)
    stub = pbg.ModelStub(channel)
    futures = [stub.Predict.future(P({"strData": str(i)})) for i in range(2)]
    for _ in range(2):
        assert entered.acquire(timeout=60)  # both calls are inside predict
    stopper = threading.Thread(target=srv.stop, args=(60,))
    stopper.start()
    assert proxy.stopping.wait(60)  # the server is stopping with both calls in flight...
    release.set()  # ...and only now may they finish
    assert [f.result(timeout=60).strData for f in futures] == ["0", "1"]
    stopper.join(60)
    assert not stopper.is_alive()
    srv.server = proxy.real


def test_reflection_lists_every_service(grpc_server):
    channel, _ = grpc_server(Identity())
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = list(stub.ServerReflectionInfo(iter([
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="seldon.protos.Model"),
    ])))
    names = {s.name for s in responses[0].list_services_response.service}
    assert set(SERVICE_NAMES) <= names
    assert {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names
    assert responses[1].file_descriptor_response.file_descriptor_proto
