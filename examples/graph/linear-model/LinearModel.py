"""A stand-in model: ``weight * X + bias`` element-wise. One image, three graph nodes, each with
its own ``weight`` and ``bias`` parameters from the SeldonDeployment."""

import numpy as np


class LinearModel:
    def __init__(self, weight=1.0, bias=0.0):
        self.weight = float(weight)
        self.bias = float(bias)

    def predict(self, X, names, meta=None):
        return np.asarray(X, dtype=float) * self.weight + self.bias
