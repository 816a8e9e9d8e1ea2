import os
import tempfile

import keras
import numpy as np
import pytest

from kerasfer import models
from kerasfer.models.resnet import ResNet
from kerasfer.models.resnet import ResNet18
from kerasfer.models.resnet import ResNet50Teacher
from kerasfer.models.resnet import resnet_stages
from kerasfer.testing.test_case import assert_finite_gradients
from kerasfer.testing.test_case import run_model_saving_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params


def test_teacher_param_count_and_registry():
    model = models.create_model("resnet50_teacher")
    assert model.name == "resnet50_teacher"
    assert count_params(model) == 23_522_375  # torchvision resnet50 with Linear(2048, 7)
    info = models.get_model_info("resnet50_teacher")
    assert info.family == "resnet" and info.input_shape == (224, 224, 3)
    assert model.get_layer("predictions").units == 7
    assert model.get_layer("features").output.shape[1:] == (7, 7, 2048)


def test_resnet18_small_layout():
    """Half-width ResNet-18 with the small-input stem: 48 px reaches stage 1 at 24x24 and stage 4 at 3x3."""
    model = models.create_model("resnet18_small")
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)
    assert count_params(model) == 2_805_543
    assert model.get_layer("features").output.shape[1:] == (3, 3, 256)
    assert model.get_layer("layer1_1_out").output.shape[1:] == (24, 24, 32)
    assert count_macs(model) == 84_325_888
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)).sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="smallest accepted size is 16x16"):
        models.create_model("resnet18_small", input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match="stem must be one of"):
        ResNet(18, 7, (48, 48, 1), stem="tiny")


def test_resnet18_torchvision_count():
    assert count_params(ResNet18()) == 11_689_512  # torchvision resnet18, 1000 classes


@pytest.mark.large
def test_resnet34_50_torchvision_counts():
    assert count_params(ResNet(34)) == 21_797_672
    assert count_params(ResNet(50)) == 25_557_032


@pytest.mark.large
def test_teacher_macs_at_224():
    macs = count_macs(ResNet50Teacher())
    assert abs(macs - 4.11e9) / 4.11e9 < 0.01, macs  # fvcore: 4.11 GMACs


def test_macs_small():
    # conv1 alone: 32x32 output positions x 7*7*3*64; the whole net must count more than that and be deterministic.
    model = ResNet18(num_classes=7, input_shape=(64, 64, 3))
    macs = count_macs(model)
    assert macs > 32 * 32 * 7 * 7 * 3 * 64
    # ResNet-18 MACs scale with the area: 1.82 G at 224 -> about (64/224)^2 of it at 64 (padding effects aside).
    assert 0.12e9 < macs < 0.17e9, macs


def test_forward_batch_sizes_and_features():
    model = ResNet18(num_classes=5, input_shape=(64, 64, 3), classifier_activation=None)
    for batch in (1, 2):
        out = model(np.random.default_rng(0).uniform(0, 255, (batch, 64, 64, 3)).astype("float32"))
        assert out.shape == (batch, 5)
    trunk = ResNet18(input_shape=(64, 64, 3), include_top=False)
    assert trunk.output.shape == (None, 2, 2, 512)


def test_symmetric_padding_matches_pytorch_sizes():
    # PyTorch: 65 -> conv1 33 -> maxpool 17 -> layer2 9 -> layer3 5 -> layer4 3. Keras "same" would give other sizes
    # only in value (the padding side), so also check the stage shapes of the functional trunk.
    inp = keras.Input((65, 65, 3))
    stages = resnet_stages(inp, 50)
    assert [tuple(s.shape[1:]) for s in stages] == [(17, 17, 256), (9, 9, 512), (5, 5, 1024), (3, 3, 2048)]
    model = keras.Model(inp, stages[0])
    pad = model.get_layer("conv1_pad")
    assert pad.padding == ((3, 3), (3, 3))


@pytest.mark.slow_on_jax
def test_saving_and_gradients():
    model = ResNet18(num_classes=3, input_shape=(32, 32, 3))
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    run_model_saving_test(model, x)
    assert_finite_gradients(model, x)


def test_config_round_trip():
    model = ResNet18(num_classes=3, input_shape=(32, 32, 3))
    clone = keras.Model.from_config(model.get_config())
    assert count_params(clone) == count_params(model)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]


def test_weights_argument():
    model = ResNet18(num_classes=3, input_shape=(32, 32, 3))
    x = np.random.default_rng(2).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r18.weights.h5")
        model.save_weights(path)
        loaded = ResNet18(num_classes=3, input_shape=(32, 32, 3), weights=path)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="not found"):
        ResNet18(num_classes=3, input_shape=(32, 32, 3), weights="/nonexistent/w.weights.h5")
    with pytest.raises(ValueError, match=".weights.h5"):
        ResNet18(num_classes=3, input_shape=(32, 32, 3), weights="w.h5")


def test_bad_arguments():
    with pytest.raises(ValueError, match="smallest accepted size is 32x32"):
        ResNet50Teacher(input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="num_classes"):
        ResNet50Teacher(num_classes=0)
    with pytest.raises(ValueError, match="input_shape"):
        ResNet50Teacher(input_shape=(64, 64))
    with pytest.raises(ValueError, match="depth"):
        ResNet(101)
