import os

import keras
import numpy as np
import pytest

from kerasfer import models
from kerasfer.layers import CBAM
from kerasfer.models import SDNet
from kerasfer.models.sdnet import SDNET_CONFIG
from kerasfer.testing import assert_finite_gradients
from kerasfer.testing import run_model_saving_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params

PAPER_PARAMS = 2_170_000


@pytest.mark.parametrize("channels, expected", [(1, 2_181_236), (3, 2_181_812)])
def test_param_count_within_3_percent_of_paper(channels, expected):
    model = SDNet(input_shape=(68, 68, channels))
    params = count_params(model)
    assert params == expected
    assert abs(params - PAPER_PARAMS) / PAPER_PARAMS < 0.03
    assert model.name == "sdnet"


def test_macs_at_68():
    assert count_macs(SDNet(), convention="conv") == 171_015_300


def test_registry_and_structure():
    info = models.get_model_info("sdnet")
    assert info.input_shape == (68, 68, 1) and info.family == "sdnet" and info.min_input_size == 32
    model = models.create_model("sdnet", input_shape=(48, 48, 1), num_classes=5)
    assert model.output_shape == (None, 5)
    assert model.get_layer("normalization").mean == 0.0 and model.get_layer("normalization").std == 1.0
    assert model.get_layer("predictions").units == 5
    cbams = [layer for layer in model.layers if isinstance(layer, CBAM)]
    assert [c.name for c in cbams] == ["dense1_cbam", "dense2_cbam"]
    grown = SDNET_CONFIG["entry_blocks"][-1] + 6 * 48
    assert model.get_layer("dense1_cbam").output.shape == (None, 6, 6, grown)
    assert model.get_layer("features").output.shape == (None, 3, 3, SDNET_CONFIG["exit_filters"])


@pytest.mark.parametrize("shape", [(68, 68, 3), (48, 48, 1)])
def test_forward_batch_1_and_2(shape):
    model = SDNet(input_shape=shape)
    for batch in (1, 2):
        x = np.random.uniform(0, 255, (batch,) + shape).astype("float32")
        y = np.asarray(model(x, training=False))
        assert y.shape == (batch, 7)
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_no_top_logits_and_config_override():
    base = SDNet(input_shape=(32, 32, 1), include_top=False, include_preprocessing=False)
    assert base.output_shape == (None, 2, 2, 1280)
    assert "normalization" not in [layer.name for layer in base.layers]
    small = SDNet(
        input_shape=(32, 32, 1),
        classifier_activation=None,
        dropout_rate=0.3,
        config={
            "dense_blocks": ({"num_layers": 2, "growth_rate": 8},) * 2,
            "exit_filters": 64,
            "bn_epsilon": 1e-5,
            "bn_momentum": 0.9,
        },
    )
    assert small.layers[-1].name == "predictions"
    assert small.get_layer("exit_bn").epsilon == 1e-5 and small.get_layer("exit_bn").momentum == 0.9
    assert SDNet(input_shape=(32, 32, 1)).get_layer("exit_bn").epsilon == 1e-3
    assert small.get_layer("dropout").rate == 0.3
    with pytest.raises(ValueError, match="Unknown SDNet config keys"):
        SDNet(config={"growth": 4})


def test_saving_and_gradients():
    model = SDNet(
        input_shape=(32, 32, 3),
        classifier_activation=None,
        config={"dense_blocks": ({"num_layers": 2, "growth_rate": 8},) * 2, "exit_filters": 32},
    )
    x = np.random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    run_model_saving_test(model, x, atol=1e-5)
    clone = keras.Model.from_config(model.get_config())
    assert count_params(clone) == count_params(model)
    assert_finite_gradients(model, x)


@pytest.mark.slow_on_jax
def test_full_model_gradients():
    model = SDNet(input_shape=(32, 32, 1), classifier_activation=None)
    x = np.random.uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    assert_finite_gradients(model, x)


def test_weights_argument(tmp_path):
    cfg = {"dense_blocks": ({"num_layers": 1, "growth_rate": 4},) * 2, "exit_filters": 16}
    model = SDNet(input_shape=(32, 32, 1), config=cfg)
    path = os.path.join(tmp_path, "sdnet.weights.h5")
    model.save_weights(path)
    loaded = SDNet(input_shape=(32, 32, 1), config=cfg, weights=path)
    x = np.random.uniform(0, 255, (1, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="Weights file not found"):
        SDNet(weights=os.path.join(tmp_path, "nope.keras"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        SDNet(num_classes=0)
    with pytest.raises(ValueError, match="smallest accepted size is 32x32"):
        SDNet(input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match=r"must be \(height, width, channels\)"):
        SDNet(input_shape=(68, 68))
