"""Augmentation inside the compiled training step (`kerasfer.training.augment_step`), on TensorFlow and JAX."""

import keras
import numpy as np
import pytest

from kerasfer.data.augment import BatchAugmenter
from kerasfer.losses import with_cosine_harmony
from kerasfer.training.augment_step import AugmentInStep
from kerasfer.training.augment_step import StepAugmentation
from kerasfer.training.augment_step import augment_in_step

pytestmark = pytest.mark.multibackend  # `make test-jax` runs it on JAX too

SHAPE = (24, 24, 3)


def _tiny(num_classes=3):
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def _images(n=8, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *SHAPE)).astype("float32")


def _bn_stats(model):
    bn = model.get_layer("bn")
    return np.concatenate([keras.ops.convert_to_numpy(bn.moving_mean), keras.ops.convert_to_numpy(bn.moving_variance)])


def _inference_moves_batchnorm(trainable, model, x):
    before = _bn_stats(model)
    out = keras.ops.convert_to_numpy(trainable(x))
    moved = not np.allclose(before, _bn_stats(model))
    return moved, out


def test_inference_leaves_batchnorm_alone_unlike_a_prepended_augmentation_layer():
    x = _images()
    model = _tiny()
    wrapped = AugmentInStep(model, StepAugmentation("lfnsb_affectnet", SHAPE, seed=0))
    want = keras.ops.convert_to_numpy(model(x, training=False))
    moved, out = _inference_moves_batchnorm(wrapped, model, x)
    assert not moved
    np.testing.assert_allclose(out, want, atol=1e-6)  # no augmentation, BatchNormalization in inference mode
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), want, atol=1e-5)

    # The trap this design avoids: Keras's image layers default to training=True and leave it in the call
    # context, so a plain model(x) through a prepended RandomFlip updates the BatchNormalization statistics.
    naive_model = _tiny()
    inputs = keras.Input(SHAPE)
    naive = keras.Model(inputs, naive_model(keras.layers.RandomFlip("horizontal")(inputs)))
    assert _inference_moves_batchnorm(naive, naive_model, x)[0]


def test_training_step_augments_and_trains_batchnorm_then_evaluates_clean():
    x, y = _images(16), np.arange(16) % 3
    model = _tiny()
    wrapped = augment_in_step(model, StepAugmentation("lfnsb_affectnet", SHAPE, seed=0))
    wrapped.compile(keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = _bn_stats(model)
    history = wrapped.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(before, _bn_stats(model))  # training mode reached the BatchNormalization
    after_fit = _bn_stats(model)
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    wrapped.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(after_fit, _bn_stats(model))  # evaluation neither
    assert augment_in_step(model, None) is model


def test_preset_semantics_identity_outside_training_and_fresh_draws_each_call():
    x = _images(6)
    aug = StepAugmentation("lfnsb_affectnet", SHAPE, seed=1)
    assert [p for p, _, _ in aug.stages] == [1.0, 0.7, 1.0]
    assert "RandomFlip" in repr(aug) and "RandomErasing" in repr(aug)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x)), x)  # training None: identity
    a = keras.ops.convert_to_numpy(aug(x, training=True))
    b = keras.ops.convert_to_numpy(aug(x, training=True))
    assert a.shape == x.shape and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 255
    assert not np.allclose(a, x) and not np.allclose(a, b)
    with pytest.raises(ValueError, match="identity"):
        StepAugmentation("none", SHAPE)


def test_random_apply_keeps_each_image_with_its_stage_probability():
    zero = keras.layers.Rescaling(0.0)  # an easy transform to count: the image becomes black
    aug = StepAugmentation(BatchAugmenter([(0.3, [zero]), (1.0, [keras.layers.Rescaling(1.0, offset=300.0)])]), SHAPE)
    out = keras.ops.convert_to_numpy(aug(np.full((2000, *SHAPE), 100.0, np.float32), training=True))
    per_image = out.reshape(2000, -1)
    assert np.all(per_image == 255.0)  # p = 1 stage on every image, then the clip to [0, 255]
    aug = StepAugmentation(BatchAugmenter([(0.3, [zero])]), SHAPE, seed=3)
    out = keras.ops.convert_to_numpy(aug(np.full((2000, *SHAPE), 100.0, np.float32), training=True))
    per_image = out.reshape(2000, -1)
    assert set(np.unique(per_image[:, 0]).tolist()) == {0.0, 100.0}
    assert np.all(per_image == per_image[:, :1])  # whole images, not pixels
    assert abs(np.mean(per_image[:, 0] == 0.0) - 0.3) < 0.04


