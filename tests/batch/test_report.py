"""The built-in classification report against numbers computed by hand."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from seldon_py.batch.report import ReportError, classification_report, plot_confusion_matrix


def test_multiclass_numbers_match_hand_computation():
    y_true = ["a", "a", "b", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "c", "c"]
    r = classification_report(y_true, y_pred)
    # 4 of 6 right
    assert r["accuracy"] == pytest.approx(4 / 6)
    # a: tp 1, fp 0, fn 1 → P 1, R 1/2, F1 2/3
    assert r["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    # b: tp 2, predicted b 3 times, true b 3 times → P 2/3, R 2/3, F1 2/3
    assert r["per_class"]["b"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    # c: tp 1, predicted c twice, true c once → P 1/2, R 1, F1 2/3
    assert r["per_class"]["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    assert r["macro_avg"]["precision"] == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    assert r["weighted_avg"]["recall"] == pytest.approx((0.5 * 2 + 2 / 3 * 3 + 1 * 1) / 6)
    assert r["labels"] == ["a", "b", "c"]
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    assert "roc_auc" not in r


def test_binary_roc_auc_matches_hand_computation():
    # positives score 0.35 and 0.8, negatives 0.1 and 0.4: of the 4 (pos, neg) pairs, 3 are ordered
    # right (0.35 > 0.1, 0.8 > 0.1, 0.8 > 0.4) → AUC 3/4
    r = classification_report([0, 0, 1, 1], [0, 1, 0, 1], scores=[0.1, 0.4, 0.35, 0.8])
    assert r["roc_auc"] == pytest.approx(0.75)
    assert r["accuracy"] == 0.5
    # the same with [negative, positive] score pairs
    r2 = classification_report([0, 0, 1, 1], [0, 1, 0, 1], scores=[[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    assert r2["roc_auc"] == pytest.approx(0.75)


def test_multiclass_roc_auc_needs_one_score_per_class():
    with pytest.raises(ReportError, match="3 scores per row"):
        classification_report(["a", "b", "c"], ["a", "b", "c"], scores=[0.1, 0.2, 0.3])
    perfect = classification_report(["a", "b", "c"], ["a", "b", "c"],
                                    scores=[[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert perfect["roc_auc"] == pytest.approx(1.0)


def test_no_rows_is_a_clear_error():
    with pytest.raises(ReportError, match="no rows"):
        classification_report([], [])


def test_confusion_matrix_png(tmp_path):
    r = classification_report([0, 1, 1], [0, 1, 0])
    path = tmp_path / "cm.png"
    plot_confusion_matrix(r, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 2000
