"""Packages a finished `kerasfer train` run as weights shipped inside kerasfer, with its model card.

    python tools/package_weights.py RUN_DIR --name fer2013 \\
        --manual-dir DIR [--data-dir TFDS_DIR] [--half] [--skip-bench]

Steps (each the library function behind a `kerasfer` command, so that every figure in the card comes
from what a user's command gives):

1. writes `kerasfer/weights/<model>_<name>.weights.h5` from `RUN_DIR/model.keras` (`--half`
   stores float16, loaded back into float32 variables) and a first card
   `kerasfer/weights/<model>_<name>.json` (build arguments, labels, preprocessing, training);
2. `kerasfer evaluate --model <model> --weights <name>` on the run's validation split, without and
   with test-time augmentation (`--tta flip` and `--tta crops`);
3. `kerasfer export --model <model> --weights <name> --quantization fp32 fp16 int8
   --eval-dataset <...>` (top-1, agreement with Keras, GPU-delegate check);
4. `kerasfer bench` on the exported files (LiteRT latency, 1 and 2 threads, XNNPACK);
5. completes the card (`.json` and `.md`) with all of it. `tools/make_model_table.py` then
   writes the README's results table from the cards.

The work files (reports, `.tflite`s) go to `--work-dir` (default `RUN_DIR/package`).

`--refresh MODEL --name NAME --work-dir DIR` (no run directory) repeats steps 2-5 on weights already packaged, for
figures measured again on a quieter machine; the weights and the card's training record are left as they are.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import sys

from kerasfer import pretrained
from kerasfer import run_files
from kerasfer.paths import file_sha256
from kerasfer.paths import replaced_when_done
from kerasfer.training import batchnorm

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parent.parent

DATA_TERMS = {
    "fer2013": (
        "FER2013 (Goodfellow et al., ICML 2013 Challenges in Representation Learning; distributed on Kaggle): "
        "research use. Trained on the Training split only; PublicTest was used to pick the best epoch."
    ),
    "ferplus": (
        "FER2013 images (research use) with Microsoft's FER+ labels (MIT licence). Trained on the Training "
        "split only; PublicTest was used to pick the best epoch."
    ),
}


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"


def save_packaged(model, model_name: str, weights_path: pathlib.Path, half: bool, model_kwargs: dict):
    """Writes `model`'s weights to `weights_path` in the layout `create_model(model_name, weights=...)` loads
    (`half`: float16) and checks the file reproduces `model`. Returns `(the clean registered model, max abs
    probability difference on noise images)`."""
    import numpy as np

    from kerasfer.models import create_model

    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    num_classes = int(model.outputs[0].shape[-1])
    weights_path.parent.mkdir(exist_ok=True)
    # A clean registered model, so the file has exactly the layout `create_model(..., weights=name)` loads.
    clean = create_model(model_name, num_classes=num_classes, input_shape=input_shape, **model_kwargs)
    clean.set_weights(model.get_weights())
    # Written beside the packaged file and renamed only once it is checked: a failed check leaves the weights
    # (and the card, written after) as they were.
    with replaced_when_done(weights_path) as tmp:
        clean.save_weights(tmp)
        if half:
            from kerasfer.models.weights import to_half_precision

            to_half_precision(tmp)
        # Check the packaged file reproduces the model, on noise images (the harshest inputs): float16
        # storage moves the probabilities of a deep network by up to about 1e-2 there (LFNSB: 8.9e-3).
        check = create_model(model_name, num_classes=num_classes, input_shape=input_shape, **model_kwargs)
        check.load_weights(tmp)
        x = np.random.default_rng(0).uniform(0, 255, (8, *input_shape)).astype("float32")
        diff = float(np.abs(model.predict(x, verbose=0) - check.predict(x, verbose=0)).max())
        tol = 2e-2 if half else 1e-5
        if diff > tol:
            raise RuntimeError(f"Packaged weights differ from the model by {diff:.2e} (> {tol}).")
    return clean, diff


def recalibrate_packaged(card: dict, batches: int, data: dict) -> dict:
    """Recomputes the BatchNorm statistics of the packaged weights `card` describes, over its training split
    (`kerasfer.training.batchnorm.recalibrate_model`, with the card's training configuration and this machine's
    data folders); when kept, writes the weights again and updates the card's file fields. Returns the record,
    which the card keeps under `training.batchnorm_recalibration`."""
    from kerasfer.models import create_model
    from kerasfer.training.config import TrainConfig

    t = card["training"]
    if t.get("batchnorm_recalibration"):
        raise ValueError(f"{card['model']}/{card['name']} has already recomputed its BatchNorm statistics (card).")
    config = TrainConfig.from_dict({**t["config"], **data, "recalibrate_bn": int(batches)})
    model = create_model(card["model"], weights=card["name"])
    record = batchnorm.recalibrate_model(model, config)
    if record["kept"]:
        path = pretrained.weights_path(card["model"], card["name"])
        build = {k: v for k, v in card["build"].items() if k not in ("num_classes", "input_shape")}
        _, diff = save_packaged(model, card["model"], path, card["dtype"] == "float16", build)
        card.update(size_bytes=path.stat().st_size, sha256=file_sha256(path))
        card["packaged"]["diff_vs_recalibrated_model"] = diff
    t["batchnorm_recalibration"] = record
    return record


def write_weights(run_dir: pathlib.Path, name: str, half: bool) -> tuple[dict, pathlib.Path]:
    import keras

    import kerasfer  # noqa: F401
    from kerasfer.export import card as card_lib
    from kerasfer.utils import count_macs
    from kerasfer.utils import count_params

    files = run_files.run_paths(run_dir)
    config = _run_config(run_dir)
    prep = run_files.load_preprocessing(run_dir) or {}
    labels = run_files.read_labels(files["labels"])
    model = keras.saving.load_model(files["model"], compile=False)
    model_name = config["model"]
    model_kwargs = dict(config.get("model_kwargs") or {})
    input_shape = [int(d) for d in model.inputs[0].shape[1:]]
    num_classes = int(model.outputs[0].shape[-1])
    if len(labels) != num_classes:
        raise ValueError(f"{files['labels']} has {len(labels)} names for a {num_classes}-class model.")

    weights_path = pretrained.weights_path(model_name, name)
    clean, diff = save_packaged(model, model_name, weights_path, half, model_kwargs)

    result = _read_if_there(files["result"])
    history = _read_if_there(files["history"])
    dataset_key = config["dataset"].split("/")[0]
    card = {
        "model": model_name,
        "name": name,
        "file": weights_path.name,
        "dtype": "float16" if half else "float32",
        "size_bytes": weights_path.stat().st_size,
        "sha256": file_sha256(weights_path),
        "build": {"num_classes": num_classes, "input_shape": input_shape, **model_kwargs},
        "labels": labels,
        "preprocessing": {
            "input_shape": input_shape,
            "channels": input_shape[-1],
            "input_range": "raw pixels in [0, 255]; the model normalises them itself",
            "normalization": card_lib.normalization_of(clean),
            "resize": prep.get("resize", "bilinear"),
            "face_crop": (
                "the dataset's 48x48 face crops, resized to the input. At prediction time kerasfer.FER aligns "
                "faces with the ArcFace five-point template (align_margin 0): FER2013 faces measure 1.12x the "
                "ArcFace template's scale (MTCNN found 254 of 300 PublicTest faces), so margin 0 is the closest "
                "crop a margin >= 0 gives"
            ),
            "align_margin": 0.0,
        },
        "params": count_params(clean),
        "macs": count_macs(clean),
        "training": {
            "dataset": config["dataset"],
            "train_split": config.get("train_split", "train"),
            "selection_split": "validation (FER2013 PublicTest)",
            "preset": config.get("preset"),
            # one command per stage: a run started with --init-weights from an earlier run follows it
            "commands": train_commands(run_dir),
            # the run's configuration with this machine's folders replaced by the placeholders of "command"
            "config": {**config, "manual_dir": "DIR" if config.get("manual_dir") else None, "output_dir": "RUN"},
            "epochs_run": len(history.get("loss", [])) or None,
            "stage_epochs": stage_epochs(run_dir),
            "best_val_accuracy": max(history["val_accuracy"]) if history.get("val_accuracy") else None,
            "batchnorm_recalibration": result.get("batchnorm_recalibration"),
            "result": {**result, "model_path": f"RUN/{run_files.MODEL_FILE}"} if result else {},
        },
        "data_terms": DATA_TERMS.get(dataset_key, f"Trained on {config['dataset']}; see that dataset's terms."),
        "packaged": {
            "date": datetime.date.today().isoformat(),
            "machine": _machine(),
            "diff_vs_run_model": diff,
        },
    }
    pretrained.write_card(card)
    return card, weights_path


def _run_config(run_dir) -> dict:
    """The run's `config.json`; a clear error when `run_dir` is not a run."""
    config = run_files.read_run_config(run_dir)
    if config is None:
        raise FileNotFoundError(f"{run_dir} is not a kerasfer run (no {run_files.CONFIG_FILE}).")
    return config


