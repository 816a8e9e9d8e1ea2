"""The LFNSB family: exact counts, MACs, shapes, saving, gradients, input validation."""

import os

import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.layers import CoordinateAttention
from kerasfer.models import LFN
from kerasfer.models import LFNSB
from kerasfer.models import MFN
from kerasfer.models import MobileFaceNet
from kerasfer.models import create_model
from kerasfer.models import get_model_info
from kerasfer.models import list_models
from kerasfer.testing.test_case import assert_finite_gradients
from kerasfer.testing.test_case import run_model_saving_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params

# Exact trainable-parameter counts at 112x112, 7 classes (LFNSB) / no classifier (embedding nets).
# They equal the PyTorch references without their dead layers (ARCHITECTURES.md 2.3).
PARAM_COUNTS = {"lfnsb": 2_676_147, "lfn": 2_736_372, "mfn": 4_164_264, "mobilefacenet": 1_200_512}
FEATURE_CHANNELS = {"lfnsb": 256, "lfn": 256, "mfn": 512, "mobilefacenet": 512}
OUTPUT_WIDTH = {"lfnsb": 7, "lfn": 256, "mfn": 256, "mobilefacenet": 512}
BUILDERS = {"lfnsb": LFNSB, "lfn": LFN, "mfn": MFN, "mobilefacenet": MobileFaceNet}

_CACHE = {}


def _model_112(name):
    if name not in _CACHE:
        _CACHE[name] = create_model(name)
    return _CACHE[name]


def _images(batch, size, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (batch, size, size, channels)).astype("float32")


def test_registry():
    assert list_models(family="lfnsb") == ["lfn", "lfnsb", "mfn", "mobilefacenet"]
    assert not get_model_info("lfnsb").embedding
    for name in ("lfn", "mfn", "mobilefacenet"):
        assert get_model_info(name).embedding
    for name in PARAM_COUNTS:
        assert get_model_info(name).input_shape == (112, 112, 3)
        assert get_model_info(name).builder is BUILDERS[name]


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_param_counts_names_and_shapes(name):
    model = _model_112(name)
    assert count_params(model) == PARAM_COUNTS[name]
    assert model.name == name
    assert tuple(model.output.shape) == (None, OUTPUT_WIDTH[name])
    assert tuple(model.get_layer("features").output.shape) == (None, 7, 7, FEATURE_CHANNELS[name])
    assert isinstance(model.layers[1], kerasfer.layers.ImageNormalization)


def _fvcore_extra(model):
    """What fvcore adds to conv/linear MACs: 2 per BatchNorm element (eval, affine) and 1 per
    input element of adaptive average pooling (CoordinateAttention's two poolings, SB's pool)."""
    records = []
    patched = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization | keras.layers.AveragePooling2D | CoordinateAttention):
            original = layer.call

            def wrapped(*args, __layer=layer, __orig=original, **kwargs):
                records.append((__layer, int(np.prod(args[0].shape[1:]))))
                return __orig(*args, **kwargs)

            object.__setattr__(layer, "call", wrapped)
            patched.append(layer)
    try:
        model(np.zeros((1,) + tuple(model.input_shape[1:]), "float32"), training=False)
    finally:
        for layer in patched:
            object.__delattr__(layer, "call")
    extra = 0
    for layer, n in records:
        if isinstance(layer, keras.layers.BatchNormalization):
            extra += 2 * n
        elif isinstance(layer, CoordinateAttention):
            extra += 2 * n
        else:
            extra += n
    return extra


def test_lfnsb_macs():
    """kerasfer counts conv/dense MACs only; fvcore (the 397.18M reference figure, paper 397.35M)
    also counts BatchNorm and adaptive pooling. Both conventions are checked."""
    model = _model_112("lfnsb")
    macs = count_macs(model, convention="conv")
    assert macs == pytest.approx(387.24e6, rel=1e-4)
    assert macs + _fvcore_extra(model) == pytest.approx(397.18e6, rel=0.005)
    assert count_macs(model) == macs + _fvcore_extra(model)  # the default is the fvcore convention


def test_lfnsb_48px_batch_one():
    model = LFNSB(input_shape=(48, 48, 3))
    out = np.asarray(model(_images(1, 48), training=False))
    assert out.shape == (1, 7)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)
    assert count_params(model) == PARAM_COUNTS["lfnsb"]  # the SB head keeps 256 features at every size
    assert tuple(model.get_layer("features").output.shape) == (None, 3, 3, 256)


