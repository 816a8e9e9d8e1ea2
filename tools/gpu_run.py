"""LFNSB on FER2013 and on FER+ in ONE command on a lent GPU machine (JAX, no TensorFlow, no network).

    python tools/gpu_run.py stage       # here: FER2013 arrays + FER+ votes + wheels into git-ignored folders
    python tools/gpu_run.py command     # prints the device command (run it with carry = the staged folders)
    python tools/gpu_run.py unpack DIR  # here: the fetched archives -> run folders -> tools/package_weights.py
    python tools/gpu_run.py rehearse    # here, on the CPU: the same command, 1-minute budget, then unpack
    python tools/gpu_run.py derive ...  # there (the command calls it): FER+ arrays from the FER2013 ones

The device tool carries the working tree plus up to 8 ignored paths (64 MiB in all), runs one command
of at most 10 minutes and returns at most 8 files from `$OUT`. So:

- `stage` writes FER2013 Training + PublicTest once, as WebP arrays with each image's CSV row
  (`.gpu_stage/arrays/fer2013_{train,validation}.npz`; the training images lossy at `--train-quality` 90, about
  26 MiB, so that they fit beside the packaged weights (another quality re-exports from the source, never
  re-encodes lossy images); PublicTest lossless and cut to a seeded random
  `--val-examples` 2,000 of its 3,589 images for the best-checkpoint choice: the packaged figures come from
  `unpack`'s evaluation of all of PublicTest here), gzips FER+'s votes file
  (`.gpu_stage/fer2013new.csv.gz`, 0.3 MB) and puts the wheels the machine lacks (keras, namex: pure
  Python; optree: binary, one per Python version in `--python-tags`) in `.whl/`, found in local wheel
  folders, else rebuilt from this virtual environment (pure Python only); it downloads nothing unless
  `--download-missing` (a binary wheel for another Python can come from nowhere else). It prints every
  size against the 64 MiB budget. Both folders are git-ignored: FER2013's images never enter the repository.
- the command installs the wheels into a `--target` folder (`--no-index --no-deps`; pip picks the optree
  matching the machine's Python), derives the FER+ majority split there with NumPy alone
  (`kerasfer.data.arrays.ferplus_from_fer2013`, the ferplus builder's own rule), trains
  `--preset lfnsb_fer2013` and `--preset lfnsb_ferplus` CONCURRENTLY on the one GPU, both from the packaged
  `lfnsb/fer2013` weights at their input size (a further cosine cycle; `--from-scratch` for the presets' own
  112 px start; FER+ takes the shared classes' rows of the classifier) (`KERAS_BACKEND=jax`,
  `XLA_PYTHON_CLIENT_MEM_FRACTION=0.45` each, `--time-budget-min` so that both end inside the command's
  10 minutes, with a hard deadline behind it), and packs each run into `$OUT/lfnsb_<name>.tar.gz`.
- `unpack` extracts the archives into run folders outside the repository and runs
  `tools/package_weights.py RUN --name fer2013|ferplus --if-better` on each finished run (a stage replaces the
  packaged weights only when it beats them).
- `rehearse` runs that exact command here (this venv's Python; TensorFlow hidden from it, as on the
  device), with `$OUT` a temporary folder, then `unpack`, and reports the time and what came back.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata as md
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
STAGE = ".gpu_stage"  # git-ignored: the FER2013 arrays (derived from FER2013's images) and the votes file
WHEELS = ".whl"  # git-ignored: the wheels the device machine lacks
CARRY = [STAGE, WHEELS]  # the run tool's `carry`
ARRAYS = f"{STAGE}/arrays"
VOTES = f"{STAGE}/fer2013new.csv.gz"
VAL_EXAMPLES = 2000  # PublicTest images carried for checkpoint selection (of 3,589; all are evaluated here after)
# The training images as lossy WebP at this quality: 46 MiB lossless did not fit the 64 MiB carry beside the
# working tree once three packaged weights (14.6 MB) were in it; about 32 MiB at 95 left 4 MiB with four (19.4 MB),
# too little for a fifth. At 90 about 26 MiB (measured on 3,000 of them: 0.81x the bytes of 95, mean absolute
# change 1.4 levels of 255 against 95's images; the augmentation moves pixels far more).
TRAIN_QUALITY = 90
SPLITS = ("train", "validation")
# The device image has numpy, jax, ml-dtypes, h5py, rich, absl-py, packaging and OpenCV, not these.
PURE_WHEELS = ("keras", "namex")
BINARY_WHEELS = ("optree",)
PYTHON_TAGS = ("cp312",)  # the device's python3 is 3.12; this machine's own tag is always added (rehearse)
WHEEL_DIRS = ("/opt/pypi/files", "/opt/pypi-more/files", "/opt/wheels", "~/.cache/pip/wheels")
CARRY_LIMIT = 64 * 2**20
COMMAND_LIMIT = 2000  # characters the run tool takes
FILES_BACK = 8  # files back from $OUT, 16 MiB each
FILE_LIMIT = 16 * 2**20
RUNS = (("fer2013", "lfnsb_fer2013"), ("ferplus", "lfnsb_ferplus"))
BUDGET_MIN = 8.0  # each training's --time-budget-min
DEADLINE_S = 560  # both trainings are interrupted at this second of the command (limit 600)
INIT = "lfnsb/fer2013"  # the packaged weights both trainings start from, when they are packaged
RECALIBRATE_BN = 200  # precise BatchNorm at each run's end (`kerasfer train --recalibrate-bn`), about a minute
INIT_LR = 0.02  # a further cosine cycle from them (the CPU stages' rate), not the presets' 0.05 from scratch


def _default_manual_dir():
    return ROOT.parent / "shared" / "data" / "fer2013"


def _mib(n) -> str:
    return f"{n / 2**20:.1f} MiB"


def _size(path: pathlib.Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# --------------------------------------------------------------------------- the device command
def device_command(
    budget_min=BUDGET_MIN,
    max_train_examples=None,
    max_val_examples=None,
    input_size=None,
    model=None,
    deadline_s=DEADLINE_S,
    init_weights=None,
    init_shape=None,
):
    """The one shell command for the device (bash, run in the repository root; `$OUT` set by the tool).

    `KF_PYTHON` (default `python3`) and `KF_WORK` (default `/tmp/kf`) let `rehearse` run it unchanged here;
    `max_*_examples`, `input_size` and `model` (another registered model than the presets' LFNSB) are for
    rehearsals on a CPU. `init_weights` (a packaged name, e.g. `lfnsb/fer2013`, travelling with the tree) starts
    both trainings from those weights at their `init_shape` `(H, W, C)` (FER+ takes the shared classes' rows,
    `kerasfer.training.trainer.init_from`), with `INIT_LR` and no warm-up: a further cycle, not a new start.
    Each archive holds the run folder without `backup/` and, when `model.keras` was written (the best epoch's
    weights), without `checkpoints/` (LFNSB's weights are about 10 MB; a file comes back only up to 16 MiB).
    """
    if init_weights and input_size:
        raise ValueError("init_weights trains at the packaged weights' own input size; leave input_size out.")
    from kerasfer import run_files  # the run folder's file names (TensorFlow-free)

    (first, _), (second, _) = RUNS
    last_good = os.path.basename(run_files.LAST_GOOD_CHECKPOINT)
    limits = f" --input-size {int(input_size)}" if input_size else ""
    if init_weights:
        shape = "x".join(str(int(d)) for d in init_shape)
        limits += f" --init-weights {shlex.quote(init_weights)} --input-size {shape} --lr {INIT_LR:g} --warmup-epochs 0"
    if model:
        limits += f" --model {shlex.quote(model)}"
    if max_train_examples:
        limits += f" --max-train-examples {int(max_train_examples)}"
    if max_val_examples:
        limits += f" --max-val-examples {int(max_val_examples)}"
    parts = [
        "set -u; P=${KF_PYTHON:-python3}; W=${KF_WORK:-/tmp/kf}; R=$W/runs; mkdir -p $R $OUT",
        f"$P -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $W/site --find-links {WHEELS}"
        f" {' '.join(PURE_WHEELS + BINARY_WHEELS)} > $R/install.log 2>&1 || {{ cat $R/install.log; exit 3; }}",
        "export PYTHONPATH=$W/site:$PWD${PYTHONPATH:+:$PYTHONPATH} KERAS_BACKEND=jax PYTHONUNBUFFERED=1"
        " XLA_PYTHON_CLIENT_MEM_FRACTION=0.45 TF_CPP_MIN_LOG_LEVEL=2",
        "(nvidia-smi -L; $P -c 'import jax,keras;print(jax.devices(),keras.__version__)') > $R/device.txt 2>&1",
        # t NAME ARRAYS: one training, interrupted at the deadline if its time budget did not end it first
        f"t() {{ timeout -k 15 -s INT $(({deadline_s}-SECONDS)) $P -m kerasfer train --preset lfnsb_$1 --arrays $2"
        f" --time-budget-min {budget_min:g}{limits} --recalibrate-bn {RECALIBRATE_BN} --output $R/$1 --quiet"
        " > $R/$1.log 2>&1; echo $? > $R/$1.rc; }}",
        f"t {first} {ARRAYS} &",
        f"{{ $P tools/gpu_run.py derive --votes {VOTES} --fer2013 {ARRAYS} --out $W/{second} > $R/derive.log 2>&1"
        f" && t {second} $W/{second}; }} &",
        "wait",
        f"for n in {first} {second}; do X={run_files.CHECKPOINTS_DIR}; [ -f $R/$n/{run_files.MODEL_FILE} ] ||"
        f" X={last_good}; tar -czf $OUT/lfnsb_$n.tar.gz -C $R --exclude {run_files.BACKUP_DIR} --exclude $X $n"
        " $n.log $n.rc derive.log device.txt install.log 2>/dev/null; done",
        f"ls -l $OUT; tail -n 3 $R/*.log; grep -qx 0 $R/{first}.rc && grep -qx 0 $R/{second}.rc",
    ]
    command = "".join(part + (" " if part.endswith("&") else "; ") for part in parts).rstrip("; ")
    if len(command) > COMMAND_LIMIT:
        raise ValueError(f"The device command has {len(command)} characters; the run tool takes {COMMAND_LIMIT}.")
    return command


# --------------------------------------------------------------------------- derive (on the device)
def cmd_derive(args) -> int:
    from kerasfer.data.arrays import ferplus_from_fer2013

    t0 = time.perf_counter()
    written = ferplus_from_fer2013(
        args.votes, args.fer2013, args.out, rule=args.rule, splits=tuple(args.splits), overwrite=True
    )
    for split, path, n in written:
        print(f"ferplus/{args.rule} {split}: {n:,} examples -> {path}")
    print(f"derived in {time.perf_counter() - t0:.1f} s")
    return 0


# --------------------------------------------------------------------------- stage (here)
def _installed_version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        raise RuntimeError(
            f"{name} is not installed in {sys.prefix}; install the project's environment first."
        ) from None


def _norm(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_tags(path):
    """`(name, version, python tag, abi tag, platform tag)` of a wheel file name."""
    parts = path.name[: -len(".whl")].split("-")
    return _norm(parts[0]), parts[1], parts[-3], parts[-2], parts[-1]


def _find_wheels(name, version, dirs):
    for d in dirs:
        d = pathlib.Path(os.path.expanduser(d))
        if d.is_dir():
            for p in sorted(d.rglob("*.whl")):
                n, v, *_ = _wheel_tags(p)
                if n == _norm(name) and v == version:
                    yield p


def _wheel_from_installed(name, out_dir) -> pathlib.Path:
    """Rebuilds the wheel of an installed pure-Python distribution from its RECORD (no download, no build)."""
    dist = md.distribution(name)
    wheel_meta = dist.read_text("WHEEL") or ""
    if "Root-Is-Purelib: true" not in wheel_meta or "py3-none-any" not in wheel_meta:
        raise RuntimeError(f"{name} is not a pure-Python (py3-none-any) install; it cannot be rebuilt as a wheel.")
    base = pathlib.Path(dist.locate_file(""))
    files = [
        f for f in dist.files if not str(f).startswith("..") and "__pycache__" not in f.parts and f.name != "RECORD"
    ]
    info = next(f.parts[0] for f in dist.files if f.parts[0].endswith(".dist-info"))
    path = pathlib.Path(out_dir) / f"{_norm(name)}-{dist.version}-py3-none-any.whl"
    rows = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for f in files:
            data = (base / f).read_bytes()
            z.writestr(str(f), data)
            digest = hashlib.sha256(data).digest()
            rows.append(f"{f},sha256={base64.urlsafe_b64encode(digest).rstrip(b'=').decode()},{len(data)}")
        rows.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(rows) + "\n")
    return path


def _local_tag():
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def _pip_download_cmd(name, version, tag):
    py = f"{tag[2]}.{tag[3:]}"
    platforms = " ".join(
        f"--platform {p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64")
    )
    return (
        f"{sys.executable} -m pip download --no-deps --only-binary=:all: --python-version {py} --implementation cp "
        f"{platforms} -d {ROOT / WHEELS} {name}=={version}"
    )


def stage_wheels(python_tags, download_missing=False, dirs=WHEEL_DIRS) -> list:
    """Puts keras, namex (pure) and optree (one per Python tag) into `.whl/`; returns the staged paths."""
    out = ROOT / WHEELS
    out.mkdir(exist_ok=True)
    staged, missing = [], []
    search = [str(out), *dirs]
    for name in PURE_WHEELS:
        version = _installed_version(name)
        found = next(
            (p for p in _find_wheels(name, version, search) if _wheel_tags(p)[2:] == ("py3", "none", "any")), None
        )
        if found is None:
            found = _wheel_from_installed(name, out)
        staged.append(_copy_into(found, out))
    for name in BINARY_WHEELS:
        version = _installed_version(name)
        for tag in python_tags:
            ok = [
                p
                for p in _find_wheels(name, version, search)
                if _wheel_tags(p)[2] == tag and _wheel_tags(p)[4].endswith("x86_64") and "manylinux" in p.name
            ]
            if not ok and download_missing:
                subprocess.run(shlex.split(_pip_download_cmd(name, version, tag)), check=True)
                ok = [p for p in _find_wheels(name, version, [str(out)]) if _wheel_tags(p)[2] == tag]
            if not ok:
                missing.append(_pip_download_cmd(name, version, tag))
                continue
            staged.append(_copy_into(ok[0], out))
    # Other versions of these packages in .whl/ would make pip choose between them: remove them.
    keep = {p.name for p in staged}
    for p in out.glob("*.whl"):
        if _wheel_tags(p)[0] in {_norm(n) for n in PURE_WHEELS + BINARY_WHEELS} and p.name not in keep:
            p.unlink()
    if missing:
        raise RuntimeError(
            "No binary wheel for the device's Python here (this machine cannot build one for another Python). "
            "Fetch it once, or rerun with --download-missing:\n  " + "\n  ".join(missing)
        )
    return staged


def _copy_into(path, out):
    dst = pathlib.Path(out) / path.name
    if path.resolve() != dst.resolve():
        shutil.copy2(path, dst)
    return dst


def stage_data(manual_dir, data_dir=None, overwrite=False, val_examples=VAL_EXAMPLES, train_quality=TRAIN_QUALITY):
    """FER2013 Training + PublicTest (`val_examples` of it) as WebP arrays with their CSV rows, and the gzipped
    fer2013new.csv, into `.gpu_stage/`. The training images are re-encoded as lossy WebP at `train_quality`
    (None: lossless) to fit the carry beside the packaged weights; PublicTest stays lossless."""
    import gzip

    import numpy as np

    from kerasfer.data import arrays

    out = ROOT / ARRAYS
    files = [arrays.array_file(out, "fer2013", s) for s in SPLITS]
    current = all(p.is_file() for p in files)
    if current:
        for p in files:
            with np.load(p) as f:
                current = current and "ids" in f.files and "webp" in f.files
    train = files[SPLITS.index("train")]
    if current:
        # lossy at another quality: written again from the source, never encoded lossy twice
        stored = arrays.webp_quality_of(train)
        current = stored is None or stored == train_quality
    if overwrite or not current:
        arrays.export_arrays(
            "fer2013",
            list(SPLITS),
            out,
            data_dir=data_dir,
            manual_dir=manual_dir,
            overwrite=True,
            encoding="webp",
            progress=True,
            ids=True,
        )
    if train_quality is not None:
        arrays.reencode_webp(train, train_quality)
    val = files[SPLITS.index("validation")]
    with np.load(val) as f:
        carried = len(f["labels"])
    if val_examples and carried > val_examples:
        arrays.subset_arrays(val, val_examples, seed=0)
    elif val_examples and carried < val_examples and not overwrite:
        raise RuntimeError(f"{val} holds {carried} images, fewer than --val-examples {val_examples}: use --overwrite.")
    votes = pathlib.Path(manual_dir) / "fer2013new.csv"
    if not votes.is_file():
        raise FileNotFoundError(f"No fer2013new.csv in {manual_dir} (FER+'s votes, github.com/microsoft/FERPlus).")
    (ROOT / STAGE / "fer2013new.csv").unlink(missing_ok=True)  # the uncompressed copy an older stage wrote
    with open(votes, "rb") as src, gzip.open(ROOT / VOTES, "wb", compresslevel=9) as dst:
        shutil.copyfileobj(src, dst)
    return [*files, ROOT / VOTES]


def tree_size() -> int:
    """Bytes of the working tree that travels: tracked and untracked-not-ignored files."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    total = 0
    for name in filter(None, listing):
        p = ROOT / os.fsdecode(name)
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def carry_report() -> tuple[list, int]:
    rows = [("working tree (tracked + untracked, not ignored)", tree_size())]
    rows += [(c, _size(ROOT / c) if (ROOT / c).exists() else 0) for c in CARRY]
    return rows, sum(n for _, n in rows)


def cmd_stage(args) -> int:
    unignored = [c for c in CARRY if not _ignored(c)]
    if unignored:
        raise RuntimeError(f"{', '.join(unignored)} must be git-ignored (.gitignore) before anything is staged.")
    tags = list(dict.fromkeys([*args.python_tags, _local_tag()]))
    quality = args.train_quality or None
    for p in stage_data(args.manual_dir, args.data_dir, args.overwrite, args.val_examples, quality):
        print(f"{p.relative_to(ROOT)}: {_mib(p.stat().st_size)}")
    for p in stage_wheels(tags, args.download_missing):
        kind = "binary" if _wheel_tags(p)[2] != "py3" else "pure Python"
        print(f"{p.relative_to(ROOT)}: {_mib(p.stat().st_size)} ({kind})")
    rows, total = carry_report()
    for what, n in rows:
        print(f"  {what}: {_mib(n)}")
    print(f"total {_mib(total)} of the {_mib(CARRY_LIMIT)} the run tool carries; carry = {json.dumps(CARRY)}")
    if total > CARRY_LIMIT:
        raise RuntimeError(f"{_mib(total)} is over the {_mib(CARRY_LIMIT)} the run tool carries.")
    return 0


def _ignored(path) -> bool:
    probe = f"{path}/probe"  # a directory pattern ("/.whl/") matches what is inside it even before it exists
    return subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT).returncode == 0


# --------------------------------------------------------------------------- command (here)
def packaged_start(from_scratch=False, input_size=None) -> dict:
    """`device_command`'s `init_weights` / `init_shape`: the packaged `INIT` weights and their input shape, unless
    `from_scratch`, an `input_size` is asked for (a CPU rehearsal's smaller images) or nothing is packaged."""
    if from_scratch or input_size:
        return {}
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from kerasfer.models.weights import packaged_card

    card = packaged_card(*INIT.split("/"))
    if card is None:
        return {}
    return {"init_weights": INIT, "init_shape": tuple(card["build"]["input_shape"])}


def cmd_command(args) -> int:
    missing = [p for p in (ROOT / ARRAYS, ROOT / VOTES, ROOT / WHEELS) if not p.exists()]
    if missing and not args.no_check:
        raise FileNotFoundError(f"Not staged: {', '.join(map(str, missing))}; run `tools/gpu_run.py stage` first.")
    start = packaged_start(args.from_scratch, args.input_size)
    cmd = device_command(args.budget_min, args.max_train_examples, args.max_val_examples, args.input_size, **start)
    if args.json:
        print(json.dumps({"command": cmd, "carry": CARRY, "timeout_s": 600}))
    else:
        print(cmd)
    return 0


# --------------------------------------------------------------------------- unpack (here)
def unpack(files_dir, runs_dir, *, manual_dir=None, package=True, half=False, skip_bench=False) -> list:
    """Extracts each `lfnsb_<name>.tar.gz` of `files_dir` into `runs_dir/<name>` and packages finished runs."""
    from kerasfer import run_files

    files_dir, runs_dir = pathlib.Path(files_dir), pathlib.Path(runs_dir).resolve()
    if runs_dir == ROOT or ROOT in runs_dir.parents:
        raise ValueError(f"runs_dir {runs_dir} is inside the repository; the runs stay outside it.")
    archives = sorted(files_dir.glob("lfnsb_*.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"No lfnsb_*.tar.gz in {files_dir} (it holds {sorted(os.listdir(files_dir))}).")
    runs_dir.mkdir(parents=True, exist_ok=True)
    report = []
    for archive in archives:
        name = archive.name[len("lfnsb_") : -len(".tar.gz")]
        dest = runs_dir / name
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir()
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")  # no absolute paths, no '..'
        run = dest / name
        rc = (dest / f"{name}.rc").read_text().strip() if (dest / f"{name}.rc").exists() else "?"
        finished = (run / run_files.MODEL_FILE).is_file()
        entry = {"name": name, "run_dir": str(run), "exit_code": rc, "finished": finished}
        if (run / run_files.RESULT_FILE).is_file():
            result = json.loads((run / run_files.RESULT_FILE).read_text())
            entry.update(
                epochs=result.get("epochs_run_now"),
                best_epoch=result.get("best_epoch"),
                val_accuracy=_best_val(run),
                elapsed_s=result.get("elapsed_s"),
                stopped_by_time_budget=result.get("stopped_by_time_budget"),
                train_examples=result.get("train_examples"),
            )
        if package and entry["finished"]:
            cmd = [sys.executable, str(ROOT / "tools" / "package_weights.py"), str(run), "--name", name, "--if-better"]
            cmd += ["--manual-dir", str(manual_dir or _default_manual_dir())]
            cmd += ["--half"] * half + ["--skip-bench"] * skip_bench
            print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
            entry["package_exit_code"] = subprocess.run(cmd, cwd=ROOT).returncode
        report.append(entry)
    return report


def _best_val(run):
    from kerasfer import run_files

    path = run / run_files.HISTORY_FILE
    if not path.is_file():
        return None
    acc = json.loads(path.read_text()).get("val_accuracy") or []
    return max(acc) if acc else None


def cmd_unpack(args) -> int:
    report = unpack(
        args.files_dir,
        args.runs_dir,
        manual_dir=args.manual_dir,
        package=not args.skip_package,
        half=args.half,
        skip_bench=args.skip_bench,
    )
    print(json.dumps(report, indent=2))
    bad = [r["name"] for r in report if not r["finished"] or r.get("package_exit_code", 0) != 0]
    if bad:
        raise RuntimeError(f"run(s) {', '.join(bad)} did not finish or package; see their logs in {args.runs_dir}.")
    return 0


# --------------------------------------------------------------------------- rehearse (here, CPU)
_NO_TENSORFLOW = '''"""Rehearsal: the device machine has no TensorFlow, so neither has this run: as if not installed."""

import importlib.machinery

_HIDDEN = ("tensorflow", "tensorflow_datasets", "tf_keras")
_find_spec = importlib.machinery.PathFinder.find_spec


def _find_spec_hiding(cls, fullname, path=None, target=None):
    if fullname.split(".")[0] in _HIDDEN:
        return None
    return _find_spec(fullname, path, target)


importlib.machinery.PathFinder.find_spec = classmethod(_find_spec_hiding)
'''


def _descendants(pid) -> list:
    """The process ids below `pid` (Linux /proc), children before grandchildren."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(pathlib.Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(0), [])
        found += kids
        todo += kids
    return found


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def check_returned(out_dir) -> list:
    """What the run tool would bring back from `$OUT`: raises when it would leave something out."""
    files = [p for p in pathlib.Path(out_dir).rglob("*") if p.is_file()]
    problems = [f"{p.name}: {_mib(p.stat().st_size)} > 16 MiB" for p in files if p.stat().st_size > FILE_LIMIT]
    problems += [p.name for p in files if not re.fullmatch(r"[A-Za-z0-9._-]+", p.name)]
    if len(files) > FILES_BACK:
        problems.append(f"{len(files)} files > {FILES_BACK}")
    if problems:
        raise RuntimeError(f"The run tool would not bring back everything from $OUT: {'; '.join(problems)}.")
    return files


def cmd_rehearse(args) -> int:
    missing = [p for p in (ROOT / ARRAYS, ROOT / VOTES, ROOT / WHEELS) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"Not staged: {', '.join(map(str, missing))}; run `tools/gpu_run.py stage` first.")
    tmp = pathlib.Path(args.work or tempfile.mkdtemp(prefix="kerasfer-rehearse-")).resolve()
    guard = tmp / "no_tensorflow"
    guard.mkdir(parents=True, exist_ok=True)
    (guard / "sitecustomize.py").write_text(_NO_TENSORFLOW)
    out = tmp / "out"
    env = {
        **os.environ,
        "OUT": str(out),
        "KF_WORK": str(tmp / "work"),
        "KF_PYTHON": sys.executable,
        "PYTHONPATH": str(guard),
    }
    start = packaged_start(args.from_scratch or args.model is not None, args.input_size)
    cmd = device_command(
        args.budget_min, args.max_train_examples, args.max_val_examples, args.input_size, args.model, **start
    )
    print(f"rehearsal in {tmp} ({len(cmd)} characters):\n{cmd}\n", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", cmd], cwd=ROOT, env=env)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        proc.wait()
    except BaseException:  # an interrupted rehearsal ends its trainings too (`timeout` gives them their own groups)
        for pid in [*_descendants(proc.pid), proc.pid]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        proc.wait()
        raise
    elapsed = time.perf_counter() - t0
    files = check_returned(out)
    print(f"\ncommand: exit {proc.returncode} after {elapsed:.0f} s; $OUT holds {len(files)} file(s):")
    for p in files:
        print(f"  {p.name}: {_mib(p.stat().st_size)}")
    t1 = time.perf_counter()
    report = unpack(out, tmp / "runs", package=args.package, skip_bench=True)
    print(json.dumps(report, indent=2))
    print(f"unpack: {time.perf_counter() - t1:.0f} s; rehearsal: {time.perf_counter() - t0:.0f} s in all")
    if proc.returncode != 0 or not all(r["finished"] for r in report) or len(report) != len(RUNS):
        raise RuntimeError(f"The rehearsal did not bring back {len(RUNS)} finished runs; see {tmp}/work/runs/*.log.")
    return 0


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("stage", help="write the arrays, votes and wheels the device command needs")
    s.add_argument(
        "--manual-dir", type=pathlib.Path, default=_default_manual_dir(), help="fer2013.tar.gz + fer2013new.csv"
    )
    s.add_argument("--data-dir", default=None, help="TFDS data directory (where fer2013 is or gets prepared)")
    s.add_argument("--python-tags", nargs="+", default=list(PYTHON_TAGS), help="the device's Python tags (cp312)")
    s.add_argument("--download-missing", action="store_true", help="pip-download binary wheels not found locally")
    s.add_argument("--overwrite", action="store_true", help="write the arrays again")
    s.add_argument("--val-examples", type=int, default=VAL_EXAMPLES, help="PublicTest images to carry (0: all 3,589)")
    s.add_argument(
        "--train-quality", type=int, default=TRAIN_QUALITY,
        help=f"lossy WebP quality of the training images (default {TRAIN_QUALITY}; 0: lossless)",
    )  # fmt: skip
    s.set_defaults(fn=cmd_stage)

    c = sub.add_parser("command", help="print the device command")
    c.add_argument("--budget-min", type=float, default=BUDGET_MIN, help="each training's --time-budget-min")
    c.add_argument("--max-train-examples", type=int, default=None)
    c.add_argument("--max-val-examples", type=int, default=None)
    c.add_argument("--input-size", type=int, default=None, help="override the presets' 112 (trains from scratch)")
    c.add_argument("--from-scratch", action="store_true", help=f"do not start from the packaged {INIT}")
    c.add_argument("--json", action="store_true", help="print {command, carry, timeout_s} as JSON")
    c.add_argument("--no-check", action="store_true", help="print it even when nothing is staged")
    c.set_defaults(fn=cmd_command)

    d = sub.add_parser("derive", help="(on the device) FER+ arrays from the FER2013 arrays, NumPy only")
    d.add_argument("--votes", required=True)
    d.add_argument("--fer2013", required=True, help="folder of fer2013_<split>.npz written with ids")
    d.add_argument("--out", required=True)
    d.add_argument("--rule", default="majority", choices=["majority", "plurality"])
    d.add_argument("--splits", nargs="+", default=list(SPLITS))
    d.set_defaults(fn=cmd_derive)

    u = sub.add_parser("unpack", help="extract the fetched archives and package each run")
    u.add_argument("files_dir", type=pathlib.Path, help="the folder the run tool fetched $OUT's files into")
    u.add_argument("--runs-dir", type=pathlib.Path, default=ROOT.parent / "runs" / "lfnsb_gpu")
    u.add_argument("--manual-dir", type=pathlib.Path, default=_default_manual_dir())
    u.add_argument("--skip-package", action="store_true", help="only extract and summarise")
    u.add_argument("--half", action="store_true", help="package float16 weights")
    u.add_argument("--skip-bench", action="store_true", help="package without the LiteRT latency bench")
    u.set_defaults(fn=cmd_unpack)

    r = sub.add_parser("rehearse", help="run the device command here on the CPU, then unpack")
    r.add_argument("--budget-min", type=float, default=1.0)
    # FER+'s rarest class (contempt) first appears at example 584 of the staged order; a class with no
    # training example stops a run, so the rehearsal keeps 600.
    r.add_argument("--max-train-examples", type=int, default=600)
    r.add_argument("--max-val-examples", type=int, default=128)
    r.add_argument(
        "--input-size", type=int, default=None, help=f"from scratch at this size (default: from {INIT}, its size)"
    )
    r.add_argument("--from-scratch", action="store_true", help=f"do not start from the packaged {INIT}")
    r.add_argument("--model", default=None, help="another registered model than LFNSB (a quicker CPU rehearsal)")
    r.add_argument("--work", default=None, help="the rehearsal's folder (default: a new temporary one)")
    r.add_argument("--package", action="store_true", help="also run package_weights (writes kerasfer/weights/)")
    r.set_defaults(fn=cmd_rehearse)

    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except (OSError, RuntimeError, ValueError, subprocess.CalledProcessError) as e:
        print(f"gpu_run {args.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
