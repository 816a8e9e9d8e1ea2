"""`kerasfer export` and `kerasfer bench`.

    kerasfer export --weights runs/fer2013 --quantization fp32 fp16 int8 \\
        --eval-dataset fer2013:validation --manual-dir DIR --num-eval 500 --out exported/
    kerasfer bench exported/*.tflite --threads 1 2 --json bench.json
    kerasfer export --web web/ [--model M] [--litert-js node_modules/@litertjs/core]   # kerasfer.export.web

`export` (`kerasfer.export.export_model`) takes what every command takes (a run directory, a `.keras` or
`.weights.h5` file, a packaged name such as `resnet18_small/fer2013`, or a registry name; see
`kerasfer.models.load_trained`), writes one `.tflite` per quantization, each with its own
`<file>.labels.txt` and model card (the labels are also inside the file's metadata), then reports
the top-1 accuracy of the Keras model and of each variant on the same images, their top-1
agreement with the Keras model, the largest probability difference and the GPU-delegate check;
for an int8 variant under 99 % agreement it lists the layers where the int8 activations drift
furthest from float. The report is printed and written as JSON. An untrained model (a bare
registry name) is exported with a warning.

Evaluation / calibration data (`kerasfer.export.evaluate.load_eval_data`): a `.npz` with `images`
and `labels`, or `DATASET[:SPLIT]` read through the TFDS builders like every other command
(`--manual-dir` for FER2013 and the other manual-download datasets; default split `validation`,
calibration from `train`).
"""

from __future__ import annotations

import os
import sys
import warnings

from kerasfer.export.exporter import AGREEMENT_TARGET  # noqa: F401 - the command's threshold, named here before

FLOAT_OPS_HELP = (
    "int8 only: TFLite ops kept in float32 inside the int8 model (selective quantization), e.g. PRELU HARD_SWISH, "
    "or 'cpu' for the set that is fastest on x86 XNNPACK (PRELU MUL MEAN HARD_SWISH); needs --io-type float32"
)


def register(sub) -> None:
    from kerasfer.export.tflite import QUANTIZATIONS

    p = sub.add_parser(
        "export",
        help="export a model to TFLite (quantized variants, labels, model card, GPU check)",
        description="Exit status: 0 done, 1 failure while working, 2 user error.",
    )
    p.add_argument(
        "--model",
        help="a run directory, .keras / .weights.h5 file, packaged name (resnet18_small/fer2013) or registry name",
    )
    p.add_argument("--weights", help="a run directory, .keras / .weights.h5 file or packaged name, for --model NAME")
    p.add_argument("--num-classes", type=int, default=None, help="classes of an untrained or .weights.h5 model")
    p.add_argument("--input-size", type=int, nargs="+", default=None, help="H [W [C]] of an untrained model")
    p.add_argument(
        "--quantization", nargs="+", default=None, choices=list(QUANTIZATIONS),
        help="variants to export (default fp32 fp16; with --web one of fp32 fp16 dynamic, default fp16)",
    )  # fmt: skip
    p.add_argument("--io-type", default="float32", choices=["float32", "int8", "uint8"], help="int8 model I/O type")
    p.add_argument("--float-ops", nargs="+", default=(), metavar="OP", help=FLOAT_OPS_HELP)
    p.add_argument(
        "--calibration-outlier-ratio",
        type=float,
        default=10.0,
        metavar="R",
        help="int8: leave out calibration images whose activations exceed R times the median image's at some "
        "layer (at most a tenth of them); 0 keeps every image (default 10)",
    )
    p.add_argument("--eval-dataset", help="`.npz` (images, labels) or DATASET[:SPLIT], e.g. fer2013:validation")
    p.add_argument("--num-eval", type=int, default=500, help="evaluation images (default 500)")
    p.add_argument("--representative-dataset", help="int8 calibration data (same formats; default: the train split)")
    p.add_argument("--num-calibration", type=int, default=200, help="calibration images (default 200)")
    p.add_argument("--manual-dir", help="folder with the manually downloaded dataset files (FER2013's CSV, ...)")
    p.add_argument("--data-dir", help="TFDS data directory")
    p.add_argument("--labels", nargs="+", help="class names in output order (default: the model's own)")
    p.add_argument("--out", default="exported", help="output folder (default ./exported)")
    p.add_argument("--strict-gl", action="store_true", help="also check OpenGL-fallback portability (L11)")
    p.add_argument("--report", help="JSON report path (default <out>/<model>_export_report.json)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--web", metavar="DIR", help="write a static web page folder instead (see kerasfer.export.web)")
    p.add_argument("--litert-js", metavar="DIR", help="--web: copy LiteRT.js from this npm install (offline page)")
    p.add_argument("--overwrite", action="store_true", help="replace files in --out exported from another model")
    p.set_defaults(func=run_export)

    b = sub.add_parser(
        "bench",
        help="LiteRT latency of .tflite files (median/p90, threads, XNNPACK on/off)",
        description="Exit status: 0 done, 1 failure while working, 2 user error.",
    )
    b.add_argument("files", nargs="*", help=".tflite files")
    b.add_argument("--models", nargs="+", help="registry models to export (untrained weights) and benchmark")
    b.add_argument("--quantization", nargs="+", default=["fp32", "fp16", "int8"], choices=list(QUANTIZATIONS))
    b.add_argument("--input-size", type=int, default=None, help="for --models: square input side")
    b.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    b.add_argument("--xnnpack", nargs="+", default=["on", "off"], choices=["on", "off"])
    b.add_argument("--runs", type=int, default=100)
    b.add_argument("--warmup", type=int, default=10)
    b.add_argument("--min-time", type=float, default=0.0, help="keep timing at least this many seconds")
    b.add_argument("--float-ops", nargs="+", default=(), metavar="OP", help=FLOAT_OPS_HELP + " (--models)")
    b.add_argument(
        "--rounds", type=int, default=1,
        help="time the files in turn, this many rounds of --runs each, and add each one's ratio to the first "
        "(default 1: one file after the other)",
    )  # fmt: skip
    b.add_argument("--json", help="write the rows and the machine to this JSON file")
    b.add_argument("--out", default="exported", help="for --models: folder for the .tflite files")
    b.set_defaults(func=run_bench)


