import keras
import numpy as np
import pytest

from kerasfer.layers import CBAM
from kerasfer.testing import randomize_batchnorm
from kerasfer.testing import run_layer_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _reference(layer, x):
    """CBAM in numpy from the layer's weights (inference mode)."""
    w1, b1 = (np.asarray(v) for v in layer.mlp_hidden.weights)
    w2, b2 = (np.asarray(v) for v in layer.mlp_out.weights)

    def mlp(v):
        return np.maximum(v @ w1 + b1, 0.0) @ w2 + b2

    att = _sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))
    y = x * att[:, None, None, :]
    pooled = np.concatenate([y.max(axis=-1, keepdims=True), y.mean(axis=-1, keepdims=True)], axis=-1)
    k = np.asarray(layer.spatial_conv.kernel)  # (7, 7, 2, 1)
    p = k.shape[0] // 2
    padded = np.pad(pooled, ((0, 0), (p, p), (p, p), (0, 0)))
    h, w = x.shape[1:3]
    conv = np.zeros(x.shape[:3] + (1,), "float64")
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            conv += padded[:, i : i + h, j : j + w, :] @ k[i, j]
    bn = layer.spatial_bn
    gamma, beta, mean, var = (np.asarray(v) for v in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    s = (conv - mean) / np.sqrt(var + bn.epsilon) * gamma + beta
    return y * _sigmoid(s)


def test_layer_contract():
    run_layer_test(
        CBAM,
        {"reduction_ratio": 4, "kernel_size": 7},
        np.random.rand(2, 6, 6, 16).astype("float32"),
        expected_output_shape=(2, 6, 6, 16),
        # mlp hidden kernel+bias, mlp out kernel+bias, conv kernel, bn gamma+beta
        expected_num_trainable_weights=7,
        expected_num_non_trainable_weights=2,
    )


def test_matches_numpy_reference():
    x = np.random.randn(2, 9, 7, 32).astype("float32")
    layer = CBAM(reduction_ratio=16)
    layer(x)
    randomize_batchnorm(layer)
    for v in layer.mlp_hidden.weights + layer.mlp_out.weights:
        v.assign(np.random.randn(*v.shape).astype("float32") * 0.3)
    out = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(out, _reference(layer, x.astype("float64")), rtol=1e-4, atol=1e-5)


def test_params_and_macs():
    inputs = keras.Input((8, 8, 64))
    model = keras.Model(inputs, CBAM(reduction_ratio=16)(inputs))
    # MLP 64->4->64 with biases (260 + 320), 7x7x2 conv (98), BN gamma/beta (2).
    assert count_params(model) == 64 * 4 + 4 + 4 * 64 + 64 + 98 + 2
    # The shared MLP runs twice (avg and max), the spatial conv once per pixel.
    assert count_macs(model, convention="conv") == 2 * (64 * 4 + 4 * 64) + 8 * 8 * 98


def test_without_spatial_gate_and_small_channels():
    x = np.random.rand(1, 3, 3, 8).astype("float32")
    layer = CBAM(reduction_ratio=16, use_spatial=False)
    out = np.asarray(layer(x))
    assert layer.mlp_hidden.units == 1  # max(1, 8 // 16)
    assert out.shape == x.shape
    assert not layer.spatial_conv.built


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction_ratio must be a positive integer"):
        CBAM(reduction_ratio=0)
    with pytest.raises(ValueError, match="kernel_size must be a positive odd integer"):
        CBAM(kernel_size=4)
    with pytest.raises(ValueError, match="expects a 4-D"):
        CBAM()(np.zeros((2, 16), "float32"))
