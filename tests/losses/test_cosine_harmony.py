"""Cosine-Harmony loss (LFNSB): formula vs NumPy, degenerate batches, errors, and the model wrapper."""

import os
import tempfile

import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.losses import CosineHarmonyLoss
from kerasfer.losses import CosineHarmonyModel
from kerasfer.losses import cosine_harmony
from kerasfer.losses import with_cosine_harmony
from kerasfer.testing.test_case import run_serialization_test

RNG = np.random.default_rng(0)


def np_cosine_harmony(f, y, c, alpha=0.1, mode="reference", eps=1e-6):
    """The formula of ARCHITECTURES.md 2.4 / the paper, written independently in float64."""
    f = np.asarray(f, np.float64)
    if f.ndim == 4:
        f = f.mean(axis=(1, 2))
    c = np.asarray(c, np.float64)

    def adjusted(x):
        x = x - x.mean(axis=1, keepdims=True)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    d = 1.0 - adjusted(f) @ adjusted(c).T
    b, n = f.shape[0], c.shape[0]
    m = np.eye(n)[y]
    own_sum = (d * m).sum()
    intra = own_sum / b
    if mode == "reference":
        inter = own_sum / (b * (n - 1))
        var = f.var(axis=0, ddof=1).sum() if b > 1 else 0.0
        return alpha * intra / (var + eps) + (1 - alpha) * inter
    inter = (d * (1 - m)).sum() / (b * (n - 1))
    var = f.var(axis=0).sum()
    return alpha * intra / (var + eps) - (1 - alpha) * inter


def _grads(fn, *arrays):
    """Gradients of scalar fn(*tensors) w.r.t. every input, on the active backend."""
    if keras.backend.backend() == "jax":
        import jax

        return [np.asarray(g) for g in jax.jit(jax.grad(fn, argnums=tuple(range(len(arrays)))))(*arrays)]
    import tensorflow as tf

    tensors = [tf.Variable(a) for a in arrays]
    with tf.GradientTape() as tape:
        out = fn(*tensors)
    return [np.asarray(g) for g in tape.gradient(out, tensors)]


def _traced(fn):
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn)


@pytest.mark.parametrize("mode", ["reference", "paper"])
@pytest.mark.parametrize("alpha", [0.1, 0.5])
def test_matches_numpy(mode, alpha):
    f = RNG.normal(size=(6, 16)).astype("float32")
    c = RNG.normal(size=(7, 16)).astype("float32")
    y = np.array([0, 3, 3, 6, 1, 2])
    got = float(cosine_harmony(f, y, c, alpha=alpha, mode=mode))
    np.testing.assert_allclose(got, np_cosine_harmony(f, y, c, alpha, mode), rtol=1e-5)


def test_feature_map_is_pooled_and_reference_identity():
    fmap = RNG.normal(size=(4, 3, 3, 8)).astype("float32")
    c = RNG.normal(size=(5, 8)).astype("float32")
    y = np.array([4, 0, 1, 1])
    got = float(cosine_harmony(fmap, y, c))
    np.testing.assert_allclose(got, np_cosine_harmony(fmap, y, c), rtol=1e-5)
    # reference: L = intra * (alpha / v + (1 - alpha) / (C - 1)), so it only pulls to the own centre
    pooled = fmap.mean(axis=(1, 2))
    intra = np_cosine_harmony(pooled, y, c, alpha=0.0) * 4  # alpha=0 -> intra / (C-1)
    var = pooled.var(axis=0, ddof=1).sum()
    np.testing.assert_allclose(got, intra * (0.1 / (var + 1e-6) + 0.9 / 4), rtol=1e-5)


def test_paper_mode_pushes_other_centres_apart():
    f = RNG.normal(size=(4, 8)).astype("float32")
    c = RNG.normal(size=(3, 8)).astype("float32")
    y = np.array([0, 0, 1, 1])
    g_paper = _grads(lambda cc: cosine_harmony(f, y, cc, mode="paper", alpha=0.0), c)[0]
    g_ref = _grads(lambda cc: cosine_harmony(f, y, cc, mode="reference", alpha=0.0), c)[0]
    # class 2 is absent: reference gives it no gradient at all, paper mode pushes it away
    assert np.allclose(g_ref[2], 0.0)
    assert np.abs(g_paper[2]).sum() > 0


