"""A Rafiki / SINGA-auto model template, written as Rafiki's developer guide writes them."""

import numpy as np
from rafiki.model import BaseModel, FixedKnob, FloatKnob, utils


class LinearModel(BaseModel):
    @staticmethod
    def get_knob_config():
        return {
            "max_iter": FixedKnob(20),
            "alpha": FloatKnob(1e-4, 1e-1, is_exp=True),
        }

    def __init__(self, **knobs):
        self._knobs = knobs
        self._w = None
        self._b = 0.0

    def train(self, dataset_path, shared_params=None, **train_args):
        utils.logger.log("this example is served, not trained")

    def evaluate(self, dataset_path):
        return 0.0

    def predict(self, queries):
        scores = np.array(queries, dtype=float) @ self._w + self._b
        return [{"label": int(s > 0), "score": round(float(s), 3)} for s in scores]

    def dump_parameters(self):
        return {"w": self._w, "b": self._b}

    def load_parameters(self, params):
        self._w = params["w"]
        self._b = params["b"]

    def destroy(self):
        utils.logger.log("destroyed")
