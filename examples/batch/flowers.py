"""A nearest-centroid flower classifier, written twice over the same maths:

* ``predict`` / ``evaluate``: Starwhale evaluation functions (``seldon-evaluate run flowers:predict``).
  They use seldon_py's Starwhale-compatible decorators; with the ``starwhale`` package installed,
  ``from starwhale import evaluation`` works unchanged.
* ``FlowerClassifier``: a Seldon model class (``seldon-core-microservice flowers.FlowerClassifier``, or
  ``seldon-batch-processor --model flowers.FlowerClassifier`` in process).
"""

import math

from seldon_py.batch.starwhale_compat import evaluation

#: class → (petal length, petal width) centre, classes in sorted order
CENTRES = {"setosa": (1.5, 0.25), "versicolor": (4.3, 1.3), "virginica": (5.6, 2.0)}


def classify(length, width):
    """(label, one score per class in sorted class order: a softmax of minus the distances)."""
    dist = {k: math.hypot(length - c[0], 2 * (width - c[1])) for k, c in CENTRES.items()}
    exp = {k: math.exp(-3 * d) for k, d in dist.items()}
    total = sum(exp.values())
    scores = [round(exp[k] / total, 6) for k in sorted(CENTRES)]
    return min(dist, key=dist.get), scores


@evaluation.predict(batch_size=8, replicas=2, fail_on_error=False,
                    log_dataset_features=["petal_length", "petal_width", "species"])
def predict(batch):
    out = []
    for row in batch:
        label, scores = classify(row.petal_length, row.petal_width)
        out.append({"label": label, "scores": scores})
    return out


@evaluation.evaluate(needs=[predict])
def evaluate(results):
    wrong = [r["id"] for r in results if r["output"]["label"] != r["input"]["species"]]
    return {"misclassified": wrong, "errors": len(wrong)}


class FlowerClassifier:
    def class_names(self):
        return sorted(CENTRES)

    def predict(self, X, names=None, meta=None):
        return [classify(float(length), float(width))[1] for length, width in X]
