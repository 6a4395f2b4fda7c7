"""End to end: real .mar archives (torch-model-archiver) served by real `seldon-core-microservice`
processes over REST (Seldon paths and TorchServe's API) and gRPC, with batching, errors, metrics,
and without the `torchserve` package installed."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf import json_format

from seldon_py.proto import prediction_pb2 as pb
from seldon_py.proto import prediction_pb2_grpc as pbg
from tests.conftest import ROOT, ServiceProcess
from tests.conventions.torchserve import handlers
from tests.conventions.torchserve.conftest import build_mar

pytestmark = pytest.mark.e2e

ERROR_503 = b'{\n  "code": 503,\n  "type": "InternalServerException",\n  "message": "Prediction failed"\n}\n'


def serve(workdir: Path, mar: Path, args: list[str], env: dict[str, str] | None = None) -> ServiceProcess:
    svc = ServiceProcess(workdir, [mar.name, *args], env)  # seldon-core-microservice model.mar
    try:
        svc.wait_ready(timeout=60)
        svc.wait_ready("/ping", timeout=60)
    except BaseException:
        svc.stop()
        raise
    return svc


@pytest.fixture
def running():
    started: list[ServiceProcess] = []
    yield started
    for svc in started:
        svc.stop()


def grpc_predict(svc: ServiceProcess, msg: pb.SeldonMessage) -> dict:
    """The reply's JSON form (jsonData as plain Python values)."""
    with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}") as ch:
        grpc.channel_ready_future(ch).result(timeout=60)
        return json_format.MessageToDict(pbg.ModelStub(ch).Predict(msg, timeout=60))


def test_docs_handler_archive_over_seldon_rest_torchserve_rest_and_grpc(tmp_path, running):
    mar = build_mar(tmp_path, "docs", handlers.DOCS_CLASS, version="2.0")
    svc = serve(tmp_path, mar, ["--grpc-workers", "1"])
    running.append(svc)

    # TorchServe's API, byte for byte: indent-2 JSON without trailing newline, no Content-Type
    r = requests.post(f"{svc.url}/predictions/docs", json={"x": [1, 2]}, timeout=60)
    expected = json.dumps({"marker": "ts-class", "model": "docs", "input": {"x": [1, 2]}}, indent=2).encode()
    assert (r.status_code, r.content) == (200, expected)
    assert "Content-Type" not in r.headers
    assert r.headers["Pragma"] == "no-cache"
    r = requests.post(f"{svc.url}/predictions/docs/2.0", data="abc", headers={"Content-Type": "text/plain"})
    assert json.loads(r.content)["input"] == "abc"
    r = requests.post(f"{svc.url}/predictions/nope", data="1", timeout=60)
    assert (r.status_code, r.headers["Content-Type"]) == (404, "application/json")
    assert r.content == (b'{\n  "code": 404,\n  "type": "ModelNotFoundException",\n'
                         b'  "message": "Model not found: nope"\n}\n')
    r = requests.get(f"{svc.url}/ping", timeout=60)
    assert (r.status_code, r.headers["Content-Type"], r.content) == (200, "application/json",
                                                                      b'{\n  "status": "Healthy"\n}\n')
    # real curl, multipart field "data" as TorchServe's docs send it
    (tmp_path / "input.json").write_text('{"k": "v"}')
    out = subprocess.run(["curl", "-s", "-F", f"data=@{tmp_path / 'input.json'};type=application/json",
                          f"{svc.url}/predictions/docs"], capture_output=True, timeout=60, check=True).stdout
    assert json.loads(out)["input"] == {"k": "v"}

    # Seldon's paths: jsonData / strData / ndarray in, the handler's element back as jsonData
    r = requests.post(f"{svc.url}/api/v1.0/predictions", json={"jsonData": {"a": 1}}, timeout=60)
    assert r.json() == {"jsonData": {"marker": "ts-class", "model": "docs", "input": {"a": 1}}}
    r = requests.post(f"{svc.url}/api/v1.0/predictions", json={"data": {"ndarray": [[1, 2]]}}, timeout=60)
    assert r.json()["jsonData"]["input"] == [[1, 2]]
    assert requests.get(f"{svc.url}/api/v1.0/metadata", timeout=60).json()["versions"] == ["2.0"]

    # gRPC, the same model
    reply = grpc_predict(svc, pb.SeldonMessage(strData="over grpc"))
    assert reply == {"jsonData": {"marker": "ts-class", "model": "docs", "input": "over grpc"}}


