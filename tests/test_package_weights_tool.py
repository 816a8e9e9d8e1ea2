"""`tools/package_weights.py` writes a card's training commands as a user reruns them, one per stage."""

import json

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
    lines = tool._command_lines({"commands": tool.train_commands(second)})
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
