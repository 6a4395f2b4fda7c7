"""Rafiki / SINGA-auto templates: knob validation, the param-store file, queries and answers, destroy."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from seldon_py.conventions import ConventionError
from seldon_py.conventions._rafiki_api import (
    ArchKnob,
    CategoricalKnob,
    FixedKnob,
    FloatKnob,
    IntegerKnob,
    KnobValue,
    PolicyKnob,
)
from seldon_py.conventions.rafiki import read_params, validate_knobs
from seldon_py.errors import BadRequest, InternalError

from .helpers import adapted

# as Rafiki's model developer guide writes a template (scikit-learn replaced by numpy)
DOC_MODEL = """
import numpy as np
from rafiki.model import BaseModel, FixedKnob, FloatKnob, IntegerKnob, CategoricalKnob, PolicyKnob, utils

class LinearClf(BaseModel):
    '''A toy linear classifier'''

    @staticmethod
    def get_knob_config():
        return {
            'max_iter': FixedKnob(20),
            'alpha': FloatKnob(1e-4, 1e-1, is_exp=True),
            'depth': IntegerKnob(1, 8),
            'kind': CategoricalKnob(['linear', 'affine']),
            'early_stop': PolicyKnob('EARLY_STOP'),
        }

    def __init__(self, **knobs):
        self.__dict__.update(knobs)
        self._w = None
        self.destroyed_to = None

    def train(self, dataset_path, shared_params=None, **train_args):
        utils.logger.log('training')

    def evaluate(self, dataset_path):
        return 1.0

    def predict(self, queries):
        X = np.array(queries, dtype=float)
        scores = X @ self._w + self._b
        return [{'label': int(s > 0), 'score': float(s), 'depth': self.depth} for s in scores]

    def dump_parameters(self):
        return {'w': self._w, 'b': self._b}

    def load_parameters(self, params):
        self._w = params['w']
        self._b = params['b']
        self.marker = params.get('marker')

    def destroy(self):
        import os
        path = os.environ.get('RAFIKI_DESTROY_MARK')
        if path:
            with open(path, 'a') as fh:
                fh.write('destroyed\\n')
