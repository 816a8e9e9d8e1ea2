"""Test helpers modelled on keras-hub's `TestCase`, written as plain functions.

They work under pytest on the TensorFlow and JAX backends and import no TensorFlow
themselves, so the same tests run on a machine that has only JAX.
"""

import inspect
import json
import os
import tempfile

import keras
import numpy as np


def assert_all_init_params_in_config(layer_cls, config):
    """Every named `__init__` argument of `layer_cls` (bar *args/**kwargs) is a config key."""
    sig = inspect.signature(layer_cls.__init__)
    missing = [
        name
        for name, p in sig.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and name not in config
    ]
    if missing:
        raise AssertionError(f"{layer_cls.__name__}.get_config() lacks init args: {missing}")


def run_serialization_test(obj):
    """Config JSON round trip via `from_config` and `serialize/deserialize_keras_object`."""
    config = obj.get_config()
    json.dumps(config)  # must be JSON-able
    restored = obj.__class__.from_config(config)
    assert restored.get_config() == config, (restored.get_config(), config)
    ser = keras.saving.serialize_keras_object(obj)
    restored2 = keras.saving.deserialize_keras_object(json.loads(json.dumps(ser)))
    assert type(restored2) is type(obj)
    assert restored2.get_config() == config
    return restored


def _as_list(x):
    return list(x) if isinstance(x, list | tuple) else [x]


def compute_gradients(model, x, y=None, loss_fn=None):
    """Gradients of a scalar loss w.r.t. `model.trainable_variables` on either backend.

    The default loss is the mean of the squares of every output, which reaches every
    weight that influences any output.
    """
    if loss_fn is None:

        def loss_fn(y_true, outputs):
            return sum(keras.ops.mean(keras.ops.square(o)) for o in _as_list(outputs))

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = loss_fn(y, out)
        grads = tape.gradient(loss, model.trainable_variables)
        return [None if g is None else np.asarray(g) for g in grads], float(loss)
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def f(tv):
            out, _ = model.stateless_call(tv, non_trainable, x, training=True)
            return loss_fn(y, out)

        loss, grads = jax.value_and_grad(f)(trainable)
        return [np.asarray(g) for g in grads], float(loss)
    raise NotImplementedError(f"compute_gradients does not support the {backend!r} backend.")


def assert_finite_gradients(model, x, y=None, loss_fn=None, allow_zero=()):
    """Every trainable variable gets a gradient that is not None, finite, and not all zero.

    Args:
        allow_zero: substrings of variable paths whose gradient may be all zero (for a
            weight that a fresh initialisation leaves with no signal, like the last BN's
            zero gamma in a residual block).
    """
    grads, loss = compute_gradients(model, x, y, loss_fn)
    assert np.isfinite(loss), f"loss is {loss}"
    problems = []
    for v, g in zip(model.trainable_variables, grads, strict=True):
        if g is None:
            problems.append(f"{v.path}: no gradient")
        elif not np.all(np.isfinite(g)):
            problems.append(f"{v.path}: non-finite gradient")
        elif not np.any(g) and not any(s in v.path for s in allow_zero):
            problems.append(f"{v.path}: gradient is all zero")
    if problems:
        raise AssertionError("Gradient problems:\n" + "\n".join(problems))
    return grads


def randomize_batchnorm(model, seed=0):
    """Sets random moving statistics, gammas and betas in every BatchNormalization layer.

    Fusion checks against untouched BN layers pass trivially; call this first.
    """
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.built:
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.5, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0.0, 0.5, n).astype("float32"))


def run_model_saving_test(model, input_data, atol=1e-6, custom_objects=None):
    """`.keras` save -> load gives the same class, config and outputs."""
    expected = model(input_data, training=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "saved.keras")
        model.save(path)
        restored = keras.saving.load_model(path, custom_objects=custom_objects)
    assert type(restored) is type(model), (type(restored), type(model))
    actual = restored(input_data, training=False)
    for e, a in zip(_as_list(expected), _as_list(actual), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), atol=atol, rtol=1e-5)
    return restored


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_training_check=True,
    run_saving_check=True,
    allow_zero_grad=(),
):
    """The standard checks for one kerasfer layer.

    Config round trip and init args in config; build and weight counts; symbolic call
    equal to `compute_output_shape`; eager call in both modes; a `.keras` save/load in a
    wrapping model with equal outputs; finite gradients for every trainable weight.
    """
    layer = layer_cls(**init_kwargs)
    assert_all_init_params_in_config(layer_cls, layer.get_config())
    run_serialization_test(layer)

    inputs = input_data if isinstance(input_data, list | tuple) else [input_data]
    shapes = [tuple(np.shape(x)) for x in inputs]
    sym = [keras.KerasTensor(s, dtype="float32") for s in shapes]
    layer = layer_cls(**init_kwargs)
    sym_out = layer(*sym) if len(sym) > 1 else layer(sym[0])
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, (
            len(layer.trainable_weights),
            expected_num_trainable_weights,
        )
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    try:
        computed = layer.compute_output_shape(*shapes) if len(shapes) > 1 else layer.compute_output_shape(shapes[0])
    except NotImplementedError:
        computed = None
    sym_shapes = [tuple(t.shape) for t in _as_list(sym_out)]
    if computed is not None:
        comp = _as_list(computed) if isinstance(computed, list) else [computed]
        if len(sym_shapes) == 1 and isinstance(computed, tuple) and computed and not isinstance(computed[0], tuple):
            comp = [computed]
        assert [tuple(c) for c in comp] == sym_shapes, (comp, sym_shapes)
    if expected_output_shape is not None:
        exp = expected_output_shape if isinstance(expected_output_shape, list) else [expected_output_shape]
        assert sym_shapes == [tuple(e) for e in exp], (sym_shapes, exp)

    for training in (False, True):
        out = layer(*inputs, training=training) if len(inputs) > 1 else layer(inputs[0], training=training)
        for o, s in zip(_as_list(out), sym_shapes, strict=True):
            assert tuple(o.shape) == s
            assert np.all(np.isfinite(np.asarray(o)))

    if run_saving_check or run_training_check:
        kin = [keras.Input(shape=s[1:], batch_size=None) for s in shapes]
        fresh = layer_cls(**init_kwargs)
        kout = fresh(*kin) if len(kin) > 1 else fresh(kin[0])
        model = keras.Model(kin if len(kin) > 1 else kin[0], kout)
        data = inputs if len(inputs) > 1 else inputs[0]
        if run_saving_check:
            run_model_saving_test(model, data)
        if run_training_check and model.trainable_variables:
            assert_finite_gradients(model, data, allow_zero=allow_zero_grad)
    return layer
