"""A model that reports tags, custom Prometheus metrics and output class names.

* ``tags()`` are merged into ``meta.tags`` of every response;
* ``SeldonResponse(data, tags=..., metrics=...)`` adds tags/metrics for one response only;
* ``metrics()`` are recorded after every call (and echoed in ``meta.metrics``);
* ``class_names()`` become ``data.names`` for 2-D outputs.
"""

import time

import numpy as np

from seldon_py import SeldonResponse, create_counter, create_gauge, create_timer


class TaggedModel:
    def __init__(self):
        self._last_rows = 0

    def class_names(self):
        return ["neg", "pos"]

    def tags(self):
        return {"model": "tagged", "version": "1"}

    def metrics(self):
        return [create_gauge("last_batch_rows", self._last_rows)]

    def predict(self, X, names, meta=None):
        start = time.perf_counter()
        X = np.asarray(X, dtype=float)
        # a "probability" of the positive class: logistic of each row's sum
        pos = 1.0 / (1.0 + np.exp(-X.sum(axis=1)))
        out = np.round(np.stack([1.0 - pos, pos], axis=1), 4)
        self._last_rows = int(X.shape[0])
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        return SeldonResponse(
            out,
            tags={"rows": str(X.shape[0])},
            metrics=[
                create_counter("rows_scored", X.shape[0]),
                create_timer("score_time", elapsed_ms),
            ],
        )
