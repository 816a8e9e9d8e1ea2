"""`kerasfer export` and `kerasfer bench`.

    kerasfer export --model lfnsb --weights w.keras --quantization fp32 fp16 int8 \\
        --eval-dataset fer2013:PublicTest --num-eval 500 --out exported/
    kerasfer bench exported/*.tflite --threads 1 2 --json bench.json

`export` writes one `.tflite` per quantization (with `labels.txt` and model cards), then
reports the top-1 accuracy of the Keras model and of each variant on the same images,
their top-1 agreement with the Keras model, the largest probability difference and the
GPU-delegate check; for an int8 variant under 99 % agreement it lists the layers where the
int8 activations drift furthest from float. The report is printed and written as JSON.

Evaluation / calibration data: a `.npz` with `images` (N, H, W, C raw pixels) and `labels`
(N,) arrays (also `x`/`y`), or `fer2013[:Training|PublicTest]` read from the shared
FER2013 CSV (`$KERASFER_SHARED_DATA` or `../shared/data` beside the repository), resized
to the model's input and replicated to 3 channels when needed.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

AGREEMENT_TARGET = 0.99


def register(sub) -> None:
    p = sub.add_parser("export", help="export a model to TFLite (quantized variants, labels, model card, GPU check)")
    p.add_argument("--model", required=True, help="registry name (see `kerasfer models`) or a .keras file")
    p.add_argument("--weights", help="a .weights.h5 / .keras file for a registry model")
    p.add_argument("--num-classes", type=int, default=None, help="classes (default: the model's default)")
    p.add_argument("--input-size", type=int, nargs="+", default=None, help="H [W [C]] (default: the model's)")
    p.add_argument(
        "--quantization", nargs="+", default=["fp32", "fp16"], choices=["fp32", "fp16", "dynamic", "int8"],
        help="variants to export (default fp32 fp16)",
    )  # fmt: skip
    p.add_argument("--io-type", default="float32", choices=["float32", "int8", "uint8"], help="int8 model I/O type")
    p.add_argument("--eval-dataset", help="`.npz` (images, labels) or `fer2013[:split]` for accuracy/agreement")
    p.add_argument("--num-eval", type=int, default=500, help="evaluation images (default 500)")
    p.add_argument("--representative-dataset", help="int8 calibration data (same formats; default: training split)")
    p.add_argument("--num-calibration", type=int, default=200, help="calibration images (default 200)")
    p.add_argument("--labels", nargs="+", help="class names in output order (default: canonical order)")
    p.add_argument("--out", default="exported", help="output folder (default ./exported)")
    p.add_argument("--strict-gl", action="store_true", help="also check OpenGL-fallback portability (L11)")
    p.add_argument("--report", help="JSON report path (default <out>/<model>_export_report.json)")
    p.set_defaults(func=run_export)

    b = sub.add_parser("bench", help="LiteRT latency of .tflite files (median/p90, threads, XNNPACK on/off)")
    b.add_argument("files", nargs="*", help=".tflite files")
    b.add_argument("--models", nargs="+", help="registry models to export (untrained weights) and benchmark")
    b.add_argument("--quantization", nargs="+", default=["fp32", "fp16", "int8"], help="for --models")
    b.add_argument("--input-size", type=int, default=None, help="for --models: square input side")
    b.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    b.add_argument("--xnnpack", nargs="+", default=["on", "off"], choices=["on", "off"])
    b.add_argument("--runs", type=int, default=100)
    b.add_argument("--warmup", type=int, default=10)
    b.add_argument("--min-time", type=float, default=0.0, help="keep timing at least this many seconds")
    b.add_argument("--json", help="write the rows and the machine to this JSON file")
    b.add_argument("--out", default="exported", help="for --models: folder for the .tflite files")
    b.set_defaults(func=run_bench)


# -- data ------------------------------------------------------------------------------------
def shared_data_dir() -> pathlib.Path:
    env = os.environ.get("KERASFER_SHARED_DATA")
    if env:
        return pathlib.Path(env)
    repo = pathlib.Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "data"


def read_fer2013(split: str = "PublicTest", limit: int | None = None, root=None):
    """Reads FER2013 rows of one split from `fer2013.tar.gz` (or `fer2013.csv`): uint8 (N, 48, 48, 1), labels."""
    import csv
    import io
    import tarfile

    import numpy as np

    root = pathlib.Path(root) if root else shared_data_dir() / "fer2013"
    if split not in ("Training", "PublicTest", "PrivateTest"):
        raise ValueError(f"Unknown FER2013 split {split!r} (Training, PublicTest, PrivateTest).")
    csv_path, tar_path = root / "fer2013.csv", root / "fer2013.tar.gz"
    if csv_path.is_file():
        handle, tar = open(csv_path, encoding="utf-8"), None
    elif tar_path.is_file():
        tar = tarfile.open(tar_path, "r:gz")
        member = next((m for m in tar.getmembers() if m.name.endswith("fer2013.csv")), None)
        if member is None:
            raise ValueError(f"{tar_path} holds no fer2013.csv.")
        handle = io.TextIOWrapper(tar.extractfile(member), encoding="utf-8")
    else:
        raise FileNotFoundError(f"FER2013 not found: expected {csv_path} or {tar_path}.")
    images, labels = [], []
    try:
        reader = csv.reader(handle)
        header = next(reader)
        if header[:3] != ["emotion", "pixels", "Usage"]:
            raise ValueError(f"Unexpected FER2013 header {header}.")
        for row in reader:
            if row[2] != split:
                continue
            pixels = np.array(row[1].split(), dtype=np.uint8)
            if pixels.size != 48 * 48:
                raise ValueError(f"A FER2013 row has {pixels.size} pixels, expected 2304.")
            images.append(pixels.reshape(48, 48, 1))
            labels.append(int(row[0]))
            if limit and len(images) >= limit:
                break
    finally:
        handle.close()
        if tar is not None:
            tar.close()
    if not images:
        raise ValueError(f"No FER2013 rows in split {split!r}.")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def fit_images(images, input_shape):
    """Resizes (bilinear) and converts channels (gray <-> RGB) to `input_shape`; float32 raw pixels."""
    import cv2
    import numpy as np

    h, w, c = input_shape
    out = []
    for img in np.asarray(images):
        img = img.astype(np.float32)
        if img.shape[:2] != (h, w):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        if img.ndim == 2:
            img = img[..., None]
        if img.shape[-1] == 1 and c == 3:
            img = np.repeat(img, 3, axis=-1)
        elif img.shape[-1] == 3 and c == 1:
            img = (img @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        if img.shape != (h, w, c):
            raise ValueError(f"Cannot fit an image of shape {img.shape} to {input_shape}.")
        out.append(img)
    return np.stack(out).astype(np.float32)


def load_dataset(spec: str, input_shape, limit: int | None = None, default_split="PublicTest"):
    """Loads `(images, labels)` from a `.npz` file or `fer2013[:split]`, fitted to `input_shape`."""
    import numpy as np

    if spec.endswith(".npz"):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"No dataset file at {spec!r}.")
        data = np.load(spec)
        xk = next((k for k in ("images", "x", "image") if k in data), None)
        yk = next((k for k in ("labels", "y", "label") if k in data), None)
        if xk is None or yk is None:
            raise ValueError(f"{spec} must hold 'images' and 'labels' arrays; it has {list(data.keys())}.")
        x, y = data[xk], data[yk]
        if limit:
            x, y = x[:limit], y[:limit]
        return fit_images(x, input_shape), np.asarray(y).astype(np.int64)
    name, _, split = spec.partition(":")
    if name.lower() != "fer2013":
        raise ValueError(f"Unknown dataset {spec!r}: use a .npz file or fer2013[:Training|PublicTest].")
    x, y = read_fer2013(split or default_split, limit)
    return fit_images(x, input_shape), y


# -- export ----------------------------------------------------------------------------------
def _load_model(args):
    import keras

    from kerasfer import models

    if args.model.endswith(".keras"):
        if not os.path.isfile(args.model):
            raise FileNotFoundError(f"No model file at {args.model!r}.")
        return keras.saving.load_model(args.model, compile=False)
    info = models.get_model_info(args.model)
    kwargs = {}
    if args.weights:
        kwargs["weights"] = args.weights
    if args.num_classes:
        kwargs["num_classes"] = args.num_classes
    if args.input_size:
        size = list(args.input_size)
        h = size[0]
        w = size[1] if len(size) > 1 else h
        c = size[2] if len(size) > 2 else info.input_shape[2]
        kwargs["input_shape"] = (h, w, c)
    return models.create_model(args.model, **kwargs)


def run_export(args) -> int:
    from kerasfer.export import card as card_lib
    from kerasfer.export import evaluate
    from kerasfer.export import tflite

    model = _load_model(args)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    eval_data = None
    if args.eval_dataset:
        eval_data = load_dataset(args.eval_dataset, shape, args.num_eval)
        print(f"evaluation data: {args.eval_dataset}, {len(eval_data[1])} images")
    rep = None
    if "int8" in args.quantization:
        if args.representative_dataset:
            rep = load_dataset(args.representative_dataset, shape, args.num_calibration, "Training")[0]
        elif args.eval_dataset and args.eval_dataset.lower().startswith("fer2013"):
            rep = load_dataset("fer2013:Training", shape, args.num_calibration)[0]
        elif eval_data is not None:
            print("note: calibrating int8 on the evaluation images (pass --representative-dataset to separate them)")
            rep = eval_data[0][: args.num_calibration]
        else:
            print("error: int8 needs --representative-dataset or --eval-dataset", file=sys.stderr)
            return 2
    os.makedirs(args.out, exist_ok=True)
    report = {"model": model.name, "input_shape": list(shape), "variants": []}
    keras_probs = None
    if eval_data is not None:
        keras_probs = evaluate.predict_keras(model, eval_data[0])
        report["keras_top1"] = evaluate.top1_accuracy(keras_probs, eval_data[1])
        report["num_eval"] = int(len(eval_data[1]))
    fp32_bytes = None
    for q in args.quantization:
        path = os.path.join(args.out, f"{model.name}_{q}.tflite")
        kw = {}
        if q == "int8":
            kw = {"inference_input_type": args.io_type, "inference_output_type": args.io_type}
        result = tflite.export_tflite(model, path, q, representative_data=rep, labels=args.labels, progress=print, **kw)
        from kerasfer.export import gpu_check

        row = {
            "quantization": q,
            "path": path,
            "size_bytes": result.size_bytes,
            "gpu_check_classic": result.gpu_report.summary(),
            "gpu_check_mldrift": gpu_check.check(path, target="mldrift", strict_gl=False).summary(),
        }
        if args.strict_gl:
            row["gpu_check_gl"] = gpu_check.check(path, strict_gl=True).summary()
        print(result.gpu_report)
        with open(path, "rb") as f:
            content = f.read()
        if q == "fp32":
            fp32_bytes = content
        if eval_data is not None:
            probs = evaluate.TFLiteRunner(content).predict(eval_data[0])
            row.update(evaluate.compare(keras_probs, probs, eval_data[1]))
            result.card["evaluation"] = {
                "dataset": args.eval_dataset,
                "num_images": report["num_eval"],
                "keras_top1": report["keras_top1"],
                **{k: row[k] for k in ("top1", "top1_agreement", "max_abs_diff", "mean_abs_diff")},
            }
            card_lib.write_card(result.card, result.card_json_path, result.card_markdown_path)
            if q == "int8" and row["top1_agreement"] < AGREEMENT_TARGET:
                ref = fp32_bytes or tflite.convert(model, "fp32")
                row["layer_drift"] = evaluate.layer_drift(ref, content, eval_data[0][:16])[:10]
        report["variants"].append(row)
    report_path = args.report or os.path.join(args.out, f"{model.name}_export_report.json")
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(format_export_report(report))
    print(f"report: {report_path}")
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

    files = list(args.files)
    for f in files:
        if not os.path.isfile(f):
            print(f"error: no such file {f!r}", file=sys.stderr)
            return 2
    if args.models:
        files += _export_for_bench(args)
    if not files:
        print("error: give .tflite files or --models", file=sys.stderr)
        return 2
    rows = []
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
            tflite.export_tflite(model, path, q, representative_data=rep if q == "int8" else None, count_macs=False)
            paths.append(path)
        keras.backend.clear_session()
    return paths
