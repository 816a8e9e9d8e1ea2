import keras
import numpy as np
import pytest

from kerasfer.layers import Conv2dBN
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_layer_test


def np_conv2d(x, kernel, stride, pad, depthwise=False):
    """Reference NCHW-free conv: x (B, H, W, C), kernel HWIO or (kh, kw, C, m), symmetric zero pad."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = kernel.shape[:2]
    b, h, w, c = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    if depthwise:
        m = kernel.shape[-1]
        out = np.zeros((b, oh, ow, c * m))
    else:
        out = np.zeros((b, oh, ow, kernel.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            if depthwise:
                out[:, i, j] = np.einsum("bhwc,hwcm->bcm", patch, kernel).reshape(b, -1)
            else:
                out[:, i, j] = np.einsum("bhwc,hwco->bo", patch, kernel)
    return out


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer_standard():
    run_layer_test(
        Conv2dBN,
        {"filters": 8, "kernel_size": 3, "strides": 2},
        _x((2, 9, 9, 3)),
        expected_output_shape=(2, 5, 5, 8),
        expected_num_trainable_weights=3,
        expected_num_non_trainable_weights=2,
    )


def test_layer_depthwise_and_inference_mode():
    run_layer_test(
        Conv2dBN,
        {"filters": 8, "kernel_size": 3, "groups": 4},
        _x((2, 6, 6, 4)),
        expected_output_shape=(2, 6, 6, 8),
        expected_num_trainable_weights=3,
    )
    run_layer_test(
        Conv2dBN,
        {"filters": 4, "kernel_size": 3, "strides": 2, "inference_mode": True},
        _x((2, 8, 8, 4)),
        expected_output_shape=(2, 4, 4, 4),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
    )


@pytest.mark.parametrize("stride,size", [(2, 8), (2, 7), (1, 6)])
def test_pytorch_padding_parity(stride, size):
    """Symmetric k//2 padding like PyTorch, also at stride 2 on even inputs (Keras 'same' would differ)."""
    layer = Conv2dBN(5, 3, strides=stride)
    x = _x((2, size, size, 3))
    y = np.asarray(layer(x, training=False))
    kernel = keras.ops.convert_to_numpy(layer.conv.kernel)
    expected = np_conv2d(x, kernel, stride, 1) / np.sqrt(1.0 + 1e-5)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_depthwise_multiplier_channel_order():
    """groups == in channels gives a DepthwiseConv2D; output j belongs to input j // multiplier (PyTorch)."""
    layer = Conv2dBN(6, 3, groups=3)
    x = _x((1, 5, 5, 3))
    y = np.asarray(layer(x, training=False))
    assert isinstance(layer.conv, keras.layers.DepthwiseConv2D)
    kernel = keras.ops.convert_to_numpy(layer.conv.kernel)
    assert kernel.shape == (3, 3, 3, 2)
    expected = np_conv2d(x, kernel, 1, 1, depthwise=True) / np.sqrt(1.0 + 1e-5)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    # channel 3 (input 1, multiplier 1) only sees input channel 1
    x2 = x.copy()
    x2[..., 0] = 0
    x2[..., 2] = 0
    y2 = np.asarray(layer(x2, training=False))
    np.testing.assert_allclose(y2[..., 2:4], y[..., 2:4], atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,in_ch",
    [
        ({"filters": 6, "kernel_size": 3, "strides": 2}, 3),
        ({"filters": 8, "kernel_size": 3, "groups": 8}, 8),
        ({"filters": 8, "kernel_size": 1, "groups": 2}, 4),
        ({"filters": 4, "kernel_size": (3, 5), "padding": (1, 2)}, 4),
    ],
)
def test_fused_equals_unfused(kwargs, in_ch):
    layer = Conv2dBN(**kwargs)
    x = _x((2, 8, 8, in_ch))
    layer(x)
    randomize_batchnorm(layer, seed=1)
    expected = np.asarray(layer(x, training=False))
    kernel, bias = layer.get_fused_weights()
    fused = Conv2dBN(**kwargs, inference_mode=True)
    fused(x)
    fused.set_weights([kernel, bias])
    np.testing.assert_allclose(np.asarray(fused(x)), expected, atol=1e-5)
    np.testing.assert_allclose(fused.get_fused_weights()[0], kernel)
    assert fused.count_params() < layer.count_params()


def test_bn_settings():
    layer = Conv2dBN(4, 1, bn_weight_init=0.0)
    layer.build((None, 4, 4, 2))
    assert layer.bn.epsilon == 1e-5 and layer.bn.momentum == 0.9
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.bn.gamma), np.zeros(4))


def test_errors():
    with pytest.raises(ValueError, match="multiple of groups"):
        Conv2dBN(6, 3, groups=4)
    with pytest.raises(ValueError, match="input channels"):
        Conv2dBN(6, 3, groups=3)(np.zeros((1, 4, 4, 4), "float32"))
    with pytest.raises(ValueError, match="4-D"):
        Conv2dBN(6, 3)(np.zeros((1, 4, 4), "float32"))
    with pytest.raises(ValueError, match="not built"):
        Conv2dBN(6, 3).get_fused_weights()