def _read_if_there(path) -> dict:
    return run_files.read_json(path) if os.path.exists(path) else {}


def run_accuracy(result: dict, history: dict) -> float:
    """The validation accuracy of the run's final model: its best epoch's, or the one measured after its BatchNorm
    statistics were recomputed (`kerasfer.training.batchnorm`) when those were kept."""
    recal = result.get("batchnorm_recalibration") or {}
    if recal.get("kept") and recal.get("val_accuracy_after") is not None:
        return float(recal["val_accuracy_after"])
    return float(max(history["val_accuracy"]))


def compare_with_packaged(run_dir: pathlib.Path, name: str) -> dict:
    """Whether the run's best validation accuracy beats the packaged `<model>/<name>` weights.

    Returns `{"better": bool, "run": float, "packaged": float | None, "message": str}`. The packaged side is its
    card's `kerasfer evaluate` accuracy on the same split (the training record's best validation accuracy for a
    card without one); with no packaged weights of that name, any run is better.
    """
    from kerasfer.models.weights import packaged_card

    config = _run_config(run_dir)
    history = _read_if_there(run_files.run_paths(run_dir)["history"])
    if not history.get("val_accuracy"):
        raise ValueError(f"{run_dir} has no validation accuracy in {run_files.HISTORY_FILE}: nothing to compare.")
    run_acc = run_accuracy(_read_if_there(run_files.run_paths(run_dir)["result"]), history)
    card = packaged_card(config["model"], name)
    if card is None:
        return {
            "better": True,
            "run": run_acc,
            "packaged": None,
            "message": f"no packaged {config['model']}/{name} yet",
        }
    packaged = (card.get("evaluation") or {}).get("accuracy") or card["training"].get("best_val_accuracy")
    better = packaged is None or run_acc > packaged
    verdict = "packaging it" if better else "keeping the packaged weights and card unchanged"
    return {
        "better": better,
        "run": run_acc,
        "packaged": packaged,
        "message": f"{run_dir.name}: best validation accuracy {_pct(run_acc)}, packaged {config['model']}/{name} "
        f"{_pct(packaged)}: {verdict}",
    }


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


