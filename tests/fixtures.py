"""Toy user classes shared by the tests (plain classes, as users write them)."""

from __future__ import annotations

import numpy as np

from seldon_py import SeldonComponent, SeldonMicroserviceException, SeldonResponse


class Identity:
    def predict(self, X, names, meta=None):
        return X


class Golden55:
    """The model of spec §5.5's full example."""

    def predict(self, X, names, meta=None):
        return SeldonResponse(
            np.array([[1.5, 2.5]]),
            tags={"runtime": "tag", "shared": "runtime"},
            metrics=[
                {"type": "COUNTER", "key": "rt_counter", "value": 2, "tags": {"lbl": "a"}},
                {"type": "GAUGE", "key": "rt_gauge", "value": 42},
                {"type": "TIMER", "key": "rt_timer", "value": 20.5},
            ],
        )

    def tags(self):
        return {"static": "tag", "shared": "static"}

    def metrics(self):
        return [{"type": "COUNTER", "key": "static_counter", "value": 1}]

    def class_names(self):
        return ["a", "b"]


class Doubler(SeldonComponent):
    """A transformer: no predict."""

    def transform_input(self, X, names, meta=None):
        return X * 2

    def transform_output(self, X, names):
        return X + 1


class Router:
    def __init__(self, branch: int = 1):
        self.branch = branch
        self.feedback = []

    def route(self, X, names):
        return self.branch

    def send_feedback(self, features, names, reward, truth, routing=None):
        self.feedback.append((reward, routing))
        return None


class NumpyRouter:
    def route(self, X, names):
        return np.int64(1)


class Mean:
    def aggregate(self, Xs, names):
        return np.mean(np.array(Xs), axis=0)


class Raises:
    def __init__(self):
        self.calls = 0

    def predict(self, X, names, meta=None):
        self.calls += 1
        raise TypeError(f"boom {self.calls}")


class SeldonRaises:
    def predict(self, X, names):
        raise SeldonMicroserviceException("custom failure", status_code=422, reason="MY_REASON")


class OnlyX:
    def predict(self, X):
        return X.sum(axis=1, keepdims=True)


class KwMeta:
    def predict(self, X, names, **kwargs):
        return {"got_meta": kwargs.get("meta")}


class Raw:
    def predict_raw(self, msg):
        return {"jsonData": {"echo": msg}, "meta": {"metrics": [{"key": "raw_c", "type": "COUNTER", "value": 1}]}}


class RawStatus:
    def predict_raw(self, msg):
        return {"status": {"code": 402, "info": "pay", "status": 1}}


class BadMetric:
    def predict(self, X, names):
        return X

    def metrics(self):
        return [{"type": "COUNTER", "key": "c", "value": 1, "tags": {"n": 1}}]


class Health:
    def health_status(self):
        return {"status": "ok"}


class Types:
    def predict(self, X, names, meta=None):
        kind = (meta or {}).get("tags", {}).get("want")
        return {
            "f32": np.array([[0.1, 0.2]], dtype=np.float32),
            "bool": np.array([[True, False]]),
            "zero_d": np.array(3.5),
            "three_d": np.arange(8).reshape(2, 2, 2),
            "none": None,
            "tuple": (1, 2),
            "str_list": ["a", "b"],
            "nan": np.array([[np.nan, np.inf]]),
            "unicode": "h\u00e9llo \u2713",
        }[kind]
