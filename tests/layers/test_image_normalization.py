import numpy as np
import pytest

from kerasfer.layers import IMAGENET_MEAN
from kerasfer.layers import IMAGENET_STD
from kerasfer.layers import ImageNormalization
from kerasfer.testing import run_layer_test


def test_layer_contract():
    run_layer_test(
        ImageNormalization,
        {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        np.random.uniform(0, 255, (2, 5, 5, 3)).astype("float32"),
        expected_output_shape=(2, 5, 5, 3),
        expected_num_trainable_weights=0,
    )


def test_matches_formula():
    x = np.random.uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    out = np.asarray(ImageNormalization(mean=IMAGENET_MEAN, std=IMAGENET_STD)(x))
    expected = (x / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_scalar_mean_std_on_grayscale():
    x = np.full((1, 2, 2, 1), 255.0, "float32")
    np.testing.assert_allclose(np.asarray(ImageNormalization()(x)), 1.0)
    np.testing.assert_allclose(np.asarray(ImageNormalization(mean=0.5, std=0.5)(x)), 1.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="std must be positive"):
        ImageNormalization(std=0.0)
    with pytest.raises(ValueError, match="3 values but the input has 1 channels"):
        ImageNormalization(mean=IMAGENET_MEAN)(np.zeros((1, 2, 2, 1), "float32"))
