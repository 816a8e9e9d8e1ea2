"""`kerasfer demo`: the main job in one command (the README's `make demo`).

Trains LFNSB briefly on the download-free `synthetic_faces` dataset, evaluates it on the test
split (JSON report, Markdown summary, confusion-matrix PNG), exports it to TFLite, and prints
where everything is. `--quick` uses CI-sized settings (well under a minute).
"""

from __future__ import annotations

import os
import time

# name -> settings; "full" takes a few minutes on a 2-core CPU
SETTINGS = {
    "full": {
        "input_size": 48,
        "epochs": 4,
        "max_train_examples": 1400,
        "max_val_examples": 210,
        "max_test_examples": 700,
        "batch_size": 32,
        "learning_rate": 0.05,
    },
    "quick": {
        "input_size": 32,
        "epochs": 1,
        "max_train_examples": 56,
        "max_val_examples": 14,
        "max_test_examples": 28,
        "batch_size": 14,
        "learning_rate": 0.01,
    },
}


def run_demo(output="runs/demo", quick=False, epochs=None, export=True, quantization="fp16", verbose=1, say=print):
    """Runs the demo; returns a dict of the paths written and the figures measured."""
    import keras

    from kerasfer.run_files import REPORT_FILE
    from kerasfer.run_files import run_paths
    from kerasfer.training.config import TrainConfig
    from kerasfer.training.evaluate import evaluate
    from kerasfer.training.metrics import require_plotting
    from kerasfer.training.trainer import train

    require_plotting()  # the report ends with a plot: a missing matplotlib fails now, not after the training
    s = dict(SETTINGS["quick" if quick else "full"])
    if epochs:
        s["epochs"] = int(epochs)
    t0 = time.time()
    run_dir = os.path.join(output, "run")
    if os.path.exists(run_paths(run_dir)["config"]):
        say(f"Replacing the previous demo run in {run_dir}.")
    size = s["input_size"]
    config = TrainConfig(
        model="lfnsb",
        dataset="synthetic_faces",
        input_shape=(size, size, 3),
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        max_train_examples=s["max_train_examples"],
        max_val_examples=s["max_val_examples"],
        val_split="validation",
        optimizer="sgd",
        learning_rate=s["learning_rate"],
        momentum=0.9,
        weight_decay=1e-4,
        schedule="cosine",
        warmup_epochs=0 if quick else 1,
        loss="ce",
        augment="flip",
        jit_compile=False,  # XLA's compile time on CPU outweighs its gain over a few epochs
        output_dir=run_dir,
        on_existing="overwrite",
        verbose=verbose,
    )
    say(
        f"[1/3] Training LFNSB at {size}x{size} on {s['max_train_examples']} synthetic_faces images for "
        f"{s['epochs']} epoch(s) on the {keras.backend.backend()} backend ..."
    )
    result = train(config)
    say(f"      done in {result.elapsed_s:.0f} s; model: {result.model_path}")

    say("[2/3] Evaluating on the test split ...")
    report_path = os.path.join(output, REPORT_FILE)
    report = evaluate(
        result.model,
        dataset="synthetic_faces",
        split="test",
        batch_size=64,
        max_examples=s["max_test_examples"],
        output=report_path,
        class_names=result.class_names,
    )
    report["weights"] = result.model_path
    chance = 1.0 / report["num_classes"]
    say(
        f"      test accuracy {100 * report['accuracy']:.1f}% (chance {100 * chance:.1f}%), "
        f"mean class accuracy {100 * report['mean_class_accuracy']:.1f}%, macro-F1 {100 * report['macro_f1']:.1f}%"
    )

    tflite_path = None
    export_note = None
    if export:
        say(f"[3/3] Exporting to TFLite ({quantization}) ...")
        tflite_path, export_note = _export(result, output, quantization)
        say(f"      {tflite_path} ({export_note})" if tflite_path else f"      skipped: {export_note}")
    else:
        export_note = "export skipped (--no-export)"

    elapsed = time.time() - t0
    say("")
    say(f"Demo finished in {elapsed / 60:.1f} min. Everything is under {os.path.abspath(output)}:")
    say(f"  trained model      {result.model_path}")
    say(f"  run (config, logs) {result.output_dir}")
    say(f"  report (JSON)      {report_path}")
    say(f"  summary (Markdown) {report['summary_md']}")
    say(f"  confusion matrix   {report['confusion_png']}")
    if tflite_path:
        say(f"  TFLite model       {tflite_path}")
    return {
        "model_path": result.model_path,
        "run_dir": result.output_dir,
        "report_path": report_path,
        "summary_md": report["summary_md"],
        "confusion_png": report["confusion_png"],
        "tflite_path": tflite_path,
        "export_note": export_note,
        "accuracy": report["accuracy"],
        "chance": chance,
        "elapsed_s": elapsed,
        "settings": s,
    }


def _export(result, output, quantization):
    import keras

    if keras.backend.backend() != "tensorflow":
        return None, f"TFLite export needs the TensorFlow backend (running on {keras.backend.backend()})"
    from kerasfer.export.tflite import export_tflite

    path = os.path.join(output, f"lfnsb_{quantization}.tflite")
    exported = export_tflite(
        result.model, path, quantization=quantization, labels=list(result.class_names), source=result.output_dir
    )
    gpu = exported.gpu_report
    verdict = "passes" if gpu is not None and gpu.ok else "FAILS"
    note = f"{exported.size_bytes:,} bytes; GPU-delegate check {verdict}; card {exported.card_markdown_path}"
    return exported.path, note


def register(sub):
    p = sub.add_parser("demo", help="train LFNSB briefly on synthetic faces, evaluate, export to TFLite")
    p.add_argument("--output", "-o", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="CI-sized settings (under a minute)")
    p.add_argument("--epochs", type=int, help="override the number of epochs")
    p.add_argument("--no-export", action="store_true", help="skip the TFLite export")
    p.add_argument("--quantization", default="fp16", help="fp32, fp16, dynamic or int8 (default fp16)")
    p.set_defaults(func=_run)


def _run(args):
    from kerasfer.training.args import _is_terminal

    run_demo(  # errors go to the `kerasfer` error boundary: one line, `kerasfer demo: error: ...`
        args.output,
        quick=args.quick,
        epochs=args.epochs,
        export=not args.no_export,
        quantization=args.quantization,
        verbose=1 if _is_terminal() and not args.quick else 2,  # a log file gets one line per epoch, no ANSI bar
    )
    return 0
