import keras
import numpy as np
import pytest

from kerasfer.layers import SpatialBias
from kerasfer.layers.spatial_bias import adaptive_pool_params
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def np_adaptive_avg_pool(x, out):
    """PyTorch AdaptiveAvgPool2d on NCHW numpy: bin i = [floor(i*n/out), ceil((i+1)*n/out))."""
    b, c, h, w = x.shape
    res = np.zeros((b, c, out, out))
    for i in range(out):
        for j in range(out):
            h0, h1 = (i * h) // out, -(-((i + 1) * h) // out)
            w0, w1 = (j * w) // out, -(-((j + 1) * w) // out)
            res[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return res


def reference_sb(layer, x):
    """Independent NCHW re-implementation of LFNSB2's Spatial_bias (ARCHITECTURES 2.2, einsum in step 3)."""
    as_np = keras.ops.convert_to_numpy
    xc = x.transpose(0, 3, 1, 2).astype("float64")
    w = as_np(layer.conv.kernel)[0, 0]  # C x C'
    t = np.einsum("bchw,cd->bdhw", xc, w)
    bn = layer.bn
    t = (t - as_np(bn.moving_mean)[:, None, None]) / np.sqrt(as_np(bn.moving_variance)[:, None, None] + 1e-5)
    t = np.maximum(t * as_np(bn.gamma)[:, None, None] + as_np(bn.beta)[:, None, None], 0)
    r = layer.pool_size
    v = np_adaptive_avg_pool(t, r).reshape(x.shape[0], -1, r * r).transpose(0, 2, 1)  # B x P x C'
    # PyTorch Conv1d weight W[p, q, k] = our kernel[k, 0, q, p]
    W = as_np(layer.conv1d.kernel)[:, 0].transpose(2, 1, 0)
    bias = as_np(layer.conv1d.bias)
    K = W.shape[-1]
    n = v.shape[-1] - K + 1
    y = bias[None, :, None] + sum(np.einsum("pq,bqc->bpc", W[:, :, k], v[:, :, k : k + n]) for k in range(K))
    y = y.transpose(0, 2, 1).reshape(x.shape[0], n, r, r)  # B x num_sb x r x r
    return y, y.reshape(x.shape[0], -1)


def test_layer_reference_and_concat():
    run_layer_test(
        SpatialBias,
        {"reduced_channels": 6},
        _x((2, 7, 7, 8)),
        expected_output_shape=(2, 16),
        expected_num_trainable_weights=5,
    )
    run_layer_test(
        SpatialBias, {"reduced_channels": 6, "mode": "concat"}, _x((2, 4, 4, 8)), expected_output_shape=(2, 4, 4, 12)
    )


def test_param_count_lfnsb():
    layer = SpatialBias()
    y = layer(_x((1, 7, 7, 256)))  # batch 1 (the reference crashes there)
    assert y.shape == (1, 256)
    assert sum(int(np.prod(v.shape)) for v in layer.trainable_weights) == 16_896 + 132 + 52


@pytest.mark.parametrize("size,batch", [(7, 1), (7, 3), (4, 2), (3, 1)])
def test_matches_numpy_reference(size, batch):
    layer = SpatialBias(reduced_channels=10)
    x = _x((batch, size, size, 12), seed=size)
    layer(x)
    randomize_batchnorm(layer, seed=6)
    layer.conv1d.bias.assign(np.array([0.1, -0.2, 0.3, 0.05], "float32"))
    _, flat = reference_sb(layer, x)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), flat, atol=1e-5)


def test_concat_mode():
    layer = SpatialBias(reduced_channels=6, mode="concat")
    x = _x((1, 7, 7, 5))
    out = np.asarray(layer(x, training=False))
    assert out.shape == (1, 7, 7, 9)
    np.testing.assert_allclose(out[..., :5], x)
    maps, _ = reference_sb(layer, x)  # B x 4 x 2 x 2
    up = np.asarray(keras.ops.image.resize(maps.transpose(0, 2, 3, 1).astype("float32"), (7, 7)))
    np.testing.assert_allclose(out[..., 5:], up, atol=1e-5)


@pytest.mark.parametrize(
    "size,expected", [(7, (4, 3)), (4, (2, 2)), (3, (2, 1)), (5, (3, 2)), (8, (4, 4)), (2, (1, 1))]
)
def test_adaptive_pool_params(size, expected):
    assert adaptive_pool_params(size, 2) == expected


def test_errors():
    with pytest.raises(ValueError, match="unequal bins"):
        adaptive_pool_params(5, 3)  # bins [0,2) [1,4) [3,5)
    assert adaptive_pool_params(7, 3) == (3, 2)
    with pytest.raises(ValueError, match="must be >= 2"):
        SpatialBias()(np.zeros((1, 1, 1, 8), "float32"))
    with pytest.raises(ValueError, match="mode"):
        SpatialBias(mode="upsample")
    with pytest.raises(ValueError, match="reduced_channels"):
        SpatialBias(reduced_channels=2)
