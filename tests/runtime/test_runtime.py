"""ModelRuntime: the protocol-neutral lifecycle and metrics of one serving process."""

from __future__ import annotations

import os

import pytest

from seldon_py.errors import BadMetric, BadRequest, NotReady, SeldonNotImplementedError
from seldon_py.model.reflection import reflect
from seldon_py.runtime.runtime import WORKER_BOOT_ERROR, ModelRuntime, start_loading


class Recorder:
    def __init__(self) -> None:
        self.recorded: list[tuple[list, str]] = []
        self.rewards: list[float] = []

    def record(self, metrics, method):
        self.recorded.append((metrics, method))

    def feedback(self, reward):
        self.rewards.append(reward)


class Model:
    def __init__(self) -> None:
        self.loads = 0

    def load(self):
        self.loads += 1

    def predict(self, X, names):
        return X

    def metrics(self):
        return [{"key": "always", "type": "GAUGE", "value": 1}]

    def tags(self):
        return {"t": "v"}


def test_load_then_ready():
    model = Model()
    rt = ModelRuntime(reflect(model))
    with pytest.raises(NotReady):
        rt.check_ready()
    rt.load()
    rt.check_ready()
    assert model.loads == 1 and rt.ready.is_set()


def test_preloaded_runtime_does_not_load_again():
    model = Model()
    rt = ModelRuntime(reflect(model), preloaded=True)
    rt.load()
    assert model.loads == 0 and rt.ready.is_set()


def test_a_load_that_is_not_implemented_counts_as_loaded():
    class Lazy:
        def load(self):
            raise SeldonNotImplementedError("nothing to load")

    rt = ModelRuntime(reflect(Lazy()))
    rt.load()
    assert rt.ready.is_set()


def test_collect_metrics_records_once_with_method_tags():
    rec = Recorder()
    rt = ModelRuntime(reflect(Model()), recorder=rec)
    returned = [{"key": "c", "type": "COUNTER", "value": 2, "tags": {"a": "b"}}]
    out = rt.collect_metrics(returned, "predict")
    assert [m["key"] for m in out] == ["always", "c"]
    assert out[1]["tags"] == {"a": "b", "method": "predict"} and returned[0]["tags"] == {"a": "b"}
    assert rec.recorded == [(out, "predict")]
    # a batched call's returned metrics are echoed but recorded by another request's response
    rec.recorded.clear()
    out = rt.collect_metrics(returned, "predict", record_returned=False)
    assert [m["key"] for m in out] == ["always", "c"]
    assert [[m["key"] for m in ms] for ms, _ in rec.recorded] == [["always"]]


def test_invalid_metrics_are_refused_before_anything_is_recorded():
    rec = Recorder()
    rt = ModelRuntime(reflect(Model()), recorder=rec)
    with pytest.raises(BadMetric):
        rt.collect_metrics([{"key": "bad key", "type": "COUNTER", "value": 1}], "predict")
    assert rec.recorded == []


def test_user_tags_must_be_a_dict():
    class BadTags:
        def tags(self):
            return ["no"]

    assert ModelRuntime(reflect(Model())).user_tags() == {"t": "v"}
    with pytest.raises(BadRequest, match="tags\\(\\) must return a dict"):
        ModelRuntime(reflect(BadTags())).user_tags()


def test_a_failing_load_ends_the_serving_process_with_the_boot_error_code():
    class Broken:
        def load(self):
            raise RuntimeError("no weights")

    pid = os.fork()
    if pid == 0:  # the child: start_loading must end it
        try:
            start_loading(ModelRuntime(reflect(Broken())), "test").join(60)
        finally:
            os._exit(0)  # only reached if start_loading did not end the process
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == WORKER_BOOT_ERROR
