"""Masking-reconstruction losses (paper 003) against NumPy."""

import numpy as np
import pytest

from kerasfer.losses import MarginBCE
from kerasfer.losses import ReconstructionL1
from kerasfer.losses import margin_bce
from kerasfer.losses import reconstruction_l1

RNG = np.random.default_rng(5)


def test_reconstruction_l1_matches_numpy():
    a = RNG.uniform(size=(2, 6, 6, 3)).astype("float32")
    b = RNG.uniform(size=(2, 6, 6, 3)).astype("float32")
    expected = np.abs(a - b).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(np.asarray(reconstruction_l1(a, b)), expected, rtol=1e-5)
    np.testing.assert_allclose(float(ReconstructionL1(weight=0.3)(a, b)), 0.3 * expected.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_l1(a, b[:, :4])
    with pytest.raises(ValueError, match=">= 0"):
        ReconstructionL1(weight=-1)


def test_margin_bce_matches_numpy():
    p = RNG.uniform(0.01, 0.99, size=(3, 7)).astype("float32")
    y = np.array([0, 6, 2])
    t = np.eye(7)[y]
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=1)
    np.testing.assert_allclose(np.asarray(margin_bce(y, p)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(margin_bce(t, p)), expected, rtol=1e-5)
    np.testing.assert_allclose(
        float(MarginBCE(weight=2.0, from_logits=True)(y, np.log(p / (1 - p)))), 2 * expected.mean(), rtol=1e-4
    )
    with pytest.raises(ValueError, match="out of range"):
        margin_bce(np.array([7, 0, 0]), p)
