"""Each convention's model, written as its project documents it, served by a real
``seldon-core-microservice`` process tree: REST and gRPC, adaptive batching over threads, errors
as Seldon error bodies / gRPC codes, Prometheus metrics, and the shutdown hook."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import msgpack
import pytest
import requests
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from seldon_py.proto import prediction_pb2 as pb
from seldon_py.proto import prediction_pb2_grpc as pbg
from tests.metrics.conftest import parse

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BATCHING = ["--threads", "4", "--grpc-threads", "4", "--max-batch-size", "4", "--max-batch-latency-ms", "1000"]


def params_arg(**params) -> list[str]:
    return ["--parameters", json.dumps([{"name": k, "type": "JSON" if not isinstance(v, str) else "STRING",
                                         "value": v} for k, v in params.items()])]


def rest(svc, body, status=200):
    r = requests.post(svc.url + "/api/v1.0/predictions", json=body, timeout=30)
    assert r.status_code == status, r.text
    return r.json()


def grpc_stub(svc) -> pbg.ModelStub:
    ch = grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}")
    grpc.channel_ready_future(ch).result(timeout=30)
    health = health_pb2_grpc.HealthStub(ch)
    deadline = time.monotonic() + 30
    while health.Check(health_pb2.HealthCheckRequest(service="")).status != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "gRPC never turned SERVING"
        time.sleep(0.05)
    return pbg.ModelStub(ch)


def grpc_predict(stub, body) -> dict:
    return json_format.MessageToDict(stub.Predict(json_format.ParseDict(body, pb.SeldonMessage()), timeout=30))


def grpc_error(stub, body) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(json_format.ParseDict(body, pb.SeldonMessage()), timeout=30)
    return err.value


def concurrently(svc, bodies) -> list[dict]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: rest(svc, b), bodies))


def requests_total(svc) -> dict[tuple[str, str], float]:
    """(transport, code) → requests counted by the service's Prometheus metrics."""
    r = requests.get(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=10)
    assert r.status_code == 200
    out: dict[tuple[str, str], float] = {}
    for (name, labels), v in parse(r.text).items():
        if name == "seldon_api_model_requests_total":
            d = dict(labels)
            if "predict" in d.get("endpoint", "").lower():
                key = (d["transport"], d["code"])
                out[key] = out.get(key, 0) + v
    return out


def assert_seldon_error(body, reason, text):
    status = body["status"]
    assert status["status"] == 1 and status["code"] == -1 and status["reason"] == reason
    assert text in status["info"]


# ----------------------------------------------------------------------------- VESSL
VESSL_RUNNER = '''
import json

import numpy as np
import vessl


class MyRunner(vessl.RunnerBase):
    @staticmethod
    def load_model(props, artifacts):
        return {"scale": float(props["scale"])}

    @staticmethod
    def preprocess_data(data):
        return np.array(json.loads(data.decode()))

    @staticmethod
    def predict(model, data):
        if data.min() < 0:
            raise ValueError("negative input")
        return data * model["scale"]

    @staticmethod
    def postprocess_data(data):
        # one row per input row: the row's sum, and how many rows this call saw
        return [[float(row.sum()), len(data)] for row in data]
'''


def test_vessl_runner_end_to_end(start_service):
    svc = start_service({"runner.py": VESSL_RUNNER},
                        ["runner.MyRunner", *BATCHING, *params_arg(vessl_props={"scale": "2"})])
    assert "serving runner.MyRunner as a vessl model" in svc.output()
    out = rest(svc, {"data": {"ndarray": [[1, 2]]}})
    assert out["data"]["ndarray"] == [[6.0, 1]]
    assert rest(svc, {"jsonData": [[1, 1], [2, 2]]})["data"]["tensor"]["values"] == [4.0, 2, 8.0, 2]
    # adaptive batching: concurrent requests reach the runner in one call
    outs = concurrently(svc, [{"data": {"ndarray": [[i, i]]}} for i in range(1, 5)])
    assert [o["data"]["ndarray"][0][0] for o in outs] == [4.0, 8.0, 12.0, 16.0]
    assert max(o["data"]["ndarray"][0][1] for o in outs) >= 2
    err = rest(svc, {"jsonData": [[-1, 2]]}, status=500)
    assert_seldon_error(err, "MICROSERVICE_INTERNAL_ERROR", "negative input")
    stub = grpc_stub(svc)
    assert grpc_predict(stub, {"data": {"ndarray": [[0.5, 0.5]]}})["data"]["ndarray"] == [[2.0, 1.0]]
    e = grpc_error(stub, {"jsonData": [[-3]]})
    assert e.code() == grpc.StatusCode.INTERNAL and "negative input" in e.details()
    counts = requests_total(svc)
    assert counts[("rest", "200")] >= 6 and counts[("rest", "500")] == 1
    assert counts[("grpc", "OK")] >= 1 and counts[("grpc", "INTERNAL")] == 1


