"""The run directory: a run that cannot start writes nothing; a run that never trained an epoch is replaced."""

import logging
import os
import sys

import keras
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode does not put the test folder on sys.path
from test_trainer import cfg  # noqa: E402  (registers the tiny test model)

from kerasfer import cli
from kerasfer.training import rundir
from kerasfer.training import trainer
from kerasfer.training.config import TrainConfig

pytestmark = pytest.mark.tf_only

TINY = ["--model", "tiny_cnn_test", "--batch-size", "7", "--max-train-examples", "28", "--max-val-examples", "14"]


def _tree(path):
    """Every file under `path` with its modification time and size (to see that nothing changed)."""
    out = {}
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            out[os.path.relpath(os.path.join(root, name), path)] = (st.st_mtime_ns, st.st_size)
    return out


def test_missing_manual_dir_fails_before_the_run_directory_is_made(tmp_path, capsys):
    out = str(tmp_path / "runs" / "x")
    bad = ["--dataset", "fer2013", "--data-dir", str(tmp_path / "tfds"), "--manual-dir", str(tmp_path / "nonexistent")]
    assert cli.main(["train", *TINY, *bad, "--epochs", "1", "--no-jit", "--quiet", "-o", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("kerasfer train: error: ") and "nonexistent" in err[-1]
    assert not os.path.exists(out)
    # the same output with data that are there then trains
    good = ["--epochs", "1", "--val-split", "validation", "--no-jit", "--quiet", "-o", out]
    assert cli.main(["train", *TINY, *good]) == 0, capsys.readouterr().err
    assert os.path.exists(os.path.join(out, "model.keras"))


def test_a_run_that_cannot_start_leaves_an_existing_run_untouched(tmp_path):
    c = cfg(tmp_path, epochs=1)
    trainer.train(c)
    before = _tree(c.output_dir)
    broken = c.replace(dataset="fer2013", data_dir=str(tmp_path / "tfds"), manual_dir=str(tmp_path / "nonexistent"))
    with pytest.raises(FileNotFoundError, match="nonexistent"):  # --overwrite deletes only once the data are there
        trainer.train(broken.replace(on_existing="overwrite"))
    assert _tree(c.output_dir) == before
    with pytest.raises(rundir.RunExistsError, match="finished run"):  # refused before the data are read
        trainer.train(broken)
    assert _tree(c.output_dir) == before
    with pytest.raises(ValueError, match="labels must be in"):  # a bad setting found while loading the data
        trainer.train(c.replace(num_classes=3, on_existing="overwrite"))
    assert _tree(c.output_dir) == before
    with pytest.raises(ValueError, match="needs a validation split"):  # found once the splits are known
        trainer.train(c.replace(monitor="val_loss", val_split=None, on_existing="overwrite"))
    assert _tree(c.output_dir) == before


class _FailAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise RuntimeError("failed before the first epoch")


def test_a_run_that_never_trained_an_epoch_is_replaced(tmp_path, caplog):
    c = cfg(tmp_path, epochs=1)
    with pytest.raises(RuntimeError, match="before the first epoch"):
        trainer.train(c, extra_callbacks=[_FailAtStart()])
    assert os.path.exists(os.path.join(c.output_dir, "config.json"))
    assert not rundir.trained_an_epoch(c.output_dir)
    other = c.replace(learning_rate=0.05, seed=3)
    with caplog.at_level(logging.WARNING, logger="kerasfer.training.rundir"):
        r = trainer.train(other)
    assert "never finished an epoch" in caplog.text and "learning_rate: 0.01 -> 0.05" in caplog.text
    assert r.initial_epoch == 0 and len(r.history["loss"]) == 1
    assert TrainConfig.from_json(os.path.join(c.output_dir, "config.json")) == other
    # a run that trained an epoch keeps its protection
    os.remove(r.model_path)
    with pytest.raises(rundir.RunExistsError, match="different configuration"):
        trainer.train(c)


def test_trained_an_epoch(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    (out / "checkpoints" / "last_good.weights.h5").write_bytes(b"initial weights")  # written before epoch 1
    (out / "log.csv").write_text("")
    assert not rundir.trained_an_epoch(out)
    (out / "log.csv").write_text("epoch,loss\n")
    assert not rundir.trained_an_epoch(out)
    (out / "backup").mkdir()
    assert not rundir.trained_an_epoch(out)
    (out / "log.csv").write_text("epoch,loss\n0,1.9\n")
    assert rundir.trained_an_epoch(out)
    (out / "log.csv").unlink()
    (out / "backup" / "training_metadata.json").write_text("{}")
    assert rundir.trained_an_epoch(out)
    (out / "backup" / "training_metadata.json").unlink()
    (out / "checkpoints" / "best.weights.h5").write_bytes(b"")
    assert rundir.trained_an_epoch(out)


def test_plan_reads_only(tmp_path):
    c = TrainConfig(model="tiny_cnn_test", output_dir=str(tmp_path / "new"))
    assert rundir.plan_output_dir(c).action == "create"
    assert not os.path.exists(c.output_dir)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(rundir.RunExistsError, match="no kerasfer run"):
        rundir.plan_output_dir(c.replace(output_dir=str(tmp_path / "mine"), on_existing="overwrite"))