def test_loss_class_sample_weight_and_config():
    f = RNG.normal(size=(5, 8)).astype("float32")
    c = RNG.normal(size=(4, 8)).astype("float32")
    y = np.array([0, 1, 2, 3, 3])
    loss = CosineHarmonyLoss(centers=c, alpha=0.3, mode="paper")
    np.testing.assert_allclose(float(loss(y, f)), np_cosine_harmony(f, y, c, 0.3, "paper"), rtol=1e-5)
    per = np.asarray(CosineHarmonyLoss(centers=c, alpha=0.3, mode="paper", reduction=None)(y, f))
    w = np.array([1.0, 0.0, 2.0, 1.0, 0.5], "float32")
    np.testing.assert_allclose(float(loss(y, f, sample_weight=w)), (per * w).sum() / 5, rtol=1e-5)
    restored = run_serialization_test(loss)
    np.testing.assert_allclose(float(restored(y, f)), float(loss(y, f)), rtol=1e-6)


@pytest.mark.parametrize("mode", ["reference", "paper"])
def test_degenerate_batches_are_finite(mode):
    c = RNG.normal(size=(7, 8)).astype("float32")
    cases = {
        "zero vectors": (np.zeros((3, 8), "float32"), np.array([0, 1, 2])),
        "single sample": (RNG.normal(size=(1, 8)).astype("float32"), np.array([5])),
        "class absent": (RNG.normal(size=(4, 8)).astype("float32"), np.array([0, 0, 1, 1])),
        "all equal": (np.tile(RNG.normal(size=(1, 8)).astype("float32"), (4, 1)), np.array([0, 1, 2, 3])),
    }
    for what, (f, y) in cases.items():
        value = float(cosine_harmony(f, y, c, mode=mode))
        assert np.isfinite(value), what
        np.testing.assert_allclose(value, np_cosine_harmony(f, y, c, mode=mode), rtol=1e-4, err_msg=what)
        for g in _grads(lambda ff, cc, y=y: cosine_harmony(ff, y, cc, mode=mode), f, c):
            assert np.all(np.isfinite(g)), what
    # zero vectors: distance 1 to every centre and v = 0 -> alpha / eps + (1 - alpha) * (+-1)
    value = float(cosine_harmony(np.zeros((3, 8)), np.array([0, 1, 2]), c, mode=mode))
    inter = 1.0 / 6 if mode == "reference" else -1.0  # own distance / (C - 1), or minus the mean other distance
    expected = 0.1 / 1e-6 + 0.9 * inter
    np.testing.assert_allclose(value, expected, rtol=1e-4)


def test_bad_inputs_raise_clear_errors():
    f = RNG.normal(size=(2, 8)).astype("float32")
    c = RNG.normal(size=(7, 8)).astype("float32")
    with pytest.raises(ValueError, match="out of range"):
        cosine_harmony(f, np.array([0, 7]), c)
    with pytest.raises(ValueError, match="out of range"):
        cosine_harmony(f, np.array([-1, 0]), c)
    with pytest.raises(ValueError, match="dimension"):
        cosine_harmony(f, np.array([0, 1]), c[:, :4])
    with pytest.raises(ValueError, match="centers must have shape"):
        cosine_harmony(f, np.array([0, 1]), c[0])
    with pytest.raises(ValueError, match="at least 2"):
        cosine_harmony(f, np.array([0, 0]), c[:1])
    with pytest.raises(ValueError, match="samples but labels"):
        cosine_harmony(f, np.array([0, 1, 2]), c)
    with pytest.raises(ValueError, match="mode"):
        cosine_harmony(f, np.array([0, 1]), c, mode="papers")
    with pytest.raises(ValueError, match="NaN"):
        cosine_harmony(np.full((2, 8), np.nan), np.array([0, 1]), c)
    with pytest.raises(ValueError, match="features must have shape"):
        cosine_harmony(np.ones(8), np.array([0]), c)


