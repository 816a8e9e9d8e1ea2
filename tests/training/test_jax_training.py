"""A short training on the current backend (CI runs this file under KERAS_BACKEND=jax too).

On JAX the data come from NumPy arrays (`kerasfer.data.datasets.load_numpy`) through a
`keras.utils.PyDataset` with the same augmentation presets, so no TensorFlow is needed at
training time.
"""

import os

import keras
import numpy as np
import pytest

from kerasfer.models import registry
from kerasfer.training import trainer
from kerasfer.training.config import TrainConfig
from kerasfer.training.evaluate import evaluate

pytestmark = pytest.mark.multibackend


def _tiny(num_classes=7, input_shape=(24, 24, 3), weights=None, name="tiny_backend_test", **kwargs):
    from kerasfer.layers import ImageNormalization

    inputs = keras.Input(input_shape)
    x = ImageNormalization(0.5, 0.25)(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x), name=name)


if "tiny_backend_test" not in registry.list_models():
    registry.register_model("tiny_backend_test", input_shape=(24, 24, 3), family="test", min_input_size=8)(_tiny)


def test_short_training_and_evaluation_on_current_backend(tmp_path):
    config = TrainConfig(
        model="tiny_backend_test",
        dataset="synthetic_faces",
        epochs=2,
        batch_size=7,
        max_train_examples=28,
        max_val_examples=14,
        val_split="validation",
        augment="lfnsb",
        loss="ce+cosine_harmony",
        class_weights="balanced",
        output_dir=str(tmp_path / "run"),
        verbose=0,
    )
    result = trainer.train(config)
    assert len(result.history["loss"]) == 2 and np.all(np.isfinite(result.history["loss"]))
    assert os.path.exists(result.model_path)
    report = evaluate(weights=result.output_dir, split="test", max_examples=14, output=str(tmp_path / "r.json"))
    assert report["num_examples"] == 14 and 0 <= report["accuracy"] <= 1
    assert report["input_shape"] == [24, 24, 3]


def test_training_from_array_files(tmp_path):
    """`arrays_dir`: the .npz splits `kerasfer arrays` writes; no TFDS at training time (the GPU machines)."""
    from kerasfer.data import arrays
    from kerasfer.data import synthetic

    for split, seed in (("train", 1), ("validation", 2)):
        x, y = synthetic.generate(14, seed=seed, image_size=32, channels=1)
        np.savez(arrays.array_file(tmp_path, "fer2013", split), images=x.astype(np.uint8), labels=y)
    config = TrainConfig(
        model="tiny_backend_test",
        dataset="fer2013",
        arrays_dir=str(tmp_path),
        input_shape=(24, 24, 1),
        epochs=1,
        batch_size=7,
        augment="flip",
        label_smoothing=0.1,
        mixup=0.3,  # on JAX: the flip and then mixup in the compiled step, one-hot targets from the arrays
        recalibrate_bn=5,  # precise BatchNorm over the (two) un-augmented training batches of the arrays
        output_dir=str(tmp_path / "run"),
        verbose=0,
    )
    result = trainer.train(config)
    assert "val_accuracy" in result.history and np.isfinite(result.history["loss"][0])
    record = result.summary["batchnorm_recalibration"]
    assert record["batches"] == 2 and record["images"] == 14 and 0 <= record["val_accuracy_after"] <= 1
    with pytest.raises(FileNotFoundError, match="arrays_dir .* is not a folder.*kerasfer arrays"):
        trainer.train(TrainConfig(**{**config.to_dict(), "dataset": "fer2013", "arrays_dir": str(tmp_path / "x"),
                                     "output_dir": str(tmp_path / "run2")}))  # fmt: skip


def test_training_on_a_datasets_own_target_distributions(tmp_path, monkeypatch):
    """`target_feature`: the training split's targets are a feature of its examples (FER+'s vote distributions);
    validation keeps the labels. Synthetic faces stand in for FER+ here: each label gets 0.8, the next class 0.2."""
    from kerasfer.data import datasets

    calls = []

    def soft(y, ops):
        return 0.8 * ops.one_hot(y, 7) + 0.2 * ops.one_hot((y + 1) % 7, 7)

    real_load, real_numpy = datasets.load, datasets.load_numpy

    def load(name, split, target=None, **kw):
        calls.append((split, target))
        ds = real_load(name, split, **kw)
        if target == "distribution":
            import tensorflow as tf

            ds = ds.map(lambda x, y: (x, soft(tf.cast(y, tf.int32), type("ops", (), {"one_hot": tf.one_hot}))))
        return ds

    def load_numpy(name, split, input_shape, target=None, **kw):
        calls.append((split, target))
        x, y = real_numpy(name, split, input_shape, **kw)
        if target == "distribution":
            y = soft(np.asarray(y), type("ops", (), {"one_hot": lambda v, n: np.eye(n, dtype="float32")[v]}))
        return x, y

    monkeypatch.setattr(datasets, "load", load)
    monkeypatch.setattr(datasets, "load_numpy", load_numpy)
    base = dict(
        model="tiny_backend_test", dataset="synthetic_faces", epochs=1, batch_size=7, max_train_examples=28,
        max_val_examples=14, val_split="validation", verbose=0,
    )  # fmt: skip
    config = TrainConfig(**base, loss="kl", target_feature="distribution", output_dir=str(tmp_path / "votes"))
    assert config.label_mode == "categorical"
    result = trainer.train(config)
    assert ("train", "distribution") in calls and ("validation", None) in calls
    assert np.isfinite(result.history["loss"][0]) and 0 <= result.history["val_accuracy"][0] <= 1
    # against the hard labels the same step gives another loss: the targets were the distributions
    calls.clear()
    hard = trainer.train(TrainConfig(**base, loss="ce", output_dir=str(tmp_path / "hard")))
    assert ("train", None) in calls and hard.history["loss"][0] != pytest.approx(result.history["loss"][0], rel=1e-3)


def test_target_feature_errors(tmp_path):
    from kerasfer.training.optim import check_loss_targets

    with pytest.raises(ValueError, match="target_feature"):
        check_loss_targets(TrainConfig(loss="kl"))
    with pytest.raises(ValueError, match="needs hard labels"):
        check_loss_targets(TrainConfig(loss="ce+cosine_harmony", target_feature="distribution"))
    with pytest.raises(ValueError, match="choose one"):
        TrainConfig(target_feature="distribution", soft_labels="soft.npy")
    with pytest.raises(ValueError, match="target_feature"):
        TrainConfig(target_feature="  ")
    with pytest.raises(ValueError, match="no target feature"):
        trainer.train(
            TrainConfig(model="tiny_backend_test", dataset="synthetic_faces", epochs=1, batch_size=7,
                        max_train_examples=14, max_val_examples=7, loss="kl", target_feature="distribution",
                        output_dir=str(tmp_path / "r"), verbose=0)
        )  # fmt: skip
