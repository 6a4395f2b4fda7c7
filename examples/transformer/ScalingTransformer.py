"""A transformer: standardises the four iris features on the way in (with a scaler
"fitted" offline, hard-coded here) and turns class probabilities into rounded
percentages on the way out.

Serve it with ``--service-type TRANSFORMER`` (input transformer node of a graph) or
``OUTPUT_TRANSFORMER``; both endpoints are served whatever the type.
"""

import numpy as np

FEATURE_MEANS = np.array([5.8, 3.0, 3.8, 1.2])
FEATURE_STDS = np.array([0.8, 0.4, 1.75, 0.75])


class ScalingTransformer:
    def transform_input(self, X, names, meta=None):
        X = np.asarray(X, dtype=float)
        return np.round((X - FEATURE_MEANS) / FEATURE_STDS, 4)

    def transform_output(self, X, names, meta=None):
        return np.round(np.asarray(X, dtype=float) * 100.0, 1)
