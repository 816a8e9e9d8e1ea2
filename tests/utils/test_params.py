"""count_params / count_macs against hand-computed figures on small models."""

import keras
import numpy as np
import pytest

from kerasfer.utils import count_macs
from kerasfer.utils import count_params
from kerasfer.utils import format_count


def _small_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)  # 8*8*4*27 = 6912 MACs, 108 params
    x = keras.layers.BatchNormalization()(x)  # 8 params (moving stats not counted)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 4*4*4*9 = 576 MACs, 36+4 params
    x = keras.layers.SeparableConv2D(6, 3, padding="valid")(x)  # 2*2*(36 + 24) = 240 MACs, 36+24+6 params
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5)(x)  # 30 MACs, 35 params
    return keras.Model(inputs, x)


def test_count_params_excludes_bn_moving_stats():
    model = _small_model()
    assert count_params(model) == 108 + 8 + 40 + 66 + 35
    assert model.count_params() == count_params(model) + 8  # Keras adds the 2x4 moving statistics


def test_count_params_counts_frozen_weights():
    model = _small_model()
    model.layers[1].trainable = False
    assert count_params(model) == 257


def test_count_params_unbuilt_layer_raises():
    with pytest.raises(ValueError, match="not built"):
        count_params(keras.layers.Dense(3))


def test_count_macs_by_hand():
    model = _small_model()
    assert count_macs(model, convention="conv") == 6912 + 576 + 240 + 30
    # fvcore also counts 2 per BatchNorm output element and 1 per pooled input element
    assert count_macs(model) == 6912 + 576 + 240 + 30 + 2 * 8 * 8 * 4 + 2 * 2 * 6
    with pytest.raises(ValueError, match="convention"):
        count_macs(model, convention="flops")


def test_count_macs_nested_and_hook():
    class Inner(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(2, 1, name="inner_conv")

        def call(self, x):
            y = self.conv(x)
            return keras.ops.matmul(keras.ops.reshape(y, (-1, 16, 2)), keras.ops.ones((2, 3)))

        def compute_macs(self, input_shapes, output_shape):
            return 16 * 2 * 3

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, Inner()(inputs))
    assert count_macs(model) == 4 * 4 * 2 * 3 + 96


def test_count_macs_conv_transpose_and_conv1d():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2DTranspose(3, 2, strides=2)(inputs)  # in 4*4 positions * 2*2*3*2 = 384
    x = keras.layers.Reshape((64, 3))(x)
    x = keras.layers.Conv1D(2, 3)(x)  # 62 * 3*3*2 = 1116
    model = keras.Model(inputs, x)
    assert count_macs(model) == 384 + 1116


def test_count_macs_restores_layers():
    model = _small_model()
    count_macs(model)
    assert "call" not in vars(model.layers[1])
    out = model(np.ones((1, 8, 8, 3), "float32"))
    assert out.shape == (1, 5)


def test_count_macs_needs_static_shape():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="static input shape"):
        count_macs(model)
    assert count_macs(model, input_shape=(4, 4, 3)) == 4 * 4 * 2 * 3


def test_format_count():
    assert format_count(2676147) == "2.676M"
    assert format_count(397_180_000) == "397.2M"
    assert format_count(21_930_000_000) == "21.93G"
    assert format_count(10_208) == "10.2k"
