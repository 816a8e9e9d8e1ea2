import keras
import numpy as np
import pytest

from kerasfer.layers import MishHead
from kerasfer.layers.mish_head import mish
from kerasfer.testing import randomize_batchnorm
from kerasfer.testing import run_layer_test
from kerasfer.utils import count_params


def _np_mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))


def _bn(x, bn):
    gamma, beta, mean, var = (np.asarray(v, "float64") for v in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    return (x - mean) / np.sqrt(var + bn.epsilon) * gamma + beta


@pytest.mark.parametrize(
    "kwargs, units", [({}, 8), ({"depth_multiplier": 2, "hidden_units": 5, "dropout_rate": 0.2}, 5)]
)
def test_layer_contract(kwargs, units):
    run_layer_test(
        MishHead,
        kwargs,
        np.random.rand(2, 3, 3, 8).astype("float32"),
        expected_output_shape=(2, units),
    )


def test_mish_values_and_stability():
    x = np.array([-30.0, -2.0, -0.5, 0.0, 0.5, 2.0, 30.0, 100.0], "float32")
    np.testing.assert_allclose(np.asarray(mish(x)), _np_mish(x.astype("float64")), rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(mish(np.array([-1e4, 1e4], "float32")))))


def test_matches_numpy_reference():
    x = np.random.randn(2, 4, 4, 6).astype("float32")
    layer = MishHead(depth_multiplier=1, hidden_units=3)
    layer(x)
    randomize_batchnorm(layer)
    layer.depthwise.kernel.assign(np.random.randn(*layer.depthwise.kernel.shape).astype("float32"))
    out = np.asarray(layer(x, training=False))
    pooled = x.astype("float64").mean(axis=(1, 2))
    y = _np_mish(_bn(pooled * np.asarray(layer.depthwise.kernel).reshape(-1), layer.dw_bn))
    y = _np_mish(_bn(y @ np.asarray(layer.pointwise.kernel)[0, 0], layer.pw_bn))
    np.testing.assert_allclose(out, y, rtol=1e-4, atol=1e-5)


def test_parameter_counts_at_1024_channels():
    inputs = keras.Input((7, 7, 1024))
    default = keras.Model(inputs, MishHead()(inputs))
    assert count_params(default) == 1024 + 2 * 1024  # depthwise 1x1 + BN
    hidden = keras.Model(inputs, MishHead(hidden_units=24)(inputs))
    assert count_params(hidden) == 1024 + 2 * 1024 + 1024 * 24 + 2 * 24


def test_dropout_only_in_training():
    layer = MishHead(dropout_rate=0.5)
    x = np.random.rand(4, 2, 2, 16).astype("float32")
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), np.asarray(layer(x, training=False)))
    assert np.any(np.asarray(layer(x, training=True)) == 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="hidden_units must be None or a positive integer"):
        MishHead(hidden_units=0)
    with pytest.raises(ValueError, match="dropout_rate must be in"):
        MishHead(dropout_rate=1.0)
    with pytest.raises(ValueError, match="expects a 4-D"):
        MishHead()(np.zeros((2, 8), "float32"))
