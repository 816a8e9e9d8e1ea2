"""SparseSmoothedCrossentropy and SumLoss: values, the name registry, and saved models that load again."""

import json

import keras
import numpy as np
import pytest

from kerasfer import losses

# How `kerasfer.training.trainer` serialized the loss before it moved to `kerasfer.losses` (as saved in .keras files).
OLD_SPARSE_SMOOTHED = {
    "module": "kerasfer.training.trainer",
    "class_name": "SparseSmoothedCrossentropy",
    "config": {
        "name": "sparse_smoothed_ce",
        "reduction": "sum_over_batch_size",
        "num_classes": 7,
        "label_smoothing": 0.1,
        "from_logits": False,
    },
    "registered_name": "kerasfer>SparseSmoothedCrossentropy",
}


def _probs(n=3, c=7, seed=0):
    z = np.random.default_rng(seed).normal(size=(n, c)).astype("float32")
    return np.asarray(keras.ops.softmax(z))


def _model(c=7):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(c, activation="softmax", name="out")])


def test_sparse_smoothed_ce_equals_keras_on_one_hot_targets():
    loss = losses.SparseSmoothedCrossentropy(7, label_smoothing=0.2)
    y, p = np.array([0, 3, 6]), _probs()
    want = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(np.eye(7)[y], p)
    np.testing.assert_allclose(float(loss(y, p)), float(want), rtol=1e-6)
    np.testing.assert_allclose(float(loss(y[:, None], p)), float(want), rtol=1e-6)


def test_sparse_smoothed_ce_keeps_its_registered_name():
    assert keras.saving.get_registered_name(losses.SparseSmoothedCrossentropy) == "kerasfer>SparseSmoothedCrossentropy"
    old = keras.saving.deserialize_keras_object(json.loads(json.dumps(OLD_SPARSE_SMOOTHED)))
    assert isinstance(old, losses.SparseSmoothedCrossentropy)
    assert (old.num_classes, old.label_smoothing) == (7, 0.1)


@pytest.mark.parametrize(
    "loss",
    [
        losses.SparseSmoothedCrossentropy(7, label_smoothing=0.1),
        losses.SumLoss([losses.SparseSmoothedCrossentropy(7, 0.1), losses.get("ro", lambda1=0.8)], [1.0, 0.25]),
    ],
    ids=["sparse_smoothed_ce", "sum"],
)
def test_a_saved_model_loads_with_its_loss(tmp_path, loss):
    model = _model()
    model.compile("sgd", loss=loss)
    path = str(tmp_path / "m.keras")
    model.save(path)
    back = keras.saving.load_model(path)  # compiled again from the saved config
    assert type(back.loss) is type(loss)
    assert back.loss.get_config() == loss.get_config()
    y, x = np.array([0, 3, 6]), np.ones((3, 4), "float32")
    p = back.predict(x, verbose=0)
    np.testing.assert_allclose(float(back.loss(y, p)), float(loss(y, p)), rtol=1e-6)


def test_sum_loss_is_the_weighted_sum():
    a, b = losses.ROLoss(0.9, 0.1), losses.ComboLoss(0.5, 0.2)
    y, p = np.array([0, 3, 6]), _probs()
    t = np.eye(7, dtype="float32")[y]
    total = losses.SumLoss([a, b], [1.0, 0.5])
    np.testing.assert_allclose(float(total(t, p)), float(a(t, p)) + 0.5 * float(b(t, p)), rtol=1e-5)
    assert float(losses.SumLoss([a, "combo"])(t, p)) == pytest.approx(float(a(t, p)) + float(losses.get("combo")(t, p)))


def test_sum_loss_bad_arguments():
    with pytest.raises(ValueError, match="at least one loss"):
        losses.SumLoss([])
    with pytest.raises(ValueError, match="2 losses but 1 weights"):
        losses.SumLoss(["ro", "combo"], [1.0])
    with pytest.raises(ValueError, match="finite"):
        losses.SumLoss(["ro"], [float("nan")])
    with pytest.raises(TypeError, match="SumLoss terms"):
        losses.SumLoss([3])


def test_registry_names():
    assert isinstance(losses.get("sparse_smoothed_ce", num_classes=7), losses.SparseSmoothedCrossentropy)
    total = losses.get("sum", losses=["ro", "focal"], weights=[1.0, 2.0])
    assert isinstance(total, losses.SumLoss) and total.weights == [1.0, 2.0]
