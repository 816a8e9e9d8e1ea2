"""Training throughput: images/s of plain `model.fit`, or of `train_on_batch` with and without XLA.

    # model.fit of the papers' depthwise models, this tree against another commit, alternating:
    python tools/bench_training.py --fit --baseline HEAD~1 --rounds 3
    python tools/bench_training.py --fit --models lfnsb:48 sdnet:68 --baseline 33c7ae5 --json out.json

    # train_on_batch at 112 and 64 px, XLA off and on (the older mode):
    python tools/bench_training.py --sizes 64 --steps 5 --batch-size 16

`--fit`: each case is a fresh process that builds the model (`create_model`, 7 classes, SGD with momentum, sparse
cross-entropy, the default float32 policy) and runs one `model.fit` epoch of `--steps` batches of `--batch-size`
random images held in memory, timing batches 3 to `--steps` (the steady state; see `fit_case`). It reports
images/s and CPU time per image (user + system, both cores; the share of the two cores kept busy is their ratio).
With `--baseline REF` the same cases also run on the package as it was at commit REF (`git archive` into a
temporary folder, imported first on PYTHONPATH), and the two trees alternate round after round, so that both see
the same machine; the table gives medians over `--rounds` and the ratio of this tree to the baseline. Threads:
TF_NUM_INTEROP_THREADS=1 unless set.

A model spec is NAME[:SIZE[:CHANNELS]] (default size 48, 3 channels; sdnet is 1-channel).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_FIT_MODELS = ("lfnsb:48", "sdnet:68:1", "mobilefacenet:48", "lfer_ldl:64")


def bench_case(size, jit, batch_size, steps, warmup, model_name="lfnsb"):
    """`train_on_batch` images/s of one model on one fixed batch."""
    import keras

    from kerasfer.data import synthetic
    from kerasfer.data.pipeline import prepare_images
    from kerasfer.models import create_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    x, y = synthetic.generate(batch_size, seed=0, image_size=64, channels=3)
    x = prepare_images(x, (size, size, 3)).astype("float32")
    y = y.astype("int32")
    model = create_model(model_name, num_classes=7, input_shape=(size, size, 3))
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=jit,
    )
    t0 = time.perf_counter()
    for _ in range(warmup):
        model.train_on_batch(x, y)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    dt = time.perf_counter() - t0
    return {
        "model": model_name,
        "input": f"{size}x{size}x3",
        "jit_compile": jit,
        "batch_size": batch_size,
        "steps": steps,
        "images_per_s": round(batch_size * steps / dt, 2),
        "ms_per_step": round(1000 * dt / steps, 1),
        "warmup_s": round(first, 2),
        "backend": keras.backend.backend(),
    }


def parse_spec(spec: str, default_size: int) -> tuple[str, int, int]:
    """`NAME[:SIZE[:CHANNELS]]` -> (name, size, channels)."""
    parts = spec.split(":")
    if not parts[0] or len(parts) > 3:
        raise ValueError(f"model spec {spec!r}: expected NAME[:SIZE[:CHANNELS]], e.g. lfnsb:48 or sdnet:68:1")
    try:
        size = int(parts[1]) if len(parts) > 1 else default_size
        channels = int(parts[2]) if len(parts) > 2 else (1 if parts[0] == "sdnet" else 3)
    except ValueError:
        raise ValueError(f"model spec {spec!r}: SIZE and CHANNELS must be integers") from None
    if size < 8 or channels not in (1, 3):
        raise ValueError(f"model spec {spec!r}: SIZE must be >= 8 and CHANNELS 1 or 3")
    return parts[0], size, channels


def fit_case(model_name: str, size: int, channels: int, batch_size: int, steps: int) -> dict:
    """Plain `model.fit` throughput of one freshly built model (run in its own process).

    The clock runs from the end of the epoch's second batch to the end of its last, read by a callback, so the
    figure is the steady state of training: tracing, the first batches and the several seconds Keras spends after
    the last batch of a `fit` call (tearing down its `tf.data` iterator, seen here at 3 to 4 s, once per call) stay
    out of it, as they do out of a long run's per-epoch rate.
    """
    import keras
    import numpy as np

    import kerasfer
    from kerasfer.models import create_model

    if steps < 3:
        raise ValueError(f"--steps must be >= 3 (two batches warm up), got {steps}")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = batch_size * steps
    x = rng.uniform(0, 255, (n, size, size, channels)).astype("float32")
    y = rng.integers(0, 7, n).astype("int32")
    model = create_model(model_name, num_classes=7, input_shape=(size, size, channels))
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    marks = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch in (1, steps - 1):
                marks[batch] = (time.perf_counter(), os.times())

    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False, callbacks=[Clock()])
    (t0, c0), (t1, c1) = marks[1], marks[steps - 1]
    timed = batch_size * (steps - 2)
    wall, cpu = t1 - t0, (c1.user + c1.system) - (c0.user + c0.system)
    return {
        "model": model_name,
        "input": f"{size}x{size}x{channels}",
        "batch_size": batch_size,
        "images": timed,
        "images_per_s": round(timed / wall, 2),
        "cpu_ms_per_image": round(1000 * cpu / timed, 3),
        "cores_busy": round(cpu / wall, 2),
        "kerasfer": str(pathlib.Path(kerasfer.__file__).resolve().parent.parent),
        "backend": keras.backend.backend(),
    }


def _run_worker(tree: pathlib.Path, spec: tuple[str, int, int], batch_size: int, steps: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    name, size, channels = spec
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", f"{name}:{size}:{channels}"]
    cmd += ["--batch-size", str(batch_size), "--steps", str(steps)]
    out = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark of {name} in {tree} failed:\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    if pathlib.Path(row["kerasfer"]) != tree.resolve():
        raise RuntimeError(f"the worker imported kerasfer from {row['kerasfer']}, not from {tree}")
    return row


def _export_tree(ref: str, dest: pathlib.Path) -> pathlib.Path:
    """The package's files at commit `ref`, unpacked into `dest`."""
    archive = subprocess.run(["git", "archive", ref, "kerasfer"], cwd=ROOT, capture_output=True)
    if archive.returncode != 0:
        raise ValueError(f"--baseline {ref}: git archive failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def fit_table(specs, batch_size, steps, rounds, baseline=None):
    """Rows of the `--fit` table: median images/s per model and tree, alternating trees round by round."""
    with tempfile.TemporaryDirectory(prefix="kerasfer_bench_") as tmp:
        trees = {"this tree": ROOT}
        if baseline:
            trees = {f"baseline {baseline}": _export_tree(baseline, pathlib.Path(tmp)), **trees}
        runs = {(spec, label): [] for spec in specs for label in trees}
        for r in range(rounds):
            for spec in specs:
                for label, tree in trees.items():
                    row = _run_worker(tree, spec, batch_size, steps)
                    runs[(spec, label)].append(row)
                    print(
                        f"  round {r + 1}: {spec[0]} {row['input']} {label}: {row['images_per_s']} images/s, "
                        f"{row['cpu_ms_per_image']} CPU ms/image",
                        file=sys.stderr,
                        flush=True,
                    )
    rows = []
    for spec in specs:
        base = None
        for label in trees:
            done = runs[(spec, label)]
            ips = statistics.median(r["images_per_s"] for r in done)
            cpu = statistics.median(r["cpu_ms_per_image"] for r in done)
            row = {
                "model": spec[0],
                "input": done[0]["input"],
                "tree": label,
                "images_per_s": round(ips, 1),
                "runs": [r["images_per_s"] for r in done],
                "cpu_ms_per_image": round(cpu, 2),
                "cores_busy": round(statistics.median(r["cores_busy"] for r in done), 2),
            }
            if base is None:
                base = row
            row["ratio"] = round(ips / base["images_per_s"], 2)
            row["cpu_ratio"] = round(base["cpu_ms_per_image"] / cpu, 2)
            rows.append(row)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fit", action="store_true", help="plain model.fit throughput (see above)")
    p.add_argument("--models", nargs="+", help=f"model specs (--fit default: {' '.join(DEFAULT_FIT_MODELS)})")
    p.add_argument("--baseline", help="--fit: also run the package at this git commit, alternating with this tree")
    p.add_argument("--rounds", type=int, default=3, help="--fit: runs of each case (default 3)")
    p.add_argument("--sizes", type=int, nargs="+", default=[112, 64])
    p.add_argument("--batch-size", type=int, default=None, help="default 64 with --fit, else 32")
    p.add_argument("--steps", type=int, default=None, help="batches (default 20 with --fit, else 10)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--jit", choices=("both", "on", "off"), default="both")
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        spec = parse_spec(args.worker, 48)
        print(json.dumps(fit_case(*spec, args.batch_size, args.steps)))
        return 0
    if args.fit:
        if args.rounds < 1:
            p.error("--rounds must be >= 1")
        try:
            specs = [parse_spec(s, 48) for s in args.models or DEFAULT_FIT_MODELS]
        except ValueError as e:
            p.error(str(e))
        rows = fit_table(specs, args.batch_size or 64, args.steps or 20, args.rounds, args.baseline)
        print(
            "| model | input | tree | images/s (median) | runs | CPU ms/image | cores busy | speed-up | CPU speed-up |"
        )
        print("|---|---|---|---:|---|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['model']} | {r['input']} | {r['tree']} | {r['images_per_s']} | "
                f"{', '.join(str(v) for v in r['runs'])} | {r['cpu_ms_per_image']} | {r['cores_busy']} | "
                f"{r['ratio']}x | {r['cpu_ratio']}x |"
            )
    else:
        jits = {"both": (False, True), "on": (True,), "off": (False,)}[args.jit]
        rows = []
        print("| model | input | XLA | batch | images/s | ms/step | warm-up s |")
        print("|---|---|---|---|---|---|---|")
        for size in args.sizes:
            for jit in jits:
                r = bench_case(
                    size,
                    jit,
                    args.batch_size or 32,
                    args.steps or 10,
                    args.warmup,
                    args.models[0] if args.models else "lfnsb",
                )
                rows.append(r)
                print(
                    f"| {r['model']} | {r['input']} | {'on' if jit else 'off'} | {r['batch_size']} | "
                    f"{r['images_per_s']} | {r['ms_per_step']} | {r['warmup_s']} |",
                    flush=True,
                )
    from kerasfer.export.bench import machine_info

    machine = machine_info()
    print(f"\n{os.cpu_count()} CPUs, {machine['cpu']}, load average {machine['load_average']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
