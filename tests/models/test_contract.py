"""The contract every registered kerasfer model keeps, and the weight files it keeps loading.

Every model ends the same way: a Dense `"predictions"` that carries `classifier_activation`
(softmax by default, logits with `None`), no separate activation layer; it serialises and
reloads with equal outputs, and `model(x)` is its inference call.

`data/weights_layout.json` holds, for each registered model at a small input (and a few
variants), the layout of the `.weights.h5` file it saves: the number of arrays and a hash of
their paths, shapes and dtypes. It was written by the builders as they were before they shared
one skeleton, so a change here means `.weights.h5` files saved from older kerasfer models no
longer load. Keras keys a `.weights.h5` file by each layer's class and position among the
layers of its class (not by layer name), so renaming or reordering layers, or adding a layer of
a class that holds variables before another one, breaks old files. Regenerate the file only
for an intended, announced break (or a Keras release that changes its file layout).

`data/shufflenet_v2_x0_5_fer2013_reference.json` holds the outputs the packaged ShuffleNetV2 0.5x
FER2013 weights gave, before that change, for seeded random uint8 inputs (no images; the test draws them again).
"""

import hashlib
import json
import os
import pathlib

import h5py
import keras
import numpy as np
import pytest

from kerasfer import models
from kerasfer.models.multiscale import DEFAULT_REGIONS_112
from kerasfer.testing import run_model_saving_test

DATA = pathlib.Path(__file__).parent / "data"
NUM_CLASSES = 5

# Small inputs at which every model builds in about a second here (the multi-scale FPN needs 64);
# the resmasking masks at an eighth of their width (137M parameters at full width; mask_width
# only scales variable shapes, the layout of the graph is the same).
SMALL_SIZE = {"multiscale_fer": 64}
SMALL_KWARGS = {
    name: {"mask_width": 0.125} for name in ("resmaskingnet", "resmaskingnet18", "resmasking_reconstruction")
}

# Over 20 s each here with the machine busy, and covered by their siblings' contracts: LFN shares
# LFNSB's trunk, MFN the layer types of LFN and MobileFaceNet, ResMaskingNet the code of
# ResMaskingNet18 (another depth). They run with --run-large; their weight-file layouts always do.
LARGE = ("lfn", "mfn", "resmaskingnet")

# Weight-file layouts pinned besides those `test_model_contract` checks: (key, registry name, build arguments).
VARIANTS = [(name, name, {}) for name in LARGE] + [
    ("lfer_ldl/head=fc", "lfer_ldl", {"head": "fc"}),
    ("lfer_ldl/include_top=False", "lfer_ldl", {"include_top": False}),
    ("lfer_ldl/logits", "lfer_ldl", {"classifier_activation": None}),
    ("shufflenet_v2_x0_5/include_top=False", "shufflenet_v2_x0_5", {"include_top": False}),
    ("shufflenet_v2_x0_5/logits", "shufflenet_v2_x0_5", {"classifier_activation": None}),
    ("shufflenet_v2_x0_5/stem_pool=False", "shufflenet_v2_x0_5", {"stem_pool": False}),
    ("lfnsb/sb_mode=concat", "lfnsb", {"sb_mode": "concat"}),
    ("lfnsb/include_top=False", "lfnsb", {"include_top": False}),
    ("lfn/include_top=True", "lfn", {"include_top": True}),
    ("mobilefacenet/include_top=True", "mobilefacenet", {"include_top": True}),
    ("sdnet/dropout_rate=0.3", "sdnet", {"dropout_rate": 0.3}),
    ("sdnet/include_top=False", "sdnet", {"include_top": False}),
    ("sdnet/logits", "sdnet", {"classifier_activation": None}),
    ("resnet18_small/dropout=0.2", "resnet18_small", {"dropout": 0.2}),
    ("resnet18_small/include_top=False", "resnet18_small", {"include_top": False}),
    ("resmaskingnet/include_top=False", "resmaskingnet", {"include_top": False}),
    ("multiscale_fer/fixed_regions_detection", "multiscale_fer", {"region_input": False, "detection_head": True}),
    ("multiscale_fer/include_top=False", "multiscale_fer", {"include_top": False}),
]


def _kerasfer_models():
    """The registered models that kerasfer itself builds (tests register throw-away ones too)."""
    return [n for n in models.list_models() if models.get_model_info(n).builder.__module__.startswith("kerasfer.")]


