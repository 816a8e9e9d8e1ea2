"""int8 against float on this CPU: all-integer int8, int8 with ops kept in float, fp32, timed in one run.

For each model it exports fp32 and the int8 variants (`kerasfer.export.convert`), checks them against the
Keras model (top-1 agreement and the largest probability difference) and times them in turn with
`kerasfer.export.bench.interleaved` (one thread, XNNPACK), so each variant's ratio to fp32 comes from the same
rounds. The int8 variants:

* `int8`: all-integer, PReLU and hard swish rewritten into ops XNNPACK runs in int8 (the default export);
* `int8 +float PRELU`: the same with every PRELU kept in float32 (selective quantization, `--float-ops PRELU`);
* `int8 +float cpu`: `--float-ops cpu`, PReLU and coordinate attention's MEAN, HARD_SWISH and MUL in float32
  (`kerasfer.export.tflite.CPU_FLOAT_OPS`).

A variant is left out when the model has none of the ops it keeps in float.

Models: registry names (untrained weights) or packaged / run / file sources (trained weights, loaded with
`kerasfer.models.loading.load_trained`). An untrained model's BatchNormalization statistics are randomised
first (`kerasfer.testing.test_case.randomize_batchnorm`, `--no-randomize-bn` to keep them): freshly initialised
weights give activations far smaller than trained ones (about 1e-6 in LFNSB's coordinate attention), whose
int8 scales XNNPACK refuses for some ADDs; randomised statistics give activations of order 1, as training does.
Calibration and agreement images: `--dataset DATASET[:SPLIT]` (real faces through the package's loader,
`kerasfer.export.evaluate.load_eval_data`, with `--manual-dir` / `--data-dir` as for `kerasfer export`) or, by
default, the procedural `synthetic_faces` images.

Usage:

    python tools/bench_int8.py                                      # lfnsb and mobilefacenet, untrained
    python tools/bench_int8.py --models resnet18_small/fer2013 mobilefacenet \
        --dataset fer2013:validation --manual-dir ../shared/data/fer2013
    python tools/bench_int8.py --rounds 25 --json int8.json
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

VARIANTS = {"int8": (), "int8 +float PRELU": ("PRELU",), "int8 +float cpu": ("cpu",)}


def load_images(args, input_shape, seed=0):
    """`(images, description)`: `args.images` images of `args.dataset`, else procedural faces."""
    import kerasfer
    from kerasfer.export import evaluate

    if args.dataset:
        images, _ = evaluate.load_eval_data(
            args.dataset, input_shape, args.images, manual_dir=args.manual_dir, data_dir=args.data_dir
        )
        return images, f"{args.dataset} ({len(images)} images)"
    images, _ = kerasfer.data.generate(args.images, seed=seed, image_size=max(input_shape[:2]))
    return kerasfer.data.prepare_images(images, input_shape).astype(np.float32), f"synthetic_faces ({args.images})"


def build(source, randomize_bn):
    """`(model, note)`: a trained source through `load_trained`, a registry name untrained."""
    from kerasfer.models import list_models
    from kerasfer.models.loading import load_trained

    if source in list_models():
        model = load_trained(source, allow_untrained=True).model
        if not randomize_bn:
            return model, "untrained"
        from kerasfer.testing.test_case import randomize_batchnorm

        randomize_batchnorm(model)
        return model, "untrained, BN statistics randomised"
    return load_trained(source).model, "trained"


def bench_model(source, args):
    """Exports, checks and times one model; returns its rows."""
    import keras

    from kerasfer.export import bench
    from kerasfer.export import evaluate
    from kerasfer.export import flatbuffer
    from kerasfer.export import tflite
    from kerasfer.export.tflite import CPU_FLOAT_OPS

    model, note = build(source, args.randomize_bn)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    images, image_source = load_images(args, shape)
    calibration, check = images[: len(images) // 2], images[len(images) // 2 :]
    reference = evaluate.predict_keras(model, check)
    files = {"fp32": tflite.convert(model, "fp32")}
    present = {op.name for op in flatbuffer.read_tflite(files["fp32"]).ops}
    for label, float_ops in VARIANTS.items():
        kept = set(CPU_FLOAT_OPS if float_ops == ("cpu",) else float_ops)
        if float_ops and not kept & present:
            continue
        files[label] = tflite.convert(
            model, "int8", representative_data=calibration, quantization_steps=len(calibration), float_ops=float_ops
        )
    rows = bench.interleaved(files, num_threads=args.threads, rounds=args.rounds, runs=args.runs, warmup=10)
    for row in rows:
        agreement = evaluate.compare(reference, evaluate.run_tflite(files[row["model"]], check))
        row.update(weights=note, images=image_source, **agreement)
        row["variant"], row["model"] = row["model"], source
    keras.backend.clear_session()
    return rows


def format_rows(rows) -> str:
    lines = [
        "| model | weights | variant | size | median ms | ratio to fp32 | top-1 agreement | max abs. prob. diff |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['weights']} | {r['variant']} | {r['size_bytes'] / 1e6:.2f} MB | "
            f"{r['median_ms']:.3f} | {r['ratio']:.2f} | {100 * r['top1_agreement']:.1f}% | {r['max_abs_diff']:.4f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["lfnsb", "mobilefacenet"], help="registry names or trained sources")
    p.add_argument("--dataset", help="DATASET[:SPLIT] of real faces, e.g. fer2013:validation (default procedural)")
    p.add_argument("--manual-dir", help="folder with the manually downloaded dataset files")
    p.add_argument("--data-dir", help="TFDS data directory")
    p.add_argument("--images", type=int, default=400, help="images: half calibrate, half check (default 400)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--runs", type=int, default=20, help="invocations per variant and round")
    p.add_argument("--no-randomize-bn", dest="randomize_bn", action="store_false")
    p.add_argument("--json", help="write the rows and the machine here")
    args = p.parse_args(argv)
    if args.images < 4:
        p.error("--images must be at least 4")
    from kerasfer.export import bench

    rows = []
    for source in args.models:
        rows += bench_model(source, args)
        print(format_rows([r for r in rows if r["model"] == source]), flush=True)
    info = bench.machine_info()
    print(f"\n{args.threads} thread(s), XNNPACK on, {args.rounds} rounds of {args.runs} invocations per variant")
    print(f"machine: {info['cpu']}, {info['cpu_count']} cores, load {info['load_average']}")
    if args.json:
        bench.write_json(rows, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