"""

KNOBS = {"alpha": 0.01, "depth": 3, "kind": "linear"}


def write_params(path, params):
    simple = {}
    for k, v in params.items():
        simple[f"NP//{k}" if isinstance(v, np.ndarray) else k] = v.tolist() if isinstance(v, np.ndarray) else v
    path.write_bytes(msgpack.packb(simple, use_bin_type=True))


def loaded(tmp_path, parameters):
    r = adapted(tmp_path, DOC_MODEL, "LinearClf", parameters)
    assert r.convention.name == "rafiki"
    r.user.load()
    return r.user


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "params.msgpack"
    write_params(path, {"w": np.array([1.0, -1.0]), "b": 0.5, "marker": "m"})
    return path


def test_knobs_params_and_queries_from_rows(tmp_path, params_file):
    user = loaded(tmp_path, {"knobs": KNOBS, "params_path": str(params_file)})
    inst = user.instance
    assert (inst.max_iter, inst.alpha, inst.depth, inst.kind, inst.early_stop) == (20, 0.01, 3, "linear", False)
    assert isinstance(inst._w, np.ndarray) and inst._w.tolist() == [1.0, -1.0] and inst.marker == "m"
    out = user.predict(np.array([[2.0, 0.0], [0.0, 2.0]]), [])
    assert out == [{"label": 1, "score": 2.5, "depth": 3}, {"label": 0, "score": -1.5, "depth": 3}]


def test_json_queries_in_rafikis_shapes(tmp_path, params_file):
    user = loaded(tmp_path, {"knobs": KNOBS, "params_path": params_file.name, "model_dir": str(tmp_path)})
    assert user.predict([[1, 0]], []) == {"predictions": [{"label": 1, "score": 1.5, "depth": 3}]}
    assert user.predict({"queries": [[0, 1], [1, 0]]}, [])["predictions"][1]["score"] == 1.5
    assert user.predict({"query": [0, 0]}, []) == {"prediction": {"label": 1, "score": 0.5, "depth": 3},
                                                    "predictions": []}
    with pytest.raises(BadRequest, match="jsonData must be a list"):
        user.predict({"q": 1}, [])


def test_knobs_as_separate_parameters(tmp_path, params_file):
    user = loaded(tmp_path, {"alpha": 0.1, "depth": 8, "kind": "affine", "early_stop": True,
                             "params_path": str(params_file)})
    assert (user.instance.depth, user.instance.kind, user.instance.early_stop) == (8, "affine", True)
    with pytest.raises(ConventionError, match="unknown parameter 'colour'"):
        adapted(tmp_path, DOC_MODEL, "LinearClf", {**KNOBS, "colour": 1})
    with pytest.raises(ConventionError, match="knob 'depth' is given twice"):
        adapted(tmp_path, DOC_MODEL, "LinearClf", {"knobs": KNOBS, "depth": 2})


@pytest.mark.parametrize("knobs,message", [
    ({"alpha": 0.01, "kind": "linear"}, "knob 'depth' (IntegerKnob) needs a value"),
    ({**KNOBS, "depth": 9}, "knob 'depth' must be between 1 and 8, got 9"),
    ({**KNOBS, "depth": 2.5}, "knob 'depth' must be an integer"),
    ({**KNOBS, "depth": True}, "knob 'depth' must be an integer"),
    ({**KNOBS, "alpha": 0.5}, "knob 'alpha' must be between 0.0001 and 0.1"),
    ({**KNOBS, "alpha": "x"}, "knob 'alpha' must be a number"),
    ({**KNOBS, "kind": "cubic"}, "knob 'kind' must be one of ['linear', 'affine']"),
    ({**KNOBS, "max_iter": 30}, "knob 'max_iter' is fixed at 20"),
    ({**KNOBS, "early_stop": "yes"}, "knob 'early_stop' (policy EARLY_STOP) must be true or false"),
    ({**KNOBS, "lr": 1}, "unknown knob(s) lr"),
])
def test_knob_errors_name_the_knob(tmp_path, knobs, message):
    with pytest.raises(ConventionError) as err:
        adapted(tmp_path, DOC_MODEL, "LinearClf", {"knobs": knobs})
    assert message in str(err.value)


def test_arch_and_knob_values():
    config = {"arch": ArchKnob([[KnobValue(0)], ["conv", "pool"]]), "c": CategoricalKnob([KnobValue(1), 2]),
              "f": FixedKnob(KnobValue("x")), "i": IntegerKnob(0, 2), "r": FloatKnob(0, 1)}
    assert validate_knobs(config, {"arch": [0, "pool"], "c": 1, "i": 0, "r": 1}) == {
        "arch": [0, "pool"], "c": 1, "f": "x", "i": 0, "r": 1.0}
    with pytest.raises(ConventionError, match="'arch' position 1 must be one of"):
        validate_knobs(config, {"arch": [0, "dense"], "c": 1, "i": 0, "r": 0})
    with pytest.raises(ConventionError, match="'arch' must be a list of 2 values"):
        validate_knobs(config, {"arch": [0], "c": 1, "i": 0, "r": 0})
    assert validate_knobs({"p": PolicyKnob("SKIP_TRAIN")}, {}) == {"p": False}


def test_params_files_are_msgpack_only(tmp_path):
    bad = tmp_path / "pickled.bin"
    import pickle
    bad.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(ConventionError, match="is not a Rafiki parameters file"):
        read_params(bad)
    lst = tmp_path / "list.bin"
    lst.write_bytes(msgpack.packb([1, 2]))
    with pytest.raises(ConventionError, match="not a map of names to values"):
        read_params(lst)
    with pytest.raises(ConventionError, match="cannot read the parameters file"):
        read_params(tmp_path / "absent.bin")


def test_wrong_prediction_counts_are_errors(tmp_path, params_file):
    user = loaded(tmp_path, {"knobs": KNOBS, "params_path": str(params_file)})
    user.instance.predict = lambda queries: [1]
    with pytest.raises(InternalError, match="returned 1 predictions for 2 queries"):
        user.predict(np.array([[1.0, 1.0], [2.0, 2.0]]), [])


def test_unload_destroys_then_tears_down(tmp_path, params_file, monkeypatch):
    mark = tmp_path / "destroy.txt"
    monkeypatch.setenv("RAFIKI_DESTROY_MARK", str(mark))
    user = loaded(tmp_path, {"knobs": KNOBS, "params_path": str(params_file)})
    user.unload()
    assert mark.read_text() == "destroyed\n" and user.instance is None
    user.unload()  # once only
    assert mark.read_text() == "destroyed\n"


def test_a_singa_auto_import_is_served_too(tmp_path, params_file):
    src = DOC_MODEL.replace("from rafiki.model import", "from singa_auto.model import")
    r = adapted(tmp_path, src, "LinearClf", {"knobs": KNOBS, "params_path": str(params_file)})
    assert r.convention.name == "rafiki"


def test_the_stand_in_imports_what_template_files_import(tmp_path):
    src = ("import numpy as np\n"
           "from rafiki.model import BaseModel, FixedKnob, FloatKnob, IntegerKnob, CategoricalKnob, PolicyKnob, utils\n"
           "from rafiki.model.dev import test_model_class\n"
           "from rafiki.constants import ModelDependency\n" + DOC_MODEL.split("\n", 3)[3])
    r = adapted(tmp_path, src, "LinearClf", {"knobs": KNOBS})
    assert r.convention.name == "rafiki"
    import rafiki.model
    if getattr(rafiki.model, "__file__", "").find("seldon_py") >= 0:  # the stand-in, not a real package
        with pytest.raises(RuntimeError, match="needs the real rafiki"):
            rafiki.model.utils.dataset.load_dataset_of_image_files("x")
