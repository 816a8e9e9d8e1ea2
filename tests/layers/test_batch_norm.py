"""kerasfer.layers.BatchNormalization / PReLU: the stock layers' results with faster training kernels."""

import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.layers import BatchNormalization
from kerasfer.layers import MixConv
from kerasfer.layers import PReLU
from kerasfer.layers._split import channel_split
from kerasfer.testing.test_case import compute_gradients
from kerasfer.testing.test_case import run_layer_test


def _x(shape, seed=0, loc=1.5, scale=3.0):
    return np.random.default_rng(seed).normal(loc, scale, size=shape).astype("float32")


def _twin_models(ours, stock, shape):
    """Two one-layer models with the same weights: kerasfer's layer and the stock Keras layer."""
    models = []
    for layer in (ours, stock):
        inp = keras.Input(shape=shape[1:])
        models.append(keras.Model(inp, layer(inp)))
    weights = [
        np.random.default_rng(i + 7).uniform(0.5, 1.5, w.shape).astype("float32")
        for i, w in enumerate(models[0].get_weights())
    ]
    for m in models:
        m.set_weights(weights)
    return models


BN_CASES = [
    dict(epsilon=1e-5, momentum=0.9),
    dict(epsilon=1e-3, momentum=0.99),
    dict(epsilon=1e-5, momentum=0.9, center=False),
    dict(epsilon=1e-5, momentum=0.9, scale=False),
]


@pytest.mark.parametrize("kwargs", BN_CASES)
@pytest.mark.parametrize("shape", [(4, 6, 5, 8), (3, 1, 1, 5)])
def test_batchnorm_training_step_equals_stock(kwargs, shape):
    """Outputs, gradients and moving statistics (biased variance, Keras's momentum rule) match the stock layer."""
    ours, stock = _twin_models(BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs), shape)
    x = _x(shape)
    for step in range(2):  # two updates of the moving statistics
        g_ours, loss_ours = compute_gradients(ours, x + step)
        g_stock, loss_stock = compute_gradients(stock, x + step)
        np.testing.assert_allclose(loss_ours, loss_stock, rtol=1e-5)
        for a, b in zip(g_ours, g_stock, strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(ours(x, training=True), stock(x, training=True), rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.non_trainable_weights, stock.non_trainable_weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours(x, training=False), stock(x, training=False), rtol=1e-5, atol=1e-5)


def test_batchnorm_single_value_per_channel():
    """One value per channel (a 1x1 map, batch 1): variance 0, finite output, moving variance decays as stock."""
    ours, stock = _twin_models(
        BatchNormalization(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9), (1, 1, 1, 3)
    )
    x = _x((1, 1, 1, 3))
    a, b = np.asarray(ours(x, training=True)), np.asarray(stock(x, training=True))
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours.layers[1].moving_variance), np.asarray(stock.layers[1].moving_variance))


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 4, 6)])
def test_batchnorm_other_cases_use_stock_code(shape):
    """2-D inputs (BatchNorm1d), channel-first axes and frozen layers give the stock layer's results."""
    axis = 1 if len(shape) == 4 else -1
    x = _x(shape)
    for trainable in (True, False):
        ours, stock = _twin_models(BatchNormalization(axis=axis), keras.layers.BatchNormalization(axis=axis), shape)
        ours.trainable = stock.trainable = trainable
        np.testing.assert_allclose(ours(x, training=True), stock(x, training=True), rtol=1e-5, atol=1e-5)


def test_batchnorm_layer_and_serialization():
    run_layer_test(
        BatchNormalization,
        {"epsilon": 1e-5, "momentum": 0.9},
        _x((2, 4, 4, 3)),
        expected_output_shape=(2, 4, 4, 3),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=2,
    )
    config = keras.saving.serialize_keras_object(BatchNormalization(epsilon=1e-5))
    assert config["registered_name"] == "kerasfer>BatchNormalization"
    assert BatchNormalization(epsilon=1e-5).get_config().keys() == keras.layers.BatchNormalization().get_config().keys()


@pytest.mark.parametrize("shared_axes", [[1, 2], None])
def test_prelu_equals_stock(shared_axes):
    shape = (3, 5, 4, 6)
    ours, stock = _twin_models(PReLU(shared_axes=shared_axes), keras.layers.PReLU(shared_axes=shared_axes), shape)
    # slopes on both sides of 0 and 1, and an exact zero in the input (gradient 0 on x's negative side)
    w = np.random.default_rng(3).uniform(-0.5, 1.5, ours.get_weights()[0].shape).astype("float32")
    ours.set_weights([w])
    stock.set_weights([w])
    x = _x(shape, loc=0.0)
    x[0, 0, 0, :] = 0.0
    for training in (False, True):
        np.testing.assert_allclose(ours(x, training=training), stock(x, training=training), rtol=1e-6, atol=1e-6)
    (g_ours,), _ = compute_gradients(ours, x)
    (g_stock,), _ = compute_gradients(stock, x)
    np.testing.assert_allclose(g_ours, g_stock, rtol=1e-5, atol=1e-6)


def test_prelu_layer():
    init = keras.initializers.Constant(0.25)  # with the default 0 slope, mean(out ** 2) has no slope gradient
    run_layer_test(
        PReLU, {"shared_axes": [1, 2], "alpha_initializer": init}, _x((2, 4, 4, 3)), expected_num_trainable_weights=1
    )


@pytest.mark.parametrize("sizes", [[3], [4, 2], [2, 2, 2]])
def test_channel_split_training_equals_slices(sizes):
    x = _x((2, 3, 3, sum(sizes)))
    for a, b in zip(channel_split(x, sizes, training=True), channel_split(x, sizes, training=False), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_mixconv_same_in_both_split_paths():
    """MixConv's training-mode split and its inference-mode slices give the same outputs."""
    layer = MixConv(kernel_sizes=[3, 5], splits=[4, 2])
    inp = keras.Input(shape=(6, 6, 6))
    model = keras.Model(inp, layer(inp))
    x = _x((2, 6, 6, 6))
    np.testing.assert_allclose(model(x, training=True), model(x, training=False), rtol=1e-6, atol=1e-6)


def test_models_build_the_fast_layers():
    """The registered models use these layers, and a model saved with them loads with them."""
    model = kerasfer.models.create_model("mobilefacenet", num_classes=7, input_shape=(48, 48, 3))
    kinds = {type(layer) for layer in model._flatten_layers()}
    assert BatchNormalization in kinds and PReLU in kinds
    assert keras.layers.BatchNormalization not in kinds and keras.layers.PReLU not in kinds
