"""Checks every kerasfer loss must pass: config, reductions/sample weights, degenerate inputs,
float16, one compile + fit step (float32 and mixed precision), `get`, and TF/JAX agreement."""

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest

from kerasfer import losses
from kerasfer.testing.test_case import run_serialization_test

C = 5


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype("float32")


def _sparse(y, n):
    return y.astype("int32")


def _onehot(y, n):
    return np.eye(n, dtype="float32")[y]


def _distribution(y, n):
    return (0.7 * np.eye(n)[y] + 0.3 / n).astype("float32")


def _binary(y, n):
    return (np.eye(n)[y] + np.eye(n)[(y + 2) % n] > 0).astype("float32")


# name -> (factory, target builder, output kind)
CASES = {
    "ce": (lambda: losses.get("ce"), _sparse, "softmax"),
    "ro": (lambda: losses.ROLoss(0.9, 0.1), _sparse, "softmax"),
    "ro_onehot": (lambda: losses.ROLoss(0.8, 0.3), _onehot, "softmax"),
    "combo": (lambda: losses.ComboLoss(0.5, 0.2), _onehot, "softmax"),
    "combo_reference": (lambda: losses.ComboLoss(0.5, 0.6, reference_bracket=True), _distribution, "softmax"),
    "kl": (lambda: losses.LabelDistributionKL(), _distribution, "softmax"),
    "kl_efficientface": (lambda: losses.LabelDistributionKL(mode="efficientface"), _distribution, "softmax"),
    "focal": (lambda: losses.CategoricalFocalLoss(alpha=[1.0, 2.0, 1.0, 0.5, 1.0]), _onehot, "softmax"),
    "focal_sparse": (lambda: losses.CategoricalFocalLoss(gamma=2.0), _sparse, "softmax"),
    "binary_focal": (lambda: losses.BinaryFocalLoss(alpha=0.25), _binary, "sigmoid"),
    "margin_bce": (lambda: losses.MarginBCE(weight=0.5), _sparse, "sigmoid"),
    "sparse_smoothed_ce": (lambda: losses.SparseSmoothedCrossentropy(C, label_smoothing=0.1), _sparse, "softmax"),
    "sum": (lambda: losses.SumLoss([losses.ROLoss(0.9, 0.1), "combo"], [1.0, 0.5]), _onehot, "softmax"),
}

# Losses computed by keras.losses.categorical_crossentropy, which normalises y_pred by its row sum.
KERAS_NORMALISED = {"sparse_smoothed_ce"}


def _inputs(kind, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(batch, C)).astype("float32")
    y = rng.integers(0, C, size=batch)
    preds = _softmax(z) if kind == "softmax" else (1 / (1 + np.exp(-z))).astype("float32")
    return y, preds


def _grad_wrt_pred(loss, y_true, y_pred):
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.jit(jax.grad(lambda p: loss(y_true, p)))(y_pred))
    import tensorflow as tf

    p = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        out = loss(y_true, p)
    return np.asarray(tape.gradient(out, p))


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_roundtrip(name):
    factory, target, kind = CASES[name]
    loss = factory()
    restored = run_serialization_test(loss)
    y, p = _inputs(kind)
    np.testing.assert_allclose(float(restored(target(y, C), p)), float(loss(target(y, C), p)), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reductions_and_sample_weight(name):
    factory, target, kind = CASES[name]
    config = factory().get_config()
    y, p = _inputs(kind)
    t = target(y, C)
    per = np.asarray(type(factory()).from_config({**config, "reduction": None})(t, p))
    assert per.shape[0] == 4 and np.all(np.isfinite(per))
    w = np.array([1.0, 0.0, 2.0, 0.5], "float32")
    weighted = per * (w if per.ndim == 1 else w[:, None])
    n = per.size
    for reduction, expected in [
        ("sum", weighted.sum()),
        ("sum_over_batch_size", weighted.sum() / n),
        ("mean_with_sample_weight", weighted.sum() / (w.sum() * n / 4)),
    ]:
        loss = type(factory()).from_config({**config, "reduction": reduction})
        np.testing.assert_allclose(float(loss(t, p, sample_weight=w)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_degenerate_inputs_finite(name):
    factory, target, kind = CASES[name]
    loss = factory()
    y = np.array([0, 1, 3, 3])
    t = target(y, C)
    onehot_pred = np.eye(C, dtype="float32")[[0, 2, 3, 4]]  # exact 0 and 1 probabilities, some wrong
    cases = {
        "exact 0/1 predictions": (t, onehot_pred),
        "uniform predictions": (t, np.full((4, C), 1.0 / C, "float32")),
        "zero predictions": (t, np.zeros((4, C), "float32")),
        "single sample": (t[:1], _inputs(kind, batch=1)[1]),
    }
    if name in KERAS_NORMALISED:  # Keras's cross-entropy divides by the row sum: an all-zero row is NaN there too
        del cases["zero predictions"]
    for what, (tt, pp) in cases.items():
        value = float(loss(tt, pp))
        assert np.isfinite(value), (what, value)
        assert np.all(np.isfinite(_grad_wrt_pred(loss, tt, pp))), what


@pytest.mark.parametrize("name", sorted(CASES))
def test_float16_predictions(name):
    factory, target, kind = CASES[name]
    loss = factory()
    y, p = _inputs(kind)
    t = target(y, C)
    v32 = loss(t, p)
    v16 = loss(t, p.astype("float16"))
    assert keras.backend.standardize_dtype(v16.dtype) == "float32"
    np.testing.assert_allclose(float(v16), float(v32), rtol=2e-3, atol=2e-3)


def _fit_once(factory, target, kind, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(8, 6)).astype("float32")
    y = np.arange(8) % C
    # the output activation in float32, as Keras recommends under mixed precision (a float16 softmax
    # saturates and overflows the scaled gradients); a no-op under the float32 policy
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(C, name="logits"), keras.layers.Activation(kind, dtype="float32")]
    )
    model.compile(keras.optimizers.SGD(0.1), loss=factory())
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in model.trainable_variables]
    history = model.fit(x, target(y, C), batch_size=4, epochs=1, verbose=0)
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    assert np.isfinite(history.history["loss"][0])
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before))


