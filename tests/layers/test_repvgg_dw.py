import keras
import numpy as np
import pytest

from kerasfer.layers import RepVGGDW
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer():
    run_layer_test(
        RepVGGDW,
        {},
        _x((2, 5, 5, 4)),
        expected_output_shape=(2, 5, 5, 4),
        expected_num_trainable_weights=7,  # dw kernel, bn gamma/beta, 1x1 kernel/bias, outer bn gamma/beta
    )
    run_layer_test(
        RepVGGDW,
        {"inference_mode": True},
        _x((2, 5, 5, 4)),
        expected_output_shape=(2, 5, 5, 4),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
    )


def test_param_count_matches_reference():
    layer = RepVGGDW()
    layer.build((None, 7, 7, 256))
    trainable = sum(int(np.prod(v.shape)) for v in layer.trainable_weights)
    assert trainable == 3840  # LFN conv6_sep


def test_forward_is_bn_of_three_branches():
    layer = RepVGGDW()
    x = _x((2, 6, 6, 3))
    layer(x)
    randomize_batchnorm(layer, seed=2)
    layer.conv1.bias.assign(np.array([0.3, -0.2, 0.1], "float32"))
    as_np = keras.ops.convert_to_numpy

    def bn(v, bn_layer):
        return (v - as_np(bn_layer.moving_mean)) / np.sqrt(as_np(bn_layer.moving_variance) + 1e-5) * as_np(
            bn_layer.gamma
        ) + as_np(bn_layer.beta)

    a = bn(np.asarray(layer.conv(x)), layer.conv_bn)
    b = x * as_np(layer.conv1.kernel)[0, 0, :, 0] + as_np(layer.conv1.bias)
    expected = bn(a + b + x, layer.bn)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), expected, atol=1e-5)


def test_fused_equals_unfused():
    layer = RepVGGDW()
    x = _x((2, 7, 7, 8))
    layer(x)
    randomize_batchnorm(layer, seed=3)
    layer.conv1.bias.assign(np.linspace(-1, 1, 8).astype("float32"))
    expected = np.asarray(layer(x, training=False))
    kernel, bias = layer.get_fused_weights()
    assert kernel.shape == (3, 3, 8, 1) and bias.shape == (8,)
    fused = RepVGGDW(inference_mode=True)
    fused(x)
    fused.set_weights([kernel, bias])
    np.testing.assert_allclose(np.asarray(fused(x)), expected, atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="4-D"):
        RepVGGDW()(np.zeros((2, 4, 4), "float32"))
    with pytest.raises(ValueError, match="not built"):
        RepVGGDW().get_fused_weights()
