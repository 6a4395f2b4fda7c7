"""gRPC against open streams, oversized messages and hostile tensors (issue 11)."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from seldon_py.proto import prediction_pb2 as pb
from seldon_py.proto import prediction_pb2_grpc as pbg
from seldon_py.transports.grpc.server import MAX_OPEN_STREAMS


class Identity:
    def predict(self, X, names, meta=None):
        return X


class Counting:
    """Records how many predict calls run at once."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.running = self.most = 0
        self.release = threading.Event()

    def wait_running(self, n: int, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.running >= n, timeout)

    def predict(self, X, names, meta=None):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.lock.notify_all()
        self.release.wait(30)
        with self.lock:
            self.running -= 1
        return X


def _tensor(values=(1.0, 2.0)) -> pb.SeldonMessage:
    return pb.SeldonMessage(data=pb.DefaultData(tensor=pb.Tensor(shape=[len(values)], values=list(values))))


class OpenStreams:
    """Reflection streams kept open (as grpcurl keeps one for a whole command)."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.gates: list[queue.Queue[None]] = []
        self.calls: list[object] = []

    def open(self) -> grpc.StatusCode | None:
        gate: queue.Queue[None] = queue.Queue()

        def requests():
            yield reflection_pb2.ServerReflectionRequest(list_services="")
            gate.get()  # the stream stays open until close()

        call = reflection_pb2_grpc.ServerReflectionStub(self.channel).ServerReflectionInfo(requests())
        self.gates.append(gate)
        self.calls.append(call)
        try:
            next(call)
        except grpc.RpcError as exc:
            return exc.code()
        return None

    def close(self) -> None:
        for gate in self.gates:
            gate.put(None)
        for call in self.calls:
            call.cancel()


@pytest.mark.parametrize("threads", [1, 2])
def test_open_reflection_streams_never_starve_unary_calls(grpc_server, threads):
    channel, srv = grpc_server(Identity(), threads=threads)
    streams = OpenStreams(channel)
    try:
        for _ in range(MAX_OPEN_STREAMS):
            assert streams.open() is None
        # one stream too many is refused, not queued behind the others
        assert streams.open() == grpc.StatusCode.RESOURCE_EXHAUSTED
        other = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
        try:
            for ch in (channel, other):
                out = pbg.ModelStub(ch).Predict(_tensor(), timeout=10)
                assert list(out.data.tensor.values) == [1.0, 2.0]
                status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
                assert status.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            other.close()
    finally:
        streams.close()


def test_seldon_calls_still_run_at_most_grpc_threads_at_once(grpc_server):
    user = Counting()
    channel, _ = grpc_server(user, threads=2)
    stub = pbg.ModelStub(channel)
    futures = [stub.Predict.future(_tensor(), timeout=30) for _ in range(6)]
    try:
        assert user.wait_running(2, timeout=20)
        # while two calls hold the model, a health check is still answered
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        user.release.set()
    for f in futures:
        assert list(f.result().data.tensor.values) == [1.0, 2.0]
    assert user.most == 2


@pytest.mark.parametrize("limit", [64 << 10])
def test_oversized_messages_are_resource_exhausted(grpc_server, limit):
    channel, _ = grpc_server(Identity(), max_payload_bytes=limit)
    big = _tensor([0.5] * (limit // 8 + 16))
    with pytest.raises(grpc.RpcError) as err:
        pbg.ModelStub(channel).Predict(big, timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert list(pbg.ModelStub(channel).Predict(_tensor(), timeout=10).data.tensor.values) == [1.0, 2.0]


@pytest.mark.parametrize("tensor", [pb.Tensor(shape=[0, 100_000_000]), pb.Tensor(shape=[100_000_000, 0]),
                                    pb.Tensor(shape=[1] * 40, values=[1.0])])
def test_declared_shapes_beyond_their_values_are_invalid_argument(grpc_server, tensor):
    channel, _ = grpc_server(Identity())
    with pytest.raises(grpc.RpcError) as err:
        pbg.ModelStub(channel).Predict(pb.SeldonMessage(data=pb.DefaultData(tensor=tensor)), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "data.tensor.shape" in err.value.details()


@pytest.mark.parametrize("unknown", [bytes([15 << 3 | 0, 5]), bytes([15 << 3 | 5, 1, 2, 3, 4])])
def test_a_tensor_with_an_unknown_field_is_served(grpc_server, unknown):
    channel, _ = grpc_server(Identity())
    tensor_wire = pb.Tensor(shape=[2], values=[1.5, 2.5]).SerializeToString() + unknown
    data_wire = bytes([2 << 3 | 2, len(tensor_wire)]) + tensor_wire  # DefaultData.tensor
    wire = bytes([3 << 3 | 2, len(data_wire)]) + data_wire  # SeldonMessage.data
    predict = channel.unary_unary("/seldon.protos.Model/Predict", request_serializer=None,
                                  response_deserializer=pb.SeldonMessage.FromString)
    out = predict(wire, timeout=10)
    assert list(out.data.tensor.values) == [1.5, 2.5]
