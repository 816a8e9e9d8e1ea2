import keras
import numpy as np
import pytest

from kerasfer.layers import BasicBlock
from kerasfer.layers import MaskingBlock
from kerasfer.testing.test_case import assert_finite_gradients
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_layer_test
from kerasfer.utils import count_params


def _basic_params(cin, cout, projection=None):
    """Trainable params of a torchvision BasicBlock (no conv bias, BN gamma+beta); projection when cin != cout."""
    projection = cin != cout if projection is None else projection
    p = 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout
    return p + (cin * cout + 2 * cout if projection else 0)


def _mask_params(c, depth, w=1.0):
    widths = [int(round(c * 2**k * w)) for k in range(1, depth + 1)]
    p = _basic_params(c, widths[0])
    for k in range(1, depth):
        p += _basic_params(widths[k - 1], widths[k])
    for k in range(depth - 1, 0, -1):
        p += 4 * widths[k] * widths[k - 1] + widths[k - 1] + 2 * widths[k - 1]  # deconv (bias) + BN
        p += _basic_params(2 * widths[k - 1], widths[k - 1])
    return p + _basic_params(widths[0], c)


def test_reference_mask_formula():
    # The reference counts of RMN's four masks (ARCHITECTURES.md 5.1), via the structure the layer builds.
    assert [_mask_params(64, 4), _mask_params(128, 3), _mask_params(256, 2), _mask_params(512, 1)] == [
        32366080,
        31885312,
        29965312,
        22291456,
    ]


@pytest.mark.parametrize("strides,cin,filters", [(2, 4, 8), (1, 8, 8)])
def test_basic_block_layer(strides, cin, filters):
    x = np.random.default_rng(0).normal(size=(2, 9, 9, cin)).astype("float32")
    layer = run_layer_test(
        BasicBlock,
        {"filters": filters, "strides": strides},
        x,
        expected_output_shape=(2, 5 if strides == 2 else 9, 5 if strides == 2 else 9, filters),
    )
    assert count_params(layer) == _basic_params(cin, filters, cin != filters or strides != 1)


def test_basic_block_projection_flag():
    block = BasicBlock(4, projection=True)
    block(np.zeros((1, 4, 4, 4), "float32"))
    assert count_params(block) == _basic_params(4, 4, True)
    with pytest.raises(ValueError, match="projection=False"):
        BasicBlock(4, projection=False)(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match="strides"):
        BasicBlock(4, strides=3)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_masking_block_layer(depth):
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 4)).astype("float32")
    init = {"filters": 4, "depth": depth, "width_multiplier": 0.5, "activation": "softmax"}
    layer = run_layer_test(MaskingBlock, init, x, expected_output_shape=(2, 8, 8, 4), run_training_check=False)
    assert count_params(layer) == _mask_params(4, depth, 0.5)


def test_masking_block_gradients_reach_every_weight():
    # The reference zero-initialises the last BN gamma of each block; randomise BN so every weight gets signal.
    inp = keras.Input((8, 8, 4))
    model = keras.Model(inp, MaskingBlock(4, depth=3, width_multiplier=0.5, activation="sigmoid")(inp))
    randomize_batchnorm(model)
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 4)).astype("float32")
    assert_finite_gradients(model, x)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_masking_is_residual(activation):
    layer = MaskingBlock(4, depth=2, width_multiplier=1.0, activation=activation)
    x = np.random.default_rng(3).normal(size=(1, 4, 4, 4)).astype("float32")
    out = np.asarray(layer(x))
    m = np.asarray(layer.attention_map(x))
    np.testing.assert_allclose(out, x * (1 + m), rtol=1e-5, atol=1e-6)
    assert m.min() >= 0 and m.max() <= 1
    if activation == "softmax":
        np.testing.assert_allclose(m.sum(-1), 1.0, rtol=1e-5)
    else:
        # Fresh init: each block's last BN gamma is 0 -> the mask starts from its shortcuts, not constant 0.5.
        assert not np.allclose(m, 0.5)


def test_width_multiplier_shrinks():
    a, b = MaskingBlock(8, 2), MaskingBlock(8, 2, width_multiplier=0.25)
    x = np.zeros((1, 4, 4, 8), "float32")
    a(x)
    b(x)
    assert count_params(b) < count_params(a) / 8


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        MaskingBlock(4, depth=5)
    with pytest.raises(ValueError, match="activation"):
        MaskingBlock(4, depth=1, activation="relu")
    with pytest.raises(ValueError, match="width_multiplier"):
        MaskingBlock(4, depth=1, width_multiplier=0)
    with pytest.raises(ValueError, match="divisible by 4"):
        MaskingBlock(4, depth=3)(np.zeros((1, 6, 6, 4), "float32"))
    with pytest.raises(ValueError, match="4 channels"):
        MaskingBlock(4, depth=1)(np.zeros((1, 4, 4, 3), "float32"))


def _reference_attention_map(block, x):
    """The reference order: relu(bn(deconv)) then concat with the skip (RMN's masking.py)."""
    skips = []
    for k, down in enumerate(block.down_blocks):
        if k > 0:
            x = block.pools[k - 1](x)
        x = down(x, training=False)
        skips.append(x)
    for i, (conv, bn, up) in enumerate(zip(block.up_convs, block.up_bns, block.up_blocks, strict=True)):
        x = keras.ops.relu(bn(conv(x), training=False))
        x = keras.ops.concatenate([x, skips[block.depth - 2 - i]], axis=-1)
        x = up(x, training=False)
    x = block.out_block(x, training=False)
    return keras.ops.softmax(x, axis=-1) if block.activation == "softmax" else keras.ops.sigmoid(x)


def test_relu_after_concat_matches_the_reference_order():
    block = MaskingBlock(4, depth=3)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    block(x)
    randomize_batchnorm(block)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(block.attention_map(x, training=False)),
        keras.ops.convert_to_numpy(_reference_attention_map(block, x)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.tf_only
@pytest.mark.tflite
def test_tflite_transpose_conv_has_no_fused_activation():
    pytest.importorskip("tensorflow")
    from kerasfer.export import flatbuffer
    from kerasfer.export import gpu_check
    from kerasfer.export import tflite

    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, MaskingBlock(4, depth=2, name="mask")(inputs))
    randomize_batchnorm(model)
    fm = flatbuffer.read_tflite(tflite.convert(model, "fp32"))
    versions = [op.version for op in fm.ops if op.name == "TRANSPOSE_CONV"]
    assert versions and max(versions) <= 3  # v4 = a fused activation, which the GPU delegate rejects
    assert gpu_check.check(tflite.convert(model, "fp32")).ok
