import keras
import numpy as np
import pytest

from kerasfer.layers import PDWRes
from kerasfer.testing import randomize_batchnorm
from kerasfer.testing import run_layer_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params


def _depthwise(x, kernel, stride):
    """PyTorch-style depthwise 3x3 conv (groups = C, padding 1 on every side) in numpy."""
    kh, kw, c, m = kernel.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h = (x.shape[1] - 1) // stride + 1
    w = (x.shape[2] - 1) // stride + 1
    out = np.zeros((x.shape[0], h, w, c * m))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (w - 1) + 1 : stride, :]
            # output channel c * m + k comes from input channel c (PyTorch groups order)
            out += (patch[..., :, None] * kernel[i, j][None, None, None]).reshape(out.shape)
    return out


def _bn(x, bn):
    gamma, beta, mean, var = (np.asarray(v, "float64") for v in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
    return (x - mean) / np.sqrt(var + bn.epsilon) * gamma + beta


def _reference(layer, x):
    h, w = x.shape[1] // 2, x.shape[2] // 2
    quads = [x[:, :h, :w], x[:, h:, :w], x[:, :h, w:], x[:, h:, w:]]
    outs = []
    for q, (dw1, bn1, dw2, bn2) in zip(quads, layer.branches, strict=True):
        y = np.clip(_bn(_depthwise(q, np.asarray(dw1.kernel, "float64"), 2), bn1), 0, 6)
        y = np.clip(_bn(_depthwise(y, np.asarray(dw2.kernel, "float64"), 1), bn2), 0, 6)
        outs.append(y)
    tl, bl, tr, br = outs
    return np.concatenate([np.concatenate([tl, bl], 1), np.concatenate([tr, br], 1)], 2)


def test_layer_contract():
    run_layer_test(
        PDWRes,
        {"depth_multiplier": 2},
        np.random.rand(2, 8, 12, 3).astype("float32"),
        expected_output_shape=(2, 4, 6, 6),
        expected_num_trainable_weights=4 * 6,  # 4 quadrants x (dw1, bn1 gamma/beta, dw2, bn2 gamma/beta)
        expected_num_non_trainable_weights=4 * 4,
    )


def test_params_at_29_channels_and_shape_224():
    inputs = keras.Input((56, 56, 29))
    layer = PDWRes(depth_multiplier=4)
    outputs = layer(inputs)
    assert tuple(outputs.shape) == (None, 28, 28, 116)
    model = keras.Model(inputs, outputs)
    assert count_params(model) == 10_208
    # 4 quadrants x 2 depthwise convs x 116 channels x 9 taps x 14 x 14 positions.
    assert count_macs(model, convention="conv") == 4 * 2 * 116 * 9 * 14 * 14
    assert {w.path.split("/")[0] for w in layer.weights} == {layer.name}


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 6, 10, 2)])
def test_matches_pytorch_style_reference(shape):
    x = np.random.randn(*shape).astype("float32") * 2
    layer = PDWRes(depth_multiplier=3)
    layer(x)
    randomize_batchnorm(layer)
    for dw1, _, dw2, _ in layer.branches:
        for v in (dw1.kernel, dw2.kernel):
            v.assign(np.random.randn(*v.shape).astype("float32"))
    out = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(out, _reference(layer, x.astype("float64")), rtol=1e-4, atol=1e-4)


def test_quadrants_are_independent():
    layer = PDWRes(depth_multiplier=1, activation="relu")
    x = np.random.rand(1, 8, 8, 2).astype("float32")
    base = np.asarray(layer(x, training=False))
    x2 = x.copy()
    x2[:, :4, 4:] += 1.0  # change only the top-right quadrant
    diff = np.abs(np.asarray(layer(x2, training=False)) - base).max(axis=(0, 3))
    assert diff[:2, 2:].max() > 0
    diff[:2, 2:] = 0
    assert diff.max() == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="H and W must be even"):
        PDWRes()(np.zeros((1, 7, 8, 2), "float32"))
    with pytest.raises(ValueError, match="expects a 4-D"):
        PDWRes()(np.zeros((1, 8, 8), "float32"))
    with pytest.raises(ValueError, match="depth_multiplier must be a positive integer"):
        PDWRes(depth_multiplier=0)
