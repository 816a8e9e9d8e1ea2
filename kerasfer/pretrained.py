"""The weights shipped inside kerasfer (`kerasfer/weights/`): their index, model cards and the default model.

Each packaged weights file `<model>_<name>.weights.h5` has a model card beside it, `<model>_<name>.json`
(machine-readable) and `<model>_<name>.md` (rendered from the same dict by `card_markdown`), written by
`write_card` only (the project's packaging script writes cards through it). The index is built from the
cards, as timm's pretrained configs and keras-hub's presets are: a card names its weights file (`file`), its
`sha256`, the build arguments the weights need (`build`: `num_classes`, `input_shape`, model keyword arguments),
the label order (`labels`), the preprocessing (`preprocessing.align_margin`: the face crop it was trained on),
the training record and the measured results (`evaluation`, `tflite`).

`list_pretrained()` names every packaged weights file as every command takes it (`"resnet18_small/fer2013"`);
`default_pretrained()` is what `kerasfer.FER()` and `kerasfer predict` load when given no model: the most accurate
card evaluated on FER2013. This module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from kerasfer.paths import replaced_when_done

WEIGHTS_DIR = pathlib.Path(__file__).resolve().parent / "weights"
WEIGHTS_SUFFIX = ".weights.h5"
# The dataset whose most accurate packaged weights are the default model.
DEFAULT_DATASET = "fer2013"


@dataclasses.dataclass(frozen=True)
class PackagedWeights:
    """One packaged weights file, as its card describes it.

    Attributes:
        model: the architecture's registry key (`"resnet18_small"`).
        name: the weights' name (`"fer2013"`).
        path: the `.weights.h5` file.
        card: the JSON model card (a dict).
    """

    model: str
    name: str
    path: pathlib.Path
    card: dict

    @property
    def key(self) -> str:
        """The name every command takes: `"model/name"`."""
        return f"{self.model}/{self.name}"

    @property
    def sha256(self) -> str | None:
        return self.card.get("sha256")

    @property
    def build(self) -> dict:
        """The build arguments the weights need (`build_arguments` of the card)."""
        return build_arguments(self.card)

    @property
    def dataset(self) -> str | None:
        return (self.card.get("training") or {}).get("dataset")

    @property
    def accuracy(self) -> float | None:
        """Top-1 accuracy of `kerasfer evaluate` on the card's split (no test-time augmentation), or None."""
        return (self.card.get("evaluation") or {}).get("accuracy")


def build_arguments(card: dict) -> dict:
    """A card's build arguments (`num_classes`, `input_shape` as a tuple, model keyword arguments)."""
    build = dict(card.get("build") or {})
    if "input_shape" in build:
        build["input_shape"] = tuple(build["input_shape"])
    return build


def card_stem(model: str, name: str) -> str:
    """`<model>_<name>`: the stem of a packaged weights file and its card files."""
    return f"{model}_{name}"


def card_path(model: str, name: str, weights_dir=None) -> pathlib.Path:
    """The JSON card of packaged weights `model/name` (whether or not it exists)."""
    return pathlib.Path(weights_dir or WEIGHTS_DIR) / f"{card_stem(model, name)}.json"


def weights_path(model: str, name: str, weights_dir=None) -> pathlib.Path:
    """Where the packaged weights `model/name` are written when they are packaged."""
    return pathlib.Path(weights_dir or WEIGHTS_DIR) / f"{card_stem(model, name)}{WEIGHTS_SUFFIX}"


def _read_card(path: pathlib.Path) -> dict:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"The model card {path} is unreadable ({e}); reinstall kerasfer.") from None
    if not isinstance(card, dict):
        raise ValueError(f"The model card {path} must hold a JSON object; reinstall kerasfer.")
    return card


def read_cards(weights_dir=None) -> list[dict]:
    """Every JSON model card in `weights_dir` (default: the package's), by file name."""
    return [_read_card(p) for p in sorted(pathlib.Path(weights_dir or WEIGHTS_DIR).glob("*.json"))]


def index(weights_dir=None) -> dict[str, PackagedWeights]:
    """`{"model/name": PackagedWeights}` of every card whose weights file is there, in file-name order."""
    folder = pathlib.Path(weights_dir or WEIGHTS_DIR)
    found = {}
    for card in read_cards(folder):
        if not (card.get("model") and card.get("name") and card.get("file")):
            continue
        path = folder / card["file"]
        if path.is_file():
            entry = PackagedWeights(str(card["model"]), str(card["name"]), path, card)
            found[entry.key] = entry
    return found