def test_cosine_harmony_keeps_its_loss_on_the_augmented_features():
    from kerasfer.losses.cosine_harmony import CosineHarmonyLoss

    x, y = _images(8), np.arange(8) % 3
    counts = {}

    def fit(wrap):
        ch = with_cosine_harmony(_tiny())
        heads = ch._heads
        counts[wrap] = 0

        def counting_heads(*args, **kwargs):
            counts[wrap] += 1
            return heads(*args, **kwargs)

        object.__setattr__(ch, "_heads", counting_heads)
        model = AugmentInStep(ch, StepAugmentation("flip", SHAPE, seed=0)) if wrap else ch
        model.compile(keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", run_eagerly=True)
        centers = keras.ops.convert_to_numpy(ch.centers)
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        return model, ch, heads, centers

    model, ch, heads, centers = fit(True)
    fit(False)
    # As many forward passes as without the wrapper (one a step, plus the backend's tracing): the Cosine-Harmony
    # term reused the features of the augmented batch instead of recomputing them from the raw one.
    assert counts[True] == counts[False] >= 2
    assert not np.allclose(centers, keras.ops.convert_to_numpy(ch.centers))  # the centres trained
    # the wrapper's loss is the CosineHarmonyModel's: the compiled CE plus the Cosine-Harmony term
    y_pred = model(x)
    total = float(model.compute_loss(x=x, y=y, y_pred=y_pred, training=False))
    ce = float(keras.losses.SparseCategoricalCrossentropy()(y, y_pred))
    term = float(CosineHarmonyLoss(centers=ch.centers)(y, heads(x)[1]))
    assert term > 0.01 and total == pytest.approx(ce + term, rel=1e-5)


def test_mixup_blends_inputs_and_targets_with_one_lambda_per_step():
    x = _images(6)
    y = np.eye(3, dtype="float32")[np.arange(6) % 3]
    sw = np.linspace(0.5, 1.5, 6).astype("float32")
    wrapped = AugmentInStep(_tiny(), mixup=0.4, seed=0)
    mixed = keras.ops.convert_to_numpy(wrapped._mix_inputs(x))
    lam = float(keras.ops.convert_to_numpy(wrapped._mix_lambda))
    assert 0.0 <= lam <= 1.0
    np.testing.assert_allclose(mixed, lam * x + (1 - lam) * x[::-1], rtol=1e-5, atol=1e-3)
    ym, swm = (keras.ops.convert_to_numpy(t) for t in wrapped._mix_targets(y, sw))
    np.testing.assert_allclose(ym, lam * y + (1 - lam) * y[::-1], atol=1e-6)
    np.testing.assert_allclose(ym.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(swm, lam * sw + (1 - lam) * sw[::-1], atol=1e-6)
    with pytest.raises(RuntimeError, match="forward pass"):  # the lambda is used once, by its own step
        wrapped._mix_targets(y, None)
    # Beta(0.4, 0.4): fresh draws, U-shaped (mostly near 0 or 1), mean 1/2
    lams = []
    for _ in range(300):
        wrapped._mix_inputs(x[:1])
        lams.append(float(keras.ops.convert_to_numpy(wrapped._mix_lambda)))
    lams = np.array(lams)
    assert abs(lams.mean() - 0.5) < 0.07 and np.mean((lams < 0.2) | (lams > 0.8)) > 0.45


def test_mixup_step_trains_on_blended_targets_and_evaluates_clean():
    x = _images(8) / 255.0  # unsaturated softmax outputs: the losses compare closely on both backends
    y = np.eye(3, dtype="float32")[np.arange(8) % 3]
    model = _tiny()
    wrapped = augment_in_step(model, None, mixup=0.4, seed=1)
    assert isinstance(wrapped, AugmentInStep) and wrapped.augmentation is None
    wrapped.compile(keras.optimizers.SGD(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    # the training loss is the cross-entropy of the blended batch against the blended targets
    y_pred = wrapped(x, training=True)
    lam = float(keras.ops.convert_to_numpy(wrapped._mix_lambda))
    got = float(keras.ops.convert_to_numpy(wrapped.compute_loss(x=x, y=y, y_pred=y_pred, training=True)))
    want = float(keras.losses.CategoricalCrossentropy()(lam * y + (1 - lam) * y[::-1], y_pred))
    assert got == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(y_pred),
        keras.ops.convert_to_numpy(model(lam * x + (1 - lam) * x[::-1], training=True)),
        atol=1e-4,
    )
    history = wrapped.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    # evaluation and prediction see the images as they are, with the targets as they are
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    loss = wrapped.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    model.compile(loss="categorical_crossentropy")
    assert loss == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)


def test_mixup_errors_name_the_problem():
    with pytest.raises(ValueError, match="mixup must be a finite number >= 0"):
        AugmentInStep(_tiny(), mixup=-1.0)
    with pytest.raises(ValueError, match="augmentation, mixup > 0 or a distiller"):
        AugmentInStep(_tiny())
    wrapped = AugmentInStep(_tiny(), mixup=0.2)
    x = _images(4)
    with pytest.raises(ValueError, match="one-hot or distributions"):
        wrapped.compute_loss(x=x, y=np.arange(4) % 3, y_pred=wrapped(x, training=True), training=True)
