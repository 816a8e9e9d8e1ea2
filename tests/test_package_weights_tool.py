"""`tools/package_weights.py` writes a card's training commands as a user reruns them, one per stage."""

import json
import sys

import pytest

from kerasfer.training.config import TrainConfig
from kerasfer.training.presets import preset_dict


def _run(folder, **changes):
    folder.mkdir()
    config = TrainConfig(**{**preset_dict("resnet18_fer2013"), "preset": "resnet18_fer2013", **changes})
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    (folder / "history.json").write_text(json.dumps({"loss": [1.0] * 3}))
    return folder


def test_commands_of_a_two_stage_run(tmp_path, load_tool):
    tool = load_tool("package_weights")
    first = _run(tmp_path / "a", manual_dir="/data/fer", data_dir="/tfds", time_budget_minutes=135.0)
    second = _run(
        tmp_path / "b", manual_dir="/data/fer", init_weights=str(first), learning_rate=0.02, mixed_precision=True
    )
    assert tool.train_commands(first) == [
        "kerasfer train --preset resnet18_fer2013 --manual-dir DIR --time-budget-min 135.0 --output RUN"
    ]
    assert tool.train_commands(second) == [
        "kerasfer train --preset resnet18_fer2013 --manual-dir DIR --time-budget-min 135.0 --output RUN1",
        "kerasfer train --preset resnet18_fer2013 --manual-dir DIR --lr 0.02 --mixed-precision --init-weights RUN1 "
        "--output RUN",
    ]
    assert [tool._epochs_run(d) for d in tool._stages(second)] == [3, 3]
    from kerasfer import pretrained

    lines = pretrained._command_lines({"commands": tool.train_commands(second)})
    assert lines[0].startswith("- Commands, in order") and lines[2].startswith("  2. `kerasfer train")


def test_a_run_started_from_packaged_weights_follows_their_card(tmp_path, load_tool):
    tool = load_tool("package_weights")
    from kerasfer.models.weights import packaged_card

    origin = packaged_card("resnet18_small", "fer2013")["training"]
    run = _run(tmp_path / "c", manual_dir="/data/fer", init_weights="resnet18_small/fer2013", learning_rate=0.01)
    commands = tool.train_commands(run)
    n = len(origin["commands"])
    assert commands[: n - 1] == origin["commands"][: n - 1]
    assert commands[n - 1] == origin["commands"][-1].replace("--output RUN", f"--output RUN{n}")
    assert commands[n] == (
        f"kerasfer train --preset resnet18_fer2013 --manual-dir DIR --lr 0.01 --init-weights RUN{n} --output RUN"
    )
    assert len(commands) == n + 1
    assert tool.stage_epochs(run) == [*origin["stage_epochs"], 3]
    plain = _run(tmp_path / "d", init_weights=str(tmp_path / "nowhere"))  # not a run, not packaged: one stage
    assert len(tool.train_commands(plain)) == 1 and tool.stage_epochs(plain) == [3]


def test_refresh_arguments(load_tool, tmp_path, capsys):
    tool = load_tool("package_weights")
    base = ["--name", "fer2013", "--manual-dir", str(tmp_path)]
    for argv, message in (
        (base, "give a run directory, or --refresh"),
        ([str(tmp_path), "--refresh", "resnet18_small", *base], "give a run directory, or --refresh"),
        (["--refresh", "resnet18_small", "--name", "nope", "--manual-dir", str(tmp_path)], "no packaged weights"),
        (["--refresh", "resnet18_small", *base], "--refresh needs --work-dir"),
    ):
        with pytest.raises(SystemExit):
            tool.main(argv)
        assert message in capsys.readouterr().err


def test_if_better_compares_with_the_packaged_accuracy(tmp_path, load_tool):
    tool = load_tool("package_weights")
    from kerasfer.models.weights import packaged_card

    packaged = packaged_card("resnet18_small", "fer2013")["evaluation"]["accuracy"]
    run = _run(tmp_path / "e", manual_dir="/data/fer")
    for val, better in ((packaged - 0.01, False), (packaged, False), (packaged + 0.001, True)):
        (run / "history.json").write_text(json.dumps({"loss": [1.0, 0.9], "val_accuracy": [0.2, val]}))
        verdict = tool.compare_with_packaged(run, "fer2013")
        assert verdict["better"] is better and verdict["packaged"] == packaged, verdict
        assert ("packaging it" if better else "unchanged") in verdict["message"]
    assert tool.compare_with_packaged(run, "no_such_name")["better"] is True  # nothing packaged yet
    (run / "history.json").write_text(json.dumps({"loss": [1.0]}))
    with pytest.raises(ValueError, match="no validation accuracy"):
        tool.compare_with_packaged(run, "fer2013")


