import keras
import numpy as np
import pytest

from kerasfer.layers import GDConv
from kerasfer.testing.test_case import assert_finite_gradients
from kerasfer.testing.test_case import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer():
    run_layer_test(
        GDConv,
        {"embedding_size": 6},
        _x((2, 3, 3, 4)),
        expected_output_shape=(2, 6),
        expected_num_trainable_weights=6,  # dw kernel, bn gamma/beta, linear kernel, bn1d gamma/beta
        # the default loss, mean(out**2), is constant for L2-normalised outputs: gradients are checked below
        run_training_check=False,
    )
    inputs = keras.Input((3, 3, 4))
    model = keras.Model(inputs, GDConv(embedding_size=6)(inputs))
    # in training mode the BatchNorm1d after the linear layer removes any per-channel shift,
    # so the depthwise BN's beta gets exactly zero gradient (as in PyTorch)
    assert_finite_gradients(  # batch 6: a training-mode BatchNorm over 2 samples outputs only +-gamma
        model,
        _x((6, 3, 3, 4)),
        loss_fn=lambda y, out: keras.ops.sum(out[:, 0] + 2.0 * out[:, 1]),
        allow_zero=("dwconv_bn/beta",),
    )
    run_layer_test(
        GDConv,
        {"embedding_size": 5, "kernel_size": [4, 3], "normalize": False},
        _x((2, 4, 3, 4)),
        allow_zero_grad=("dwconv_bn/beta",),
    )


def test_param_count_and_unit_norm():
    layer = GDConv(256, kernel_size=7)
    y = np.asarray(layer(_x((2, 7, 7, 256)), training=False))
    assert sum(int(np.prod(v.shape)) for v in layer.trainable_weights) == 13_056 + 65_536 + 512  # LFN head
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1.0, atol=1e-5)
    assert tuple(layer.conv.conv.kernel.shape) == (7, 7, 256, 1)


def test_batch_one_and_zero_input_gradient_safe():
    layer = GDConv(4, normalize=True)
    y = np.asarray(layer(np.zeros((1, 2, 2, 3), "float32"), training=False))
    assert y.shape == (1, 4) and np.all(np.isfinite(y))


def test_kernel_must_cover_map():
    with pytest.raises(ValueError, match="feature-map size"):
        GDConv(8, kernel_size=7)(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match=">= 1"):
        GDConv(0)
