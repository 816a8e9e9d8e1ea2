"""The trainer end to end on tiny settings: run directory, resume, refusals, NaN guard, losses, bad input."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from kerasfer.models import registry
from kerasfer.training import trainer
from kerasfer.training.config import TrainConfig

pytestmark = pytest.mark.tf_only


def tiny_cnn(num_classes=7, input_shape=(32, 32, 3), weights=None, name="tiny_cnn_test", **kwargs):
    """A 2-conv classifier following the kerasfer builder contract (test only)."""
    from kerasfer.layers import ImageNormalization

    if min(input_shape[:2]) < 16:
        raise ValueError(f"tiny_cnn_test needs at least 16x16 inputs, got {input_shape}.")
    inputs = keras.Input(input_shape)
    x = ImageNormalization(0.5, 0.25, name="normalization")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, out, name=name)


if "tiny_cnn_test" not in registry.list_models():
    registry.register_model("tiny_cnn_test", input_shape=(32, 32, 3), family="test", min_input_size=16)(tiny_cnn)


def cfg(tmp_path, **kw):
    base = dict(
        model="tiny_cnn_test",
        dataset="synthetic_faces",
        epochs=2,
        batch_size=7,
        max_train_examples=28,
        max_val_examples=14,
        val_split="validation",
        learning_rate=0.01,
        output_dir=str(tmp_path / "run"),
        jit_compile=False,
        verbose=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_run_directory_and_refusals(tmp_path):
    c = cfg(tmp_path, augment="lfnsb")
    r = trainer.train(c)
    out = c.output_dir
    for name in ("config.json", "preprocessing.json", "labels.txt", "model.keras", "log.csv", "history.json"):
        assert os.path.exists(os.path.join(out, name)), name
    assert os.path.exists(os.path.join(out, "checkpoints", "best.weights.h5"))
    assert not os.path.exists(os.path.join(out, "backup"))  # finished: the backup is cleaned up
    assert TrainConfig.from_json(os.path.join(out, "config.json")) == c
    prep = json.load(open(os.path.join(out, "preprocessing.json")))
    assert prep["input_shape"] == [32, 32, 3] and len(prep["class_names"]) == 7
    assert [int(row["epoch"]) for row in read_log(os.path.join(out, "log.csv"))] == [1, 2]  # as Keras prints them
    assert set(r.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert r.summary["train_examples"] == 28 and r.summary["val_examples"] == 14
    loaded = keras.saving.load_model(r.model_path, compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), r.model.predict(x, verbose=0), atol=1e-5)

    with pytest.raises(trainer.RunExistsError, match="finished run"):
        trainer.train(c)
    with pytest.raises(trainer.RunExistsError, match="different configuration"):
        os.remove(r.model_path)  # looks unfinished now, but the settings differ
        trainer.train(c.replace(learning_rate=0.5))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(trainer.RunExistsError, match="no kerasfer run"):
        trainer.train(c.replace(output_dir=str(tmp_path / "other"), on_existing="overwrite"))
    assert (tmp_path / "other" / "notes.txt").exists()


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_batchnorm_recalibration_at_the_end_of_a_run(tmp_path, monkeypatch):
    """`recalibrate_bn`: the saved model holds the recomputed statistics when validation does not drop, the moving
    averages when it does; result.json records which."""
    from kerasfer.training import batchnorm

    r = trainer.train(cfg(tmp_path, recalibrate_bn=3, epochs=1, augment="fer2013"))
    rec = r.summary["batchnorm_recalibration"]
    assert rec["layers"] == 1 and rec["batches"] == 3 and rec["images"] == 21
    assert rec["kept"] == (rec["val_accuracy_after"] >= rec["val_accuracy_before"])
    saved = keras.saving.load_model(r.model_path, compile=False).get_layer("bn1").moving_mean.numpy()
    np.testing.assert_array_equal(saved, r.model.get_layer("bn1").moving_mean.numpy())
    assert json.load(open(os.path.join(r.output_dir, "result.json")))["batchnorm_recalibration"] == rec

    seen = iter([0.5, 0.25])  # before, after: a drop
    monkeypatch.setattr(batchnorm, "split_accuracy", lambda model, data: next(seen))
    moving = {}
    real = batchnorm.recalibrate_batchnorm

    def spy(model, data, **kw):
        moving["before"] = model.get_layer("bn1").moving_mean.numpy().copy()
        return real(model, data, **kw)

    monkeypatch.setattr(batchnorm, "recalibrate_batchnorm", spy)
    r = trainer.train(cfg(tmp_path, recalibrate_bn=2, epochs=1, output_dir=str(tmp_path / "drop")))
    rec = r.summary["batchnorm_recalibration"]
    assert rec["kept"] is False and rec["val_accuracy_after"] == 0.25
    np.testing.assert_array_equal(r.model.get_layer("bn1").moving_mean.numpy(), moving["before"])
    with pytest.raises(ValueError, match="recalibrate_bn"):
        cfg(tmp_path, recalibrate_bn=-1)


def test_recalibrating_a_finished_run_whose_arrays_stayed_elsewhere(tmp_path):
    """`batchnorm.recalibrate_run` on a run trained from array files that are gone (a GPU run unpacked here):
    with `manual_dir` it recalibrates on the dataset's own training split, and writes the record once."""
    import shutil

    from kerasfer.data import arrays
    from kerasfer.data import synthetic
    from kerasfer.training import batchnorm

    folder = tmp_path / "arrays"
    folder.mkdir()
    for split, seed in (("train", 1), ("validation", 2)):
        x, y = synthetic.generate(14, seed=seed, image_size=32, channels=3)
        np.savez(arrays.array_file(folder, "synthetic_faces", split), images=x.astype(np.uint8), labels=y)
    r = trainer.train(cfg(tmp_path, arrays_dir=str(folder), epochs=1, max_val_examples=None))
    shutil.rmtree(folder)
    with pytest.raises(FileNotFoundError, match="arrays_dir"):
        batchnorm.recalibrate_run(r.output_dir, 2)
    record = batchnorm.recalibrate_run(r.output_dir, 2, manual_dir=str(tmp_path))
    assert record["after_training"] and record["batches"] == 2 and record["images"] == 14  # 2 batches of 7
    assert json.load(open(os.path.join(r.output_dir, "result.json")))["batchnorm_recalibration"] == record


