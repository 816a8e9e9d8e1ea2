import numpy as np
import pytest

from kerasfer.layers import MixBottleneck
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_layer_test


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_layer_transition():
    run_layer_test(
        MixBottleneck,
        {"filters": 6, "expansion": 12, "kernel_sizes": [3, 5], "splits": [8, 4], "strides": 2},
        _x((2, 8, 8, 4)),
        expected_output_shape=(2, 4, 4, 6),
    )


def test_layer_residual():
    run_layer_test(
        MixBottleneck,
        {"filters": 4, "expansion": 8, "kernel_sizes": [3], "residual": True},
        _x((2, 5, 5, 4)),
        expected_output_shape=(2, 5, 5, 4),
    )


@pytest.mark.parametrize(
    "args,in_ch,expected",
    [
        ((64, 96, [3, 5], [64, 32], 2, False), 64, 16_600),  # LFN conv_23
        ((64, 96, [3], [96], 1, True), 64, 144_792 // 9),  # one LFN conv_3 block
        ((256, 768, [3, 5, 7], [256, 256, 256], 2, False), 128, 375_880),  # LFN conv_45
    ],
)
def test_param_counts_match_reference(args, in_ch, expected):
    layer = MixBottleneck(*args)
    layer.build((None, 8, 8, in_ch))
    assert sum(int(np.prod(v.shape)) for v in layer.trainable_weights) == expected


def test_residual_adds_input():
    layer = MixBottleneck(4, 8, [3], residual=True)
    x = _x((1, 4, 4, 4))
    layer(x)
    layer.project.bn.gamma.assign(np.zeros(4, "float32"))
    layer.project.bn.beta.assign(np.zeros(4, "float32"))
    np.testing.assert_allclose(np.asarray(layer(x, training=False)), x, atol=1e-6)


def test_inference_mode_matches_fused_weights():
    kwargs = {"filters": 4, "expansion": 8, "kernel_sizes": [3, 5], "splits": [5, 3], "strides": 2}
    layer = MixBottleneck(**kwargs)
    x = _x((2, 6, 6, 3))
    layer(x)
    randomize_batchnorm(layer, seed=5)
    fused = MixBottleneck(**kwargs, inference_mode=True)
    fused(x)
    fused.expand.set_weights(list(layer.expand.get_fused_weights()))
    fused.project.set_weights(list(layer.project.get_fused_weights()))
    fused.expand_prelu.set_weights(layer.expand_prelu.get_weights())
    fused.mixconv.set_weights(layer.mixconv.get_weights())
    fused.attention.set_weights(layer.attention.get_weights())
    np.testing.assert_allclose(np.asarray(fused(x)), np.asarray(layer(x, training=False)), atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="strides=1"):
        MixBottleneck(4, 8, [3], strides=2, residual=True)
    with pytest.raises(ValueError, match="must sum"):
        MixBottleneck(4, 8, [3, 5], splits=[4, 2])
    with pytest.raises(ValueError, match="input channels == filters"):
        MixBottleneck(4, 8, [3], residual=True)(np.zeros((1, 4, 4, 3), "float32"))
