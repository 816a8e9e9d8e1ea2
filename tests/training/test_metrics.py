"""Metrics: hand-computed values, edge cases and bad input."""

import json

import numpy as np
import pytest

from kerasfer.training import metrics as M


def test_confusion_matrix_and_scores_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    cm = M.confusion_matrix(y, pred, 3)
    np.testing.assert_array_equal(cm, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    precision, recall, f1, support = M.precision_recall_f1(cm)
    np.testing.assert_allclose(precision, [1.0, 0.5, 0.5])
    np.testing.assert_allclose(recall, [2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(f1, [0.8, 0.5, 2 / 3])
    np.testing.assert_array_equal(support, [3, 2, 1])


def test_roc_auc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    s = np.round(rng.random(60), 1)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert M.binary_roc_auc(y, s) == pytest.approx(pairs)
    assert M.binary_roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert M.binary_roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert np.isnan(M.binary_roc_auc([1, 1], [0.1, 0.2]))


def test_classification_report_values_and_json():
    y = np.array([0, 0, 0, 1, 1, 2])
    probs = np.eye(3)[[0, 0, 1, 1, 2, 2]] * 0.8 + 0.1
    r = M.classification_report(y, probs, ["a", "b", "c"])
    json.dumps(r)
    assert r["num_examples"] == 6
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["mean_class_accuracy"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["per_class"]["a"]["support"] == 3
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert 0 <= r["roc_auc_ovr_macro"] <= 1


def test_absent_class_left_out_of_means():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    r = M.classification_report(y, probs)
    assert r["mean_class_accuracy"] == 1.0
    assert r["macro_f1"] == 1.0
    assert r["per_class"]["2"]["roc_auc"] is None


@pytest.mark.parametrize(
    "y, probs, match",
    [
        ([0, 3], np.full((2, 3), 1 / 3), "out of range"),
        ([0, 1], np.array([[np.nan, 0.5, 0.5], [0.3, 0.3, 0.4]]), "NaN"),
        ([0], np.full((2, 3), 1 / 3), "labels but"),
        ([], np.zeros((0, 3)), "No examples"),
        ([0, 1], np.zeros((2,)), "num_classes"),
    ],
)
def test_bad_input(y, probs, match):
    with pytest.raises(ValueError, match=match):
        M.classification_report(np.asarray(y, dtype=np.int64), probs)


def test_plot_and_markdown(tmp_path):
    y = np.array([0, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 2, 1]]
    r = M.classification_report(y, probs, ["x", "y", "z"])
    png = M.plot_confusion_matrix(np.asarray(r["confusion_matrix"]), r["class_names"], str(tmp_path / "cm.png"))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    md = M.markdown_summary(r)
    assert "accuracy: 75.00%" in md and "| z | 0 | 1 | 1 |" in md