def test_interrupted_run_resumes_without_lost_epochs(tmp_path):
    c = cfg(tmp_path, epochs=3, schedule="step", step_size=1, gamma=0.5)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(c, extra_callbacks=[_Interrupt()])
    assert os.path.exists(os.path.join(c.output_dir, "backup"))
    assert not os.path.exists(os.path.join(c.output_dir, "model.keras"))
    r = trainer.train(c)
    assert r.initial_epoch == 2  # epochs 1 and 2 were backed up
    rows = read_log(os.path.join(c.output_dir, "log.csv"))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert [float(row["lr"]) for row in rows] == pytest.approx([0.01, 0.005, 0.0025])
    # issue 26, item 13: one complete history and one epoch numbering after a resume
    history = json.load(open(os.path.join(c.output_dir, "history.json")))
    assert history["lr"] == pytest.approx([0.01, 0.005, 0.0025]) and r.history == history
    assert history["loss"] == pytest.approx([float(row["loss"]) for row in rows])
    result = json.load(open(os.path.join(c.output_dir, "result.json")))
    best = max(rows, key=lambda row: float(row["val_accuracy"]))  # the first of equals, as max() picks
    assert result["best_epoch"] == int(best["epoch"]) and result["epochs_run_now"] == 1
    with pytest.raises(trainer.RunExistsError, match="unfinished run; pass --resume"):
        os.remove(r.model_path)
        trainer.train(c.replace(on_existing="refuse"))


