"""The built-in classification report (scikit-learn) and confusion-matrix plot (matplotlib).

Both come with the ``evaluate`` extra: ``pip install 'seldon-py[evaluate]'``.
"""

from __future__ import annotations

from typing import Any


class ReportError(Exception):
    """The report cannot be made (missing extra, no rows, bad labels): one line that says why."""


def _need(module: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ReportError(f"the classification report needs {module.split('.')[0]}: "
                          f"pip install 'seldon-py[evaluate]'") from None


def classification_report(y_true: list[Any], y_pred: list[Any], scores: list[Any] | None = None) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted averages, the
    confusion matrix (rows: truth, columns: prediction, in ``labels`` order) and ROC AUC when
    ``scores`` are given (binary: the positive class's score per row, or a [neg, pos] pair;
    multi-class: one probability per class in ``labels`` order, one-vs-rest macro average)."""
    metrics = _need("sklearn.metrics")
    np = _need("numpy")
    if not y_true:
        raise ReportError("no rows with both a label and a prediction")
    if len(y_true) != len(y_pred):
        raise ReportError(f"{len(y_true)} labels for {len(y_pred)} predictions")
    labels = sorted(set(y_true) | set(y_pred), key=lambda v: (str(type(v)), v))
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {str(lab): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                            "support": int(s[i])} for i, lab in enumerate(labels)}
    out: dict[str, Any] = {
        "rows": len(y_true),
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "labels": [lab if isinstance(lab, (int, float, str)) else str(lab) for lab in labels],
        "per_class": per_class,
    }
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg,
                                                                 zero_division=0)
        out[f"{avg}_avg"] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    out["confusion_matrix"] = metrics.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    if scores is not None:
        out["roc_auc"] = _roc_auc(metrics, np, y_true, scores, sorted(set(y_true), key=lambda v: (str(type(v)), v)))
    return out


def _roc_auc(metrics: Any, np: Any, y_true: list[Any], scores: list[Any], true_labels: list[Any]) -> float | None:
    if len(true_labels) < 2:
        return None  # undefined with one class present
    arr = np.asarray(scores, dtype=float)
    if len(true_labels) == 2:
        if arr.ndim == 2:
            arr = arr[:, -1]
        return float(metrics.roc_auc_score([v == true_labels[1] for v in y_true], arr))
    if arr.ndim != 2 or arr.shape[1] != len(true_labels):
        raise ReportError(f"multi-class ROC AUC needs {len(true_labels)} scores per row (one per class, "
                          f"in label order {true_labels})")
    return float(metrics.roc_auc_score(y_true, arr, multi_class="ovr", labels=true_labels))


def plot_confusion_matrix(report: dict[str, Any], path: str, title: str = "Confusion matrix") -> None:
    """Write the report's confusion matrix as a PNG (counts in the cells, row-normalised colour)."""
    matplotlib = _need("matplotlib")
    matplotlib.use("Agg", force=True)
    plt = _need("matplotlib.pyplot")
    np = _need("numpy")
    labels = [str(v) for v in report["labels"]]
    cm = np.asarray(report["confusion_matrix"], dtype=float)
    row_sums = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    size = max(4.0, 0.6 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    try:
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
        ax.set_xticks(range(len(labels)), labels=labels, rotation=45 if len(labels) > 6 else 0, ha="right"
                      if len(labels) > 6 else "center")
        ax.set_yticks(range(len(labels)), labels=labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title}\naccuracy {report['accuracy']:.3f} over {report['rows']} rows")
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
