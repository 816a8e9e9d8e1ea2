import keras
import numpy as np
import pytest

from kerasfer.layers import CoordinateAttention
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer():
    run_layer_test(
        CoordinateAttention,
        {},
        _x((2, 5, 6, 16)),
        expected_output_shape=(2, 5, 6, 16),
        expected_num_trainable_weights=8,
    )


@pytest.mark.parametrize("channels,mip", [(96, 8), (192, 8), (342, 10), (768, 24)])
def test_mip(channels, mip):
    layer = CoordinateAttention()
    layer.build((None, 4, 4, channels))
    assert layer.conv1.filters == mip
    params = sum(int(np.prod(v.shape)) for v in layer.trainable_weights)
    assert params == (channels * mip + mip) + 2 * mip + 2 * (mip * channels + channels)


def test_matches_numpy_reference():
    """Independent re-implementation of houqb/CoordAttention in NCHW numpy."""
    layer = CoordinateAttention(reduction=4, min_channels=2)
    x = _x((2, 5, 4, 12))
    layer(x)
    randomize_batchnorm(layer, seed=4)
    as_np = keras.ops.convert_to_numpy
    y = np.asarray(layer(x, training=False))

    xc = x.transpose(0, 3, 1, 2).astype("float64")  # B C H W
    x_h = xc.mean(axis=3, keepdims=True)  # B C H 1
    x_w = xc.mean(axis=2, keepdims=True).transpose(0, 1, 3, 2)  # B C W 1
    cat = np.concatenate([x_h, x_w], axis=2)[..., 0]  # B C (H+W)
    w1 = as_np(layer.conv1.kernel)[0, 0]  # C x mip
    t = np.einsum("bcl,cm->bml", cat, w1) + as_np(layer.conv1.bias)[None, :, None]
    bn = layer.bn1
    t = (t - as_np(bn.moving_mean)[:, None]) / np.sqrt(as_np(bn.moving_variance)[:, None] + 1e-5)
    t = t * as_np(bn.gamma)[:, None] + as_np(bn.beta)[:, None]
    t = t * np.clip(t + 3, 0, 6) / 6
    th, tw = t[:, :, :5], t[:, :, 5:]

    def sig(v):
        return 1 / (1 + np.exp(-v))

    a_h = sig(np.einsum("bml,mc->bcl", th, as_np(layer.conv_h.kernel)[0, 0]) + as_np(layer.conv_h.bias)[None, :, None])
    a_w = sig(np.einsum("bml,mc->bcl", tw, as_np(layer.conv_w.kernel)[0, 0]) + as_np(layer.conv_w.bias)[None, :, None])
    out = xc * a_w[:, :, None, :] * a_h[:, :, :, None]
    np.testing.assert_allclose(y, out.transpose(0, 2, 3, 1), atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="4-D"):
        CoordinateAttention()(np.zeros((1, 4, 4), "float32"))
    with pytest.raises(ValueError, match=">= 1"):
        CoordinateAttention(reduction=0)