def test_an_unfinished_run_through_a_training_wrapper_loads_from_its_checkpoint(tmp_path):
    """Cosine-Harmony and mixup train through a wrapper model; the best checkpoint holds the classifier alone, so a
    run stopped before its model.keras (a lost machine, Ctrl-C) loads and packages like a finished one."""
    from kerasfer.models.loading import load_trained

    c = cfg(tmp_path, epochs=2, mixup=0.4, loss="ce+cosine_harmony")
    with pytest.raises(KeyboardInterrupt):
        trainer.train(c, extra_callbacks=[_Interrupt()])
    assert not os.path.exists(os.path.join(c.output_dir, "model.keras"))
    loaded = load_trained(c.output_dir)
    assert "unfinished run" in loaded.source and loaded.model.name == "tiny_cnn_test"
    ref = tiny_cnn()
    ref.load_weights(os.path.join(c.output_dir, "checkpoints", "best.weights.h5"))  # the classifier's own layout
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), ref.predict(x, verbose=0), atol=1e-6)


def test_a_best_checkpoint_in_the_wrapper_layout_still_loads_at_the_end(tmp_path):
    """A run resumed from a checkpoint written when it held the training wrapper ends with the wrapper's best."""
    from kerasfer.losses import with_cosine_harmony

    base = tiny_cnn()
    wrapper = with_cosine_harmony(base)
    wrapper(np.zeros((1, 32, 32, 3), "float32"))
    path = str(tmp_path / "best.weights.h5")
    wrapper.save_weights(path)
    before = [w.copy() for w in base.get_weights()]
    base.set_weights([w + 1.0 for w in before])
    trainer._load_best(base, wrapper, path)
    for a, b in zip(base.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    base.save_weights(path)  # and the classifier's own layout (this tree's checkpoints) into the classifier
    base.set_weights([w + 1.0 for w in before])
    trainer._load_best(base, wrapper, path)
    for a, b in zip(base.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_interrupted_checkpoint_save_leaves_no_partial_file(tmp_path, monkeypatch):
    """Issue 26, item 5: Ctrl-C while a checkpoint is written leaves no partial file under the checkpoint's name."""
    import keras

    real_save = keras.Model.save_weights

    def save_then_interrupt(model, path, *args, **kwargs):
        if "best" not in os.path.basename(path):
            return real_save(model, path, *args, **kwargs)
        with open(path, "wb") as f:  # what an interrupted h5 write leaves: part of the file
            f.write(b"\x89HDF\r\n\x1a\n partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save_weights", save_then_interrupt)
    c = cfg(tmp_path, epochs=1)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(c)
    folder = os.path.join(c.output_dir, "checkpoints")
    assert sorted(os.listdir(folder)) == ["last_good.weights.h5"]  # no best.weights.h5 half-written, no temporary
    tiny_cnn().load_weights(os.path.join(folder, "last_good.weights.h5"))  # the one written is whole


def test_training_on_tf_data_gives_no_shuffle_warning(tmp_path, recwarn):
    """Issue 26, item 12: Keras's "`shuffle=True` was passed, but will be ignored" warning on every run."""
    trainer.train(cfg(tmp_path, epochs=1))
    assert not [w for w in recwarn if "shuffle" in str(w.message)]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    c = cfg(tmp_path, learning_rate=1e30, momentum=0.0, schedule="constant", epochs=3)
    with pytest.raises(trainer.TrainingDivergedError, match="last good weights") as err:
        trainer.train(c)
    good = os.path.join(c.output_dir, "checkpoints", "last_good.weights.h5")
    assert good in str(err.value)
    assert not os.path.exists(os.path.join(c.output_dir, "model.keras"))
    model = tiny_cnn()
    model.load_weights(good)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


@pytest.mark.parametrize(
    "kw",
    [
        {"loss": "ce+cosine_harmony"},
        {"loss": "ro", "class_weights": "adaptive"},
        {"loss": "focal", "class_weights": "balanced", "loss_kwargs": {"focal": {"gamma": 2.0}}},
        {"loss": "ce+combo", "class_weights": "inverse_frequency", "label_smoothing": 0.0},
        {"optimizer": "adam", "schedule": "plateau", "learning_rate": 1e-3, "val_split": None},
        {"mixup": 0.4, "label_smoothing": 0.1, "class_weights": "adaptive"},
        {"mixup": 0.4, "loss": "ce+cosine_harmony"},
    ],
)
def test_losses_weights_and_schedules_train(tmp_path, kw):
    r = trainer.train(cfg(tmp_path, epochs=1, **kw))
    assert np.isfinite(r.history["loss"][-1])
    assert r.model.name == "tiny_cnn_test"  # the plain classifier is saved, not a training wrapper
    if kw.get("class_weights") in ("adaptive", "inverse_frequency"):
        assert r.summary["class_weight"] is not None and len(r.summary["class_weight"]) == 7


def test_soft_labels_train(tmp_path):
    rng = np.random.default_rng(0)
    soft = rng.dirichlet(np.ones(7), size=28).astype("float32")
    path = tmp_path / "soft.npy"
    np.save(path, soft)
    r = trainer.train(cfg(tmp_path, epochs=1, loss="kl+combo", soft_labels=str(path)))
    assert np.isfinite(r.history["loss"][-1]) and "val_accuracy" in r.history
    np.save(path, soft[:10])
    with pytest.raises(ValueError, match="soft labels"):
        trainer.train(cfg(tmp_path, epochs=1, loss="kl", soft_labels=str(path), output_dir=str(tmp_path / "r2")))


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"input_shape": (8, 8, 3)}, ValueError, "at least 16x16"),
        ({"num_classes": 3}, ValueError, "labels must be in"),
        ({"loss": "kl"}, ValueError, "soft_labels"),
        ({"model": "no_such_model"}, ValueError, "Unknown model"),
        ({"soft_labels": "/nonexistent/t.npy"}, FileNotFoundError, "does not exist"),
        ({"max_train_examples": 3}, ValueError, "no examples"),
    ],
)
def test_bad_input_errors(tmp_path, kw, error, match):
    with pytest.raises(error, match=match):
        trainer.train(cfg(tmp_path, epochs=1, **kw))