# TrainConfig fields a card's command leaves out: this machine's folders and how the run was shown.
_NOT_IN_COMMAND = ("manual_dir", "data_dir", "output_dir", "verbose", "preset", "init_weights", "on_existing")


def _stages(run_dir: pathlib.Path) -> list:
    """The run folders that made `run_dir`, earliest first (each stage's `init_weights` names the one before)."""
    chain = [pathlib.Path(run_dir)]
    while True:
        previous = _run_config(chain[0]).get("init_weights")
        if not previous or run_files.read_run_config(previous) is None or len(chain) > 20:
            return chain
        chain.insert(0, pathlib.Path(previous))


def _origin_card(stages) -> dict | None:
    """The card of the packaged weights the first stage started from (`--init-weights resnet18_small/fer2013`),
    or None: those weights' own stages come before this run's."""
    from kerasfer.models.loading import split_packaged_name

    init = _run_config(stages[0]).get("init_weights")
    found = split_packaged_name(init) if isinstance(init, str) else None
    if not found:
        return None
    from kerasfer.models.weights import packaged_card

    return packaged_card(*found)


def stage_epochs(run_dir) -> list:
    """Epochs run by each stage, earliest first, the packaged weights' own stages included."""
    stages = _stages(run_dir)
    origin = (_origin_card(stages) or {}).get("training", {})
    return list(origin.get("stage_epochs") or ([origin["epochs_run"]] if origin.get("epochs_run") else [])) + [
        _epochs_run(d) for d in stages
    ]


