"""Detection, loading rules, parameters, the Seldon mapping and TorchServe's REST API (in-process)."""

from __future__ import annotations

import base64
import importlib
import json
import sys
from pathlib import Path

import pytest
from flask import Flask

from seldon_py.conventions.base import Target
from seldon_py.conventions.torchserve import TORCHSERVE, TorchServeModel
from seldon_py.errors import SeldonMicroserviceException
from tests.conventions.torchserve import handlers
from tests.conventions.torchserve.conftest import build_mar


def import_file(tmp_path: Path, name: str, source: str):
    TORCHSERVE.adapt  # noqa: B018 - the ts modules must be importable first:
    from seldon_py.conventions.torchserve.loader import install_ts_equivalents

    install_ts_equivalents()
    (tmp_path / f"{name}.py").write_text(source)
    sys.path.insert(0, str(tmp_path))
    try:
        sys.modules.pop(name, None)
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def test_detects_handlers_by_shape(tmp_path):
    cls_mod = import_file(tmp_path, "ts_docs_class", handlers.DOCS_CLASS)
    fn_mod = import_file(tmp_path, "ts_docs_module", handlers.DOCS_MODULE)
    assert TORCHSERVE.detect(Target("ts_docs_class", module=cls_mod))
    assert TORCHSERVE.detect(Target("ts_docs_class.ModelHandler", module=cls_mod, attr=cls_mod.ModelHandler))
    assert TORCHSERVE.detect(Target("ts_docs_module", module=fn_mod))
    assert TORCHSERVE.detect(Target("x", path=tmp_path / "ts_docs_class.py"))  # by source, not imported
    seldon = import_file(tmp_path, "seldon_model", "class Model:\n    def predict(self, X, names):\n        return X\n")
    assert not TORCHSERVE.detect(Target("seldon_model", module=seldon))
    assert not TORCHSERVE.detect(Target("seldon_model.Model", module=seldon, attr=seldon.Model))
    assert not TORCHSERVE.detect(Target("x", path=tmp_path / "seldon_model.py"))


def test_two_classes_and_no_handle_are_clear_errors(tmp_path):
    two = "class A:\n    def handle(self, d, c): pass\nclass B:\n    pass\n"
    (tmp_path / "two_classes.py").write_text(two)
    with pytest.raises(SeldonMicroserviceException, match="exactly one class.*2 classes: A, B"):
        TORCHSERVE.adapt(Target("two_classes", path=tmp_path / "two_classes.py"), {})


def test_unknown_and_bad_parameters(tmp_path):
    (tmp_path / "fn_handler.py").write_text(handlers.DOCS_MODULE)
    target = Target("fn_handler", path=tmp_path / "fn_handler.py")
    with pytest.raises(SeldonMicroserviceException, match="unknown TorchServe parameter.*batchsize"):
        TORCHSERVE.adapt(target, {"batchsize": 2})
    with pytest.raises(SeldonMicroserviceException, match="batch_size must be between 1 and 4096"):
        TORCHSERVE.adapt(target, {"batch_size": 0})
    with pytest.raises(SeldonMicroserviceException, match="max_batch_delay must be a number"):
        TORCHSERVE.adapt(target, {"max_batch_delay": "soon"})


def test_module_function_handler_called_with_none_at_load(tmp_path):
    (tmp_path / "fn_entry.py").write_text(handlers.DOCS_MODULE)
    model = TORCHSERVE.adapt(Target("fn_entry", path=tmp_path / "fn_entry.py"), {"model_name": "fm"})
    model.load()
    module = sys.modules["fn_entry"]
    assert module._initialized == [str(tmp_path)]
    assert model.predict_raw({"strData": "hi"}) == {"jsonData": {"marker": "ts-module", "echo": "hi"}}


@pytest.fixture(scope="module")
def docs_model(tmp_path_factory) -> TorchServeModel:
    mar = build_mar(tmp_path_factory.mktemp("mar"), "docs", handlers.DOCS_CLASS, version="2.0")
    target = Target(str(mar), path=mar)
    assert TORCHSERVE.detect(target)
    model = TORCHSERVE.adapt(target, {})
    model.load()
    return model


def test_mar_manifest_gives_name_version_and_model_dir(docs_model):
    assert docs_model.init_metadata() == {"name": "docs", "versions": ["2.0"], "platform": "torchserve"}
    assert (docs_model.options.model_dir / "MAR-INF" / "MANIFEST.json").is_file()


@pytest.mark.parametrize("msg, body", [
    ({"jsonData": {"a": [1, 2]}}, {"a": [1, 2]}),
    ({"strData": "text"}, "text"),
    ({"data": {"ndarray": [[1, 2], [3, 4]]}}, [[1, 2], [3, 4]]),
    ({"data": {"tensor": {"shape": [2], "values": [1.5, 2.5]}}}, [1.5, 2.5]),
])
def test_seldon_message_becomes_the_body(docs_model, msg, body):
    assert docs_model.predict_raw(msg)["jsonData"]["input"] == body