# ----------------------------------------------------------------------------- Rafiki
RAFIKI_MODEL = '''
import os

import numpy as np
from rafiki.model import BaseModel, FixedKnob, FloatKnob, IntegerKnob, utils


class LinearModel(BaseModel):
    @staticmethod
    def get_knob_config():
        return {
            "max_iter": FixedKnob(20),
            "alpha": FloatKnob(1e-4, 1e-1, is_exp=True),
            "depth": IntegerKnob(1, 8),
        }

    def __init__(self, **knobs):
        self.__dict__.update(knobs)

    def train(self, dataset_path, shared_params=None, **train_args):
        utils.logger.log("training")

    def evaluate(self, dataset_path):
        return 1.0

    def predict(self, queries):
        X = np.array(queries, dtype=float)
        return [[float(s), len(queries)] for s in X @ self._w + self._b]

    def dump_parameters(self):
        return {"w": self._w, "b": self._b}

    def load_parameters(self, params):
        self._w = params["w"]
        self._b = params["b"]

    def destroy(self):
        with open(os.environ["DESTROY_MARK"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")
'''


def test_rafiki_model_end_to_end(start_service, tmp_path):
    (tmp_path / "params.msgpack").write_bytes(msgpack.packb({"NP//w": [1.0, 2.0], "b": 0.5}, use_bin_type=True))
    mark = tmp_path / "destroyed.txt"
    svc = start_service({"linear.py": RAFIKI_MODEL},
                        ["linear.LinearModel", *BATCHING,
                         *params_arg(knobs={"alpha": 0.01, "depth": 2}, params_path="params.msgpack")],
                        env={"DESTROY_MARK": str(mark)})
    assert "serving linear.LinearModel as a rafiki model" in svc.output()
    assert rest(svc, {"data": {"ndarray": [[1, 1], [0, 1]]}})["data"]["ndarray"] == [[3.5, 2], [2.5, 2]]
    assert rest(svc, {"jsonData": {"queries": [[1, 0]]}})["jsonData"] == {"prediction": None,
                                                                         "predictions": [[1.5, 1]]}
    assert rest(svc, {"jsonData": {"query": [0, 0]}})["jsonData"] == {"prediction": [0.5, 1], "predictions": []}
    outs = concurrently(svc, [{"data": {"ndarray": [[i, 0]]}} for i in range(4)])
    assert [o["data"]["ndarray"][0][0] for o in outs] == [0.5, 1.5, 2.5, 3.5]
    assert max(o["data"]["ndarray"][0][1] for o in outs) >= 2
    assert_seldon_error(rest(svc, {"jsonData": {"q": 1}}, status=400), "MICROSERVICE_BAD_DATA",
                        "jsonData must be a list of queries")
    assert_seldon_error(rest(svc, {"jsonData": [["a", "b"]]}, status=500), "MICROSERVICE_INTERNAL_ERROR",
                        "could not convert string to float")
    stub = grpc_stub(svc)
    assert grpc_predict(stub, {"jsonData": [[2, 2]]})["jsonData"] == {"predictions": [[6.5, 1.0]]}
    e = grpc_error(stub, {"jsonData": {"nothing": 1}})
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "jsonData must be a list" in e.details()
    counts = requests_total(svc)
    assert counts[("rest", "400")] == 1 and counts[("rest", "500")] == 1 and counts[("grpc", "INVALID_ARGUMENT")] == 1
    assert not mark.exists()
    assert svc.stop() == 0
    # destroy() ran once in each serving process: the REST worker and the gRPC server
    assert len(mark.read_text().split()) == 2, svc.output()


def test_rafiki_bad_knobs_stop_the_start_with_one_line(start_service):
    svc = start_service({"linear.py": RAFIKI_MODEL},
                        ["linear.LinearModel", *params_arg(knobs={"alpha": 0.5, "depth": 2})], ready=False)
    assert svc.proc.wait(timeout=60) == 1
    assert "error: knob 'alpha' must be between 0.0001 and 0.1, got 0.5" in svc.output()


# ----------------------------------------------------------------------------- Starwhale
STARWHALE_MODEL = '''
from starwhale import evaluation


@evaluation.predict(batch_size=4, log_mode="plain")
def predict_iris(data, external):
    # data: the rows of this call; each row allows attribute access
    return [[row.sepal_length * 10 + row.sepal_width, len(data)] for row in data]


@evaluation.evaluate(needs=[predict_iris])
def evaluate_iris(predict_result_iter):
    return None
'''