def _epochs_run(run_dir) -> int:
    return len(_read_if_there(run_files.run_paths(run_dir)["history"]).get("loss", []))


def _flag_spellings() -> dict:
    """`{TrainConfig field: (flag, action)}` from the `kerasfer train` parser itself."""
    from kerasfer import cli

    parser = cli.build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    return {a.dest: (max(a.option_strings, key=len) if a.dest != "learning_rate" else "--lr", a)
            for a in train._actions if a.option_strings}  # fmt: skip


def _flag(field, value, spellings) -> str:
    if field == "input_shape":
        return f"--input-size {'x'.join(str(int(v)) for v in value)}"
    if field == "jit_compile":
        return {True: "--jit", False: "--no-jit"}.get(value, "")
    flag, action = spellings[field]
    if action.nargs == 0:  # store_true
        return flag if value else ""
    if isinstance(value, dict):
        return f"{flag} '{json.dumps(value)}'"
    if isinstance(value, list):  # an "append" flag (--distill-from): once per value
        return " ".join(f"{flag} {v}" for v in value)
    return f"{flag} {'none' if value is None else value}"


def train_commands(run_dir) -> list:
    """The `kerasfer train` command of each stage of `run_dir`, as a user reruns them.

    Stage k writes `RUN<k>` (the last one `RUN`) and starts from `RUN<k-1>` when it was made with
    `--init-weights`; `DIR` is the folder of the dataset's files. A first stage started from packaged
    weights follows their card's own commands. Settings are spelled as flags only
    where they differ from the preset's.
    """
    from kerasfer.training.config import TrainConfig
    from kerasfer.training.presets import preset_dict

    stages = _stages(run_dir)
    spellings = _flag_spellings()
    origin = (_origin_card(stages) or {}).get("training", {})
    commands = list(origin.get("commands") or ([origin["command"]] if origin.get("command") else []))
    if commands:  # the packaged weights' last stage wrote RUN; here it is one stage among more
        commands[-1] = re.sub(r"--output RUN$", f"--output RUN{len(commands)}", commands[-1])
    offset = len(commands)
    for k, stage in enumerate(stages, start=offset):
        config = _run_config(stage)
        preset = config.get("preset")
        base = TrainConfig(**preset_dict(preset)).to_dict() if preset else TrainConfig().to_dict()
        parts = ["kerasfer train", f"--preset {preset}" if preset else ""]
        if config.get("manual_dir"):
            parts.append("--manual-dir DIR")
        for field, value in config.items():
            if field not in _NOT_IN_COMMAND and field in base and value != base[field]:
                parts.append(_flag(field, value, spellings))
        if k:
            parts.append(f"--init-weights {'RUN' + str(k)}")
        parts.append(f"--output {'RUN' if k == offset + len(stages) - 1 else 'RUN' + str(k + 1)}")
        commands.append(" ".join(p for p in parts if p))
    return commands


_EVALUATION_KEYS = ("dataset", "split", "num_examples", "accuracy", "mean_class_accuracy", "macro_f1",
                    "roc_auc_ovr_macro", "per_class", "confusion_matrix")  # fmt: skip


def evaluate_card(card: dict, work: pathlib.Path, split: str, data: dict) -> None:
    """Step 2: `kerasfer evaluate` of the packaged weights (`kerasfer.training.evaluate.evaluate`), without and with
    test-time augmentation, into `card["evaluation"]` and `card["evaluation_tta"]`; reports go to `work`."""
    from kerasfer.training.evaluate import evaluate

    model, name, dataset = card["model"], card["name"], card["training"]["dataset"]
    shown = ["kerasfer", "evaluate", "--model", model, "--weights", name, "--dataset", dataset, "--manual-dir", "DIR",
             "--split", split, "--output", "report.json"]  # fmt: skip
    reports = {}
    for mode, output in (("none", "evaluate.json"), ("flip", "evaluate_tta_flip.json"),
                         ("crops", "evaluate_tta_crops.json")):  # fmt: skip
        print(
            "$", " ".join(shown[:-1] + [str(work / output)] + ([] if mode == "none" else ["--tta", mode])), flush=True
        )
        reports[mode] = evaluate(model, weights=name, dataset=dataset, split=split, output=str(work / output),
                                 tta=mode, progress=lambda line: print(line, flush=True), **data)  # fmt: skip
    card["evaluation"] = {"command": " ".join(shown), **{k: reports["none"].get(k) for k in _EVALUATION_KEYS}}
    card["evaluation_tta"] = {
        mode: {
            "command": " ".join([*shown, "--tta", mode]),
            "views_per_image": reports[mode]["tta_views"],
            **{k: reports[mode].get(k) for k in ("accuracy", "mean_class_accuracy", "macro_f1")},
        }
        for mode in ("flip", "crops")
    }