def list_pretrained(model_name: str | None = None, weights_dir=None) -> list[str]:
    """The packaged weights as every command takes them (`"resnet18_small/fer2013"`), of one model or all."""
    return [k for k, e in index(weights_dir).items() if model_name is None or e.model == model_name]


def packaged_card(model_name, name, weights_dir=None) -> dict | None:
    """The JSON card of packaged weights `model_name/name`, or None when there is none (a card without its
    weights file still reads, so a damaged install says what it misses)."""
    path = card_path(model_name, name, weights_dir)
    return _read_card(path) if path.is_file() else None


def default_pretrained(dataset: str = DEFAULT_DATASET, weights_dir=None) -> PackagedWeights | None:
    """The packaged weights with the highest card accuracy among those trained on `dataset`; None when none is."""
    entries = [e for e in index(weights_dir).values() if e.dataset == dataset and e.accuracy is not None]
    return max(entries, key=lambda e: e.accuracy, default=None)


def write_card(card: dict, weights_dir=None) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes a packaged card as `<model>_<name>.json` and its Markdown `.md` (from the same dict), each whole
    or not at all; returns both paths."""
    json_path = card_path(card["model"], card["name"], weights_dir)
    md_path = json_path.with_suffix(".md")
    with replaced_when_done(json_path) as tmp:
        pathlib.Path(tmp).write_text(json.dumps(card, indent=2) + "\n")
    with replaced_when_done(md_path) as tmp:
        pathlib.Path(tmp).write_text(card_markdown(card))
    return json_path, md_path


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _norm_text(norm) -> str:
    if isinstance(norm, dict) and "mean" in norm and "std" in norm:
        return f" (x / 255 - mean {norm['mean']}) / std {norm['std']}"
    return ""


def _command_lines(t: dict) -> list:
    commands = t.get("commands") or ([t["command"]] if t.get("command") else [])
    if not commands:
        return ["- Command: see `training.config` in the JSON card."]
    if len(commands) == 1:
        return [f"- Command: `{commands[0]}`"]
    return ["- Commands, in order (each run starts from the one before):"] + [
        f"  {k}. `{c}`" for k, c in enumerate(commands, 1)
    ]


def recalibration_text(record: dict) -> str:
    """One sentence on a BatchNorm recalibration record (`kerasfer.training.batchnorm`): the run's log, the card."""
    line = (
        f"BatchNorm statistics recomputed over {record['images']:,} un-augmented training images "
        f"({record['batches']} batches{', after training' if record.get('after_training') else ''})"
    )
    if record["val_accuracy_before"] is None:
        return line + "; no validation split to check them: kept."
    verdict = "kept" if record["kept"] else "the moving averages were kept instead"
    before, after = record["val_accuracy_before"], record["val_accuracy_after"]
    return line + f": validation accuracy {before:.2%} -> {after:.2%}, {verdict}."


def _recalibration_lines(t: dict) -> list:
    record = t.get("batchnorm_recalibration")
    return [f"- {recalibration_text(record)}"] if record else []


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
        *_recalibration_lines(t),
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
        if tfl.get("latency_note"):
            lines[-2:-2] = [f"Latency: {tfl['latency_note']}.", ""]
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
        for v in tfl["variants"]:
            cal = v.get("calibration") or {}
            if cal.get("calibration_outlier_ratio"):
                lines += ["", f"{v['quantization']} calibration: {cal.get('calibration_outliers_dropped', 0)} of the "
                          f"calibration images left out as outliers (activations over "
                          f"{cal['calibration_outlier_ratio']:g}x the median image's)."]  # fmt: skip
        lines += [
            "",
            "Latency is the model alone (no face detection), XNNPACK on, LiteRT "
            "(`ai-edge-litert`). For comparison: the fer package's model takes about 0.51 ms and facex about "
            "25 ms per face on this kind of CPU.",
        ]
    lines.append("")
    return "\n".join(lines)


__all__ = [
    "DEFAULT_DATASET",
    "WEIGHTS_DIR",
    "PackagedWeights",
    "build_arguments",
    "card_markdown",
    "card_path",
    "card_stem",
    "default_pretrained",
    "index",
    "list_pretrained",
    "packaged_card",
    "read_cards",
    "recalibration_text",
    "weights_path",
    "write_card",
]