def test_label_smoothing_with_integer_labels():
    """Keras's sparse cross-entropy has no smoothing: build_loss uses SparseSmoothedCrossentropy instead."""
    config = TrainConfig(model="tiny_cnn_test", label_smoothing=0.1)
    loss = trainer.build_loss(config, 7)
    assert isinstance(loss, trainer.SparseSmoothedCrossentropy)
    y = np.array([0, 3, 6])
    probs = keras.ops.softmax(np.random.default_rng(0).normal(size=(3, 7)).astype("float32"))
    want = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(7)[y], probs)
    np.testing.assert_allclose(float(loss(y, probs)), float(want), rtol=1e-6)
    np.testing.assert_allclose(float(loss(y[:, None], probs)), float(want), rtol=1e-6)  # (B, 1) labels
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert restored.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="label_smoothing is applied by the 'ce' loss only"):
        trainer.build_loss(TrainConfig(model="tiny_cnn_test", loss="focal", label_smoothing=0.1), 7)


def test_train_honours_the_budget(tmp_path):
    # a budget far shorter than one epoch: the run stops after its first epoch and says so
    c = cfg(tmp_path, epochs=4, schedule="cosine", time_budget_minutes=1e-4)
    r = trainer.train(c)
    assert len(r.history["loss"]) == 1
    assert r.summary["stopped_by_time_budget"] is True and r.summary["time_budget_minutes"] == 1e-4
    assert r.history["planned_epochs"] == [1.0]


