"""Starwhale predict functions and PipelineHandler classes: argument dispatch, rows, batch_size."""

from __future__ import annotations

import numpy as np
import pytest

from seldon_py.conventions import ConventionError
from seldon_py.conventions.starwhale import Features, argument_dispatch
from seldon_py.errors import InternalError

from .helpers import adapted

# as Starwhale's documentation writes predict functions
DOC_FUNCTIONS = """
from starwhale import evaluation

@evaluation.predict
def predict_text(data):
    return {"upper": data.text.upper(), "n": len(data["text"])}

@evaluation.predict(batch_size=2, log_mode="plain")
def predict_batch(data, external):
    return [{"sum": row.x + row.y, "index": i} for row, i in zip(data, external["index"])]

@evaluation.evaluate(needs=[predict_text])
def evaluate_results(predict_result_iter):
    return None
"""

DOC_PIPELINE = """
from starwhale import PipelineHandler

class Example(PipelineHandler):
    def __init__(self):
        super().__init__(predict_batch_size=1)
        self.scale = 10

    def ppl(self, data, **kw):
        return {"scaled": data.x * self.scale, "has_external": "external" in kw}

    def cmp(self, ppl_result):
        pass
"""


def loaded(tmp_path, source, attr, parameters=None):
    r = adapted(tmp_path, source, attr, parameters)
    assert r.convention.name == "starwhale"
    r.user.load()
    return r.user


def test_a_single_row_with_attribute_access(tmp_path):
    user = loaded(tmp_path, DOC_FUNCTIONS, "predict_text")
    assert user.batch_size == 1
    assert user.predict({"text": "hi"}, []) == {"upper": "HI", "n": 2}
    with pytest.raises(AttributeError, match="Not found attribute: text"):
        user.predict("free text", [])  # strData goes under the feature "data" by default
    user2 = loaded(tmp_path, DOC_FUNCTIONS, "predict_text", {"sw_feature": "text"})
    assert user2.predict("abc", []) == {"upper": "ABC", "n": 3}
    assert user2.predict(["ab", "c"], []) == {"predictions": [{"upper": "AB", "n": 2}, {"upper": "C", "n": 1}]}


def test_rows_are_fed_batch_size_at_a_time(tmp_path):
    user = loaded(tmp_path, DOC_FUNCTIONS, "predict_batch")
    assert user.batch_size == 2
    calls = []
    inner = user.call

    def spy(data, external):
        calls.append((len(data), external["index"], external["index_with_dataset"]))
        return inner(data, external)

    user.call = spy
    out = user.predict(np.array([[1, 2], [3, 4], [5, 6]]), ["x", "y"], {"puid": "p1"})
    assert out == [{"sum": 3, "index": 0}, {"sum": 7, "index": 1}, {"sum": 11, "index": 2}]
    assert calls == [(2, [0, 1], ["p1_#@#_0", "p1_#@#_1"]), (1, [2], ["p1_#@#_2"])]
    user3 = loaded(tmp_path, DOC_FUNCTIONS, "predict_batch", {"sw_batch_size": 3})
    assert user3.batch_size == 3


def test_a_batch_function_must_answer_every_row(tmp_path):
    src = DOC_FUNCTIONS.replace(
        'return [{"sum": row.x + row.y, "index": i} for row, i in zip(data, external["index"])]', "return 1")
    user = loaded(tmp_path, src, "predict_batch")
    with pytest.raises(InternalError, match="must return one result per row"):
        user.predict(np.array([[1, 2], [3, 4]]), ["x", "y"])


def test_the_module_alone_needs_a_single_entry(tmp_path):
    with pytest.raises(ConventionError, match="several Starwhale entries.*predict_batch, predict_text"):
        adapted(tmp_path, DOC_FUNCTIONS, None)
    r = adapted(tmp_path, DOC_FUNCTIONS, None, {"sw_entry": "predict_text"})
    assert r.user.entry.__name__ == "predict_text"
    with pytest.raises(ConventionError, match="sw_entry 'nope'"):
        adapted(tmp_path, DOC_FUNCTIONS, None, {"sw_entry": "nope"})


def test_a_pipeline_handler_class(tmp_path):
    user = loaded(tmp_path, DOC_PIPELINE, "Example")
    assert user.batch_size == 1
    assert user.predict({"x": 2}, []) == {"scaled": 20, "has_external": True}
    assert user.predict(np.array([[1.0], [3.0]]), ["x"]) == [{"scaled": 10.0, "has_external": True},
                                                            {"scaled": 30.0, "has_external": True}]


def test_rows_without_names_go_under_the_feature(tmp_path):
    src = "from starwhale import evaluation\n@evaluation.predict\ndef f(data):\n    return sum(data.data)\n"
    user = loaded(tmp_path, src, "f")
    assert user.predict(np.array([[1, 2], [3, 4]]), []) == [3, 7]


@pytest.mark.parametrize("signature,expected", [
    ("def f(data): return ('data', data)", ("data", 1)),
    ("def f(data, /): return ('data', data)", ("data", 1)),
    ("def f(*args): return args", (1, "EXT")),
    ("def f(**kw): return kw", {"data": 1, "external": "EXT"}),
    ("def f(data, external=None): return (data, external)", (1, "EXT")),
    ("def f(data, **kw): return (data, kw)", (1, {"external": "EXT"})),
    ("def f(data, argument=None): return (data, argument)", (1, None)),
    ("def f(*args, **kw): return (args, kw)", ((1,), {"external": "EXT"})),
    ("def f(data, external=None, argument=None): return (data, external)", (1, "EXT")),
])
def test_argument_dispatch_follows_starwhale(signature, expected):
    ns: dict = {}
    exec(signature, ns)  # noqa: S102 - test signatures
    assert argument_dispatch(ns["f"])(1, "EXT") == expected


def test_argument_dispatch_rejects_no_arguments():
    with pytest.raises(ConventionError, match="at least one argument"):
        argument_dispatch(lambda: None)


def test_features_allow_attribute_access():
    f = Features({"a": 1})
    assert f.a == 1 and f["a"] == 1
    f.b = 2
    assert f["b"] == 2
    with pytest.raises(AttributeError, match="Not found attribute: c"):
        _ = f.c


def test_an_older_pipeline_file_with_multi_classification_imports(tmp_path):
    src = ("from starwhale import PipelineHandler, multi_classification\n\n"
           "class Old(PipelineHandler):\n"
           "    def ppl(self, data, **kw):\n"
           "        return data.x + 1\n\n"
           "    @multi_classification(confusion_matrix_normalize='all', show_hamming_loss=True)\n"
           "    def cmp(self, ppl_result):\n"
           "        return None\n")
    user = loaded(tmp_path, src, "Old")
    assert user.predict({"x": 1}, []) == [2]


def test_a_function_decorated_for_the_batch_processor_is_served_with_its_batch_size(tmp_path):
    src = ("from seldon_py.batch.starwhale_compat import evaluation\n\n"
           "@evaluation.predict(batch_size=3)\n"
           "def f(data):\n"
           "    return [len(data)] * len(data)\n")
    user = loaded(tmp_path, src, "f")
    assert user.batch_size == 3
    assert user.predict(np.array([[1], [2], [3], [4]]), ["x"]) == [3, 3, 3, 1]
