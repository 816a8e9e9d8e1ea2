import keras
import numpy as np
import pytest

from kerasfer.layers import NearestUpsampling2D
from kerasfer.testing.test_case import run_layer_test


@pytest.mark.parametrize("size", [2, (2, 3)])
def test_equals_keras_upsampling_nearest(size):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    want = keras.layers.UpSampling2D(size, interpolation="nearest")(x)
    got = NearestUpsampling2D(size)(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want))


def test_layer_contract():
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype("float32")
    run_layer_test(NearestUpsampling2D, {"size": 2}, x, expected_output_shape=(2, 8, 8, 3), run_training_check=False)


def test_bad_size():
    with pytest.raises(ValueError, match="size"):
        NearestUpsampling2D(0)
    with pytest.raises(ValueError, match="size"):
        NearestUpsampling2D((2, 2, 2))


@pytest.mark.tf_only
@pytest.mark.tflite
def test_tflite_is_one_resize_and_gpu_clean():
    from kerasfer.export import flatbuffer
    from kerasfer.export import gpu_check
    from kerasfer.export import tflite

    inp = keras.Input((4, 4, 8))
    content = tflite.convert(keras.Model(inp, NearestUpsampling2D(2)(inp)), "fp32")
    assert flatbuffer.read_tflite(content).op_counts() == {"RESIZE_NEAREST_NEIGHBOR": 1}
    assert gpu_check.check(content).ok
