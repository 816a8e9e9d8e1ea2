"""Categorical and binary focal losses against NumPy."""

import numpy as np
import pytest

from kerasfer.losses import BinaryFocalLoss
from kerasfer.losses import CategoricalFocalLoss
from kerasfer.losses import binary_focal_loss
from kerasfer.losses import categorical_focal_loss

RNG = np.random.default_rng(4)


def _dist(n, c):
    e = np.exp(RNG.normal(size=(n, c)))
    return (e / e.sum(axis=1, keepdims=True)).astype("float32")


def np_cat_focal(t, p, alpha, gamma):
    p = np.clip(p.astype(np.float64), 1e-7, 1)
    a = 1.0 if alpha is None else np.asarray(alpha)
    return -(a * t * (1 - p) ** gamma * np.log(p)).sum(axis=1)


def np_bin_focal(y, p, gamma, alpha):
    p = p.astype(np.float64)
    pt = p * y + (1 - p) * (1 - y)
    v = -((1 - pt) ** gamma) * np.log(np.clip(pt, 1e-7, 1))
    if alpha is not None:
        v = (alpha * y + (1 - alpha) * (1 - y)) * v
    return v.mean(axis=-1)


@pytest.mark.parametrize("alpha", [None, 0.25, [1.0, 2.0, 0.5, 1.0, 3.0]])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_categorical_matches_numpy(alpha, gamma):
    p = _dist(4, 5)
    y = np.array([0, 4, 2, 2])
    t = np.eye(5, dtype="float32")[y]
    expected = np_cat_focal(t, p, alpha, gamma)
    np.testing.assert_allclose(np.asarray(categorical_focal_loss(t, p, alpha, gamma)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(categorical_focal_loss(y, p, alpha, gamma)), expected, rtol=1e-5)
    np.testing.assert_allclose(
        float(CategoricalFocalLoss(alpha=alpha, gamma=gamma, from_logits=True)(y, np.log(p))),
        expected.mean(),
        rtol=1e-4,
    )


def test_categorical_gamma0_is_cross_entropy():
    p = _dist(3, 4)
    y = np.array([1, 2, 3])
    np.testing.assert_allclose(
        np.asarray(categorical_focal_loss(y, p, gamma=0.0)), -np.log(p[np.arange(3), y]), rtol=1e-5
    )


@pytest.mark.parametrize("alpha", [None, 0.25])
def test_binary_matches_numpy(alpha):
    p = RNG.uniform(0.01, 0.99, size=(3, 9)).astype("float32")
    y = (RNG.uniform(size=(3, 9)) > 0.7).astype("float32")
    expected = np_bin_focal(y, p, 2.0, alpha)
    np.testing.assert_allclose(np.asarray(binary_focal_loss(y, p, 2.0, alpha)), expected, rtol=1e-5)
    logits = np.log(p / (1 - p))
    np.testing.assert_allclose(
        float(BinaryFocalLoss(alpha=alpha, from_logits=True)(y, logits)), expected.mean(), rtol=1e-4
    )


def test_errors():
    with pytest.raises(ValueError, match="gamma"):
        CategoricalFocalLoss(gamma=-1)
    with pytest.raises(ValueError, match="3 values but there are 5"):
        categorical_focal_loss(np.array([0]), _dist(1, 5), alpha=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="out of range"):
        categorical_focal_loss(np.array([5]), _dist(1, 5))
    with pytest.raises(ValueError, match="shaped like"):
        binary_focal_loss(np.zeros((2, 3)), np.zeros((2, 4)))
