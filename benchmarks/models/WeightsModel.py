"""A model holding 200 MB of weights (the --preload case).

load() fills a float64 array with distinct values, so every page is resident and none is a
shared zero page. predict() reads one value from each 4 KiB page (cheap, ~50 µs): reading must
not make a worker copy the pages. It answers with its process id, so the benchmark can tell
that every worker answered.
"""

import os

import numpy as np

WEIGHTS_MB = 200


class WeightsModel:
    def load(self):
        self.weights = np.arange(WEIGHTS_MB * 2**20 // 8, dtype=np.float64)

    def predict(self, X, names, meta=None):
        return np.array([[os.getpid(), float(self.weights[::512].sum())]])
