"""Class-imbalance weights: SDNet eqs 1-3 checked by hand, alternatives, fit/loss integration, errors."""

import math

import keras
import numpy as np
import pytest

from kerasfer.training.class_weights import FER2013_TRAIN_COUNTS
from kerasfer.training.class_weights import adaptive_class_weights
from kerasfer.training.class_weights import class_counts
from kerasfer.training.class_weights import class_weight_dict
from kerasfer.training.class_weights import effective_number_weights
from kerasfer.training.class_weights import inverse_frequency_weights
from kerasfer.training.class_weights import sample_weights


def test_adaptive_weights_fer2013_worked_example():
    w = adaptive_class_weights(FER2013_TRAIN_COUNTS)
    np.testing.assert_allclose(w, [1, 2.939, 1, 1, 1, 1, 1], atol=5e-4)
    np.testing.assert_allclose(adaptive_class_weights(FER2013_TRAIN_COUNTS, log_base=10)[1], 1.276, atol=5e-4)
    w2 = adaptive_class_weights(FER2013_TRAIN_COUNTS, log_base=2)
    np.testing.assert_allclose(w2[[1, 5, 0, 2]], [4.239, 1.377, 1.044, 1.007], atol=5e-4)
    np.testing.assert_array_equal(w2[[3, 4, 6]], 1.0)


def test_adaptive_weights_equations_by_hand():
    counts = np.array([10.0, 50.0, 100.0, 40.0])
    mean = counts.mean()  # 50; below: 10 and 40 (50 is not below)
    d = ((mean - 10) / mean + (mean - 40) / mean) / 2
    expected = np.maximum(np.log(d * counts.sum() / counts) / math.log(3.0), 1.0)
    np.testing.assert_allclose(adaptive_class_weights(counts, log_base=3.0), expected)
    np.testing.assert_array_equal(adaptive_class_weights([5, 5, 5]), [1.0, 1.0, 1.0])
    with_empty = adaptive_class_weights([10.0, 50.0, 0.0, 100.0, 40.0], log_base=3.0, allow_empty=True)
    np.testing.assert_allclose(with_empty, np.insert(expected, 2, 0.0))


def test_alternatives():
    counts = np.array(FER2013_TRAIN_COUNTS)
    inv = inverse_frequency_weights(counts)
    np.testing.assert_allclose(inv, counts.sum() / (7 * counts))
    # the class-weight list in the ResidualMaskingNetwork config is exactly this
    np.testing.assert_allclose(inv, [1.027, 9.407, 1.001, 0.568, 0.849, 1.293, 0.826], atol=5e-4)
    np.testing.assert_allclose(np.sum(inv * counts) / counts.sum(), 1.0)
    eff = effective_number_weights(counts, beta=0.999)
    raw = (1 - 0.999) / (1 - 0.999**counts)
    np.testing.assert_allclose(eff, raw * 7 / raw.sum())
    np.testing.assert_allclose(effective_number_weights([3, 30], beta=0.0), [1.0, 1.0])
    np.testing.assert_array_equal(inverse_frequency_weights([4, 0, 4], allow_empty=True, normalize=False), [1, 0, 1])


def test_errors():
    with pytest.raises(ValueError, match="negative"):
        adaptive_class_weights([10, -1, 5])
    with pytest.raises(ValueError, match="no samples"):
        adaptive_class_weights([10, 0, 5])
    with pytest.raises(ValueError, match="no samples"):
        inverse_frequency_weights([10, 0, 5])
    with pytest.raises(ValueError, match="1-D"):
        adaptive_class_weights([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="NaN"):
        adaptive_class_weights([1.0, np.nan])
    with pytest.raises(ValueError, match="log_base"):
        adaptive_class_weights([1, 2], log_base=1.0)
    with pytest.raises(ValueError, match="beta"):
        effective_number_weights([1, 2], beta=1.0)
    with pytest.raises(ValueError, match="out of range"):
        class_counts([0, 3], 3)
    with pytest.raises(ValueError, match="out of range"):
        sample_weights([0, 7], np.ones(7)[:3])


def test_counts_dict_and_sample_weights():
    labels = np.array([0, 2, 2, 1, 2])
    np.testing.assert_array_equal(class_counts(labels, 4), [1, 1, 3, 0])
    np.testing.assert_array_equal(class_counts(np.eye(4)[labels], 4), [1, 1, 3, 0])
    w = np.array([1.0, 2.939, 1.0])
    assert class_weight_dict(w) == {0: 1.0, 1: 2.939, 2: 1.0}
    np.testing.assert_allclose(sample_weights(labels, w), [1.0, 1.0, 1.0, 2.939, 1.0], rtol=1e-6)


def test_weights_work_in_fit_and_as_loss_sample_weight():
    from kerasfer.losses import ROLoss

    w = adaptive_class_weights([30, 3, 20])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", loss=ROLoss())
    history = model.fit(x, y, class_weight=class_weight_dict(w), batch_size=6, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    probs = model.predict(x, verbose=0)
    per = np.asarray(ROLoss(reduction=None)(y, probs))
    weighted = float(ROLoss()(y, probs, sample_weight=sample_weights(y, w)))
    np.testing.assert_allclose(weighted, np.sum(per * w[y]) / 6, rtol=1e-5)
