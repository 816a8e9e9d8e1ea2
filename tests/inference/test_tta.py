"""Test-time augmentation: the views and their average."""

import numpy as np
import pytest

from kerasfer.inference import tta


def _batch(n=2, h=12, w=10, c=1):
    return np.random.default_rng(0).uniform(0, 255, (n, h, w, c)).astype(np.float32)


def test_views_shapes_and_mirror():
    x = _batch()
    (same,) = tta.views(x, "none")
    np.testing.assert_array_equal(same, x)
    plain, mirror = tta.views(x, "flip")
    np.testing.assert_array_equal(mirror[:, :, ::-1], plain)
    crops = tta.views(x, "crops")
    assert len(crops) == tta.num_views("crops") == 10
    assert all(v.shape == x.shape and v.dtype == np.float32 for v in crops)
    for crop, mirrored in zip(crops[::2], crops[1::2]):
        np.testing.assert_array_equal(mirrored[:, :, ::-1], crop)
    assert not np.allclose(crops[0], crops[6])  # the top-left and bottom-right crops see different pixels


def test_predict_tta_averages_probabilities_in_one_call():
    x = _batch()
    calls = []

    def predict(batch):
        calls.append(len(batch))
        left = batch[:, :, : batch.shape[2] // 2].mean(axis=(1, 2, 3))
        right = batch[:, :, batch.shape[2] // 2 :].mean(axis=(1, 2, 3))
        p = left / (left + right)
        return np.stack([p, 1 - p], axis=-1)

    probs = tta.predict_tta(predict, x, "flip")
    assert calls == [4]  # both views of both images in one call
    np.testing.assert_allclose(probs, 0.5, atol=1e-6)  # a mirror swaps left and right exactly
    assert tta.predict_tta(predict, x, "none").shape == (2, 2)
    assert tta.predict_tta(predict, x, "crops").shape == (2, 2) and calls[-1] == 20


def test_bad_mode_and_shape():
    with pytest.raises(ValueError, match="tta must be one of"):
        tta.views(_batch(), "ten")
    with pytest.raises(ValueError, match="batch"):
        tta.views(np.zeros((4, 4, 1)), "flip")