def _build(name, **kwargs):
    info = models.get_model_info(name)
    size = SMALL_SIZE.get(name, max(32, info.min_input_size))
    kwargs = {**SMALL_KWARGS.get(name, {}), **kwargs}
    if not info.embedding or kwargs.get("include_top"):
        kwargs.setdefault("num_classes", NUM_CLASSES)
    return models.create_model(name, input_shape=(size, size, info.input_shape[-1]), **kwargs)


def _inputs(model, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    xs = []
    for tensor in model.inputs:
        if tensor.name == "regions":
            xs.append(np.tile(DEFAULT_REGIONS_112[None], (batch, 1, 1)))
        else:
            xs.append(rng.uniform(0, 255, (batch,) + tuple(tensor.shape[1:])).astype("float32"))
    return xs if len(xs) > 1 else xs[0]


def _first(outputs):
    return keras.ops.convert_to_numpy(outputs[0] if isinstance(outputs, list | tuple) else outputs)


def weights_layout(model, directory):
    """`{"arrays": n, "sha256": ...}` of the `.weights.h5` file `model` saves (paths, shapes, dtypes)."""
    path = os.path.join(directory, "layout.weights.h5")
    model.save_weights(path)
    lines = []
    with h5py.File(path, "r") as f:

        def visit(key, item):
            if isinstance(item, h5py.Dataset):
                lines.append(f"{key} {tuple(item.shape)} {item.dtype}")

        f.visititems(visit)
    os.remove(path)
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return {"arrays": len(lines), "sha256": digest}


def _pinned_layouts():
    with open(DATA / "weights_layout.json") as f:
        return json.load(f)


def _check_layout(key, model, tmp_path):
    pinned = _pinned_layouts()
    if key not in pinned and "/" not in key:
        return  # a model added later has no older weight files to keep loading
    assert weights_layout(model, tmp_path) == pinned[key], (
        f"The .weights.h5 layout of {key!r} changed: weight files saved from earlier kerasfer versions of this "
        "model no longer load. Keep the class and order of every layer that holds variables."
    )


@pytest.mark.slow_on_jax  # builds, saves and reloads every registered model: the TensorFlow run covers it
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.large) if n in LARGE else n for n in _kerasfer_models()]
)
def test_model_contract(name, tmp_path):
    info = models.get_model_info(name)
    model = _build(name)
    _check_layout(name, model, tmp_path)
    x = _inputs(model)
    y = _first(model(x))
    np.testing.assert_allclose(y, _first(model(x, training=False)), atol=1e-6)
    if info.embedding:
        assert model.output_names == ["embedding"]
        assert y.shape == (2, model.get_layer("embedding").output.shape[-1])
        np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1.0, atol=1e-4)  # L2-normalised
        model = _build(name, include_top=True)
        x = _inputs(model)
        y = _first(model(x))
    assert model.output_names[0] == "predictions", "the first output must be the Dense 'predictions' itself"
    predictions = model.get_layer("predictions")
    assert isinstance(predictions, keras.layers.Dense)
    assert predictions.activation.__name__ == "softmax"
    assert not any(
        isinstance(layer, keras.layers.Activation) and layer.name.startswith("predictions") for layer in model.layers
    )
    assert y.shape == (2, NUM_CLASSES)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-5)

    logits_model = _build(name, classifier_activation=None, include_top=True)
    assert logits_model.output_names[0] == "predictions"
    assert logits_model.get_layer("predictions").activation.__name__ == "linear"
    logits_model.set_weights(model.get_weights())  # same variables, same order
    logits = _first(logits_model(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)), y, atol=1e-5)

    run_model_saving_test(model, x, atol=1e-5)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize("key, name, kwargs", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_weights_layout(key, name, kwargs, tmp_path):
    _check_layout(key, _build(name, **kwargs), tmp_path)


def test_packaged_shufflenet_weights_give_the_reference_outputs():
    reference = json.loads((DATA / "shufflenet_v2_x0_5_fer2013_reference.json").read_text())
    x = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 1), dtype=np.uint8).astype("float32")
    model = models.create_model("shufflenet_v2_x0_5", weights="fer2013")
    np.testing.assert_allclose(_first(model(x, training=False)), reference["probabilities"], atol=1e-5)
    logits = models.create_model("shufflenet_v2_x0_5", weights="fer2013", classifier_activation=None)
    np.testing.assert_allclose(_first(logits(x, training=False)), reference["logits"], atol=1e-5)
