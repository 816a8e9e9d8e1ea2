"""Label-distribution KL (LFER-LDL) against NumPy."""

import numpy as np
import pytest

from kerasfer.losses import LabelDistributionKL
from kerasfer.losses import label_distribution_kl

RNG = np.random.default_rng(3)


def _dist(n, c):
    e = np.exp(RNG.normal(size=(n, c)))
    return (e / e.sum(axis=1, keepdims=True)).astype("float32")


def np_kl(p, q):
    p = p.astype(np.float64)
    q = np.clip(q.astype(np.float64), 1e-7, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=1)


def test_matches_numpy_in_every_mode():
    p, q = _dist(5, 7), _dist(5, 7)
    np.testing.assert_allclose(np.asarray(label_distribution_kl(p, q)), np_kl(p, q), rtol=1e-5, atol=1e-7)
    ce = -(p * np.log(q)).sum(axis=1)
    np.testing.assert_allclose(np.asarray(label_distribution_kl(p, q, mode="cross_entropy")), ce, rtol=1e-5)
    efficientface = float(LabelDistributionKL(mode="efficientface")(p, q))
    np.testing.assert_allclose(efficientface, np.mean(-p * np.log(q)), rtol=1e-5)
    logits = np.log(q)
    np.testing.assert_allclose(float(LabelDistributionKL(from_logits=True)(p, logits)), np_kl(p, q).mean(), rtol=1e-4)


def test_zero_for_equal_and_onehot_targets():
    q = _dist(3, 4)
    np.testing.assert_allclose(np.asarray(label_distribution_kl(q, q)), 0.0, atol=1e-6)
    onehot = np.eye(4, dtype="float32")[[0, 1, 3]]
    expected = -np.log(q[np.arange(3), [0, 1, 3]])
    np.testing.assert_allclose(np.asarray(label_distribution_kl(onehot, q)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(label_distribution_kl(np.array([0, 1, 3]), q)), expected, rtol=1e-5)


def test_errors():
    q = _dist(2, 3)
    with pytest.raises(ValueError, match="mode"):
        LabelDistributionKL(mode="js")
    with pytest.raises(ValueError, match="NaN"):
        label_distribution_kl(np.array([[np.nan, 0.5, 0.5], [1, 0, 0]]), q)
    with pytest.raises(ValueError, match="do not match"):
        label_distribution_kl(_dist(2, 4), q)