def test_errors_statuses_and_metrics(tmp_path, running):
    mar = build_mar(tmp_path, "scaler", handlers.SCALER, config=handlers.CONFIG_YAML,
                    requirements="surely-not-installed-pkg==9.9\n")
    params = json.dumps([{"name": "batch_size", "value": "1", "type": "INT"}])
    svc = serve(tmp_path, mar, ["--parameters", params, "--grpc-workers", "1"])
    running.append(svc)
    assert "surely-not-installed-pkg==9.9" in svc.output()  # the archive's missing requirement, reported
    url = f"{svc.url}/predictions/scaler"

    r = requests.post(url, json="boom", timeout=60)
    assert (r.status_code, r.headers["Content-Type"], r.content) == (503, "application/json", ERROR_503)
    r = requests.post(url, json="reject", timeout=60)
    assert r.status_code == 422
    assert r.content == (b'{\n  "code": 422,\n  "type": "InternalServerException",\n'
                         b'  "message": "rejected by the model"\n}\n')
    r = requests.post(url, json="teapot", timeout=60)
    assert (r.status_code, r.reason, r.content) == (418, "I'm a teapot", b"short and stout")
    r = requests.post(url, json="text", timeout=60)
    assert (r.status_code, r.headers["Content-Type"], r.content) == (200, "text/plain", b"plain text")
    r = requests.post(url, json="header", headers={"X-Trace": "t-1"}, timeout=60)
    assert r.json() == {"header": "t-1"}
    r = requests.post(url, json=[1, 2], timeout=60)
    assert r.json() == {"scaled": [10, 20], "batch": 1}  # factor from the archive's model-config.yaml

    # the same errors on Seldon's paths: Seldon error bodies with TorchServe's statuses
    seldon = f"{svc.url}/api/v1.0/predictions"
    r = requests.post(seldon, json={"jsonData": "boom"}, timeout=60)
    assert r.status_code == 503
    assert r.json()["status"] == {"status": 1, "info": "Prediction failed", "code": -1,
                                  "reason": "MICROSERVICE_INTERNAL_ERROR"}
    r = requests.post(seldon, json={"jsonData": "reject"}, timeout=60)
    assert r.status_code == 422
    r = requests.post(seldon, json={"jsonData": "teapot"}, timeout=60)
    assert (r.status_code, r.json()["status"]["info"]) == (418, "I'm a teapot")
    r = requests.post(seldon, json={"jsonData": [3]}, timeout=60)
    assert r.json()["jsonData"] == {"scaled": [30], "batch": 1}
    assert {"type": "COUNTER", "key": "ts_rows", "value": 1} in r.json()["meta"]["metrics"]
    with pytest.raises(grpc.RpcError) as err:
        grpc_predict(svc, pb.SeldonMessage(strData="boom"))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert err.value.details() == "Prediction failed"
    reply = grpc_predict(svc, pb.SeldonMessage(binData=b"[4]"))
    assert reply["jsonData"] == {"scaled": [40], "batch": 1}

    # the handler's context.metrics on Prometheus: 6 batches on TorchServe's path, and the 2 that
    # succeeded on Seldon's paths (an error body has no meta to carry the metrics of a failed one)
    text = requests.get(f"http://127.0.0.1:{svc.metrics_port}/metrics", timeout=60).text
    rows = [line for line in text.splitlines() if line.startswith("ts_rows_total")]
    assert rows and float(rows[0].rsplit(" ", 1)[1]) == 8.0, rows
    assert any(line.startswith("ts_batch_ms_bucket") for line in text.splitlines())


def hide_torchserve(tmp_path: Path) -> Path:
    """A PYTHONPATH entry that makes `import ts` fail as it does where torchserve is not installed."""
    blocker = tmp_path / "no-torchserve"
    (blocker / "ts").mkdir(parents=True)
    (blocker / "ts" / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'ts\'", name="ts")\n')
    return blocker


