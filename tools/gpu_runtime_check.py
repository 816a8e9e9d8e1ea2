"""Runs registered models' fp32 / fp16 exports on LiteRT's GPU accelerator and compares them with the CPU.

For each model and variant: export to `.tflite` (needs TensorFlow), compile with the GPU accelerator alone
(`kerasfer.export.gpu_runtime.run_on_gpu`, no CPU fallback), run a few random raw-pixel images, and print a table:
model, variant, fully accelerated (else the refused ops), max |GPU - CPU| over the outputs, GPU and CPU median
latency of one image (input write + run + output read on the GPU; `TFLiteRunner.raw` on the CPU).

Untrained models give (nearly) uniform probabilities, which any runtime matches; so each model's BatchNorm
statistics are randomized first (`kerasfer.testing.randomize_batchnorm`, `--no-randomize-bn` to keep them).

Usage:

    python tools/gpu_runtime_check.py                                  # every registered model, default inputs
    python tools/gpu_runtime_check.py --models sdnet shufflenet_v2_x0_5 --input-size 64
    python tools/gpu_runtime_check.py --models sdnet --input-size 48 --save-dir exported --export-only
    python tools/gpu_runtime_check.py --files exported/*.tflite        # on a GPU machine: no TensorFlow needed
    python tools/gpu_runtime_check.py --vulkan-icd swiftshader         # SwiftShader (a CPU Vulkan) explicitly

`--vulkan-icd auto` (the default) takes the system's Vulkan adapter, else SwiftShader (see `gpu_runtime`). The
figures depend on the machine and its load (printed with the table); SwiftShader figures say nothing about a
real GPU's speed, only that the GPU code path runs and agrees with the CPU.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

VARIANTS = ("fp32", "fp16")


def _variant_of(path):
    from kerasfer.export.bench import _quantization_from_metadata

    mode = _quantization_from_metadata(str(path))
    if mode:
        return mode
    suffix = pathlib.Path(path).stem.rsplit("_", 1)[-1]
    return suffix if suffix in ("fp32", "fp16", "int8", "dynamic") else "-"


def export_models(names, variants, input_size, save_dir, randomize_bn=True):
    """Yields `(model label, variant, .tflite path or bytes)` for each registered model and variant."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from kerasfer import models
    from kerasfer.export import tflite

    for name in names:
        info = models.get_model_info(name)
        shape = tuple(info.input_shape)
        if input_size:
            side = max(int(input_size), info.min_input_size)
            shape = (side, side, shape[2])
        extra = {"region_input": False} if name == "multiscale_fer" else {}  # its deployable, image-only form
        model = models.create_model(name, input_shape=shape, **extra)
        if randomize_bn:
            from kerasfer.testing.test_case import randomize_batchnorm

            randomize_batchnorm(model)
        label = f"{name} {shape[0]}x{shape[1]}x{shape[2]}"
        for variant in variants:
            start = time.perf_counter()
            content = tflite.convert(model, variant)
            print(f"exported {label} {variant} in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
            if save_dir:
                path = pathlib.Path(save_dir) / f"{name}_{shape[0]}x{shape[1]}x{shape[2]}_{variant}.tflite"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                yield label, variant, path
            else:
                yield label, variant, content


def check_one(content, label, variant, args):
    """One table row (a dict) for one `.tflite`."""
    from kerasfer.export import gpu_runtime
    from kerasfer.inference.runners import make_interpreter

    shape = tuple(int(d) for d in make_interpreter(content).get_input_details()[0]["shape"])
    images = np.random.default_rng(args.seed).uniform(0, 255, (args.images, *shape[1:])).astype(np.float32)
    row = {"model": label, "variant": variant}
    try:
        result = gpu_runtime.run_on_gpu(
            content,
            images,
            runs=args.runs,
            warmup=args.warmup,
            allow_cpu_fallback=args.allow_cpu_fallback,
            enforce_f32=args.enforce_f32,
            cpu_threads=args.cpu_threads,
            vulkan_icd=args.vulkan_icd,
            vulkan_loader=args.vulkan_loader,
        )
    except gpu_runtime.GpuRuntimeError as e:
        row.update(fully_accelerated=None, error=str(e).splitlines()[0])
        return row
    row.update(
        fully_accelerated=result.fully_accelerated,
        not_accelerated=[str(op) for op in result.not_accelerated],
        max_abs_diff=result.max_abs_diff,
        gpu_median_ms=result.gpu_median_ms,
        cpu_median_ms=result.cpu_median_ms,
        compile_ms=result.compile_ms,
        adapter=result.adapter,
        error=result.error,
    )
    return row


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_table(rows) -> str:
    lines = [
        "| model | variant | fully accelerated | max abs diff vs CPU | GPU median ms | CPU median ms |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        if r.get("fully_accelerated") is None:
            accelerated = f"error: {r.get('error')}"
        elif r["fully_accelerated"]:
            accelerated = "yes"
        else:
            ops = sorted({op.split(":")[0] for op in r.get("not_accelerated") or []})
            accelerated = "no" + (f" ({', '.join(ops)})" if ops else "")
        lines.append(
            f"| `{r['model']}` | {r['variant']} | {accelerated} | {_fmt(r.get('max_abs_diff'), '.2e')} | "
            f"{_fmt(r.get('gpu_median_ms'), '.3f')} | {_fmt(r.get('cpu_median_ms'), '.3f')} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="registered model names (default: all)")
    parser.add_argument("--files", nargs="+", help="already-exported .tflite files instead of --models")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS + ("int8", "dynamic"))
    parser.add_argument("--input-size", type=int, help="square input side (default: each model's own input)")
    parser.add_argument("--save-dir", help="write the exports there (to carry them to a GPU machine)")
    parser.add_argument("--export-only", action="store_true", help="export to --save-dir, run nothing")
    parser.add_argument("--no-randomize-bn", action="store_true", help="keep the fresh BatchNorm statistics")
    parser.add_argument("--images", type=int, default=4, help="random images compared per model (default 4)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of one image (default 20)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu-threads", type=int, default=None, help="CPU interpreter threads (LiteRT's default)")
    parser.add_argument("--enforce-f32", action="store_true", help="force float32 GPU math")
    parser.add_argument("--allow-cpu-fallback", action="store_true", help="GPU + CPU (default: the GPU alone)")
    parser.add_argument("--vulkan-icd", default="auto", help="auto (default), system, swiftshader or an ICD .json")
    parser.add_argument("--vulkan-loader", help="a folder with libvulkan.so.1, if the system has none")
    parser.add_argument("--json", help="also write the rows and the machine to this file")
    args = parser.parse_args(argv)
    if args.files and args.models:
        parser.error("give --models or --files, not both")
    if args.export_only and not args.save_dir:
        parser.error("--export-only needs --save-dir")

    from kerasfer.export import gpu_runtime
    from kerasfer.export.bench import machine_info

    if not args.export_only:
        ok, reason = gpu_runtime.gpu_available(args.vulkan_icd, args.vulkan_loader)
        if not ok:
            print(f"No GPU adapter for LiteRT's GPU accelerator: {reason}", file=sys.stderr)
            return 2
        print(f"GPU: {reason}", file=sys.stderr, flush=True)

    if args.files:
        items = ((pathlib.Path(f).stem, _variant_of(f), pathlib.Path(f)) for f in args.files)
    else:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from kerasfer import models

        names = args.models or models.list_models()
        items = export_models(names, args.variants, args.input_size, args.save_dir, not args.no_randomize_bn)

    rows = []
    for label, variant, content in items:
        if args.export_only:
            print(content)
            continue
        row = check_one(content, label, variant, args)
        rows.append(row)
        print(format_table([row]).splitlines()[-1], file=sys.stderr, flush=True)
    if args.export_only:
        return 0

    machine = machine_info()
    adapters = sorted({r["adapter"] for r in rows if r.get("adapter")})
    print(format_table(rows))
    print()
    print(f"GPU adapter: {'; '.join(adapters) or '-'}")
    print(
        f"CPU: {machine['cpu']} ({machine['affinity']} cores usable, load {machine['load_average']}), "
        f"ai-edge-litert {machine['ai_edge_litert']}; {args.images} random images per model, median of "
        f"{args.runs} runs of one image; GPU math {'float32' if args.enforce_f32 else 'the delegate default'}"
    )
    if args.json:
        payload = {"rows": rows, "machine": machine, "adapters": adapters, "args": vars(args)}
        pathlib.Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0 if all(r.get("fully_accelerated") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