def tflite_card(card: dict, work: pathlib.Path, split: str, data: dict, bench: bool = True, num_eval=100000) -> None:
    """Steps 3 and 4: `kerasfer export` of the packaged weights to fp32, fp16 and int8 (`kerasfer.export.export_model`,
    evaluated on `split`) and `kerasfer bench` of the files (`kerasfer.export.bench.benchmark`) into
    `card["tflite"]`; the files and reports go to `work`."""
    from kerasfer.export import bench as bench_lib
    from kerasfer.export.exporter import export_model

    model, name, dataset = card["model"], card["name"], card["training"]["dataset"]
    eval_spec = f"{dataset}:{split}"
    export_dir = work / "export"
    print(f"$ kerasfer export --model {model} --weights {name} --quantization fp32 fp16 int8 --eval-dataset "
          f"{eval_spec} --num-eval {num_eval} --num-calibration 500 --out {export_dir}", flush=True)  # fmt: skip
    report = export_model(model, name, quantization=("fp32", "fp16", "int8"), eval_dataset=eval_spec,
                          num_eval=num_eval, num_calibration=500, out=export_dir,
                          progress=lambda *a: print(*a, flush=True), **data).report  # fmt: skip
    variants = []
    for v in report["variants"]:
        variants.append(
            {
                "quantization": v["quantization"],
                "size_bytes": v["size_bytes"],
                "top1": v.get("top1"),
                "top1_agreement": v.get("top1_agreement"),
                "max_abs_diff": v.get("max_abs_diff"),
                "gpu_ok": bool(v["gpu_check_classic"].get("ok", v["gpu_check_classic"].get("passed"))),
                "path": v["path"],
                **({"calibration": v["calibration"]} if "calibration" in v else {}),
            }
        )
    if bench:
        paths = [v["path"] for v in variants]
        print(f"$ kerasfer bench {' '.join(paths)} --threads 1 2 --xnnpack on --runs 300", flush=True)
        rows = [r for path in paths for r in bench_lib.benchmark(path, threads=(1, 2), xnnpack=(True,), runs=300)]
        print(bench_lib.format_table(rows), flush=True)
        bench_lib.write_json(rows, work / "bench.json")
        for v in variants:
            stem_v = pathlib.Path(v["path"]).stem
            v["latency"] = [{k: r[k] for k in ("threads", "median_ms", "p90_ms")} for r in rows if r["model"] == stem_v]
    previous = {v["quantization"]: v.get("latency") for v in (card.get("tflite") or {}).get("variants", [])}
    kept_latency = not bench and any(previous.get(v["quantization"]) for v in variants)
    for v in variants:
        v.pop("path")
        if kept_latency and previous.get(v["quantization"]):  # same architecture: the earlier timing still holds
            v["latency"] = previous[v["quantization"]]
    card["tflite"] = {
        "command": f"kerasfer export --model {model} --weights {name} --quantization fp32 fp16 int8 "
        f"--eval-dataset {eval_spec} --manual-dir DIR --num-eval 100000 --num-calibration 500",
        "bench_command": "kerasfer bench <exported .tflite files> --threads 1 2 --xnnpack on --runs 300",
        "eval_images": report.get("num_eval"),
        "keras_top1": report.get("keras_top1"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        **(
            {"latency_note": "latency from the card's earlier measurement (--skip-bench; same architecture)"}
            if kept_latency
            else {}
        ),  # fmt: skip
        "variants": variants,
    }


def _data_dirs(args) -> dict:
    return {
        "manual_dir": os.path.abspath(args.manual_dir),
        "data_dir": args.data_dir and os.path.abspath(args.data_dir),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=pathlib.Path, nargs="?", help="a finished `kerasfer train` output directory")
    p.add_argument(
        "--refresh", metavar="MODEL",
        help="measure the packaged MODEL/--name weights again (steps 2-5, e.g. on a quieter machine) instead of "
        "packaging a run; the weights and the training record stay as they are",
    )  # fmt: skip
    p.add_argument("--name", required=True, help="weights name, e.g. fer2013 or ferplus")
    p.add_argument("--manual-dir", required=True, help="the dataset's manual-download folder")
    p.add_argument("--split", default="validation", help="evaluation split (default validation = PublicTest)")
    p.add_argument("--data-dir", help="TFDS data directory (default: TFDS's)")
    p.add_argument("--half", action="store_true", help="store float16 weights")
    p.add_argument("--skip-bench", action="store_true")
    p.add_argument("--work-dir", type=pathlib.Path, default=None)
    p.add_argument(
        "--if-better", action="store_true",
        help="package the run only when its best validation accuracy beats the packaged weights' accuracy; "
        "otherwise leave every file as it is (exit 0)",
    )  # fmt: skip
    p.add_argument(
        "--recalibrate-bn", type=int, metavar="BATCHES",
        help="first recompute the BatchNorm statistics over this many un-augmented training batches, kept when "
        "the validation accuracy does not drop (`kerasfer.training.batchnorm`): a run's (skipped when the run did "
        f"so itself; default {batchnorm.DEFAULT_BATCHES}) or, with --refresh, the packaged weights' (default: off); "
        "0: off",
    )  # fmt: skip
    args = p.parse_args(argv)

    if (args.run_dir is None) == (args.refresh is None):
        p.error("give a run directory, or --refresh MODEL for packaged weights")
    if args.refresh:
        from kerasfer.models.weights import packaged_card

        card = packaged_card(args.refresh, args.name)
        if card is None:
            p.error(f"no packaged weights {args.refresh}/{args.name} ({pretrained.card_path(args.refresh, args.name)})")
        if args.work_dir is None:
            p.error("--refresh needs --work-dir (there is no run directory to write into)")
        card["packaged"]["measured"] = {
            "date": datetime.date.today().isoformat(),
            "machine": _machine(),
        }
        if args.recalibrate_bn:
            print(f"$ recomputing BatchNorm statistics over {args.recalibrate_bn} training batches ...", flush=True)
            print(batchnorm.describe(recalibrate_packaged(card, args.recalibrate_bn, _data_dirs(args))), flush=True)
    else:
        result = _read_if_there(run_files.run_paths(args.run_dir)["result"])
        batches = batchnorm.DEFAULT_BATCHES if args.recalibrate_bn is None else args.recalibrate_bn
        if batches and result and not result.get("batchnorm_recalibration"):
            print(f"$ recomputing BatchNorm statistics over {batches} training batches ...", flush=True)
            rec = batchnorm.recalibrate_run(args.run_dir.resolve(), batches, **_data_dirs(args))
            print(batchnorm.describe(rec), flush=True)
        if args.if_better:
            verdict = compare_with_packaged(args.run_dir.resolve(), args.name)
            print(verdict["message"], flush=True)
            if not verdict["better"]:
                return 0
        card, _ = write_weights(args.run_dir.resolve(), args.name, args.half)
    work = (args.work_dir or args.run_dir.resolve() / "package").resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = _data_dirs(args)
    evaluate_card(card, work, args.split, data)
    pretrained.write_card(card)
    if card["training"]["dataset"].split("/")[0] in ("fer2013", "ferplus"):
        tflite_card(card, work, args.split, data, bench=not args.skip_bench)
        pretrained.write_card(card)
    done = "measured again" if args.refresh else "packaged"
    card_md = pretrained.card_path(card["model"], card["name"]).with_suffix(".md")
    print(f"{done} {card_md.with_name(card['file'])} ({card['size_bytes']:,} bytes) and its card {card_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