def test_train_stage_puts_the_previous_stage_back_when_packaging_fails(tmp_path, load_tool):
    tool = load_tool("train_stage")
    kept, new = tmp_path / "m_n.json", tmp_path / "m_n.md"
    kept.write_text("old card")
    script = "import pathlib, sys; [pathlib.Path(a).write_text('half-written') for a in sys.argv[1:]]; sys.exit(3)"
    with pytest.raises(Exception, match="returned non-zero exit status 3"):
        tool.package_or_restore([[sys.executable, "-c", script, str(kept), str(new)]], [kept, new])
    assert kept.read_text() == "old card" and not new.exists()
    tool.package_or_restore([[sys.executable, "-c", script.replace("sys.exit(3)", "None"), str(kept)]], [kept])
    assert kept.read_text() == "half-written"  # a packaging that succeeds keeps what it wrote


def test_train_stage_arguments(load_tool, tmp_path, capsys):
    tool = load_tool("train_stage")
    base = ["lfnsb", "fer2013", "--manual-dir", str(tmp_path), "--time-budget-min", "5"]
    for argv, message in (
        (base + ["--", "--output", "x"], "--output is set by this tool"),
        (base[:-1] + ["0"], "--time-budget-min must be > 0"),
        (base + ["--runs-dir", str(tool.ROOT / "runs")], "inside the repository"),
    ):
        with pytest.raises(SystemExit):
            tool.main(argv)
        assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def packaged_toy(tmp_path_factory, load_tool):
    """A one-epoch run packaged as `shufflenet_v2_x0_5/toy` by the tool, into a weights folder of its own."""
    from kerasfer import cli
    from kerasfer import pretrained

    tmp_path = tmp_path_factory.mktemp("package")
    tool = load_tool("package_weights")
    run = tmp_path / "run"
    args = ["train", "--model", "shufflenet_v2_x0_5", "--input-size", "32", "--channels", "1", "--epochs", "1",
            "--batch-size", "16", "--max-train-examples", "32", "--max-val-examples", "8", "--val-split",
            "validation", "--no-jit", "--quiet", "-o", str(run)]  # fmt: skip
    assert cli.main(args) == 0
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path / "weights")
        work = tmp_path / "work"
        argv = [str(run), "--name", "toy", "--manual-dir", str(tmp_path), "--skip-bench", "--work-dir", str(work)]
        assert tool.main(argv) == 0
        yield tool, tmp_path


def test_packaging_a_run_calls_the_library(packaged_toy):
    """Issue 27: the tool packages a run through `evaluate` (no subprocess), into the weights folder
    `kerasfer.pretrained` names, and the packaged weights load by name."""
    from kerasfer import pretrained
    from kerasfer.models import create_model

    _, tmp_path = packaged_toy
    assert pretrained.list_pretrained() == ["shufflenet_v2_x0_5/toy"]
    card = pretrained.packaged_card("shufflenet_v2_x0_5", "toy")
    assert card["evaluation"]["num_examples"] > 0 and set(card["evaluation_tta"]) == {"flip", "crops"}
    assert card["evaluation"]["command"].startswith("kerasfer evaluate --model shufflenet_v2_x0_5 --weights toy")
    assert (tmp_path / "work" / "evaluate.json").is_file() and (tmp_path / "work" / "evaluate_tta_crops.json").is_file()
    assert (tmp_path / "weights" / "shufflenet_v2_x0_5_toy.md").read_text() == pretrained.card_markdown(card)
    assert create_model("shufflenet_v2_x0_5", weights="toy").inputs[0].shape[1:] == (32, 32, 1)


