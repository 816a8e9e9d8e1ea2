"""RO loss (SDNet eqs 4-6) against NumPy, label smoothing and errors."""

import keras
import numpy as np
import pytest

from kerasfer.losses import ROLoss
from kerasfer.losses import ro_loss

RNG = np.random.default_rng(1)


def np_ro(labels_onehot, probs, lambda1, lambda2):
    """-sum_i (lambda1 p_i + lambda2 / N) log q_i, the paper's L1 + L2 with the minus signs restored."""
    n = probs.shape[-1]
    q = np.clip(probs.astype(np.float64), 1e-7, 1.0)
    l1 = lambda1 * np.sum(labels_onehot * np.log(q), axis=-1)
    l2 = lambda2 * np.sum(np.log(q) / n, axis=-1)
    return -(l1 + l2)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("lambdas", [(0.9, 0.1), (1.0, 0.0), (0.7, 0.5)])
def test_matches_numpy_sparse_onehot_and_logits(lambdas):
    logits = RNG.normal(size=(5, 7)).astype("float32")
    probs = _softmax(logits).astype("float32")
    y = np.array([0, 6, 3, 3, 1])
    onehot = np.eye(7, dtype="float32")[y]
    expected = np_ro(onehot, probs, *lambdas)
    np.testing.assert_allclose(np.asarray(ro_loss(y, probs, *lambdas)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ro_loss(onehot, probs, *lambdas)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ro_loss(y[:, None], probs, *lambdas)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(ro_loss(y, logits, *lambdas, from_logits=True)), expected, rtol=1e-5)
    np.testing.assert_allclose(float(ROLoss(*lambdas)(y, probs)), expected.mean(), rtol=1e-5)


def test_equals_keras_label_smoothing():
    probs = _softmax(RNG.normal(size=(4, 7))).astype("float32")
    onehot = np.eye(7, dtype="float32")[[1, 2, 3, 4]]
    eps = 0.2
    keras_value = keras.losses.CategoricalCrossentropy(label_smoothing=eps)(onehot, probs)
    np.testing.assert_allclose(float(ROLoss(1 - eps, eps)(onehot, probs)), float(keras_value), rtol=1e-5)


def test_errors():
    probs = np.full((2, 3), 1 / 3, "float32")
    with pytest.raises(ValueError, match="out of range"):
        ro_loss(np.array([0, 3]), probs)
    with pytest.raises(ValueError, match="do not match"):
        ro_loss(np.eye(4, dtype="float32")[:2], probs)
    with pytest.raises(ValueError, match="NaN"):
        ro_loss(np.array([0, 1]), np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match=">= 0"):
        ROLoss(lambda1=-1.0)
    with pytest.raises(ValueError, match="integer"):
        ro_loss(np.array([0.5, 1.0]), probs)