def test_lfnsb_64px_saving_round_trip_batch_one():
    model = LFNSB(input_shape=(64, 64, 3))
    assert tuple(model.get_layer("features").output.shape) == (None, 4, 4, 256)
    run_model_saving_test(model, _images(1, 64), atol=1e-5)


# LFN shares LFNSB's trunk and MFN its layer types: those two run with --run-large to keep CI fast.
@pytest.mark.parametrize(
    "name",
    [
        "lfnsb",
        pytest.param("mobilefacenet", marks=pytest.mark.slow_on_jax),
        pytest.param("lfn", marks=pytest.mark.large),
        pytest.param("mfn", marks=pytest.mark.large),
    ],
)
def test_finite_gradients_and_batch_one(name):
    model = create_model(name, input_shape=(32, 32, 3), include_top=True, num_classes=5, classifier_activation=None)
    # In training mode a BatchNorm removes any per-channel shift applied before it, so a bias
    # that feeds a BN gets an exactly-zero gradient (as in PyTorch): GDConv's depthwise BN beta
    # (followed by BatchNorm1d) and CoordinateAttention's conv1 bias (followed by its BN).
    assert_finite_gradients(model, _images(2, 32), allow_zero=("dwconv_bn/beta", "_ca_conv1/bias"))
    out = np.asarray(model(_images(1, 32), training=False))
    assert out.shape == (1, 5) and np.all(np.isfinite(out))
    if get_model_info(name).embedding:
        embedding = keras.Model(model.input, model.get_layer("embedding").output)
        emb = np.asarray(embedding(_images(1, 32), training=False))
        assert emb.shape == (1, OUTPUT_WIDTH[name])
        np.testing.assert_allclose(np.linalg.norm(emb, axis=-1), 1.0, atol=1e-5)


def test_include_top_false_and_preprocessing():
    model = LFNSB(input_shape=(32, 32, 3), include_top=False, include_preprocessing=False)
    assert tuple(model.output.shape) == (None, 256)
    assert not any(isinstance(layer, kerasfer.layers.ImageNormalization) for layer in model.layers)
    grey = MobileFaceNet(input_shape=(32, 32, 1))
    assert np.asarray(grey(_images(1, 32, channels=1), training=False)).shape == (1, 512)


def test_sb_concat_variant():
    model = LFNSB(input_shape=(48, 48, 3), sb_mode="concat", classifier_activation=None)
    assert np.asarray(model(_images(1, 48), training=False)).shape == (1, 7)
    assert model.get_layer("spatial_bias").get_config()["mode"] == "concat"


def test_inference_mode_builds_fused_graph():
    model = LFNSB(input_shape=(32, 32, 3))
    kerasfer.testing.randomize_batchnorm(model)
    fused = kerasfer.export.reparameterize(model)
    direct = LFNSB(input_shape=(32, 32, 3), inference_mode=True)
    assert [tuple(w.shape) for w in direct.weights] == [tuple(w.shape) for w in fused.weights]
    direct.set_weights(fused.get_weights())
    x = _images(2, 32)
    np.testing.assert_allclose(np.asarray(direct(x)), np.asarray(model(x, training=False)), atol=1e-5)
    assert direct.get_layer("conv6_sep").get_config()["inference_mode"] is True


def test_weights_argument(tmp_path):
    model = MobileFaceNet(input_shape=(32, 32, 3))
    path = os.path.join(tmp_path, "mfn.weights.h5")
    model.save_weights(path)
    loaded = MobileFaceNet(input_shape=(32, 32, 3), weights=path)
    x = _images(1, 32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="not found"):
        LFNSB(weights=os.path.join(tmp_path, "missing.weights.h5"))
    with pytest.raises(ValueError, match=".weights.h5"):
        LFNSB(weights=os.path.join(tmp_path, "model.pth"))


@pytest.mark.parametrize("builder", [LFNSB, LFN, MFN, MobileFaceNet])
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"input_shape": (16, 16, 3)}, "smallest accepted size is 32x32"),
        ({"input_shape": (112, 112)}, "input_shape must be"),
        ({"input_shape": (None, None, 3)}, "fixed height and width"),
        ({"input_shape": (112, 112, 4)}, "1 or 3 channels"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_bad_arguments(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)


def test_bad_sb_mode():
    with pytest.raises(ValueError, match="sb_mode"):
        LFNSB(sb_mode="upsample")
