"""Images/s of the NumPy input path alone and of whole training steps, host augmentation vs in-step augmentation.

    KERAS_BACKEND=jax python tools/bench_input_path.py                 # lfnsb_fer2013 at 112 px, batch 32
    KERAS_BACKEND=jax python tools/bench_input_path.py --batch-size 128 --steps 20 --json out.json

What `kerasfer train --arrays` does on a backend without tf.data (JAX), measured in one process on
synthetic 48x48 gray faces prepared to the preset's input like FER2013's:

- `input, host augmentation` (before): `ArrayBatches` batches augmented on the host by the preset's
  Keras layers, a NumPy copy after each layer (what training did before).
- `input, in-step augmentation` (after): `ArrayBatches` batches as they are; the augmentation moved
  into the compiled step.
- `step alone`: `train_on_batch` on one fixed batch (no input path): the model's own ceiling.
- `train, host augmentation` (before): each step takes a host-augmented batch, then `train_on_batch`
  of the preset's model (the Cosine-Harmony wrapper for `ce+cosine_harmony`).
- `train, in-step augmentation` (after): each step takes a plain batch, then `train_on_batch` of
  `AugmentInStep(model, StepAugmentation(preset))`, which augments inside the compiled step.

Tracing and compilation are excluded (`--warmup` steps first). Each row: images/s and ms per batch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _timed(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return time.perf_counter() - t0


def run(
    preset="lfnsb_fer2013", batch_size=32, steps=5, warmup=1, input_size=None, model=None, num_examples=None
) -> dict:
    import keras

    from kerasfer.data import synthetic
    from kerasfer.data.augment import get_augmentation
    from kerasfer.data.pipeline import prepare_images
    from kerasfer.training import trainer
    from kerasfer.training.augment_step import AugmentInStep
    from kerasfer.training.augment_step import StepAugmentation
    from kerasfer.training.data import ArrayBatches
    from kerasfer.training.optim import build_loss
    from kerasfer.training.optim import build_optimizer
    from kerasfer.training.presets import get_preset

    overrides = {"input_shape": (input_size, input_size, 3)} if input_size else {}
    if model:
        overrides["model"] = model
    config = get_preset(preset, batch_size=batch_size, **overrides)
    shape = tuple(config.input_shape)
    num_classes = config.num_classes or 7
    n = num_examples or batch_size * (steps + warmup)
    faces, labels = synthetic.generate(n, seed=0, image_size=48, channels=1)
    x = prepare_images(faces.astype("uint8"), shape)  # once, as training does (uint8 48x48x1 -> float32 112x112x3)
    y = (labels % num_classes).astype("int64")
    host_aug = get_augmentation(config.augment, shape, config.seed)

    def batches(augment):
        data = ArrayBatches(x, y, batch_size, training=True, augment=augment, seed=0)
        state = {"i": 0}

        def next_batch():
            i = state["i"] % len(data)
            state["i"] += 1
            return data[i]

        return next_batch

    def compiled(wrap):
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        _, net = trainer.build_model(config, shape, num_classes)
        if wrap:
            net = AugmentInStep(net, StepAugmentation(config.augment, shape, seed=0))
        net.compile(optimizer=build_optimizer(config), loss=build_loss(config, num_classes))
        return net

    rows = []

    def row(name, dt):
        print(f"  ... {name}: {dt:.1f} s", file=sys.stderr, flush=True)
        rows.append(
            {
                "case": name,
                "images_per_s": round(batch_size * steps / dt, 1),
                "ms_per_batch": round(1000 * dt / steps, 1),
            }
        )

    for name, augment in (("input, host augmentation", host_aug), ("input, in-step augmentation", None)):
        next_batch = batches(augment)
        row(name, _timed(next_batch, steps, warmup))

    net = compiled(wrap=False)
    fixed = batches(None)()
    row("step alone (fixed batch, no augmentation)", _timed(lambda: net.train_on_batch(*fixed), steps, warmup))
    next_batch = batches(host_aug)
    row("train, host augmentation", _timed(lambda: net.train_on_batch(*next_batch()), steps, warmup))
    net = compiled(wrap=True)
    next_batch = batches(None)
    row("train, in-step augmentation", _timed(lambda: net.train_on_batch(*next_batch()), steps, warmup))
    return {
        "preset": preset,
        "model": config.model,
        "loss": config.loss,
        "augment": config.augment,
        "input_shape": list(shape),
        "batch_size": batch_size,
        "steps": steps,
        "warmup": warmup,
        "backend": keras.backend.backend(),
        "devices": _devices(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }


def _devices():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    return []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="lfnsb_fer2013")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="timed batches per case")
    p.add_argument("--warmup", type=int, default=1, help="untimed batches first (tracing, compilation)")
    p.add_argument("--input-size", type=int, default=None, help="square input size (default: the preset's)")
    p.add_argument("--model", default=None, help="another registered model than the preset's (a quick CPU run)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    result = run(args.preset, args.batch_size, args.steps, args.warmup, args.input_size, args.model)
    print(
        f"{result['preset']} ({result['model']}, {result['loss']}, augment {result['augment']}) at "
        f"{'x'.join(map(str, result['input_shape']))}, batch {result['batch_size']}, {result['backend']} on "
        f"{', '.join(result['devices']) or 'the default device'} ({result['cpus']} CPUs)"
    )
    width = max(len(r["case"]) for r in result["rows"])
    for r in result["rows"]:
        print(f"  {r['case']:<{width}}  {r['images_per_s']:>9.1f} images/s  {r['ms_per_batch']:>8.1f} ms/batch")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