def test_out_of_range_label_inside_traced_function_gives_nan():
    f = RNG.normal(size=(2, 8)).astype("float32")
    c = RNG.normal(size=(3, 8)).astype("float32")
    fn = _traced(lambda ff, yy: cosine_harmony(ff, yy, c))
    assert np.isfinite(float(fn(f, np.array([0, 2], "int32"))))
    assert np.isnan(float(fn(f, np.array([0, 3], "int32"))))


def _tiny_classifier(num_classes=4, activation="softmax"):
    inputs = keras.Input((8, 8, 3))
    x = kerasfer.layers.ImageNormalization()(inputs)
    x = keras.layers.Conv2D(6, 3, name="conv")(x)
    x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny")


def _data(n=8, num_classes=4):
    x = RNG.uniform(0, 255, size=(n, 8, 8, 3)).astype("float32")
    y = np.arange(n) % num_classes
    return x, y


def test_wrapper_fit_moves_centres_and_predicts_probabilities():
    model = with_cosine_harmony(_tiny_classifier(), alpha=0.1)
    assert model.name == "tiny_ch" and isinstance(model, CosineHarmonyModel)
    assert any(v is model.centers for v in model.trainable_variables)
    model.compile(keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data()
    before = keras.ops.convert_to_numpy(model.centers).copy()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(model.centers)
    assert np.isfinite(history.history["loss"][0])
    assert np.abs(after - before).max() > 1e-6, "the centres must be trained"
    probs = model.predict(x, verbose=0)
    assert probs.shape == (8, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, model.classifier.predict(x, verbose=0), atol=1e-6)


def test_wrapper_frozen_centres_stay():
    model = with_cosine_harmony(_tiny_classifier(), trainable_centers=False)
    model.compile(keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    before = keras.ops.convert_to_numpy(model.centers).copy()
    model.fit(*_data(), batch_size=4, epochs=1, verbose=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.centers), before)


@pytest.mark.parametrize("mode", ["reference", "paper"])
def test_wrapper_loss_is_ce_plus_weighted_ch_with_flooding(mode):
    base = _tiny_classifier()
    x, y = _data()
    for flooding in (None, 50.0):
        model = with_cosine_harmony(base, mode=mode, weight=0.5, flooding=flooding)
        model.compile(loss="sparse_categorical_crossentropy")
        got = model.evaluate(x, y, batch_size=8, verbose=0)
        probs = base.predict(x, verbose=0)
        ce = -np.mean(np.log(np.clip(probs[np.arange(8), y], 1e-7, 1.0)))
        feats = keras.Model(base.inputs, base.get_layer("features").output).predict(x, verbose=0)
        centers = keras.ops.convert_to_numpy(model.centers)
        expected = ce + 0.5 * np_cosine_harmony(feats, y, centers, mode=mode)
        if flooding is not None:
            expected = abs(expected - flooding) + flooding
        np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_wrapper_save_load_roundtrip():
    model = with_cosine_harmony(_tiny_classifier(), mode="paper", flooding=0.5)
    model.compile(keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ch.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
    assert type(restored) is CosineHarmonyModel
    assert restored.mode == "paper" and restored.flooding == 0.5
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored.centers), keras.ops.convert_to_numpy(model.centers), atol=0
    )
    restored.fit(x, y, batch_size=4, epochs=1, verbose=0)  # compile state restored too


def test_wrapper_with_class_weight_and_logits_model():
    model = with_cosine_harmony(_tiny_classifier(activation=None))
    model.compile(keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _data()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, class_weight={0: 1.0, 1: 2.9, 2: 1.0, 3: 1.0})
    assert np.isfinite(history.history["loss"][0])


def test_wrapper_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = with_cosine_harmony(_tiny_classifier())
        model.compile(keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
        history = model.fit(*_data(), batch_size=4, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert model.centers.dtype == "float32"
    finally:
        keras.config.set_dtype_policy("float32")


def test_wrapper_rejects_models_without_features_or_top():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    no_features = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(x)))
    with pytest.raises(ValueError, match="no layer named 'features'"):
        with_cosine_harmony(no_features)
    fmap_out = keras.Model(inputs, keras.layers.Identity(name="features")(x))
    with pytest.raises(ValueError, match="num_classes"):
        with_cosine_harmony(fmap_out)
    with pytest.raises(ValueError, match="mode"):
        with_cosine_harmony(_tiny_classifier(), mode="other")
