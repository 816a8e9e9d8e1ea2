"""Precise BatchNorm: statistics recomputed exactly, everything else untouched, errors leave the model as it was."""

import keras
import numpy as np
import pytest

from kerasfer.training import batchnorm
from kerasfer.training.data import ArrayBatches

pytestmark = pytest.mark.multibackend  # `make test-jax` runs it on JAX too


def bn_model(frozen=False):
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.BatchNormalization(name="bn1")(inputs)
    inner = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.BatchNormalization(name="bn2")], name="inner")
    x = inner(keras.layers.Dense(2, name="dense")(x))
    bn3 = keras.layers.BatchNormalization(name="bn3")
    x = bn3(x)
    bn3.trainable = not frozen
    return keras.Model(inputs, x)


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(3.0, 2.0, (n, 4, 4, 2)) * rng.uniform(0.5, 2.0, (n, 1, 1, 1))).astype("float32")


def stats(layer):
    return layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy()


def test_statistics_are_the_average_of_the_batches_own():
    model = bn_model()
    x = images(11)  # batches of 4, 4, 3
    gamma = model.get_layer("bn1").gamma.numpy().copy()
    record = batchnorm.recalibrate_batchnorm(model, x, batch_size=4)
    assert record == {"layers": 3, "batches": 3, "images": 11}
    batches = [x[0:4], x[4:8], x[8:11]]
    mean, var = stats(model.get_layer("bn1"))
    np.testing.assert_allclose(mean, np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(var, np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0), rtol=1e-4)
    # the nested layer saw the batches after the dense layer, with bn1's batch statistics (training mode)
    assert not np.allclose(stats(model.get_layer("inner").get_layer("bn2"))[1], 1.0)
    np.testing.assert_array_equal(model.get_layer("bn1").gamma.numpy(), gamma)
    assert all(layer.momentum == 0.99 for layer in batchnorm.batchnorm_layers(model))


def test_batch_limits_single_image_batches_and_frozen_layers():
    model = bn_model(frozen=True)
    frozen_before = stats(model.get_layer("bn3"))
    x = images(9)
    record = batchnorm.recalibrate_batchnorm(model, x, batch_size=4, max_batches=2)
    assert record == {"layers": 2, "batches": 2, "images": 8}
    np.testing.assert_array_equal(stats(model.get_layer("bn3"))[0], frozen_before[0])
    # a batch of one image (variance 0) is skipped: the last of 9 images in batches of 4
    model = bn_model()
    assert batchnorm.recalibrate_batchnorm(model, x, batch_size=4)["images"] == 8
    mean = stats(model.get_layer("bn1"))[0]
    np.testing.assert_allclose(mean, np.mean([x[0:4].mean((0, 1, 2)), x[4:8].mean((0, 1, 2))], axis=0), rtol=1e-5)


def test_batches_from_a_pydataset_and_an_iterable_of_tuples():
    x = images(12)
    y = np.arange(12) % 3
    a, b = bn_model(), bn_model()
    b.set_weights(a.get_weights())
    batchnorm.recalibrate_batchnorm(a, ArrayBatches(x, y, 4, training=False))
    batchnorm.recalibrate_batchnorm(b, [(x[i : i + 4], y[i : i + 4]) for i in range(0, 12, 4)])
    for name in ("bn1", "bn3"):
        np.testing.assert_allclose(stats(a.get_layer(name))[1], stats(b.get_layer(name))[1], rtol=1e-5)


def test_bad_input_raises_and_leaves_the_statistics_as_they_were():
    model = bn_model()
    before = stats(model.get_layer("bn1"))
    bad = images(8)
    bad[6, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="batch 1 holds NaN"):
        batchnorm.recalibrate_batchnorm(model, bad, batch_size=4)
    after = stats(model.get_layer("bn1"))
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert model.get_layer("bn1").momentum == 0.99
    with pytest.raises(ValueError, match="data are empty"):
        batchnorm.recalibrate_batchnorm(model, images(1))
    with pytest.raises(ValueError, match="shape"):
        batchnorm.recalibrate_batchnorm(model, images(4)[0])
    with pytest.raises(ValueError, match="max_batches"):
        batchnorm.recalibrate_batchnorm(model, images(4), max_batches=0)
    with pytest.raises(ValueError, match="batch_size"):
        batchnorm.recalibrate_batchnorm(model, images(4), batch_size=1)
    plain = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Dense(2)], name="plain")
    with pytest.raises(ValueError, match="'plain' has no trainable BatchNormalization"):
        batchnorm.recalibrate_batchnorm(plain, images(4))


def test_split_accuracy_reads_ids_and_one_hot_labels():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Softmax()])
    x = np.eye(3, dtype="float32") * 5
    ids = np.array([0, 1, 0])
    assert batchnorm.split_accuracy(model, ArrayBatches(x, ids, 2, training=False)) == pytest.approx(2 / 3)
    assert batchnorm.split_accuracy(model, [(x, np.eye(3, dtype="float32")[ids])]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="No validation example"):
        batchnorm.split_accuracy(model, [])
