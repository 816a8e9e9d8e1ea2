"""`tools/gpu_run.py command`: one device command that the run tool accepts and that needs only what travels."""

import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "gpu_run.py"


def _travels(path, carry):
    """Whether a relative path in the command is on the device: under a carried path, or a file of the tree."""
    if any(path == c or path.startswith(c + "/") for c in carry):
        return True
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return listed.stdout.strip() == path  # tracked, or untracked and not ignored: it travels with the tree


def test_command_fits_the_run_tool_and_references_only_what_travels(load_tool):
    out = subprocess.run(
        [sys.executable, str(TOOL), "command", "--no-check"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    command = out.stdout.strip()
    assert "\n" not in command and 0 < len(command) <= 2000
    gpu_run = load_tool("gpu_run")
    # the carried paths are git-ignored (FER2013's images never enter the repository) and few enough
    assert len(gpu_run.CARRY) <= 8
    for c in gpu_run.CARRY:
        assert subprocess.run(["git", "check-ignore", "-q", f"{c}/x.npz"], cwd=ROOT).returncode == 0, c
    relative = set()
    for token in shlex.split(command.replace(";", " ; ").replace("&", " & ")):
        for path in re.findall(r"(?<![\w$/.{}*-])(\.?[A-Za-z_][\w.-]*(?:/[\w.-]+)+|\.[A-Za-z_][\w-]*)", token):
            relative.add(path)
    # both trainings start from the packaged LFNSB weights (a packaged name: its file travels with the tree)
    if gpu_run.packaged_start():
        assert f"--init-weights {gpu_run.INIT} " in command
        relative.discard(gpu_run.INIT)
        model, name = gpu_run.INIT.split("/")
        assert _travels(f"kerasfer/weights/{model}_{name}.weights.h5", [])
    assert {".whl", ".gpu_stage/arrays", ".gpu_stage/fer2013new.csv.gz", "tools/gpu_run.py"} <= relative
    assert all(_travels(p, gpu_run.CARRY) for p in relative), sorted(
        p for p in relative if not _travels(p, gpu_run.CARRY)
    )
    # absolute paths: only the machine's scratch folder (and /dev/null); results go to $OUT
    absolute = re.findall(r"(?<![\w$}])/[\w./-]+", command)
    assert absolute and all(p in ("/tmp/kf", "/dev/null") or p.startswith("/tmp/kf/") for p in absolute), absolute
    # both trainings, concurrently, on JAX, with a time budget and half the GPU's memory each
    assert command.count("--preset lfnsb_$1") == 1 and "t fer2013 " in command and "t ferplus " in command
    assert "KERAS_BACKEND=jax" in command and "XLA_PYTHON_CLIENT_MEM_FRACTION=0.45" in command
    assert (
        "--time-budget-min 8 " in command
        and " --recalibrate-bn 200 " in command
        and "& " in command
        and "wait" in command
    )
    assert "--no-index --no-deps" in command and "$OUT/lfnsb_$n.tar.gz" in command


def test_budget_leaves_time_inside_the_ten_minutes(load_tool):
    gpu_run = load_tool("gpu_run")
    assert gpu_run.BUDGET_MIN * 60 + 60 < gpu_run.DEADLINE_S < 600 - 30
    with pytest.raises(ValueError, match="2000"):
        gpu_run.device_command(max_train_examples=int("9" * 900))


def test_a_further_cycle_from_the_packaged_weights(load_tool):
    gpu_run = load_tool("gpu_run")
    command = gpu_run.device_command(init_weights="lfnsb/fer2013", init_shape=(48, 48, 1))
    assert f"--init-weights lfnsb/fer2013 --input-size 48x48x1 --lr {gpu_run.INIT_LR:g} --warmup-epochs 0" in command
    assert len(command) <= 2000
    with pytest.raises(ValueError, match="input_size"):
        gpu_run.device_command(input_size=64, init_weights="lfnsb/fer2013", init_shape=(48, 48, 1))
    # from scratch when asked, or at another size (a CPU rehearsal's); else the packaged card's input shape
    assert gpu_run.packaged_start(from_scratch=True) == {} and gpu_run.packaged_start(input_size=48) == {}
    from kerasfer.models.weights import packaged_card

    card = packaged_card(*gpu_run.INIT.split("/"))
    expected = {} if card is None else {"init_weights": gpu_run.INIT, "init_shape": tuple(card["build"]["input_shape"])}
    assert gpu_run.packaged_start() == expected
