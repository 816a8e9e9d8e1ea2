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


def test_stage_writes_another_quality_from_the_source_never_twice_lossy(load_tool, tmp_path, monkeypatch):
    """`stage --train-quality Q` over a stage at another lossy quality exports the images again (one lossy
    encoding from the source), and keeps a current stage as it is."""
    import numpy as np

    from kerasfer.data import arrays
    from kerasfer.data import synthetic

    gpu_run = load_tool("gpu_run")
    monkeypatch.setattr(gpu_run, "ROOT", tmp_path)
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "fer2013new.csv").write_text("Usage,Image name,neutral\n")
    x, y = synthetic.generate(8, seed=5, image_size=48, channels=1)
    source = x.astype(np.uint8)
    exports = []

    def export(name, splits, out, **kwargs):  # what export_arrays(..., encoding="webp", ids=True) writes
        exports.append(name)
        pathlib.Path(out).mkdir(parents=True, exist_ok=True)
        for split in splits:
            fields = {"labels": y, "class_names": np.array(list("abcdefg")), "ids": np.arange(len(y))}
            fields.update(arrays._encode_webp(source, None))
            arrays._save_npz(arrays.array_file(out, name, split), fields, False)

    monkeypatch.setattr(arrays, "export_arrays", export)
    train = arrays.array_file(tmp_path / gpu_run.ARRAYS, "fer2013", "train")

    def staged(quality):
        gpu_run.stage_data(manual, val_examples=0, train_quality=quality)
        return arrays.webp_quality_of(train), arrays.load_arrays(train.parent, "fer2013", "train")[0]

    q, _ = staged(90)
    assert q == 90 and exports == ["fer2013"]
    assert staged(90)[0] == 90 and exports == ["fer2013"]  # current: left alone
    q, at_60 = staged(60)
    assert q == 60 and len(exports) == 2  # from the source again
    once = arrays._encode_webp(source, 60)  # exactly one lossy encoding of the source
    np.testing.assert_array_equal(
        at_60, arrays._decode_webp(once["webp"], once["webp_offsets"], once["webp_shape"], train)
    )
    q, lossless = staged(None)
    assert q is None and len(exports) == 3
    np.testing.assert_array_equal(lossless, source)
