import keras
import numpy as np
import pytest

from kerasfer.layers import MixConv
from kerasfer.layers.mix_conv import split_channels
from kerasfer.testing.test_case import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def np_depthwise(x, kernel, stride):
    """Depthwise conv with PyTorch's symmetric k//2 padding; kernel (k, k, C, 1)."""
    k = kernel.shape[0]
    p = k // 2
    x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    b, h, w, c = x.shape
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    out = np.zeros((b, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + k, j * stride : j * stride + k, :]
            out[:, i, j] = np.einsum("bhwc,hwc->bc", patch, kernel[..., 0])
    return out


def test_layer():
    run_layer_test(
        MixConv,
        {"kernel_sizes": [3, 5], "splits": [4, 2], "strides": 2},
        _x((2, 8, 8, 6)),
        expected_output_shape=(2, 4, 4, 6),
        expected_num_trainable_weights=2,
    )
    run_layer_test(MixConv, {"kernel_sizes": [3]}, _x((2, 5, 5, 3)), expected_output_shape=(2, 5, 5, 3))


@pytest.mark.parametrize(
    "channels,groups,expected",
    [(96, 2, [48, 48]), (10, 3, [4, 3, 3]), (7, 4, [4, 1, 1, 1]), (768, 3, [256, 256, 256]), (5, 1, [5])],
)
def test_split_rule(channels, groups, expected):
    assert split_channels(channels, groups) == expected


def test_equal_split_used_when_splits_is_none():
    layer = MixConv([3, 5, 7])
    layer(np.zeros((1, 9, 9, 10), "float32"))
    assert [tuple(c.kernel.shape) for c in layer.convs] == [(3, 3, 4, 1), (5, 5, 3, 1), (7, 7, 3, 1)]


@pytest.mark.parametrize("stride,size", [(1, 7), (2, 8), (2, 7)])
def test_matches_grouped_reference(stride, size):
    layer = MixConv([3, 5], splits=[3, 2], strides=stride)
    x = _x((2, size, size, 5))
    y = np.asarray(layer(x))
    k0 = keras.ops.convert_to_numpy(layer.convs[0].kernel)
    k1 = keras.ops.convert_to_numpy(layer.convs[1].kernel)
    expected = np.concatenate([np_depthwise(x[..., :3], k0, stride), np_depthwise(x[..., 3:], k1, stride)], -1)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    assert layer.convs[0].bias is None


def test_errors():
    with pytest.raises(ValueError, match="odd"):
        MixConv([3, 4])
    with pytest.raises(ValueError, match="differ in length"):
        MixConv([3, 5], splits=[4])
    with pytest.raises(ValueError, match="sum to 6"):
        MixConv([3, 5], splits=[4, 2])(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match="non-empty"):
        MixConv([3, 5, 7])(np.zeros((1, 4, 4, 2), "float32"))
