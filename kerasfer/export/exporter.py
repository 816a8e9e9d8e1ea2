"""`export_model`: a trained model exported to TFLite, checked and measured, in one call.

What `kerasfer export` does, as a library function (the command only parses, calls this and prints): load the model
(`kerasfer.models.load_model_and_weights`: a run directory, a `.keras` / `.weights.h5` file, a packaged name or a
registry name), refuse to replace files another source exported into the same folder, load the evaluation and
int8 calibration images (`kerasfer.export.evaluate.load_eval_data`), write one `.tflite` per quantization with its
labels and model card (`kerasfer.export.tflite.export_tflite`), compare each variant with the Keras model on the
evaluation images and record that in its card, list where an int8 variant under `AGREEMENT_TARGET` drifts from
float, and write the report as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings

# An int8 variant agreeing with the Keras model on fewer top-1 answers gets a layer-by-layer drift report.
AGREEMENT_TARGET = 0.99
DEFAULT_QUANTIZATIONS = ("fp32", "fp16")


class UntrainedModelWarning(UserWarning):
    """The exported model has random weights (a bare registry name): its exports predict nothing useful."""


@dataclasses.dataclass
class ExportRun:
    """What `export_model` wrote and measured.

    Attributes:
        report: the report (also written to `report_path`): `model`, `source`, `input_shape`, `variants` (one row
            per quantization: `quantization`, `path`, `size_bytes`, the GPU checks and, with evaluation images,
            `top1`, `top1_agreement`, `max_abs_diff`, `mean_abs_diff`, `layer_drift`), `keras_top1`, `num_eval`.
        report_path: the JSON report's path.
        loaded: the `kerasfer.models.TrainedModel` exported.
    """

    report: dict
    report_path: str
    loaded: object

    @property
    def paths(self) -> list:
        """The `.tflite` files written, in the order of the quantizations."""
        return [v["path"] for v in self.report["variants"]]


def export_model(
    model=None,
    weights=None,
    *,
    out="exported",
    quantization=DEFAULT_QUANTIZATIONS,
    io_type: str = "float32",
    float_ops=(),
    outlier_ratio: float | None = 10.0,
    eval_dataset: str | None = None,
    num_eval: int = 500,
    representative_dataset: str | None = None,
    num_calibration: int = 200,
    manual_dir=None,
    data_dir=None,
    labels=None,
    num_classes: int | None = None,
    input_shape=None,
    strict_gl: bool = False,
    report_path=None,
    overwrite: bool = False,
    progress=None,
) -> ExportRun:
    """Exports a trained model to `.tflite` variants with their labels and cards, evaluates and reports them.

    Args:
        model, weights: what `kerasfer.models.load_model_and_weights` takes; a bare registry name exports an
            untrained model, with an `UntrainedModelWarning`.
        out: the output folder; `<out>/<model>_<quantization>.tflite` (+ `.labels.txt`, `.card.json`, `.card.md`).
        quantization: the variants (`kerasfer.export.tflite.QUANTIZATIONS`).
        io_type, float_ops: int8 only: the model's input/output type and the ops kept in float32.
        outlier_ratio: int8 only: leave out calibration images whose activations exceed this many times the
            median image's (`kerasfer.export.tflite.calibration_outliers`); None keeps every image.
        eval_dataset: evaluation images, a `.npz` (`images`, `labels`) or `DATASET[:SPLIT]`; None: no evaluation.
        num_eval: evaluation images at most.
        representative_dataset: int8 calibration images (same formats; default: `eval_dataset`'s `train` split, or
            the evaluation images themselves for a `.npz`).
        num_calibration: calibration images at most.
        manual_dir, data_dir: for the TFDS datasets.
        labels, num_classes, input_shape: as `load_model_and_weights` takes them.
        strict_gl: also check OpenGL-fallback portability (rule L11).
        report_path: the JSON report (default `<out>/<model>_export_report.json`).
        overwrite: replace files in `out` that another source exported (refused otherwise).
        progress: optional `print`-like callable for progress lines.

    Returns:
        An `ExportRun`.

    Raises:
        ValueError: arguments that do not fit (int8 without calibration images, counts under 1, ...).
        FileExistsError: `out` holds files exported from another source and `overwrite` is False.
    """
    from kerasfer.export import card as card_lib
    from kerasfer.export import evaluate
    from kerasfer.export import gpu_check
    from kerasfer.export import tflite
    from kerasfer.models.loading import load_model_and_weights
    from kerasfer.paths import check_output_file
    from kerasfer.paths import check_output_folder

    say = progress or (lambda *a: None)
    quantization = list(quantization or DEFAULT_QUANTIZATIONS)
    for flag, value in (("--num-eval", num_eval), ("--num-calibration", num_calibration)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}.")
    out = os.fspath(out)
    check_output_folder(out, flag="--out")
    if report_path:
        check_output_file(report_path, suffixes=(".json",), flag="--report")
    if "int8" in quantization and not (representative_dataset or eval_dataset):
        raise ValueError("int8 needs calibration images: --representative-dataset or --eval-dataset.")
    if not model and not weights:
        raise ValueError("Give the model to export: --model (a run directory, .keras file, packaged name, ...).")
    loaded = load_model_and_weights(model, weights, num_classes=num_classes, input_shape=input_shape, labels=labels,
                                    allow_untrained=True)  # fmt: skip
    net = loaded.model
    report_path = os.fspath(report_path or os.path.join(out, f"{net.name}_export_report.json"))
    paths = [os.path.join(out, f"{net.name}_{q}.tflite") for q in quantization]
    clashes = [] if overwrite else card_lib.export_clashes(paths, loaded.source, [report_path])
    if clashes:
        names = ", ".join(os.path.basename(p) for p, _ in clashes)
        origins = sorted({str(theirs) for _, theirs in clashes if theirs} or {"an unknown source"})
        raise FileExistsError(
            f"--out {out} already holds {names}, exported from {' and '.join(origins)}, not from "
            f"{loaded.source}: give another --out, or --overwrite to replace them."
        )
    if not loaded.trained:
        warnings.warn(
            f"{loaded.source} is an untrained model (random weights): its exports predict nothing useful; give "
            "trained weights (--weights or a run directory) for a real model.",
            UntrainedModelWarning,
            stacklevel=2,
        )
    shape = loaded.input_shape
    data_kw = {"data_dir": data_dir, "manual_dir": manual_dir}
    eval_data = None
    if eval_dataset:
        say(f"loading evaluation data {eval_dataset} ...")
        eval_data = evaluate.load_eval_data(eval_dataset, shape, num_eval, **data_kw)
        say(f"evaluation data: {eval_dataset}, {len(eval_data[1])} images")
    rep = None
    if "int8" in quantization:
        n = num_calibration
        if representative_dataset:
            rep = evaluate.load_eval_data(representative_dataset, shape, n, default_split="train", **data_kw)[0]
        elif not eval_dataset.endswith(".npz"):  # calibrate on the same dataset's training split
            name = eval_dataset.partition(":")[0]
            rep = evaluate.load_eval_data(f"{name}:train", shape, n, **data_kw)[0]
        else:
            say("note: calibrating int8 on the evaluation images (pass --representative-dataset to separate them)")
            rep = eval_data[0][:n]
    report = {"model": net.name, "source": loaded.source, "input_shape": list(shape), "variants": []}
    keras_probs = None
    if eval_data is not None:
        say("running the Keras model on the evaluation images ...")
        keras_probs = evaluate.predict_keras(net, eval_data[0])
        report["keras_top1"] = evaluate.top1_accuracy(keras_probs, eval_data[1])
        report["num_eval"] = int(len(eval_data[1]))
    fp32_bytes = None
    for q, path in zip(quantization, paths):
        kw = {}
        if q == "int8":  # calibrate on every image loaded (the config's own cap is 200)
            kw = {"inference_input_type": io_type, "inference_output_type": io_type,
                  "quantization_steps": len(rep), "float_ops": float_ops, "outlier_ratio": outlier_ratio}  # fmt: skip
        result = tflite.export_tflite(net, path, q, representative_data=rep, labels=loaded.labels, progress=say,
                                      source=loaded.source, **kw)  # fmt: skip
        row = {
            "quantization": q,
            "path": path,
            "size_bytes": result.size_bytes,
            "gpu_check_classic": result.gpu_report.summary(),
            "gpu_check_mldrift": gpu_check.check(path, target="mldrift", strict_gl=False).summary(),
        }
        if q == "int8":  # how the calibration images were screened (`QuantizationConfig.describe`)
            row["calibration"] = {k: v for k, v in result.card["quantization"].items() if k.startswith("calibration_")}
        if strict_gl:
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
                "dataset": eval_dataset,
                "num_images": report["num_eval"],
                "keras_top1": report["keras_top1"],
                **{k: row[k] for k in ("top1", "top1_agreement", "max_abs_diff", "mean_abs_diff")},
            }
            card_lib.write_card(result.card, result.card_json_path, result.card_markdown_path)
            if q == "int8" and row["top1_agreement"] < AGREEMENT_TARGET:
                say("int8 agreement under 99%: measuring the drift layer by layer ...")
                ref = fp32_bytes or _fp32_reference(net, loaded.labels)
                row["layer_drift"] = evaluate.layer_drift(ref, content, eval_data[0][:16])[:10]
        report["variants"].append(row)
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return ExportRun(report=report, report_path=report_path, loaded=loaded)


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


__all__ = ["AGREEMENT_TARGET", "ExportRun", "UntrainedModelWarning", "export_model"]
