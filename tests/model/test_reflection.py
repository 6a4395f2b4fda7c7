import numpy as np

from seldon_py import SeldonComponent
from seldon_py.model.reflection import reflect
from tests import fixtures as fx


def test_base_class_defaults_count_as_absent():
    d = reflect(fx.Doubler())
    assert set(d.data) == {"transform_input", "transform_output"}
    assert d.aggregate is None and d.send_feedback is None and d.tags is None and not d.raw


def test_callers_match_signatures_once():
    class M:
        def predict(self, X, names, meta=None):
            return ("3", meta)

        def route(self, X, names):
            return 1

        def transform_input(self, X):
            return "1"

        def transform_output(self, *args):
            return len(args)

    d = reflect(M())
    assert d.data["predict"](1, [], {"a": 1}) == ("3", {"a": 1})
    assert d.data["route"](1, [], {}) == 1
    assert d.data["transform_input"](1, [], {}) == "1"
    assert d.data["transform_output"](1, [], {}) == 3


def test_class_names_attribute_and_raw_and_legacy():
    class M(SeldonComponent):
        class_names = ["x", "y"]

        def predict_raw(self, msg):
            return msg

        def predict_rest(self, msg):
            return msg

    d = reflect(M())
    assert d.class_names() == ["x", "y"]
    assert "predict" in d.raw and ("predict", "rest") in d.legacy


def test_feedback_and_aggregate_callers():
    class M:
        def send_feedback(self, features, names, reward, truth):
            return reward

        def aggregate(self, Xs, names, meta=None):
            return meta

    d = reflect(M())
    assert d.send_feedback(np.array([]), [], 0.5, None, 1) == 0.5
    assert d.aggregate([1], [[]], [{"p": 1}]) == [{"p": 1}]


def test_whole_message_hooks_are_resolved_per_transport_at_load_time():
    from seldon_py.model.reflection import reflect

    class Legacy:
        def predict_raw(self, msg):
            return msg

        def predict_grpc(self, msg):
            return msg

        def route_rest(self, msg):
            return msg

    d = reflect(Legacy())
    rest, grpc = d.raw_table("rest"), d.raw_table("grpc")
    assert set(rest) == {"predict", "route"} and set(grpc) == {"predict"}
    assert not rest["predict"].legacy and rest["route"].legacy
    assert grpc["predict"].legacy  # the transport's deprecated hook takes precedence over *_raw
    assert d.raw_table("other") == {}
