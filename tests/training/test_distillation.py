"""Teacher label distributions for LDL / distillation."""

import keras
import numpy as np
import pytest

from kerasfer.losses import LabelDistributionKL
from kerasfer.training.distillation import teacher_targets
from kerasfer.training.distillation import with_teacher_targets


def _teacher(activation="softmax"):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation=activation, name="predictions")])


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_targets_from_arrays_probabilities_and_logits():
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    teacher = _teacher(None)
    logits = teacher.predict(x, verbose=0)
    np.testing.assert_allclose(teacher_targets(teacher, x), _softmax(logits), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(teacher_targets(teacher, x, temperature=2.0), _softmax(logits / 2), rtol=1e-5, atol=1e-6)
    soft = _teacher("softmax")
    soft.set_weights(teacher.get_weights())
    np.testing.assert_allclose(teacher_targets(soft, x), _softmax(logits), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(teacher_targets(soft, x, temperature=2.0), _softmax(logits / 2), rtol=1e-4, atol=1e-6)
    y = np.array([0, 1, 2, 0, 1])
    mixed = teacher_targets(soft, x, labels=y, hard_label_weight=0.25)
    np.testing.assert_allclose(mixed, 0.75 * _softmax(logits) + 0.25 * np.eye(3)[y], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)


def test_student_trains_on_teacher_targets():
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    targets = teacher_targets(_teacher(), x)
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    student.compile(keras.optimizers.SGD(0.5), loss=LabelDistributionKL())
    history = student.fit(x, targets, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_errors():
    x = np.zeros((2, 4), "float32")
    with pytest.raises(ValueError, match="temperature"):
        teacher_targets(_teacher(), x, temperature=0)
    with pytest.raises(ValueError, match="needs the labels"):
        teacher_targets(_teacher(), x, hard_label_weight=0.5)
    with pytest.raises(ValueError, match="out of range"):
        teacher_targets(_teacher(), x, labels=np.array([0, 3]), hard_label_weight=0.5)
    with pytest.raises(ValueError, match="non-empty"):
        teacher_targets(_teacher(), np.zeros((0, 4), "float32"))
    with pytest.raises(TypeError, match="NumPy array or a tf.data.Dataset"):
        teacher_targets(_teacher(), [[0.0] * 4])


@pytest.mark.tf_only
def test_tf_data_paths():
    import tensorflow as tf

    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 4)).astype("float32")
    y = np.array([0, 1, 2, 2, 1, 0])
    teacher = _teacher()
    expected = teacher.predict(x, verbose=0)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    np.testing.assert_allclose(teacher_targets(teacher, ds), expected, rtol=1e-5, atol=1e-6)
    mixed = teacher_targets(teacher, ds, hard_label_weight=0.5)
    np.testing.assert_allclose(mixed, 0.5 * expected + 0.5 * np.eye(3)[y], rtol=1e-5, atol=1e-6)
    mapped = list(with_teacher_targets(ds, teacher, hard_label_weight=0.5).as_numpy_iterator())
    got = np.concatenate([d for _, d in mapped])
    np.testing.assert_allclose(got, 0.5 * expected + 0.5 * np.eye(3)[y], rtol=1e-5, atol=1e-6)
