"""Starwhale's calling conventions and options, with our decorators and with the real package."""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import pytest

from seldon_py.batch.evaluation import run_evaluate
from seldon_py.batch.starwhale_compat import (
    AttrDict,
    PredictOptions,
    evaluate_options,
    evaluation,
    find_evaluate,
    predict_caller,
    predict_options,
)

EXT = {"index": 3}


def test_argument_dispatch_follows_starwhale():
    def one(data):
        return ("one", data)

    def star(data, *args):
        return ("star", data, args)

    def named(data, external):
        return ("named", data, external)

    def kw(data, **kw):
        return ("kw", data, kw)

    assert predict_caller(one)("d", EXT) == ("one", "d")
    assert predict_caller(star)("d", EXT) == ("star", "d", (EXT,))
    assert predict_caller(named)("d", EXT) == ("named", "d", EXT)
    assert predict_caller(kw)("d", EXT) == ("kw", "d", {"external": EXT})


def test_attr_dict():
    d = AttrDict({"x": 1})
    assert d.x == d["x"] == 1
    with pytest.raises(AttributeError):
        _ = d.y


def test_our_decorators_carry_starwhales_options():
    @evaluation.predict
    def bare(data):
        return data

    @evaluation.predict(batch_size=4, replicas=3, fail_on_error=False, log_dataset_features=["a"])
    def configured(data):
        return data

    @evaluation.evaluate(needs=[configured], use_predict_auto_log=False)
    def ev():
        return {"constant": 1}

    assert predict_options(bare) == PredictOptions()
    assert predict_options(configured) == PredictOptions(batch_size=4, replicas=3, fail_on_error=False,
                                                         log_dataset_features=["a"])
    assert evaluate_options(ev).use_predict_auto_log is False
    assert predict_options(lambda d: d) == PredictOptions()  # a plain function: Starwhale's defaults
    with pytest.raises(ValueError, match="needs is required"):
        evaluation.evaluate()
    with pytest.raises(TypeError, match="unexpected options"):
        evaluation.predict(batch=2)


def test_evaluate_without_auto_log_is_called_with_no_arguments(tmp_path):
    @evaluation.evaluate(needs=[print], use_predict_auto_log=False)
    def ev():
        return {"constant": 1}

    (tmp_path / "results.jsonl").write_text('{"_index": 0, "output": 1}\n')
    assert run_evaluate(ev, str(tmp_path / "results.jsonl"), str(tmp_path)) == {"constant": 1}
    assert json.loads((tmp_path / "summary.json").read_text()) == {"constant": 1}


def test_find_evaluate_picks_the_function_that_needs_predict():
    mod = types.ModuleType("sw_find_mod")
    exec(  # noqa: S102 - a module built on the fly, as a user's file would be
        "from seldon_py.batch.starwhale_compat import evaluation\n"
        "@evaluation.predict\n"
        "def p(d):\n    return d\n"
        "def other(d):\n    return d\n"
        "@evaluation.evaluate(needs=[other])\n"
        "def e_other(r):\n    return 0\n"
        "@evaluation.evaluate(needs=[p])\n"
        "def e(r):\n    return 1\n", mod.__dict__)
    sys.modules["sw_find_mod"] = mod
    try:
        for f in (mod.p, mod.other, mod.e, mod.e_other):
            f.__module__ = "sw_find_mod"
        assert find_evaluate(mod.p) is mod.e
        assert find_evaluate(mod.other) is mod.e_other
    finally:
        del sys.modules["sw_find_mod"]


@pytest.mark.skipif(importlib.util.find_spec("starwhale") is None or importlib.util.find_spec("pkg_resources") is None,
                    reason="starwhale not installed")
def test_options_are_read_from_the_real_starwhale_registry():
    # Starwhale registers module-level functions only: build a module as a user's file would be
    mod = types.ModuleType("sw_real_mod")
    exec(  # noqa: S102
        "from starwhale import evaluation as sw\n"
        "@sw.predict(batch_size=5, replicas=2, fail_on_error=False, log_dataset_features=['f'])\n"
        "def sw_predict(data, external):\n    return data\n"
        "@sw.evaluate(needs=[sw_predict], use_predict_auto_log=False)\n"
        "def sw_evaluate():\n    return None\n", mod.__dict__)
    sys.modules["sw_real_mod"] = mod
    try:
        opts = predict_options(mod.sw_predict)
        assert (opts.batch_size, opts.replicas, opts.fail_on_error, opts.log_dataset_features) == (5, 2, False, ["f"])
        assert evaluate_options(mod.sw_evaluate).use_predict_auto_log is False
        assert find_evaluate(mod.sw_predict) is mod.sw_evaluate
        assert predict_caller(mod.sw_predict)("d", EXT) == "d"
    finally:
        del sys.modules["sw_real_mod"]
