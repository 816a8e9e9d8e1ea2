"""Combo loss (LFER-LDL): paper formula and reference bracket against NumPy."""

import numpy as np
import pytest

from kerasfer.losses import ComboLoss
from kerasfer.losses import combo_loss

RNG = np.random.default_rng(2)
EPS = 1e-7


def np_combo(t, p, alpha, beta, reference_bracket, smooth=1.0):
    """Batch Combo loss written from ARCHITECTURES.md 3.5 (flattened over the whole batch)."""
    t = t.astype(np.float64).ravel()
    p = p.astype(np.float64).ravel()
    dice = (2 * np.sum(t * p) + smooth) / (np.sum(t) + np.sum(p) + smooth)
    pc = np.clip(p, EPS, 1 - EPS)
    if reference_bracket:
        wce = np.mean(-beta * (t * np.log(pc) + (1 - beta) * (1 - t) * np.log(1 - pc)))
    else:
        wce = -np.mean(beta * t * np.log(pc) + (1 - beta) * (1 - t) * np.log(1 - pc))
    return alpha * wce - (1 - alpha) * dice


def _dist(n, c):
    z = RNG.normal(size=(n, c))
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype("float32")


@pytest.mark.parametrize("reference_bracket", [False, True])
@pytest.mark.parametrize("alpha,beta", [(0.5, 0.5), (0.5, 0.2), (0.3, 0.6)])
def test_matches_numpy(reference_bracket, alpha, beta):
    p = _dist(6, 7)
    onehot = np.eye(7, dtype="float32")[[0, 1, 2, 3, 4, 6]]
    distribution = _dist(6, 7)
    for t in (onehot, distribution):
        got = float(ComboLoss(alpha=alpha, beta=beta, reference_bracket=reference_bracket)(t, p))
        np.testing.assert_allclose(got, np_combo(t, p, alpha, beta, reference_bracket), rtol=1e-5, atol=1e-6)
    sparse = float(
        np.mean(
            np.asarray(combo_loss(np.array([0, 1, 2, 3, 4, 6]), p, alpha, beta, reference_bracket=reference_bracket))
        )
    )
    np.testing.assert_allclose(sparse, np_combo(onehot, p, alpha, beta, reference_bracket), rtol=1e-5, atol=1e-6)


def test_brackets_differ_only_in_the_negative_term():
    p = _dist(3, 4)
    t = np.eye(4, dtype="float32")[[0, 1, 2]]
    paper = float(ComboLoss(alpha=1.0, beta=0.2)(t, p))
    code = float(ComboLoss(alpha=1.0, beta=0.2, reference_bracket=True)(t, p))
    assert paper != pytest.approx(code)
    # with beta = 1 both reduce to -mean(t log p)
    np.testing.assert_allclose(
        float(ComboLoss(alpha=1.0, beta=1.0)(t, p)), float(ComboLoss(alpha=1.0, beta=1.0, reference_bracket=True)(t, p))
    )


def test_one_minus_dice_and_logits():
    z = RNG.normal(size=(4, 5)).astype("float32")
    p = (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)).astype("float32")
    t = np.eye(5, dtype="float32")[[0, 1, 2, 3]]
    base = float(ComboLoss()(t, p))
    np.testing.assert_allclose(float(ComboLoss(from_logits=True)(t, z)), base, rtol=1e-5)
    np.testing.assert_allclose(float(ComboLoss(one_minus_dice=True)(t, p)), base + 0.5, rtol=1e-5)


def test_errors():
    p = np.full((2, 3), 1 / 3, "float32")
    with pytest.raises(ValueError, match="alpha and beta"):
        ComboLoss(beta=1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        combo_loss(np.array([[2.0, 0, 0], [0, 1, 0]], "float32"), p)
    with pytest.raises(ValueError, match="out of range"):
        combo_loss(np.array([0, 5]), p)
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        combo_loss(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))
