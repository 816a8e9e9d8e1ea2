"""`kerasfer export` and `kerasfer bench`.

    kerasfer export --weights runs/fer2013 --quantization fp32 fp16 int8 \\
        --eval-dataset fer2013:validation --manual-dir DIR --num-eval 500 --out exported/
    kerasfer bench exported/*.tflite --threads 1 2 --json bench.json
    kerasfer export --web web/ [--model M] [--litert-js node_modules/@litertjs/core]   # kerasfer.export.web

`export` takes what every command takes (a run directory, a `.keras` or `.weights.h5` file, a
packaged name such as `resnet18_small/fer2013`, or a registry name; see
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

import json
import os
import sys

AGREEMENT_TARGET = 0.99
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


def _load(args):
    from kerasfer.models.loading import load_model_and_weights

    if not args.model and not args.weights:
        raise ValueError("Give the model to export: --model (a run directory, .keras file, packaged name, ...).")
    return load_model_and_weights(
        args.model,
        args.weights,
        num_classes=args.num_classes,
        input_shape=_input_shape(args),
        labels=args.labels,
        allow_untrained=True,
    )


def run_export(args) -> int:
    from kerasfer.export import card as card_lib
    from kerasfer.export import evaluate
    from kerasfer.export import gpu_check
    from kerasfer.export import tflite
    from kerasfer.paths import check_output_file
    from kerasfer.paths import check_output_folder

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    if args.web:
        return run_export_web(args, say)
    if args.litert_js:
        raise ValueError("--litert-js goes with --web.")
    args.quantization = args.quantization or ["fp32", "fp16"]
    for flag, value in (("--num-eval", args.num_eval), ("--num-calibration", args.num_calibration)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}.")
    check_output_folder(args.out, flag="--out")
    if args.report:
        check_output_file(args.report, suffixes=(".json",), flag="--report")
    if "int8" in args.quantization and not (args.representative_dataset or args.eval_dataset):
        raise ValueError("int8 needs calibration images: --representative-dataset or --eval-dataset.")
    loaded = _load(args)
    model = loaded.model
    report_path = args.report or os.path.join(args.out, f"{model.name}_export_report.json")
    paths = [os.path.join(args.out, f"{model.name}_{q}.tflite") for q in args.quantization]
    clashes = [] if args.overwrite else card_lib.export_clashes(paths, loaded.source, [report_path])
    if clashes:
        names = ", ".join(os.path.basename(p) for p, _ in clashes)
        origins = sorted({str(theirs) for _, theirs in clashes if theirs} or {"an unknown source"})
        raise FileExistsError(
            f"--out {args.out} already holds {names}, exported from {' and '.join(origins)}, not from "
            f"{loaded.source}: give another --out, or --overwrite to replace them."
        )
    if not loaded.trained:
        print(
            f"kerasfer export: warning: {loaded.source} is an untrained model (random weights): its exports "
            "predict nothing useful; give trained weights (--weights or a run directory) for a real model.",
            file=sys.stderr,
        )
    shape = loaded.input_shape
    data_kw = {"data_dir": args.data_dir, "manual_dir": args.manual_dir}
    eval_data = None
    if args.eval_dataset:
        say(f"loading evaluation data {args.eval_dataset} ...")
        eval_data = evaluate.load_eval_data(args.eval_dataset, shape, args.num_eval, **data_kw)
        say(f"evaluation data: {args.eval_dataset}, {len(eval_data[1])} images")
    rep = None
    if "int8" in args.quantization:
        n = args.num_calibration
        if args.representative_dataset:
            rep = evaluate.load_eval_data(args.representative_dataset, shape, n, default_split="train", **data_kw)[0]
        elif not args.eval_dataset.endswith(".npz"):  # calibrate on the same dataset's training split
            name = args.eval_dataset.partition(":")[0]
            rep = evaluate.load_eval_data(f"{name}:train", shape, n, **data_kw)[0]
        else:
            say("note: calibrating int8 on the evaluation images (pass --representative-dataset to separate them)")
            rep = eval_data[0][:n]
    report = {"model": model.name, "source": loaded.source, "input_shape": list(shape), "variants": []}
    keras_probs = None
    if eval_data is not None:
        say("running the Keras model on the evaluation images ...")
        keras_probs = evaluate.predict_keras(model, eval_data[0])
        report["keras_top1"] = evaluate.top1_accuracy(keras_probs, eval_data[1])
        report["num_eval"] = int(len(eval_data[1]))
    fp32_bytes = None
    for q, path in zip(args.quantization, paths):
        kw = {}
        if q == "int8":  # calibrate on every image loaded (the config's own cap is 200)
            kw = {"inference_input_type": args.io_type, "inference_output_type": args.io_type,
                  "quantization_steps": len(rep), "float_ops": args.float_ops}  # fmt: skip
        result = tflite.export_tflite(model, path, q, representative_data=rep, labels=loaded.labels, progress=say,
                                      source=loaded.source, **kw)  # fmt: skip
        row = {
            "quantization": q,
            "path": path,
            "size_bytes": result.size_bytes,
            "gpu_check_classic": result.gpu_report.summary(),
            "gpu_check_mldrift": gpu_check.check(path, target="mldrift", strict_gl=False).summary(),
        }
        if args.strict_gl:
            row["gpu_check_gl"] = gpu_check.check(path, strict_gl=True).summary()
        say(result.gpu_report)
        with open(path, "rb") as f:
            content = f.read()
        if q == "fp32":
            fp32_bytes = content
        if eval_data is not None:
            say(f"evaluating {os.path.basename(path)} on {len(eval_data[1])} images ...")
            probs = evaluate.run_tflite(content, eval_data[0])
            row.update(evaluate.compare(keras_probs, probs, eval_data[1]))
            result.card["evaluation"] = {
                "dataset": args.eval_dataset,
                "num_images": report["num_eval"],
                "keras_top1": report["keras_top1"],
                **{k: row[k] for k in ("top1", "top1_agreement", "max_abs_diff", "mean_abs_diff")},
            }
            card_lib.write_card(result.card, result.card_json_path, result.card_markdown_path)
            if q == "int8" and row["top1_agreement"] < AGREEMENT_TARGET:
                say("int8 agreement under 99%: measuring the drift layer by layer ...")
                ref = fp32_bytes or _fp32_reference(model, loaded.labels)
                row["layer_drift"] = evaluate.layer_drift(ref, content, eval_data[0][:16])[:10]
        report["variants"].append(row)
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(format_export_report(report))
    print(f"report: {report_path}")
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


def _fp32_reference(model, labels) -> bytes:
    """An fp32 file written as the exported ones are: its metadata names the graph output after its layer, so the
    drift report compares the same tensor in both files (bare `convert` bytes would pair logits with softmax)."""
    import tempfile

    from kerasfer.export import tflite

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "reference_fp32.tflite")
        tflite.export_tflite(model, path, "fp32", labels=labels, gpu_check=False, count_macs=False)
        with open(path, "rb") as f:
            return f.read()


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