def _concurrently(n: int, call) -> list:
    results: list = [None] * n
    errors: list = []

    def run(i: int) -> None:
        try:
            results[i] = call(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_torchserve_batching_on_rest_and_grpc(tmp_path, running):
    # batchSize 4 / maxBatchDelay 5000 ms from the archive's model-config.yaml: only a full batch
    # of 4 concurrent requests can be answered quickly; a lone request waits out the delay
    mar = build_mar(tmp_path, "scaler", handlers.SCALER, config=handlers.CONFIG_YAML)
    svc = serve(tmp_path, mar, ["--threads", "4", "--grpc-workers", "1", "--grpc-threads", "4"])
    running.append(svc)

    out = _concurrently(4, lambda i: requests.post(f"{svc.url}/predictions/scaler", json=[i], timeout=120))
    assert [r.json() for r in out] == [{"scaled": [i * 10], "batch": 4} for i in range(4)]
    out = _concurrently(4, lambda i: requests.post(f"{svc.url}/api/v1.0/predictions", json={"jsonData": [i]},
                                                   timeout=120))
    assert [r.json()["jsonData"] for r in out] == [{"scaled": [i * 10], "batch": 4} for i in range(4)]
    out = _concurrently(4, lambda i: grpc_predict(svc, pb.SeldonMessage(binData=f"[{i}]".encode())))
    assert [r["jsonData"] for r in out] == [{"scaled": [i * 10], "batch": 4} for i in range(4)]
    # a lone request runs when the delay has passed, in a batch of one
    r = requests.post(f"{svc.url}/predictions/scaler", json=[7], timeout=120)
    assert r.json() == {"scaled": [70], "batch": 1}


def test_served_without_the_torchserve_package(tmp_path, running):
    blocker = hide_torchserve(tmp_path)
    mar = build_mar(tmp_path, "docs", handlers.DOCS_CLASS)
    svc = serve(tmp_path, mar, ["--grpc-workers", "1"], env={"PYTHONPATH": f"{ROOT}:{blocker}"})
    running.append(svc)
    assert "served by seldon_py's equivalents: ts, ts.context" in svc.output()
    r = requests.post(f"{svc.url}/predictions/docs", json={"x": 1}, timeout=60)
    assert r.content == json.dumps({"marker": "ts-class", "model": "docs", "input": {"x": 1}}, indent=2).encode()
    r = requests.post(f"{svc.url}/api/v1.0/predictions",
                      json={"binData": base64.b64encode(b'"raw"').decode()}, timeout=60)
    assert r.status_code == 503  # a bytearray inside the handler's dict: TorchServe cannot send it either
    reply = grpc_predict(svc, pb.SeldonMessage(strData="x"))
    assert reply["jsonData"]["input"] == "x"


def test_handler_module_by_name_without_torchserve(tmp_path, running):
    """`seldon-core-microservice model_handler` (a handler file, not an archive): its `ts` imports
    resolve to seldon_py's equivalents, and the module function handler of TorchServe's docs too."""
    blocker = hide_torchserve(tmp_path)
    (tmp_path / "model_handler.py").write_text(handlers.DOCS_CLASS)
    svc = ServiceProcess(tmp_path, ["model_handler", "--grpc-workers", "0"], {"PYTHONPATH": f"{ROOT}:{blocker}"})
    running.append(svc)
    svc.wait_ready(timeout=60)
    assert "serving model_handler as a torchserve model" in svc.output()
    r = requests.post(f"{svc.url}/predictions/model_handler", data="hello", headers={"Content-Type": "text/plain"},
                      timeout=60)
    assert r.content == json.dumps({"marker": "ts-class", "model": "model_handler", "input": "hello"},
                                   indent=2).encode()
    r = requests.post(f"{svc.url}/api/v1.0/predictions", json={"strData": "hello"}, timeout=60)
    assert r.json()["jsonData"]["input"] == "hello"


def test_module_function_handler_by_name_over_rest_and_grpc(tmp_path, running):
    """`seldon-core-microservice fn_handler`: the module-level entry point of TorchServe's docs."""
    (tmp_path / "fn_handler.py").write_text(handlers.DOCS_MODULE)
    svc = ServiceProcess(tmp_path, ["fn_handler", "--grpc-workers", "1"])
    running.append(svc)
    svc.wait_ready(timeout=60)
    r = requests.post(f"{svc.url}/predictions/fn_handler", data=b"\x00raw", timeout=60)  # not JSON: bytearray
    assert r.content == json.dumps({"marker": "ts-module", "echo": "\x00raw"}, indent=2).encode()
    assert grpc_predict(svc, pb.SeldonMessage(strData="g")) == {"jsonData": {"marker": "ts-module", "echo": "g"}}


TORCHSCRIPT_HANDLER = '''
import torch
from ts.torch_handler.base_handler import BaseHandler


class LinearHandler(BaseHandler):
    def preprocess(self, data):
        return torch.as_tensor([row.get("data") or row.get("body") for row in data], dtype=torch.float32)
'''


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_model_with_the_real_base_handler(tmp_path, running):
    """A serializedFile loaded by BaseHandler.initialize, inference and postprocess left to it
    (needs torch: skipped where it is not installed)."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[2.0, 3.0]]))
        model.bias.fill_(1.0)
    torch.jit.save(torch.jit.script(model), str(tmp_path / "linear.pt"))
    src = tmp_path / "src-linear"
    src.mkdir()
    (src / "linear_handler.py").write_text(TORCHSCRIPT_HANDLER)
    from tests.conventions.torchserve.conftest import archiver

    subprocess.run([*archiver(), "--model-name", "linear", "--version", "1.0", "--serialized-file",
                    str(tmp_path / "linear.pt"), "--handler", str(src / "linear_handler.py"),
                    "--export-path", str(tmp_path)], check=True, capture_output=True, timeout=120)
    svc = serve(tmp_path, tmp_path / "linear.mar", ["--grpc-workers", "0"])
    running.append(svc)
    r = requests.post(f"{svc.url}/predictions/linear", json=[1.0, 1.0], timeout=60)
    assert (r.status_code, json.loads(r.content)) == (200, [6.0])
    r = requests.post(f"{svc.url}/api/v1.0/predictions", json={"data": {"ndarray": [2.0, 0.0]}}, timeout=60)
    assert r.json()["jsonData"] == [5.0]