def test_bin_data_arrives_as_bytearray(docs_model):
    # the docs handler puts the bytearray into its dict, which TorchServe cannot serialize either
    with pytest.raises(SeldonMicroserviceException) as err:
        docs_model.predict_raw({"binData": base64.b64encode(b"\x00\x01").decode()})
    assert (err.value.status_code, err.value.message) == (503, "Unsupported model output data type.")


def test_bytes_and_text_answers_become_bin_and_str_data(tmp_path):
    (tmp_path / "raw_answers.py").write_text(
        "def handle(data, context):\n"
        "    if data is None:\n"
        "        return None\n"
        "    body = data[0]['body']\n"
        "    return [bytes(body[::-1])] if isinstance(body, bytearray) else [body.upper()]\n")
    model = TORCHSERVE.adapt(Target("raw_answers", path=tmp_path / "raw_answers.py"), {})
    model.load()
    out = model.predict_raw({"binData": base64.b64encode(b"\x00\x01").decode()})
    assert out == {"binData": base64.b64encode(b"\x01\x00").decode()}
    assert model.predict_raw({"strData": "abc"}) == {"strData": "ABC"}


def test_seldon_message_over_grpc(docs_model):
    from seldon_py.proto import prediction_pb2 as pb

    out = docs_model.predict_raw(pb.SeldonMessage(strData="via grpc"))
    assert out["jsonData"]["input"] == "via grpc"


@pytest.fixture(scope="module")
def client(docs_model):
    app = Flask("t")
    app.register_blueprint(docs_model.rest_blueprint())
    return app.test_client()


def test_rest_predictions_byte_for_byte(client):
    r = client.post("/predictions/docs", data=b'{"x": [1, 2]}', content_type="application/json")
    assert r.status_code == 200
    assert "Content-Type" not in r.headers
    assert r.data == json.dumps({"marker": "ts-class", "model": "docs", "input": {"x": [1, 2]}}, indent=2).encode()
    assert r.headers["Cache-Control"] == "no-cache; no-store, must-revalidate, private"
    assert len(r.headers["x-request-id"]) == 36
    assert client.post("/predictions/docs/2.0", data=b"t", content_type="text/plain").status_code == 200


def test_rest_errors_and_ping(client):
    r = client.post("/predictions/other", data=b"1")
    assert (r.status_code, r.content_type) == (404, "application/json")
    assert r.data == (b'{\n  "code": 404,\n  "type": "ModelNotFoundException",\n'
                      b'  "message": "Model not found: other"\n}\n')
    r = client.post("/predictions/docs/9.9", data=b"1")
    assert r.status_code == 404
    assert json.loads(r.data)["message"] == "Model version: 9.9 does not exist for model: docs"
    r = client.get("/ping")
    assert (r.status_code, r.content_type, r.data) == (200, "application/json", b'{\n  "status": "Healthy"\n}\n')


def test_multipart_fields_by_name(client):
    import io

    r = client.post("/predictions/docs", data={"data": (io.BytesIO(b'{"k": 1}'), "x.json", "application/json")},
                    content_type="multipart/form-data")
    assert json.loads(r.data)["input"] == {"k": 1}


def test_not_ready_until_initialized(tmp_path):
    (tmp_path / "slow_init.py").write_text(handlers.DOCS_MODULE)
    model = TORCHSERVE.adapt(Target("slow_init", path=tmp_path / "slow_init.py"), {"model_name": "slow"})
    app = Flask("t")
    app.register_blueprint(model.rest_blueprint())
    client = app.test_client()
    r = client.get("/ping")
    assert (r.status_code, r.data) == (500, b'{\n  "status": "Unhealthy"\n}\n')
    r = client.post("/predictions/slow", data=b"1")
    assert r.status_code == 503 and json.loads(r.data)["type"] == "ServiceUnavailableException"
    with pytest.raises(SeldonMicroserviceException) as err:
        model.predict_raw({"strData": "x"})
    assert err.value.status_code == 503
    model.load()
    assert client.get("/ping").status_code == 200
    assert json.loads(client.post("/predictions/slow", data=b'"x"').data) == {"marker": "ts-module", "echo": "x"}


PLAIN_CLASS = '''
import json


class Handler:
    """A handler class that is not a BaseHandler: initialize + handle, the only class here."""

    def initialize(self, context):
        self.properties = context.system_properties

    def handle(self, data, context):
        return [{"n": len(data), "dir": self.properties["model_dir"], "id": context.get_request_id(i)}
                for i in range(len(data))]
'''


def test_plain_handler_class(tmp_path):
    (tmp_path / "plain_class.py").write_text(PLAIN_CLASS)
    target = Target("plain_class", path=tmp_path / "plain_class.py")
    assert TORCHSERVE.detect(target)
    model = TORCHSERVE.adapt(target, {"model_dir": str(tmp_path)})
    model.load()
    out = model.predict_raw({"jsonData": 1})["jsonData"]
    assert (out["n"], out["dir"], len(out["id"])) == (1, str(tmp_path), 36)
