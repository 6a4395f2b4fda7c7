"""Input transformer of the example graph: multiplies every feature by ``factor``."""

import numpy as np


class Scale:
    def __init__(self, factor=2.0):
        self.factor = float(factor)

    def transform_input(self, X, names, meta=None):
        return np.asarray(X, dtype=float) * self.factor
