"""The training command line: flags for every TrainConfig field, choices from the library, a light parser."""

import argparse
import ast
import dataclasses
import os
import subprocess
import sys

import pytest

from kerasfer import cli
from kerasfer.data.augment import AUGMENTATIONS
from kerasfer.training import config as config_lib
from kerasfer.training import ldl
from kerasfer.training import presets
from kerasfer.training.args import _FIELDS
from kerasfer.training.args import _SPECIAL_FIELDS
from kerasfer.training.args import config_from_args
from kerasfer.training.cli import build_parser_for_tests


def _subparser(name):
    parser = build_parser_for_tests()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices[name]


def _actions(p):
    return {a.dest: a for a in p._actions}


@pytest.mark.parametrize("command", ["train", "cv", "ldl"])
def test_every_config_field_has_a_flag(command):
    _, p = _subparser(command)
    dests = set(_actions(p))
    fields = {f.name for f in dataclasses.fields(config_lib.TrainConfig)}
    assert set(_FIELDS) == fields - set(_SPECIAL_FIELDS)
    assert set(_FIELDS) <= dests, sorted(set(_FIELDS) - dests)
    assert {"val_split", "input_size", "channels", "quiet", "preset"} <= dests


def test_choices_come_from_the_library():
    _, p = _subparser("train")
    acts = _actions(p)
    assert tuple(acts["optimizer"].choices) == config_lib.OPTIMIZERS
    assert tuple(acts["schedule"].choices) == config_lib.SCHEDULES
    assert tuple(acts["class_weights"].choices) == config_lib.CLASS_WEIGHTS
    assert tuple(acts["distribute"].choices) == config_lib.DISTRIBUTE
    assert all(name in acts["augment"].help for name in AUGMENTATIONS)
    assert all(name in acts["preset"].help for name in presets.list_presets())


def test_flags_reach_the_config():
    parser, _ = _subparser("train")
    args = parser.parse_args(["train", "--plateau-patience", "5", "--schedule", "plateau", "--val-split", "none"])
    c = config_from_args(args)
    assert (c.plateau_patience, c.schedule, c.val_split) == (5, "plateau", None)
    assert config_from_args(parser.parse_args(["train", "--mixup", "0.3"])).mixup == 0.3


def test_ldl_does_not_import_the_command_line():
    """`kerasfer.training.cli` imports `ldl` inside a command; `ldl` must not import it back."""
    tree = ast.parse(open(ldl.__file__).read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert "kerasfer.training.cli" not in imported


def test_building_the_parser_imports_no_training_code():
    code = (
        "import argparse, sys\n"
        "from kerasfer.training import cli\n"
        "cli.register(argparse.ArgumentParser().add_subparsers())\n"
        "heavy = ['kerasfer.training.' + m for m in ('trainer', 'data', 'ldl', 'cv', 'evaluate', 'callbacks')]\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_errors_reach_the_boundary(capsys, tmp_path):
    assert cli.main(["evaluate", "--weights", str(tmp_path), "--input-size", "48"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    want = "kerasfer evaluate: error: --input-size for evaluate needs the channels too (e.g. 48x48x1) or --channels."
    assert err == [want]
    assert cli.main(["train", "--model", "no_such_model", "-o", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip().startswith("kerasfer train: error: ")
    assert not os.path.exists(tmp_path / "run")


def test_ldl_configs_take_a_config_not_the_command_line(monkeypatch):
    student = presets.get_preset("lfer_ldl", dataset="synthetic_faces", epochs=3, batch_size=8, seed=5)
    teacher, same, temperature = ldl.ldl_configs(student)
    preset_teacher, _, preset_temperature = presets.get_ldl_preset("lfer_ldl")
    assert same is student and temperature == preset_temperature
    assert (teacher.dataset, teacher.batch_size, teacher.seed) == ("synthetic_faces", 8, 5)  # shared with the student
    assert (teacher.model, teacher.epochs) == (preset_teacher.model, preset_teacher.epochs)  # the preset's own
    teacher, _, _ = ldl.ldl_configs(
        student, epochs=2, teacher_model="resnet18_small", teacher_input_size=(64, 64, None)
    )
    assert (teacher.model, teacher.epochs, tuple(teacher.input_shape)) == ("resnet18_small", 2, (64, 64, 1))
    assert ldl.ldl_configs(student, epochs=2, teacher_epochs=4)[0].epochs == 4
    # the command line reaches the same configs
    parser, _ = _subparser("ldl")
    args = parser.parse_args(
        ["ldl", "--dataset", "synthetic_faces", "--epochs", "2", "--teacher-model", "resnet18_small"]
    )
    from kerasfer.training import cli

    seen = {}
    monkeypatch.setattr(ldl, "run_ldl", lambda teacher, student, *a, **k: seen.update(teacher=teacher, student=student))
    with pytest.raises(TypeError):  # the stand-in returns no result to print
        cli._run_ldl(args)
    assert (seen["teacher"].model, seen["teacher"].epochs, seen["student"].epochs) == ("resnet18_small", 2, 2)