def test_starwhale_predict_function_end_to_end(start_service):
    svc = start_service({"iris.py": STARWHALE_MODEL}, ["iris.predict_iris", *BATCHING])
    assert "serving iris.predict_iris as a starwhale model" in svc.output()
    names = ["sepal_length", "sepal_width"]
    out = rest(svc, {"data": {"names": names, "ndarray": [[5.0, 3.0], [6.0, 2.0]]}})
    assert out["data"]["ndarray"] == [[53.0, 2], [62.0, 2]]
    assert rest(svc, {"jsonData": {"sepal_length": 1, "sepal_width": 2}})["data"]["tensor"]["values"] == [12, 1]
    outs = concurrently(svc, [{"data": {"names": names, "ndarray": [[i, 0]]}} for i in range(1, 5)])
    assert [o["data"]["ndarray"][0][0] for o in outs] == [10.0, 20.0, 30.0, 40.0]
    assert max(o["data"]["ndarray"][0][1] for o in outs) >= 2
    assert_seldon_error(rest(svc, {"jsonData": {"petal": 1}}, status=500), "MICROSERVICE_INTERNAL_ERROR",
                        "Not found attribute: sepal_length")
    stub = grpc_stub(svc)
    got = grpc_predict(stub, {"data": {"names": names, "ndarray": [[1.0, 1.0]]}})
    assert got["data"]["ndarray"] == [[11.0, 1.0]]
    e = grpc_error(stub, {"jsonData": {"petal": 1}})
    assert e.code() == grpc.StatusCode.INTERNAL and "sepal_length" in e.details()
    # adaptive batching over gRPC threads too
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: grpc_predict(stub, {"data": {"names": names, "ndarray": [[i, 0.0]]}}),
                             range(1, 5)))
    assert [o["data"]["ndarray"][0][0] for o in outs] == [10.0, 20.0, 30.0, 40.0]
    assert max(o["data"]["ndarray"][0][1] for o in outs) >= 2
    counts = requests_total(svc)
    assert counts[("rest", "500")] == 1 and counts[("grpc", "INTERNAL")] == 1 and counts[("grpc", "OK")] >= 5


def test_forcing_the_seldon_path_from_the_environment(start_service):
    """SELDON_MODEL_CONVENTION=seldon: the runner is served as a plain class (its static predict is
    then called Seldon's way), proving the variable reaches the loader."""
    svc = start_service({"runner.py": VESSL_RUNNER}, ["runner.MyRunner"], env={"SELDON_MODEL_CONVENTION": "seldon"})
    assert "as a vessl model" not in svc.output()
    body = rest(svc, {"data": {"ndarray": [[1, 2]]}}, status=500)
    assert body["status"]["reason"] == "MICROSERVICE_INTERNAL_ERROR"


def test_rafiki_destroy_runs_under_the_debug_server_too(start_service, tmp_path):
    (tmp_path / "params.msgpack").write_bytes(msgpack.packb({"NP//w": [1.0, 2.0], "b": 0.5}, use_bin_type=True))
    mark = tmp_path / "destroyed.txt"
    svc = start_service({"linear.py": RAFIKI_MODEL},
                        ["linear.LinearModel", "--debug", "--grpc-workers", "0",
                         *params_arg(knobs={"alpha": 0.01, "depth": 2}, params_path="params.msgpack")],
                        env={"DESTROY_MARK": str(mark)})
    assert rest(svc, {"data": {"ndarray": [[1, 1]]}})["data"]["ndarray"] == [[3.5, 1]]
    assert svc.stop() == 0
    assert len(mark.read_text().split()) == 1, svc.output()


AMBIGUOUS = '''
class Both:
    @staticmethod
    def get_knob_config():
        return {}

    def load_parameters(self, params): ...

    @staticmethod
    def load_model(props, artifacts):
        return None

    @staticmethod
    def predict(model, data):
        return data
'''


@pytest.mark.parametrize("extra,fragment", [
    ([], "error: model.Both matches more than one model convention (vessl, rafiki): choose one with "
         "--model-convention NAME"),
    (["--model-convention", "starwhale"], "error: --model-convention starwhale: model.Both is not a starwhale model"),
])
def test_ambiguous_or_wrongly_forced_targets_stop_with_one_line(tmp_path, extra, fragment):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    (tmp_path / "model.py").write_text(AMBIGUOUS)
    r = subprocess.run([sys.executable, "-m", "seldon_py.cli", "model.Both", *extra], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1
    assert any(fragment in line for line in r.stderr.splitlines()) and "Traceback" not in r.stderr, r.stderr