@pytest.mark.parametrize("name", sorted(CASES))
def test_compile_fit_step(name):
    _fit_once(*CASES[name])


@pytest.mark.parametrize("name", ["ro", "combo", "kl", "focal", "binary_focal"])
def test_compile_fit_step_mixed_precision(name):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        _fit_once(*CASES[name])
    finally:
        keras.config.set_dtype_policy("float32")


def test_reconstruction_fit_step():
    inputs = keras.Input((8, 8, 3))
    out = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inputs)
    model = keras.Model(inputs, out)
    model.compile("sgd", loss=losses.ReconstructionL1(weight=2.0))
    x = np.random.default_rng(0).uniform(size=(4, 8, 8, 3)).astype("float32")
    history = model.fit(x, x, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_get_names():
    assert isinstance(losses.get("ce"), losses.ROLoss) and losses.get("ce").lambda2 == 0.0
    assert isinstance(losses.get("RO", lambda1=0.8), losses.ROLoss)
    assert isinstance(losses.get("combo"), losses.ComboLoss)
    assert isinstance(losses.get("kl"), losses.LabelDistributionKL)
    assert isinstance(losses.get("ldl"), losses.LabelDistributionKL)
    assert isinstance(losses.get("focal"), losses.CategoricalFocalLoss)
    assert isinstance(losses.get("binary-focal"), losses.BinaryFocalLoss)
    assert isinstance(losses.get("cosine_harmony", centers=np.ones((3, 4))), losses.CosineHarmonyLoss)
    loss = losses.ComboLoss()
    assert losses.get(loss) is loss
    with pytest.raises(ValueError, match="with_cosine_harmony"):
        losses.get("cosine_harmony")
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.get("hinge")


_VALUES_CODE = """
import numpy as np
from kerasfer import losses


def compute(data):
    y, p, d, f, c = (np.asarray(data[k]) for k in ("y", "p", "d", "f", "c"))
    onehot = np.eye(p.shape[1], dtype="float32")[y]
    return {
        "ro": float(losses.ROLoss(0.9, 0.1)(y, p)),
        "combo": float(losses.ComboLoss(0.5, 0.2)(d, p)),
        "combo_ref": float(losses.ComboLoss(0.5, 0.2, reference_bracket=True)(d, p)),
        "kl": float(losses.LabelDistributionKL()(d, p)),
        "focal": float(losses.CategoricalFocalLoss()(onehot, p)),
        "binary_focal": float(losses.BinaryFocalLoss()(onehot, p)),
        "margin_bce": float(losses.MarginBCE()(y, p)),
        "reconstruction": float(losses.ReconstructionL1()(d, p)),
        "ch_reference": float(losses.cosine_harmony(f, y, c)),
        "ch_paper": float(losses.cosine_harmony(f, y, c, mode="paper")),
    }
"""
_SUBPROCESS_MAIN = """
import json, sys
print("RESULT" + json.dumps(compute(np.load(sys.argv[1]))))
"""


def test_same_values_on_tensorflow_and_jax():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("run from the TensorFlow backend (compares against a JAX subprocess)")
    pytest.importorskip("jax")
    rng = np.random.default_rng(7)
    arrays = {
        "y": rng.integers(0, C, size=6),
        "p": _softmax(rng.normal(size=(6, C))),
        "d": _softmax(rng.normal(size=(6, C))),
        "f": rng.normal(size=(6, 12)).astype("float32"),
        "c": rng.normal(size=(C, 12)).astype("float32"),
    }
    namespace = {}
    exec(_VALUES_CODE, namespace)
    tf_values = namespace["compute"](arrays)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inputs.npz")
        np.savez(path, **arrays)
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
        proc = subprocess.run(
            [sys.executable, "-c", _VALUES_CODE + _SUBPROCESS_MAIN, path],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    jax_values = json.loads(line[len("RESULT") :])
    assert sorted(jax_values) == sorted(tf_values)
    for key, value in tf_values.items():
        np.testing.assert_allclose(jax_values[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