def test_init_weights_starts_from_an_earlier_run(tmp_path):
    first = trainer.train(cfg(tmp_path, epochs=1))
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")

    fresh = keras.saving.load_model(first.model_path, compile=False)
    other = tiny_cnn(name="other_init")
    assert not np.allclose(other.predict(x, verbose=0), fresh.predict(x, verbose=0), atol=1e-4)
    trainer.init_from(other, first.output_dir, "tiny_cnn_test")  # a run directory, as --init-weights takes it
    np.testing.assert_allclose(other.predict(x, verbose=0), fresh.predict(x, verbose=0), atol=1e-6)

    # a second cycle: a new run that starts from the first and records where it started
    c2 = cfg(tmp_path, epochs=1, init_weights=first.output_dir, output_dir=str(tmp_path / "cycle2"))
    assert TrainConfig.from_json(os.path.join(trainer.train(c2).output_dir, "config.json")).init_weights

    with pytest.raises(ValueError, match="does not fit the model"):
        trainer.init_from(tiny_cnn(input_shape=(32, 32, 1), name="gray"), first.model_path, "tiny_cnn_test")
    with pytest.raises(FileNotFoundError):
        trainer.train(cfg(tmp_path, init_weights=str(tmp_path / "missing"), output_dir=str(tmp_path / "c3")))
    assert not (tmp_path / "c3").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="init_weights"):
        cfg(tmp_path, init_weights="  ")


def test_init_weights_from_other_classes_copies_the_shared_classes_by_name(tmp_path, capsys):
    """FER2013 (7 classes) -> FER+ (8): every layer, and the classifier's rows of the shared classes."""
    first = trainer.train(cfg(tmp_path, epochs=1))
    src = keras.saving.load_model(first.model_path, compile=False)
    kernel, bias = src.get_layer("predictions").get_weights()
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")

    def features(m):
        return keras.Model(m.inputs, m.get_layer("predictions").input).predict(x, verbose=0)

    eight = tiny_cnn(num_classes=8, name="eight")
    fresh = eight.get_layer("predictions").get_weights()
    trainer.init_from(eight, first.output_dir, "tiny_cnn_test", verbose=True)  # canonical order: 7 + contempt
    assert "new: contempt" in capsys.readouterr().out
    np.testing.assert_allclose(features(eight), features(src), atol=1e-6)
    k8, b8 = eight.get_layer("predictions").get_weights()
    np.testing.assert_array_equal(k8[:, :7], kernel)
    np.testing.assert_array_equal(b8[:7], bias)
    np.testing.assert_array_equal(k8[:, 7], fresh[0][:, 7])  # the new class keeps its initialisation

    # by name, in the target's own order (RAF-DB numbers its classes differently); unknown names start fresh
    order = ("surprise", "fear", "disgust", "happy", "sad", "angry", "neutral")
    seven = tiny_cnn(name="seven_other_order")
    trainer.init_from(seven, first.output_dir, "tiny_cnn_test", class_names=order)
    np.testing.assert_array_equal(seven.get_layer("predictions").get_weights()[0][:, 0], kernel[:, 5])  # surprise
    # a task that shares no class: the backbone is copied, the whole classifier starts fresh (a new head)
    two = tiny_cnn(num_classes=2, name="two")
    fresh = two.get_layer("predictions").get_weights()
    trainer.init_from(two, first.output_dir, "tiny_cnn_test", class_names=["pos", "neg"], verbose=True)
    assert "new: pos, neg" in capsys.readouterr().out
    np.testing.assert_allclose(features(two), features(src), atol=1e-6)
    for a, b in zip(two.get_layer("predictions").get_weights(), fresh, strict=True):
        np.testing.assert_array_equal(a, b)
    # the same number of classes under other names: copied as they are (fine-tuning a 7-class head)
    other = tiny_cnn(name="other_names")
    trainer.init_from(other, first.output_dir, "tiny_cnn_test", class_names=list("abcdefg"))
    np.testing.assert_array_equal(other.get_layer("predictions").get_weights()[0], kernel)
