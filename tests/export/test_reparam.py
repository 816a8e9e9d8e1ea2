"""kerasfer.export.reparameterize: fused == unfused for every LFNSB-family model, and generic use."""

import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.export import reparameterize
from kerasfer.layers import Conv2dBN
from kerasfer.layers import RepVGGDW
from kerasfer.models import create_model
from kerasfer.testing.test_case import randomize_batchnorm
from kerasfer.utils import count_params


def _images(batch, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3)).astype("float32")


def _inference_modes(model):
    return [
        layer.get_config()["inference_mode"]
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if "inference_mode" in layer.get_config()
    ]


# LFN shares LFNSB's trunk and MFN its layers: those two run with --run-large to keep CI fast.
@pytest.mark.parametrize(
    "name,size",
    [
        ("lfnsb", 64),
        ("mobilefacenet", 32),
        pytest.param("lfn", 32, marks=pytest.mark.large),
        pytest.param("mfn", 32, marks=pytest.mark.large),
    ],
)
def test_family_fused_equals_unfused(name, size):
    model = create_model(name, input_shape=(size, size, 3), include_top=True, classifier_activation=None)
    randomize_batchnorm(model, seed=1)
    before = [np.array(w) for w in model.get_weights()]
    x = _images(2, size)
    expected = np.asarray(model(x, training=False))
    fused = reparameterize(model)
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), expected, atol=1e-5, rtol=0)
    assert fused.name == model.name
    assert len(fused.weights) < len(model.weights)
    assert count_params(fused) < count_params(model)
    modes = _inference_modes(fused)
    assert modes and all(modes)
    assert not any(_inference_modes(model))  # the original is untouched
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # no BatchNorm is left in the fused trunk's Conv2dBN / RepVGGDW layers
    for layer in fused._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, Conv2dBN | RepVGGDW):
            assert not any(isinstance(s, keras.layers.BatchNormalization) for s in layer._flatten_layers())


@keras.saving.register_keras_serializable(package="kerasfer_tests")
class _Wrapper(keras.layers.Layer):
    """A colleague's container without an inference_mode argument: its Conv2dBN stays unfused."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Conv2dBN(4, 3, name=f"{self.name}_inner")
        self.scale = None

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.scale = self.add_weight(shape=(4,), initializer="ones", name="scale")

    def call(self, x, training=None):
        return self.inner(x, training=training) * self.scale


def test_generic_model_with_nested_and_plain_layers():
    inner_inputs = keras.Input((8, 8, 4))
    inner = keras.Model(inner_inputs, RepVGGDW(name="nested_rep")(inner_inputs), name="inner_model")
    inputs = keras.Input((8, 8, 3))
    x = Conv2dBN(4, 3, strides=2, name="stem")(inputs)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Conv2D(4, 1, name="plain")(x)
    x = keras.layers.BatchNormalization(name="plain_bn")(x)
    x = _Wrapper(name="wrapper")(x)
    x = keras.layers.UpSampling2D(name="up")(x)
    x = inner(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, name="predictions")(x)
    model = keras.Model(inputs, outputs, name="generic")
    randomize_batchnorm(model, seed=2)
    model.get_layer("wrapper").scale.assign(np.array([1.0, 2.0, -1.0, 0.5], "float32"))
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    fused = reparameterize(model)
    np.testing.assert_allclose(np.asarray(fused(x)), np.asarray(model(x, training=False)), atol=1e-5)
    assert fused.get_layer("stem").get_config()["inference_mode"] is True
    assert fused.get_layer("inner_model").get_layer("nested_rep").get_config()["inference_mode"] is True
    assert fused.get_layer("wrapper").inner.bn is not None  # not fusable through this container


def test_sequential_and_errors():
    model = keras.Sequential([keras.Input((6, 6, 2)), Conv2dBN(3, 3, name="c"), RepVGGDW(name="r")])
    randomize_batchnorm(model)
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 2)).astype("float32")
    fused = reparameterize(model)
    assert isinstance(fused, keras.Sequential)
    np.testing.assert_allclose(np.asarray(fused(x)), np.asarray(model(x, training=False)), atol=1e-5)
    with pytest.raises(TypeError, match="keras.Model"):
        reparameterize(Conv2dBN(3, 3))

    class NoConfig(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = Conv2dBN(3, 3)

        def call(self, x):
            return self.conv(x)

        def get_config(self):
            raise NotImplementedError

    sub = NoConfig()
    sub(x)
    with pytest.raises(ValueError, match="no config"):
        reparameterize(sub)


def test_exported_name():
    assert kerasfer.export.reparameterize is reparameterize
