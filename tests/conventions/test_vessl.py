"""VESSL runners: load_model props/artifacts, the pre → predict → post chain, identity defaults,
typed input validation, input modes and the manifest."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from seldon_py.conventions import ConventionError
from seldon_py.errors import BadRequest

from .helpers import adapted

# as VESSL's documentation writes a runner (numpy instead of torch)
DOC_RUNNER = """
import json
import numpy as np
import vessl

class MyRunner(vessl.RunnerBase):
    @staticmethod
    def load_model(props, artifacts):
        return {"w": np.array(json.loads(props["weights"])), "artifacts": artifacts}

    @staticmethod
    def preprocess_data(data):
        return np.array(json.loads(data.decode()))

    @staticmethod
    def predict(model, data):
        return data @ model["w"]

    @staticmethod
    def postprocess_data(data):
        return {"result": data.tolist()}
"""

ONLY_PREDICT = """
import vessl

class Echo(vessl.RunnerBase):
    @staticmethod
    def predict(model, data):
        return {"model": model, "data": data.decode()}
"""

TYPED = """
from pydantic import BaseModel
import vessl

class In(BaseModel):
    x: float
    y: float

class Out(BaseModel):
    sum: float

class Adder(vessl.RunnerBase[In, Out]):
    @staticmethod
    def predict(model, data: In) -> Out:
        return Out(sum=data.x + data.y)
"""


def loaded(tmp_path, source, attr, parameters=None):
    r = adapted(tmp_path, source, attr, parameters)
    assert r.convention.name == "vessl"
    r.user.load()
    return r.user


def test_the_documented_runner_chain(tmp_path):
    user = loaded(tmp_path, DOC_RUNNER, "MyRunner",
                  {"vessl_props": {"weights": "[[1], [2]]"}, "vessl_artifacts": '{"model.pt": "model.pt"}'})
    assert user.model["artifacts"] == {"model.pt": "model.pt"}
    assert user.predict(np.array([[1.0, 1.0], [2.0, 0.0]]), []) == {"result": [[3.0], [2.0]]}
    assert user.predict([[0.5, 0.5]], []) == {"result": [[1.5]]}  # jsonData reaches the runner as JSON bytes


def test_not_overridden_steps_are_identity_and_the_body_is_bytes(tmp_path):
    user = loaded(tmp_path, ONLY_PREDICT, "Echo")
    assert user.model is None and user.pre is None and user.post is None
    assert user.predict({"a": 1}, []) == {"model": None, "data": '{"a": 1}'}
    assert user.predict("text", []) == {"model": None, "data": "text"}
    assert user.predict(b"\x00raw"[1:], []) == {"model": None, "data": "raw"}
    assert user.predict(np.array([[1, 2]]), []) == {"model": None, "data": "[[1, 2]]"}


def test_value_mode_passes_decoded_values(tmp_path):
    src = ("import vessl\nclass R(vessl.RunnerBase):\n    @staticmethod\n    def predict(model, data):\n"
           "        return data * 2\n")
    user = loaded(tmp_path, src, "R", {"vessl_input": "value"})
    out = user.predict(np.array([[1.0, 2.0]]), [])
    assert isinstance(out, np.ndarray) and out.tolist() == [[2.0, 4.0]]
    with pytest.raises(ConventionError, match="vessl_input"):
        adapted(tmp_path, src, "R", {"vessl_input": "json"})


def test_typed_runner_validates_input(tmp_path):
    user = loaded(tmp_path, TYPED, "Adder")
    assert user.in_type.__name__ == "In"
    assert user.predict({"x": 1, "y": 2.5}, []) == {"sum": 3.5}
    with pytest.raises(BadRequest) as err:
        user.predict({"x": "one"}, [])
    assert err.value.status_code == 400
    assert "input does not match In" in str(err.value) and "x:" in str(err.value) and "y:" in str(err.value)


def test_props_and_artifacts_from_the_manifest(tmp_path):
    folder = tmp_path / "volume"
    folder.mkdir()
    (folder / "vessl.manifest.yaml").write_text(
        "version: 4\nmodel:\n  save_type: user-defined\n  save_path: null\n  save_output:\n    weights: '[[2]]'\n"
        "runner:\n  save_type: cloudpickle\n  save_path: vessl.runner.pkl\nuse_default: []\nrequirements: []\n"
        "artifacts:\n  model.pt: model.pt\n")
    user = loaded(tmp_path, DOC_RUNNER, "MyRunner", {"model_dir": str(folder)})
    assert user.props == {"weights": "[[2]]"} and user.artifacts == {"model.pt": "model.pt"}
    assert user.predict(np.array([[3.0]]), []) == {"result": [[6.0]]}
    # parameters win over the manifest
    user = loaded(tmp_path, DOC_RUNNER, "MyRunner", {"model_dir": str(folder), "vessl_props": {"weights": "[[5]]"}})
    assert user.predict(np.array([[1.0]]), []) == {"result": [[5.0]]}


def test_a_runner_without_load_model_gets_the_saved_model(tmp_path):
    folder = tmp_path / "volume2"
    folder.mkdir()
    (folder / "vessl.model.pkl").write_bytes(pickle.dumps({"scale": 4}))
    (folder / "vessl.manifest.yaml").write_text(
        "version: 4\nmodel: {save_type: pickle, save_path: vessl.model.pkl}\nuse_default: [load_model]\n")
    src = ("import json, vessl\nclass R(vessl.RunnerBase):\n    @staticmethod\n    def predict(model, data):\n"
           "        return [v * model['scale'] for v in json.loads(data)]\n")
    user = loaded(tmp_path, src, "R", {"model_dir": str(folder)})
    assert user.predict([1, 2], []) == [4, 8]


def test_a_vessl_folder_needs_the_runner_named(tmp_path):
    folder = tmp_path / "vfolder"
    folder.mkdir()
    (folder / "vessl.manifest.yaml").write_text("version: 4\nmodel: {save_output: {weights: '[[1]]'}}\n")
    (folder / "my_runner_mod.py").write_text(DOC_RUNNER.replace("MyRunner", "FolderRunner"))
    from seldon_py.conventions import resolve
    with pytest.raises(ConventionError, match="vessl_runner=module.Class"):
        resolve(str(folder), {}, "auto", str(tmp_path))
    r = resolve(str(folder), {"vessl_runner": "my_runner_mod.FolderRunner"}, "auto", str(tmp_path))
    r.user.load()
    assert r.convention.name == "vessl" and r.user.predict(np.array([[7.0]]), []) == {"result": [[7.0]]}


def test_bad_parameters_are_named(tmp_path):
    with pytest.raises(ConventionError, match="unknown parameter.*nope"):
        adapted(tmp_path, ONLY_PREDICT, "Echo", {"nope": 1})
    with pytest.raises(ConventionError, match="'vessl_props' is not valid JSON"):
        adapted(tmp_path, ONLY_PREDICT, "Echo", {"vessl_props": "{"})
