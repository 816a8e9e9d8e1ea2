"""One training stage of packaged weights, in one command: train (from the packaged weights when there are
some), then package the run's best weights as the next stage when they beat the packaged ones.

    python tools/train_stage.py lfnsb fer2013 --manual-dir DIR --time-budget-min 95 -- \\
        --preset lfnsb_fer2013 --input-size 48x48x1 --batch-size 64 --augment fer2013

Machines here are not kept, so each stage ends with weights inside the package (`kerasfer/weights/`), which a
commit keeps; the next stage, on any machine, starts from them:

1. `kerasfer train --model MODEL ARGS... --manual-dir DIR --time-budget-min N --output RUN`, niced (so tests
   still run beside it), with `--init-weights MODEL/NAME` when `MODEL/NAME` is packaged (its card then lists this
   stage after its own). `RUN` is `--runs-dir/MODEL_NAME_<time>`, outside the repository.
2. `tools/package_weights.py RUN --name NAME --half --if-better`: the weights, card and README row are replaced
   only when the run's best validation accuracy beats the packaged accuracy. If packaging fails or is
   interrupted, the previous weights and card are put back, so a half-written stage is never left to commit.
3. `tools/make_model_table.py --write README.md` regenerates the README's results table.

It prints the `git add` line to commit the stage. The cosine schedule fits inside `--time-budget-min`; plan it
for the time left before the machine goes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile

from kerasfer import pretrained
from kerasfer.paths import file_sha256

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run(cmd: list[str], nice: int = 0) -> None:
    print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, preexec_fn=(lambda: os.nice(nice)) if nice else None)


def stage_files(model: str, name: str) -> list[pathlib.Path]:
    """The packaged files of `model/name` (weights, JSON and Markdown card) and the README the table lives in."""
    card = pretrained.card_path(model, name)
    return [pretrained.weights_path(model, name), card, card.with_suffix(".md"), ROOT / "README.md"]


def package_or_restore(cmd: list[str], files: list[pathlib.Path]) -> None:
    """Runs the packaging command; on any failure or interrupt puts `files` back as they were."""
    with tempfile.TemporaryDirectory(prefix="kerasfer_stage_") as tmp:
        saved = {}
        for i, f in enumerate(files):
            if f.exists():
                saved[f] = pathlib.Path(tmp) / f"{i}_{f.name}"
                shutil.copy2(f, saved[f])
        try:
            for c in cmd:
                _run(c)
        except BaseException:
            for f in files:
                if f in saved:
                    shutil.copy2(saved[f], f)
                elif f.exists():
                    f.unlink()
            print("packaging failed: the previous weights, card and README are back in place", file=sys.stderr)
            raise


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="registered model name, e.g. lfnsb")
    p.add_argument("name", help="packaged weights name, e.g. fer2013")
    p.add_argument("--manual-dir", required=True, help="the dataset's manual-download folder")
    p.add_argument("--time-budget-min", type=float, required=True, help="training minutes (a whole cosine cycle)")
    p.add_argument(
        "--runs-dir", type=pathlib.Path, default=ROOT.parent / "runs",
        help="where RUN goes (default: runs/ beside the repository's folder)",
    )  # fmt: skip
    p.add_argument("--nice", type=int, default=10, help="niceness of the training process (default 10)")
    p.add_argument("--from-scratch", action="store_true", help="do not start from the packaged weights")
    p.epilog = "Everything after `--` goes to `kerasfer train`."
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    for flag in ("--output", "--model", "--manual-dir", "--time-budget-min"):
        if flag in extra:
            p.error(f"{flag} is set by this tool; leave it out of the kerasfer train arguments")
    if args.time_budget_min <= 0:
        p.error("--time-budget-min must be > 0")

    from kerasfer.models.weights import packaged_card

    stem = f"{args.model}_{args.name}"
    run_dir = (args.runs_dir / f"{stem}_{datetime.datetime.now():%Y%m%d-%H%M}").resolve()
    if ROOT in run_dir.parents:
        p.error(f"--runs-dir {args.runs_dir} is inside the repository; keep runs outside it")
    train = [sys.executable, "-m", "kerasfer", "train", "--model", args.model, *extra]
    if packaged_card(args.model, args.name) is not None and not args.from_scratch and "--init-weights" not in extra:
        train += ["--init-weights", f"{args.model}/{args.name}"]
    train += ["--manual-dir", os.path.abspath(args.manual_dir), "--time-budget-min", str(args.time_budget_min)]
    train += ["--output", str(run_dir)]
    _run(train, nice=args.nice)

    package = [sys.executable, "tools/package_weights.py", str(run_dir), "--name", args.name, "--half", "--if-better"]
    package += ["--manual-dir", os.path.abspath(args.manual_dir)]
    table = [sys.executable, "tools/make_model_table.py", "--write", "README.md"]
    files = stage_files(args.model, args.name)
    before = {f: file_sha256(f) for f in files if f.exists()}
    package_or_restore([package, table], files)
    if any(before.get(f) != (file_sha256(f) if f.exists() else None) for f in files):
        print(f"new stage of {args.model}/{args.name} packaged; commit it:")
        print("  git add " + " ".join(shlex.quote(str(f.relative_to(ROOT))) for f in files))
    else:
        print(f"{args.model}/{args.name} unchanged: the run ({run_dir}) did not beat the packaged weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
