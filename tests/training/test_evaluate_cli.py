"""evaluate(), the train/evaluate/cv/ldl commands and cross-validation folds, on tiny settings."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # pytest's importlib mode does not put the test folder on sys.path
from test_trainer import cfg  # noqa: E402 F401  (registers the tiny test model)

from kerasfer import cli
from kerasfer.training import cv
from kerasfer.training import trainer
from kerasfer.training.evaluate import evaluate

pytestmark = pytest.mark.tf_only

TINY = ["--model", "tiny_cnn_test", "--batch-size", "7", "--max-train-examples", "28", "--max-val-examples", "14"]


def test_train_then_evaluate_commands(tmp_path, capsys):
    out = str(tmp_path / "run")
    rc = cli.main(["train", *TINY, "--epochs", "1", "--val-split", "validation", "--no-jit", "--quiet", "-o", out])
    assert rc == 0, capsys.readouterr().err
    assert "model.keras" in capsys.readouterr().out
    report_path = str(tmp_path / "eval" / "report.json")
    rc = cli.main(["evaluate", "--weights", out, "--split", "test", "--max-examples", "21", "-o", report_path])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "evaluating synthetic_faces/test" in err and "evaluated 21 images in" in err  # progress on stderr
    report = json.load(open(report_path))
    for key in ("accuracy", "mean_class_accuracy", "macro_f1", "confusion_matrix", "num_examples", "per_class"):
        assert key in report
    assert report["num_examples"] == 21 and np.sum(report["confusion_matrix"]) == 21
    assert os.path.exists(report["confusion_png"]) and os.path.exists(report["summary_md"])
    assert report["input_shape"] == [32, 32, 3]

    # the same figures from the best checkpoint + --model, and through the Python API
    again = evaluate(
        "tiny_cnn_test",
        weights=os.path.join(out, "checkpoints", "best.weights.h5"),
        split="test",
        max_examples=21,
    )
    assert again["confusion_matrix"] == report["confusion_matrix"]

    # bad input: missing weights, a finished run, an input size the model was not trained at
    assert cli.main(["evaluate", "--weights", str(tmp_path / "nope.keras")]) == 2
    assert "No such model file or run directory" in capsys.readouterr().err
    assert cli.main(["train", *TINY, "--epochs", "1", "--quiet", "-o", out]) == 2
    assert "finished run" in capsys.readouterr().err
    assert cli.main(["evaluate", "--weights", out, "--input-size", "48x48x3", "--max-examples", "7"]) == 2
    assert "trained at input_shape=(32, 32, 3)" in capsys.readouterr().err


def test_config_file_repeats_a_run(tmp_path, capsys):
    from kerasfer.training.cli import build_parser_for_tests

    parser = build_parser_for_tests()
    args = parser.parse_args(
        ["train", "--preset", "sdnet", "--model", "tiny_cnn_test", "--input-size", "32", "-o", "x"]
    )
    from kerasfer.training.cli import config_from_args

    c = config_from_args(args)
    assert (c.model, c.loss, c.class_weights, c.input_shape, c.batch_size) == (
        "tiny_cnn_test",
        "ro",
        "adaptive",
        (32, 32, 1),  # the preset's channel count is kept
        16,
    )
    path = tmp_path / "config.json"
    c.to_json(path)
    again = config_from_args(parser.parse_args(["train", "--config", str(path)]))
    assert again == c
    assert config_from_args(parser.parse_args(["train", "--config", str(path), "--epochs", "3"])).epochs == 3


def test_stratified_folds():
    y = np.repeat(np.arange(3), [10, 6, 4])
    splits = cv.stratified_kfold(y, 2, seed=0)
    all_val = np.concatenate([v for _, v in splits])
    assert sorted(all_val.tolist()) == list(range(20))
    for tr, va in splits:
        assert np.intersect1d(tr, va).size == 0
        assert np.bincount(y[va], minlength=3).tolist() in ([5, 3, 2], [5, 3, 2])
    groups = np.repeat(np.arange(10), 2)  # 10 subjects, 2 images each
    splits = cv.stratified_kfold(y, 3, seed=0, groups=groups)
    for tr, va in splits:
        assert not set(groups[tr]) & set(groups[va])
    with pytest.raises(ValueError, match="subjects cannot make"):
        cv.stratified_kfold(y, 11, groups=groups)
    with pytest.raises(ValueError, match="folds must be >= 2"):
        cv.stratified_kfold(y, 1)


def test_cross_validation_runs(tmp_path):
    from kerasfer.data import synthetic

    x, y = synthetic.generate(28, seed=5, image_size=32)
    c = cfg(tmp_path, epochs=1, output_dir=str(tmp_path / "cv"), max_train_examples=None)
    report = cv.cross_validate(c, folds=2, arrays=(x, y))
    assert report["folds"] == 2 and len(report["per_fold"]) == 2
    s = report["summary"]["accuracy"]
    assert s["mean"] == pytest.approx(np.mean(s["values"])) and s["std"] == pytest.approx(np.std(s["values"]))
    assert sum(f["val_examples"] for f in report["per_fold"]) == 28
    assert os.path.exists(report["report_path"])
    with pytest.raises(FileExistsError):
        cv.cross_validate(c, folds=2, arrays=(x, y))


def test_ldl_end_to_end(tmp_path):
    from kerasfer.training import ldl

    t = cfg(tmp_path, epochs=1)
    s = cfg(tmp_path, epochs=1, loss="kl+combo")
    result = ldl.run_ldl(t, s, str(tmp_path / "ldl"), temperature=2.0, eval_split="test")
    dist = np.load(result["distributions"])
    assert dist.shape == (28, 7)
    np.testing.assert_allclose(dist.sum(1), 1.0, atol=1e-5)
    assert os.path.exists(result["student_model"]) and result["report"]["num_examples"] > 0
    assert json.load(open(tmp_path / "ldl" / "ldl.json"))["temperature"] == 2.0
    with pytest.raises(ValueError, match="same dataset"):
        ldl.run_ldl(t, s.replace(dataset="fer2013"), str(tmp_path / "ldl2"))


def test_trainer_refuses_labels_beyond_the_model(tmp_path):
    with pytest.raises(ValueError, match="num_classes=2"):
        trainer.train(cfg(tmp_path, epochs=1, num_classes=2))


def test_evaluate_takes_the_runs_own_dataset(tmp_path, capsys):
    """Issue 26, item 3: with no --dataset, a run is evaluated on the dataset of its config.json (said so), and a
    model that names no dataset is refused instead of being scored on synthetic_faces."""
    import shutil

    out = str(tmp_path / "run")
    data_dir = str(tmp_path / "tfds")
    rc = cli.main(
        ["train", *TINY, "--dataset", "synthetic_faces/tiny", "--data-dir", data_dir, "--epochs", "1"]
        + ["--val-split", "validation", "--no-jit", "--quiet", "-o", out]
    )
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    report_path = str(tmp_path / "report.json")
    assert cli.main(["evaluate", "--model", out, "-o", report_path]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    report = json.load(open(report_path))
    config_path = os.path.join(out, "config.json")
    assert (report["dataset"], report["split"], report["num_examples"]) == ("synthetic_faces/tiny", "test", 14)
    assert report["dataset_from"] == config_path
    assert f"synthetic_faces/tiny/test (dataset from {config_path})" in captured.out
    assert f"dataset synthetic_faces/tiny, split test: from {config_path}" in captured.err

    # a .keras file outside any run names no dataset: refused before any image is read
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(os.path.join(out, "model.keras"), alone / "model.keras")
    assert cli.main(["evaluate", "--model", str(alone / "model.keras")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasfer evaluate: error: Which dataset") and "give --dataset" in err
    assert "evaluating" not in err


def test_missing_matplotlib_is_reported_before_any_work(tmp_path, capsys, monkeypatch):
    """Issue 26, item 1: the plot's dependency is checked before the model is even loaded, with the install line."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    report_path = tmp_path / "eval" / "report.json"
    assert cli.main(["evaluate", "--model", str(tmp_path / "not_loaded_yet.keras"), "-o", str(report_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasfer evaluate: error: The confusion-matrix plot needs matplotlib")
    assert "pip install 'kerasfer[tfds]'" in err and not report_path.exists()
