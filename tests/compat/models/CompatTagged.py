"""The behaviour-spec §5.5 model: tags(), metrics(), class_names() and SeldonResponse runtime
tags/metrics. Served with PREDICTIVE_UNIT_ID=mymodel and PREDICTIVE_UNIT_IMAGE=repo/img:0.3.

Every metric dict is built fresh on each call: the reference mutates dicts that carry ``tags``
(it injects a ``method`` tag), so shared constants would make responses order-dependent.
"""

import numpy as np

try:
    from seldon_core.user_model import SeldonResponse
except ImportError:
    from seldon_py import SeldonResponse


class CompatTagged:
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

    def transform_input(self, X, names, meta=None):
        return X

    def route(self, X, names):
        return SeldonResponse(0, tags={"routed": "yes"},
                              metrics=[{"type": "GAUGE", "key": "route_gauge", "value": 7}])

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        return None

    def tags(self):
        return {"static": "tag", "shared": "static"}

    def metrics(self):
        return [{"type": "COUNTER", "key": "static_counter", "value": 1}]

    def class_names(self):
        return ["a", "b"]
