"""Training throughput of LFNSB: images per second at 112x112 and 64x64, with and without XLA.

    python tools/bench_training.py                    # 112 and 64 px, jit off/on, batch 32
    python tools/bench_training.py --sizes 64 --steps 5 --batch-size 16 --json out.json

Each case builds a fresh LFNSB, compiles it (SGD, sparse CE) with `jit_compile` False or True,
runs `--warmup` train steps (tracing/compilation excluded), then times `--steps` steps of
`model.train_on_batch` on one fixed batch of synthetic faces, and reports images/s.
Runs on the current KERAS_BACKEND (on JAX, Keras always compiles with XLA, so "jit off"
means Keras's default there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def bench_case(size, jit, batch_size, steps, warmup, model_name="lfnsb"):
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[112, 64])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--model", default="lfnsb")
    p.add_argument("--jit", choices=("both", "on", "off"), default="both")
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    jits = {"both": (False, True), "on": (True,), "off": (False,)}[args.jit]
    rows = []
    print("| model | input | XLA | batch | images/s | ms/step | warm-up s |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for jit in jits:
            r = bench_case(size, jit, args.batch_size, args.steps, args.warmup, args.model)
            rows.append(r)
            print(
                f"| {r['model']} | {r['input']} | {'on' if jit else 'off'} | {r['batch_size']} | {r['images_per_s']} "
                f"| {r['ms_per_step']} | {r['warmup_s']} |",
                flush=True,
            )
    import platform

    print(f"\nbackend {rows[0]['backend']}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