# -- export ----------------------------------------------------------------------------------
def _input_shape(args):
    if not args.input_size:
        return None
    from kerasfer.models import get_model_info

    size = list(args.input_size)
    if len(size) > 3:
        raise ValueError(f"--input-size takes H [W [C]]; got {size}.")
    h = size[0]
    w = size[1] if len(size) > 1 else h
    c = size[2] if len(size) > 2 else (get_model_info(args.model).input_shape[2] if args.model else 3)
    return (h, w, c)


def run_export(args) -> int:
    from kerasfer.export.exporter import UntrainedModelWarning
    from kerasfer.export.exporter import export_model

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    if args.web:
        return run_export_web(args, say)
    if args.litert_js:
        raise ValueError("--litert-js goes with --web.")

    def warn(message, category, *rest):
        print(f"kerasfer export: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UntrainedModelWarning)
        warnings.showwarning = warn
        run = export_model(
            args.model,
            args.weights,
            out=args.out,
            quantization=args.quantization,
            io_type=args.io_type,
            float_ops=args.float_ops,
            outlier_ratio=args.calibration_outlier_ratio or None,
            eval_dataset=args.eval_dataset,
            num_eval=args.num_eval,
            representative_dataset=args.representative_dataset,
            num_calibration=args.num_calibration,
            manual_dir=args.manual_dir,
            data_dir=args.data_dir,
            labels=args.labels,
            num_classes=args.num_classes,
            input_shape=_input_shape(args),
            strict_gl=args.strict_gl,
            report_path=args.report,
            overwrite=args.overwrite,
            progress=say,
        )
    print(format_export_report(run.report))
    print(f"report: {run.report_path}")
    return 0


def run_export_web(args, say) -> int:
    from kerasfer.export.web import export_web

    quantization = args.quantization or ["fp16"]
    if len(quantization) != 1:
        raise ValueError(f"--web exports one classifier: give one --quantization, not {' '.join(quantization)}.")
    result = export_web(
        args.web,
        args.model,
        args.weights,
        quantization=quantization[0],
        litert_js=args.litert_js,
        labels=args.labels,
        num_classes=args.num_classes,
        input_shape=_input_shape(args),
        progress=say,
    )
    print(
        f"wrote {result.folder}: {result.source} ({quantization[0]}), LiteRT.js {result.config['litert']['version']} "
        f"from {'the CDN' if result.runtime == 'cdn' else 'the folder'}"
    )
    print(f"serve it, e.g. python3 -m http.server 8000 --bind 127.0.0.1 --directory {result.folder}")
    return 0


def format_export_report(report: dict) -> str:
    lines = [f"# {report['model']} export, input {report['input_shape']}"]
    if "keras_top1" in report:
        lines.append(f"Keras top-1 on {report['num_eval']} images: {report['keras_top1']:.4f}")
    lines += [
        "| variant | size (bytes) | top-1 | top-1 agreement | max abs prob diff | GPU (classic) | GPU (ML Drift) |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for v in report["variants"]:

        def g(key, v=v):
            s = v[key]
            return "ok" if s["ok"] else f"{s['num_issues']} issues {','.join(s['rules'])}"

        top1 = f"{v['top1']:.4f}" if "top1" in v else "-"
        agree = f"{v['top1_agreement']:.4f}" if "top1_agreement" in v else "-"
        diff = f"{v['max_abs_diff']:.3g}" if "max_abs_diff" in v else "-"
        lines.append(
            f"| {v['quantization']} | {v['size_bytes']:,} | {top1} | {agree} | {diff} | "
            f"{g('gpu_check_classic')} | {g('gpu_check_mldrift')} |"
        )
    for v in report["variants"]:
        if v.get("layer_drift"):
            lines.append(f"\n{v['quantization']} agrees on {v['top1_agreement']:.2%} (< 99%); layers that drift most:")
            for d in v["layer_drift"]:
                lines.append(f"  {d['layer'] or d['tensor']}: relative error {d['relative_error']:.3f}")
    return "\n".join(lines)


# -- bench -----------------------------------------------------------------------------------
def run_bench(args) -> int:
    from kerasfer.export import bench
    from kerasfer.paths import check_output_file

    files = list(args.files)
    for f in files:
        if not os.path.isfile(f):
            raise FileNotFoundError(f"No such file: {f}")
        if not f.lower().endswith(".tflite"):
            raise ValueError(f"{f} is not a .tflite file.")
    if not files and not args.models:
        raise ValueError("Give .tflite files or --models.")
    if args.json:
        check_output_file(args.json, suffixes=(".json",), flag="--json")
    if args.models:
        files += _export_for_bench(args)
    if args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}.")
    rows = []
    if args.rounds > 1:  # every file in turn, per setting
        for n in args.threads:
            for x in args.xnnpack:
                rows += bench.interleaved(files, num_threads=n, use_xnnpack=x == "on", rounds=args.rounds,
                                          runs=args.runs, warmup=args.warmup)  # fmt: skip
    else:  # one file after the other
        for f in files:
            rows += bench.benchmark(
                f,
                threads=args.threads,
                xnnpack=[x == "on" for x in args.xnnpack],
                runs=args.runs,
                warmup=args.warmup,
                min_time_s=args.min_time,
            )
    print(bench.format_table(rows))
    info = bench.machine_info()
    print(f"\nmachine: {info['cpu']}, {info['cpu_count']} cores, load {info['load_average']}")
    if args.json:
        bench.write_json(rows, args.json)
        print(f"wrote {args.json}")
    return 0


def _export_for_bench(args) -> list:
    import keras
    import numpy as np

    from kerasfer import models
    from kerasfer.export import tflite

    os.makedirs(args.out, exist_ok=True)
    paths = []
    for name in args.models:
        kwargs = {}
        info = models.get_model_info(name)
        if args.input_size:
            kwargs["input_shape"] = (args.input_size, args.input_size, info.input_shape[2])
        model = models.create_model(name, **kwargs)
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        rng = np.random.default_rng(0)
        rep = rng.uniform(0, 255, (16, *shape)).astype(np.float32)
        for q in args.quantization:
            path = os.path.join(args.out, f"{model.name}_{q}.tflite")
            kw = {"representative_data": rep, "float_ops": args.float_ops} if q == "int8" else {}
            tflite.export_tflite(model, path, q, count_macs=False, **kw)
            paths.append(path)
        keras.backend.clear_session()
    return paths
