"""Benchmarks FER2013 preparation and the input pipeline against LFNSB training throughput.

Prints, in one run on the same machine:
1. how long building the `fer2013` TFDS dataset from the Kaggle archive takes;
2. images/s of the training pipeline (decode, resize to 112x112x3, the LFNSB paper's
   augmentations, batch 128) over the train split;
3. images/s of LFNSB training (`train_on_batch`, batch 128, 112x112, SGD) on random data;
and the ratio (target: pipeline >= 5x training, so the pipeline is never the bottleneck).

    python tools/bench_data_pipeline.py [--manual-dir ../shared/data/fer2013] [--data-dir DIR]
        [--batches 30] [--train-steps 3] [--synthetic]

`--synthetic` benchmarks on `synthetic_faces` instead (no manual files needed). Nothing is
written into the repository; the TFDS data goes to `--data-dir` (default a temp dir).
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _default_manual_dir():
    root = os.environ.get("KERASFER_SHARED_DATA")
    base = pathlib.Path(root) if root else pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return base / "fer2013"


def bench_prepare(name, manual_dir, data_dir):
    from kerasfer.data import datasets

    t0 = time.perf_counter()
    n = datasets.num_examples(name, "train", manual_dir=manual_dir, data_dir=data_dir)
    return time.perf_counter() - t0, n


def bench_pipeline(name, data_dir, batches, batch_size=128, input_shape=(112, 112, 3)):
    from kerasfer.data import datasets
    from kerasfer.data import pipeline

    ds = datasets.load(name, "train", data_dir=data_dir).repeat()
    pipe = pipeline.make_pipeline(ds, input_shape, batch_size, training=True, augment="lfnsb", seed=0)
    it = iter(pipe)
    for _ in range(3):  # warm-up (tf.function tracing, autotune, shuffle buffer fill)
        next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
    _ = x.numpy()
    dt = time.perf_counter() - t0
    return batches * batch_size / dt


def bench_training(steps, batch_size=128, input_shape=(112, 112, 3)):
    import keras
    import numpy as np

    import kerasfer

    model = kerasfer.models.create_model("lfnsb", num_classes=7, input_shape=input_shape)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch_size, *input_shape)).astype("float32")
    y = rng.integers(0, 7, (batch_size,))
    model.train_on_batch(x, y)  # compile / trace
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch_size / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manual-dir", default=str(_default_manual_dir()))
    p.add_argument("--data-dir", default=None, help="TFDS data dir (default: a temporary directory, deleted)")
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--synthetic", action="store_true", help="use synthetic_faces instead of fer2013")
    args = p.parse_args(argv)

    name = "synthetic_faces" if args.synthetic else "fer2013"
    if not args.synthetic and not pathlib.Path(args.manual_dir, "fer2013.tar.gz").exists():
        print(f"FER2013 not found in {args.manual_dir}; pass --manual-dir or --synthetic", file=sys.stderr)
        return 2
    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="kerasfer_bench_")
        data_dir = tmp
    try:
        cores = os.cpu_count()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {cores} CPU cores, load average {load:.1f} at start (shared machines: expect noise)")
        secs, n = bench_prepare(name, None if args.synthetic else args.manual_dir, data_dir)
        print(f"prepare {name}: {secs:.1f} s for {n} training examples (+ the other splits)")
        ips_pipe = bench_pipeline(name, data_dir, args.batches)
        print(f"pipeline (decode, resize 112, lfnsb augment, batch 128): {ips_pipe:.0f} images/s")
        ips_train = bench_training(args.train_steps)
        print(f"LFNSB training (train_on_batch, batch 128, 112x112): {ips_train:.1f} images/s")
        ratio = ips_pipe / ips_train
        print(f"ratio pipeline/training: {ratio:.1f}x (target >= 5x): {'OK' if ratio >= 5 else 'TOO SLOW'}")
        return 0 if ratio >= 5 else 1
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
