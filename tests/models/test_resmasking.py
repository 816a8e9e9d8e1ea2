import keras
import numpy as np
import pytest

from kerasfer import models
from kerasfer.models.resmasking import ResMaskingNet
from kerasfer.models.resmasking import ResMaskingReconstructionNet
from kerasfer.models.resnet import ResNet18
from kerasfer.testing.test_case import assert_finite_gradients
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.testing.test_case import run_model_saving_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params

SMALL = {"input_shape": (64, 64, 3), "depth": 18, "mask_width": 0.125}


def _images(batch, size=64, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3)).astype("float32")


def test_reference_param_count_at_224():
    # phamquiluan/ResidualMaskingNetwork resmasking_dropout1: ResNet-34 + masks 4/3/2/1, 7 classes (built, not run).
    model = models.create_model("resmaskingnet")
    assert model.name == "resmaskingnet"
    assert count_params(model) == 137_796_423
    assert model.get_layer("normalization").mean == 0.0 and model.get_layer("normalization").std == 1.0


@pytest.mark.large
def test_resnet18_variant_count_and_macs_at_224():
    model = models.create_model("resmaskingnet18")
    assert count_params(model) == 127_688_263
    big = ResMaskingNet()
    macs = count_macs(big)
    assert abs(macs - 21.93e9) / 21.93e9 < 0.01, macs  # fvcore: 21.93 GMACs


def test_structure_counts_small():
    no_mask = ResMaskingNet(mask_depths=(0, 0, 0, 0), input_shape=(64, 64, 3), depth=18, dropout=0.0)
    # Without masks it is ResNet-18 with a 7-class head.
    assert count_params(no_mask) == count_params(ResNet18(num_classes=7, input_shape=(64, 64, 3)))
    light = ResMaskingNet(**SMALL)
    full_masks = 32366080 + 31885312 + 29965312 + 22291456  # reference masks (see test_masking_block.py)
    assert count_params(no_mask) < count_params(light) < count_params(no_mask) + full_masks / 10


def test_forward_batches_and_activation():
    model = ResMaskingNet(mask_activation="sigmoid", **SMALL)
    for batch in (1, 2):
        out = np.asarray(model(_images(batch)))
        assert out.shape == (batch, 7)
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert model.get_layer("mask1").activation == "sigmoid"
    assert model.get_layer("mask1").depth == 4 and model.get_layer("mask4").depth == 1
    trunk = ResMaskingNet(include_top=False, **SMALL)
    assert trunk.output.shape == (None, 2, 2, 512)


def test_macs_small():
    model = ResMaskingNet(**SMALL)
    plain = ResMaskingNet(mask_depths=(0, 0, 0, 0), input_shape=(64, 64, 3), depth=18)
    assert count_macs(model) > count_macs(plain) > 0


@pytest.mark.slow_on_jax
def test_reconstruction_outputs_gradients_and_saving():
    model = ResMaskingReconstructionNet(**SMALL)
    assert model.name == "resmasking_reconstruction"
    assert model.output_names == ["predictions", "reconstruction"]
    x = _images(2)
    pred, rec = model(x)
    assert pred.shape == (2, 7) and rec.shape == (2, 64, 64, 3)
    rec = np.asarray(rec)
    assert rec.min() >= 0 and rec.max() <= 1
    assert count_params(model) - count_params(ResMaskingNet(**SMALL)) == 64 * 3 + 3
    run_model_saving_test(model, x)
    # The recommended training losses (plain Keras stand-ins): CE on predictions + 0.1 * L1 to the image / 255.
    y = keras.utils.to_categorical([1, 3], 7)
    cce, mae = keras.losses.CategoricalCrossentropy(), keras.losses.MeanAbsoluteError()

    def loss_fn(targets, outputs):
        return cce(targets[0], outputs[0]) + 0.1 * mae(targets[1], outputs[1])

    randomize_batchnorm(model)  # the masks start with zero last-BN gammas (reference init)
    assert_finite_gradients(model, x, y=(y, x / 255.0), loss_fn=loss_fn)


def test_config_round_trip():
    model = ResMaskingNet(**SMALL)
    clone = keras.Model.from_config(model.get_config())
    assert count_params(clone) == count_params(model)
    assert clone.get_layer("mask2").get_config() == model.get_layer("mask2").get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="3 channels"):
        ResMaskingNet(input_shape=(64, 64, 1), depth=18)
    with pytest.raises(ValueError, match="multiples of 32"):
        ResMaskingNet(input_shape=(48, 48, 3), depth=18)
    with pytest.raises(ValueError, match="smallest accepted size is 32x32"):
        ResMaskingNet(input_shape=(16, 16, 3), depth=18)
    with pytest.raises(ValueError, match="depth 18 or 34"):
        ResMaskingNet(depth=50)
    with pytest.raises(ValueError, match="mask_depths"):
        ResMaskingNet(mask_depths=(4, 3, 2), depth=18, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="mask_activation"):
        ResMaskingNet(mask_activation="tanh", depth=18, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="num_classes"):
        ResMaskingNet(num_classes=0)
    with pytest.raises(FileNotFoundError):
        ResMaskingNet(weights="/nonexistent/rmn.weights.h5", **SMALL)
