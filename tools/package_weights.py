"""Packages a finished `kerasfer train` run as weights shipped inside kerasfer, with its model card.

    python tools/package_weights.py RUN_DIR --name fer2013 \\
        --manual-dir DIR [--data-dir TFDS_DIR] [--half] [--skip-bench]

Steps (each a `kerasfer` command, run as a subprocess so that every figure in the card comes
from the same commands a user runs):

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
import shlex
import subprocess
import sys

from kerasfer.paths import file_sha256

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = pathlib.Path(__file__).resolve().parent.parent
WEIGHTS_DIR = ROOT / "kerasfer" / "weights"

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


def _run(cmd: list[str]) -> None:
    print("$", " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"


def write_weights(run_dir: pathlib.Path, name: str, half: bool) -> tuple[dict, pathlib.Path]:
    import keras
    import numpy as np

    import kerasfer  # noqa: F401
    from kerasfer.export import card as card_lib
    from kerasfer.models import create_model
    from kerasfer.utils import count_macs
    from kerasfer.utils import count_params

    config = json.loads((run_dir / "config.json").read_text())
    prep = json.loads((run_dir / "preprocessing.json").read_text())
    labels = [line.strip() for line in (run_dir / "labels.txt").read_text().splitlines() if line.strip()]
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    model_name = config["model"]
    model_kwargs = dict(config.get("model_kwargs") or {})
    input_shape = [int(d) for d in model.inputs[0].shape[1:]]
    num_classes = int(model.outputs[0].shape[-1])
    if len(labels) != num_classes:
        raise ValueError(f"{run_dir}/labels.txt has {len(labels)} names for a {num_classes}-class model.")

    WEIGHTS_DIR.mkdir(exist_ok=True)
    stem = f"{model_name}_{name}"
    weights_path = WEIGHTS_DIR / f"{stem}.weights.h5"
    # A clean registered model, so the file has exactly the layout `create_model(..., weights=name)` loads.
    clean = create_model(model_name, num_classes=num_classes, input_shape=tuple(input_shape), **model_kwargs)
    clean.set_weights(model.get_weights())
    clean.save_weights(weights_path)
    if half:
        from kerasfer.models.weights import to_half_precision

        to_half_precision(weights_path)

    # Check the packaged file reproduces the run's model.
    check = create_model(model_name, num_classes=num_classes, input_shape=tuple(input_shape), **model_kwargs)
    check.load_weights(weights_path)
    x = np.random.default_rng(0).uniform(0, 255, (8, *input_shape)).astype("float32")
    diff = float(np.abs(model.predict(x, verbose=0) - check.predict(x, verbose=0)).max())
    tol = 5e-3 if half else 1e-5
    if diff > tol:
        raise RuntimeError(f"Packaged weights differ from the run's model by {diff:.2e} (> {tol}).")

    result = json.loads((run_dir / "result.json").read_text()) if (run_dir / "result.json").exists() else {}
    history = json.loads((run_dir / "history.json").read_text()) if (run_dir / "history.json").exists() else {}
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
            "result": {**result, "model_path": "RUN/model.keras"} if result else {},
        },
        "data_terms": DATA_TERMS.get(dataset_key, f"Trained on {config['dataset']}; see that dataset's terms."),
        "packaged": {
            "date": datetime.date.today().isoformat(),
            "machine": _machine(),
            "diff_vs_run_model": diff,
        },
    }
    _write_card(card, stem)
    return card, weights_path


def compare_with_packaged(run_dir: pathlib.Path, name: str) -> dict:
    """Whether the run's best validation accuracy beats the packaged `<model>/<name>` weights.

    Returns `{"better": bool, "run": float, "packaged": float | None, "message": str}`. The packaged side is its
    card's `kerasfer evaluate` accuracy on the same split (the training record's best validation accuracy for a
    card without one); with no packaged weights of that name, any run is better.
    """
    from kerasfer.models.weights import packaged_card

    config = json.loads((run_dir / "config.json").read_text())
    history_path = run_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() else {}
    if not history.get("val_accuracy"):
        raise ValueError(f"{run_dir} has no validation accuracy in history.json: nothing to compare.")
    run_acc = float(max(history["val_accuracy"]))
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


def _write_card(card: dict, stem: str) -> None:
    (WEIGHTS_DIR / f"{stem}.json").write_text(json.dumps(card, indent=2) + "\n")
    (WEIGHTS_DIR / f"{stem}.md").write_text(card_markdown(card))


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _norm_text(norm) -> str:
    if isinstance(norm, dict) and "mean" in norm and "std" in norm:
        return f" (x / 255 - mean {norm['mean']}) / std {norm['std']}"
    return ""


# TrainConfig fields a card's command leaves out: this machine's folders and how the run was shown.
_NOT_IN_COMMAND = ("manual_dir", "data_dir", "output_dir", "verbose", "preset", "init_weights", "on_existing")


def _stages(run_dir: pathlib.Path) -> list:
    """The run folders that made `run_dir`, earliest first (each stage's `init_weights` names the one before)."""
    chain = [pathlib.Path(run_dir)]
    while True:
        config = json.loads((chain[0] / "config.json").read_text())
        previous = config.get("init_weights")
        if not previous or not (pathlib.Path(previous) / "config.json").is_file() or len(chain) > 20:
            return chain
        chain.insert(0, pathlib.Path(previous))


def _origin_card(stages) -> dict | None:
    """The card of the packaged weights the first stage started from (`--init-weights resnet18_small/fer2013`),
    or None: those weights' own stages come before this run's."""
    from kerasfer.models.loading import split_packaged_name

    init = json.loads((pathlib.Path(stages[0]) / "config.json").read_text()).get("init_weights")
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
    path = pathlib.Path(run_dir) / "history.json"
    return len(json.loads(path.read_text()).get("loss", [])) if path.is_file() else 0


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
        config = json.loads((stage / "config.json").read_text())
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


def _command_lines(t: dict) -> list:
    commands = t.get("commands") or ([t["command"]] if t.get("command") else [])
    if not commands:
        return ["- Command: see `training.config` in the JSON card."]
    if len(commands) == 1:
        return [f"- Command: `{commands[0]}`"]
    return ["- Commands, in order (each run starts from the one before):"] + [
        f"  {k}. `{c}`" for k, c in enumerate(commands, 1)
    ]


def card_markdown(card: dict) -> str:
    """The Markdown model card of packaged weights (from the JSON card)."""
    name = f"{card['model']}/{card['name']}"
    t = card["training"]
    lines = [
        f"# `{name}`: kerasfer packaged weights",
        "",
        f"`kerasfer.models.create_model({card['model']!r}, weights={card['name']!r})`, loaded from "
        f"`kerasfer/weights/{card['file']}` ({card['size_bytes']:,} bytes, {card['dtype']}; sha256 "
        f"`{card['sha256'][:16]}...`). No network is used.",
        "",
        "## Model",
        f"- Architecture: `{card['model']}`, {card['params']:,} parameters, {card['macs'] / 1e6:.1f}M MACs "
        "(fvcore convention) at the input below.",
        f"- Input: {card['preprocessing']['input_shape']} raw pixels in [0, 255] "
        f"({'grayscale' if card['preprocessing']['channels'] == 1 else 'RGB'}); the model normalises them "
        f"itself{_norm_text(card['preprocessing']['normalization'])}.",
        f"- Face crop: {card['preprocessing']['face_crop']}.",
        f"- Outputs: softmax over {len(card['labels'])} classes in this order: {', '.join(card['labels'])}.",
        "",
        "## Training",
        f"- Data: `{t['dataset']}`, split `{t['train_split']}`; model selection on {t['selection_split']}.",
        f"- Preset: `{t['preset']}`; epochs run: {sum(t.get('stage_epochs') or [t['epochs_run']])}"
        + (
            f" ({' + '.join(map(str, t['stage_epochs']))} in {len(t['stage_epochs'])} runs)"
            if len(t.get("stage_epochs") or []) > 1
            else ""
        )
        + ".",  # fmt: skip
        *_command_lines(t),
        f"- Terms: {card['data_terms']}",
    ]
    ev = card.get("evaluation")
    if ev:
        lines += [
            "",
            f"## Results on {ev['dataset']} `{ev['split']}` ({ev['num_examples']:,} images)",
            f"From `{ev['command']}`.",
            "",
            f"- Accuracy {_pct(ev['accuracy'])}, mean class accuracy {_pct(ev['mean_class_accuracy'])}, "
            f"macro-F1 {_pct(ev['macro_f1'])}"
            + (f", one-vs-rest ROC AUC {ev['roc_auc_ovr_macro']:.3f}" if ev.get("roc_auc_ovr_macro") else "")
            + ".",
            "",
            "| class | precision | recall (class accuracy) | F1 | support |",
            "|---|---:|---:|---:|---:|",
        ]
        for cls, row in ev["per_class"].items():
            lines.append(
                f"| {cls} | {_pct(row.get('precision'))} | {_pct(row.get('recall'))} | {_pct(row.get('f1'))} "
                f"| {row.get('support')} |"
            )
        tta = card.get("evaluation_tta") or {}
        if tta:
            lines += ["", "With test-time augmentation (off by default; `--tta` in `kerasfer evaluate` / `predict`, "
                      "`FER(tta=...)`):", "", "| TTA | classifier calls per face | accuracy | mean class acc. | "
                      "macro-F1 |", "|---|---:|---:|---:|---:|", f"| none | 1 | {_pct(ev['accuracy'])} | "
                      f"{_pct(ev['mean_class_accuracy'])} | {_pct(ev['macro_f1'])} |"]  # fmt: skip
            for mode, r in tta.items():
                lines.append(
                    f"| {mode} | {r['views_per_image']} | {_pct(r['accuracy'])} | {_pct(r['mean_class_accuracy'])} "
                    f"| {_pct(r['macro_f1'])} |"
                )
            lines.append("")
        cm = ev["confusion_matrix"]
        labels = list(ev["per_class"])
        lines += ["", "Confusion matrix (rows: true class, columns: predicted):", ""]
        lines.append("| true \\ pred | " + " | ".join(labels) + " |")
        lines.append("|---|" + "---:|" * len(labels))
        for cls, row in zip(labels, cm):
            lines.append(f"| {cls} | " + " | ".join(str(int(v)) for v in row) + " |")
    tfl = card.get("tflite")
    if tfl:
        lines += [
            "",
            "## TFLite",
            f"From `{tfl['command']}` and `{tfl['bench_command']}` on {tfl['machine']}.",
            "",
            "| variant | size | top-1 | agreement with Keras | max abs. prob. diff | GPU check | "
            "latency 1 thread (median / p90) | latency 2 threads (median / p90) |",
            "|---|---:|---:|---:|---:|---|---:|---:|",
        ]
        for v in tfl["variants"]:
            lat = {r["threads"]: r for r in v.get("latency", [])}

            def fmt(n, lat=lat):
                r = lat.get(n)
                return f"{r['median_ms']:.2f} / {r['p90_ms']:.2f} ms" if r else "-"

            lines.append(
                f"| {v['quantization']} | {v['size_bytes'] / 1e6:.2f} MB | {_pct(v.get('top1'))} | "
                f"{_pct(v.get('top1_agreement'))} | {v.get('max_abs_diff', float('nan')):.4f} | "
                f"{'pass' if v.get('gpu_ok') else 'FAIL'} | {fmt(1)} | {fmt(2)} |"
            )
        lines += [
            "",
            "Latency is the model alone (no face detection), XNNPACK on, LiteRT "
            "(`ai-edge-litert`). For comparison: the fer package's model takes about 0.51 ms and facex about "
            "25 ms per face on this kind of CPU.",
        ]
    lines.append("")
    return "\n".join(lines)


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
    args = p.parse_args(argv)

    if (args.run_dir is None) == (args.refresh is None):
        p.error("give a run directory, or --refresh MODEL for packaged weights")
    if args.refresh:
        from kerasfer.models.weights import packaged_card

        stem = f"{args.refresh}_{args.name}"
        card = packaged_card(args.refresh, args.name)
        if card is None:
            p.error(f"no packaged weights {args.refresh}/{args.name} ({WEIGHTS_DIR / stem}.json)")
        if args.work_dir is None:
            p.error("--refresh needs --work-dir (there is no run directory to write into)")
        card["packaged"]["measured"] = {
            "date": datetime.date.today().isoformat(),
            "machine": _machine(),
        }
    else:
        if args.if_better:
            verdict = compare_with_packaged(args.run_dir.resolve(), args.name)
            print(verdict["message"], flush=True)
            if not verdict["better"]:
                return 0
        card, weights_path = write_weights(args.run_dir.resolve(), args.name, args.half)
        stem = weights_path.name[: -len(".weights.h5")]
    work = (args.work_dir or args.run_dir.resolve() / "package").resolve()
    work.mkdir(parents=True, exist_ok=True)
    model, name, dataset = card["model"], card["name"], card["training"]["dataset"]
    exe = [sys.executable, "-m", "kerasfer"]

    eval_json = work / "evaluate.json"
    eval_cmd = [
        "evaluate",
        "--model",
        model,
        "--weights",
        name,
        "--dataset",
        dataset,
        "--manual-dir",
        os.path.abspath(args.manual_dir),
        "--split",
        args.split,
        "--output",
        str(eval_json),
    ]
    if args.data_dir:
        eval_cmd += ["--data-dir", os.path.abspath(args.data_dir)]
    _run(exe + eval_cmd)
    ev = json.loads(eval_json.read_text())
    shown = ["kerasfer", *eval_cmd[:7], "--manual-dir", "DIR", "--split", args.split, "--output", "report.json"]
    tta = {}
    for mode in ("flip", "crops"):
        tta_json = work / f"evaluate_tta_{mode}.json"
        _run(exe + [*eval_cmd[: eval_cmd.index("--output")], "--output", str(tta_json), "--tta", mode])
        rep = json.loads(tta_json.read_text())
        tta[mode] = {
            "command": " ".join([*shown, "--tta", mode]),
            "views_per_image": rep["tta_views"],
            **{k: rep.get(k) for k in ("accuracy", "mean_class_accuracy", "macro_f1")},
        }
    card["evaluation"] = {
        "command": " ".join(shown),
        **{
            k: ev.get(k)
            for k in (
                "dataset",
                "split",
                "num_examples",
                "accuracy",
                "mean_class_accuracy",
                "macro_f1",
                "roc_auc_ovr_macro",
                "per_class",
                "confusion_matrix",
            )
        },
    }
    card["evaluation_tta"] = tta
    _write_card(card, stem)

    if dataset.split("/")[0] in ("fer2013", "ferplus"):
        export_dir = work / "export"
        eval_spec = f"{dataset}:{args.split}"
        export_cmd = [
            "export",
            "--model",
            model,
            "--weights",
            name,
            "--quantization",
            "fp32",
            "fp16",
            "int8",
            "--eval-dataset",
            eval_spec,
            "--num-eval",
            "100000",
            "--num-calibration",
            "500",
            "--manual-dir",
            os.path.abspath(args.manual_dir),
            "--out",
            str(export_dir),
        ]
        if args.data_dir:
            export_cmd += ["--data-dir", os.path.abspath(args.data_dir)]
        _run(exe + export_cmd)
        report = json.loads(next(export_dir.glob("*_export_report.json")).read_text())
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
                }
            )
        bench_cmd = []
        if not args.skip_bench:
            bench_json = work / "bench.json"
            bench_cmd = [
                "bench",
                *[v["path"] for v in variants],
                "--threads",
                "1",
                "2",
                "--xnnpack",
                "on",
                "--runs",
                "300",
                "--json",
                str(bench_json),
            ]
            _run(exe + bench_cmd)
            rows = json.loads(bench_json.read_text())["rows"]
            for v in variants:
                stem_v = pathlib.Path(v["path"]).stem
                v["latency"] = [
                    {k: r[k] for k in ("threads", "median_ms", "p90_ms")} for r in rows if r["model"] == stem_v
                ]
        for v in variants:
            v.pop("path")
        card["tflite"] = {
            "command": f"kerasfer export --model {model} --weights {name} --quantization fp32 fp16 int8 "
            f"--eval-dataset {eval_spec} --manual-dir DIR --num-eval 100000 --num-calibration 500",
            "bench_command": "kerasfer bench <exported .tflite files> --threads 1 2 --xnnpack on --runs 300",
            "eval_images": report.get("num_eval"),
            "keras_top1": report.get("keras_top1"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "variants": variants,
        }
        _write_card(card, stem)
    done = "measured again" if args.refresh else "packaged"
    card_md = WEIGHTS_DIR / f"{stem}.md"
    print(f"{done} {WEIGHTS_DIR / card['file']} ({card['size_bytes']:,} bytes) and its card {card_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
