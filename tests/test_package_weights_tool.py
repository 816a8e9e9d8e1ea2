"""`tools/package_weights.py` writes a card's training commands as a user reruns them, one per stage."""

import importlib.util
import json
import pathlib

from kerasfer.training.config import TrainConfig
from kerasfer.training.presets import preset_dict

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("package_weights", ROOT / "tools" / "package_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder, **changes):
    folder.mkdir()
    config = TrainConfig(**{**preset_dict("resnet18_fer2013"), "preset": "resnet18_fer2013", **changes})
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    (folder / "history.json").write_text(json.dumps({"loss": [1.0] * 3}))
    return folder


def test_commands_of_a_two_stage_run(tmp_path):
    tool = _tool()
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
