"""A model whose cost is per call, not per row: 5 ms, one call at a time (the batching case).

Like a model on one accelerator or behind a lock: concurrent calls queue, and a batch of 32 rows
costs what one row does. It answers the rows it got, so batched replies can be checked.
"""

import threading
import time


class SleepModel:
    def __init__(self):
        self.lock = threading.Lock()

    def predict(self, X, names, meta=None):
        with self.lock:
            time.sleep(0.005)
        return X