def test_packaging_recomputes_batchnorm_statistics_first(packaged_toy):
    """The run trained without `--recalibrate-bn`: the tool recomputes its statistics before comparing and writing
    (`batchnorm.recalibrate_run`), and the card says what that did; a second time is refused."""
    from kerasfer import pretrained
    from kerasfer.training import batchnorm

    tool, tmp_path = packaged_toy
    record = json.loads((tmp_path / "run" / "result.json").read_text())["batchnorm_recalibration"]
    assert record["after_training"] is True and record["batches"] == 2 and record["images"] == 32
    assert record["kept"] == (record["val_accuracy_after"] >= record["val_accuracy_before"])
    card = pretrained.packaged_card("shufflenet_v2_x0_5", "toy")
    assert card["training"]["result"]["batchnorm_recalibration"] == record
    assert "- BatchNorm statistics recomputed over 32 un-augmented training images (2 batches, after training)" in (
        pretrained.card_markdown(card)
    )
    with pytest.raises(ValueError, match="already recomputed"):
        batchnorm.recalibrate_run(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="not a kerasfer run"):
        batchnorm.recalibrate_run(tmp_path / "work")
    card["training"]["batchnorm_recalibration"] = None
    with pytest.raises(ValueError, match="already recomputed"):
        tool.recalibrate_packaged({**card, "training": {"batchnorm_recalibration": record}}, 2, {})
    history = {"val_accuracy": [0.25, 0.5]}
    assert tool.run_accuracy({}, history) == 0.5
    assert tool.run_accuracy({"batchnorm_recalibration": {"kept": True, "val_accuracy_after": 0.625}}, history) == 0.625
    assert tool.run_accuracy({"batchnorm_recalibration": {"kept": False, "val_accuracy_after": 0.4}}, history) == 0.5


@pytest.mark.large
def test_packaging_exports_and_benchmarks_through_the_library(packaged_toy):
    """Steps 3 and 4 (run for FER2013 and FER+ cards: `export_model` and `benchmark`), on a few images."""
    from kerasfer import pretrained

    tool, tmp_path = packaged_toy
    card = pretrained.packaged_card("shufflenet_v2_x0_5", "toy")
    work = tmp_path / "work"
    tool.tflite_card(card, work, "validation", {"manual_dir": str(tmp_path), "data_dir": None}, num_eval=16)
    variants = card["tflite"]["variants"]
    assert [v["quantization"] for v in variants] == ["fp32", "fp16", "int8"] and card["tflite"]["eval_images"] == 16
    assert all(v["top1_agreement"] is not None and [r["threads"] for r in v["latency"]] == [1, 2] for v in variants)
    assert (work / "bench.json").is_file() and (work / "export" / "shufflenet_v2_x0_5_int8.tflite").is_file()
    assert variants[2]["calibration"]["calibration_outlier_ratio"] == 10.0 and "calibration" not in variants[0]
    markdown = pretrained.card_markdown(card)
    assert "## TFLite" in markdown and "int8 calibration: " in markdown and "left out as outliers" in markdown
    latency = [v["latency"] for v in variants]
    tool.tflite_card(
        card, work, "validation", {"manual_dir": str(tmp_path), "data_dir": None}, bench=False, num_eval=16
    )
    assert [v["latency"] for v in card["tflite"]["variants"]] == latency  # --skip-bench keeps the earlier timing
    assert "\nLatency: latency from the card's earlier measurement" in pretrained.card_markdown(card)


def test_refresh_recalibrates_packaged_weights(packaged_toy, tmp_path, monkeypatch):
    """`--refresh MODEL --recalibrate-bn N`: the packaged weights' statistics are recomputed over the card's
    training split and, when kept, written back (file, size, sha256 and card record)."""
    import shutil

    import numpy as np

    from kerasfer import pretrained
    from kerasfer.models import create_model
    from kerasfer.training import batchnorm

    tool, package_tmp = packaged_toy
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", shutil.copytree(package_tmp / "weights", tmp_path / "weights"))
    card = pretrained.packaged_card("shufflenet_v2_x0_5", "toy")
    card["training"].pop("batchnorm_recalibration", None)
    path = pretrained.weights_path("shufflenet_v2_x0_5", "toy")
    before = create_model("shufflenet_v2_x0_5", weights="toy")
    for layer in batchnorm.batchnorm_layers(before):  # statistics that no data give
        layer.moving_variance.assign(np.full(layer.moving_variance.shape, 7.0, "float32"))
    tool.save_packaged(before, "shufflenet_v2_x0_5", path, True, {})
    accuracies = iter([0.5, 0.75])
    monkeypatch.setattr(batchnorm, "split_accuracy", lambda model, data: next(accuracies))
    record = tool.recalibrate_packaged(card, 2, {"manual_dir": str(package_tmp), "data_dir": None})
    assert record["kept"] and record["after_training"] and record["batches"] == 2
    assert card["training"]["batchnorm_recalibration"] is record
    assert card["sha256"] == tool.file_sha256(path) and card["size_bytes"] == path.stat().st_size
    after = create_model("shufflenet_v2_x0_5", weights="toy")
    assert all(not np.allclose(layer.moving_variance.numpy(), 7.0) for layer in batchnorm.batchnorm_layers(after))
