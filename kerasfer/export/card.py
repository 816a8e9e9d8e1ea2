"""The model card (JSON + Markdown) and `labels.txt` written beside every exported `.tflite`.

The card records what a deployer needs and cannot read from the flatbuffer alone: the
architecture, the input size and value range, the normalisation baked into the model,
the label order, parameters and MACs, file size, quantization (with the int8 input /
output scale and zero point), the op list, the GPU-delegate check and, when a dataset was
given, accuracy figures.

The same facts (minus the op list) are embedded in the `.tflite` as a `kerasfer_metadata`
JSON metadata entry. The TFLite Support metadata writers (`tflite-support`) are not used:
the last release (0.4.4, July 2023) pins `protobuf<4`, which TensorFlow 2.21 cannot run
with, and nothing maintained replaces them, so Android's Task Library will not read the
labels from the model; ship `labels.txt` with it.
"""

from __future__ import annotations

import datetime
import json
import os

from kerasfer.paths import replaced_when_done
from kerasfer.run_files import labels_path_for
from kerasfer.run_files import read_labels  # noqa: F401 - the labels files' reader, re-exported
from kerasfer.run_files import write_labels  # noqa: F401 - and writer

_NORMALIZATION_CLASS = "ImageNormalization"
# The card of `<stem>.tflite` is `<stem>.card.json` and `<stem>.card.md`.
_CARD_SUFFIXES = (".card.json", ".card.md")


def card_paths(tflite_path) -> tuple[str, str]:
    """The JSON and Markdown card paths of an exported `.tflite` file."""
    stem = os.path.splitext(os.fspath(tflite_path))[0]
    return stem + _CARD_SUFFIXES[0], stem + _CARD_SUFFIXES[1]


def normalization_of(model) -> dict:
    """Describes the input normalisation baked into a kerasfer model."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if type(layer).__name__ == _NORMALIZATION_CLASS:
            cfg = layer.get_config()
            return {
                "in_model": True,
                "layer": layer.name,
                "mean": cfg.get("mean"),
                "std": cfg.get("std"),
                "scale": cfg.get("scale"),
                "formula": "(x * scale - mean) / std, computed inside the model",
            }
    return {
        "in_model": False,
        "formula": "none inside the model: feed inputs already normalised as in training",
    }


def _model_info(name):
    try:
        from kerasfer.models import get_model_info

        info = get_model_info(name)
    except (ImportError, ValueError):
        return {}
    return {"family": info.family, "paper": info.paper, "registry_input_shape": list(info.input_shape)}


def _io_details(content: bytes) -> dict:
    from kerasfer.runtime import flatbuffer

    fm = flatbuffer.read_tflite(content)

    def one(index):
        t = fm.tensors[0][index]
        d = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
        if t.is_quantized:
            d["scale"] = t.scale[0]
            d["zero_point"] = t.zero_point[0] if t.zero_point else 0
        return d

    return {
        "inputs": [one(i) for i in fm.inputs[0]],
        "outputs": [one(i) for i in fm.outputs[0]],
        "ops": fm.op_counts(),
        "last_op": fm.ops[-1].name if fm.ops else None,
    }


def build_card(model, content: bytes, config, labels, input_shape, count_macs=True, fused_model=None) -> dict:
    """Builds the model-card dict of an exported model.

    Args:
        model: the Keras model as trained (params are counted on it).
        content: the `.tflite` bytes.
        config: the `QuantizationConfig` used.
        labels: class names in output order.
        input_shape: `(H, W, C)`.
        count_macs: count MACs with `kerasfer.utils.count_macs` (one forward pass).
        fused_model: the re-parameterized model that was converted (default: `model`).
    """
    from kerasfer import utils
    from kerasfer.version import __version__

    fused = fused_model if fused_model is not None else model
    macs = None
    if count_macs:
        try:
            macs = utils.count_macs(fused, input_shape)
        except Exception as e:  # MAC counting is informative only
            macs = f"not counted: {e}"
    import keras

    try:
        import tensorflow as tf

        tf_version = tf.__version__
    except ImportError:  # pragma: no cover
        tf_version = None
    io = _io_details(content)
    activation = None
    try:
        activation = fused.get_layer("predictions").get_config().get("activation")
    except (ValueError, AttributeError):
        pass
    if io.get("last_op") == "SOFTMAX":  # e.g. a separate softmax layer after a linear classifier
        activation = "softmax"
    card = {
        "format": "kerasfer-model-card/1",
        "model_name": model.name,
        "architecture": {
            "name": model.name,
            **_model_info(model.name),
            "params": utils.count_params(model),
            "params_fused": utils.count_params(fused),
            "macs": macs,
            "reparameterized": fused is not model,
        },
        "input": {
            "shape": [1, *[int(d) for d in input_shape]],
            "dtype": io["inputs"][0]["dtype"] if io["inputs"] else "float32",
            "value_range": f"raw pixels in [0, 255] ({'RGB' if input_shape[-1] == 3 else 'grayscale'}, as trained)"
            if normalization_of(fused)["in_model"]
            else "normalised as in training",
            "normalization": normalization_of(fused),
            "tensors": io["inputs"],
        },
        "output": {
            "num_classes": len(labels) if labels is not None else None,
            "size": int(io["outputs"][0]["shape"][-1]) if io["outputs"] else None,
            "activation": activation,
            "tensors": io["outputs"],
        },
        "labels": list(labels) if labels is not None else None,
        "quantization": config.describe(),
        "file": {"size_bytes": len(content)},
        "ops": io["ops"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "software": {"kerasfer": __version__, "keras": keras.__version__, "tensorflow": tf_version},
        "layer_names": [layer.name for layer in fused._flatten_layers(include_self=False, recursive=True)],
        "output_layers": [t._keras_history[0].name for t in getattr(fused, "outputs", None) or []],
    }
    return card


def embedded_metadata(card: dict) -> bytes:
    """The JSON bytes embedded in the `.tflite` under `kerasfer_metadata`."""
    keys = (
        "format",
        "model_name",
        "architecture",
        "input",
        "output",
        "labels",
        "quantization",
        "layer_names",
        "output_layers",
    )
    meta = {k: card[k] for k in keys if k in card}
    return json.dumps(meta, sort_keys=True).encode("utf-8")


def _fmt(n):
    if isinstance(n, int):
        from kerasfer.utils import format_count

        return f"{n:,} ({format_count(n)})"
    return str(n)


def card_markdown(card: dict) -> str:
    """Renders the card as Markdown."""
    a, i, o, q = card["architecture"], card["input"], card["output"], card["quantization"]
    norm = i["normalization"]
    lines = [f"# {card['model_name']} ({q['mode']}) model card", ""]
    if card.get("source"):
        lines += [f"Exported from `{card['source']}`.", ""]
    lines += [
        "## Architecture",
        f"- model: `{a['name']}`" + (f" (family `{a['family']}`)" if a.get("family") else ""),
    ]
    if a.get("paper"):
        lines.append(f"- paper: {a['paper']}")
    lines += [
        f"- trainable parameters: {_fmt(a['params'])}"
        + (f"; after re-parameterization {_fmt(a['params_fused'])}" if a.get("reparameterized") else ""),
        f"- MACs per image: {_fmt(a['macs'])}",
        "",
        "## Input",
        f"- shape: `{i['shape']}` (batch 1, height, width, channels), dtype `{i['dtype']}`",
        f"- values: {i['value_range']}",
    ]
    if norm["in_model"]:
        lines.append(
            f"- normalisation (inside the model, layer `{norm['layer']}`): `(x * {norm['scale']:.6g} - mean) / std` "
            f"with mean `{norm['mean']}`, std `{norm['std']}`; do not normalise again"
        )
    else:
        lines.append(f"- normalisation: {norm['formula']}")
    for t in i["tensors"]:
        if "scale" in t:
            lines.append(f"- input quantization: `q = round(x / {t['scale']:.6g}) + {t['zero_point']}` ({t['dtype']})")
    lines += [
        "",
        "## Output",
        f"- {o['num_classes']} classes, activation `{o['activation']}`"
        if o["num_classes"] is not None
        else f"- {o['size']} features (no classifier: an embedding / feature model)",
    ]
    for t in o["tensors"]:
        if "scale" in t:
            lines.append(f"- output dequantization: `p = (q - {t['zero_point']}) * {t['scale']:.6g}` ({t['dtype']})")
    if card["labels"] is not None:
        lines += ["", "## Labels (output order, also in `labels.txt`)", ""]
        lines += [f"{k}. {name}" for k, name in enumerate(card["labels"])]
    lines += [
        "",
        "## File",
        f"- size: {card['file']['size_bytes']:,} bytes",
        f"- quantization: `{json.dumps(q)}`",
        f"- ops: {', '.join(f'{k} x{v}' for k, v in card['ops'].items())}",
    ]
    if "gpu_check" in card:
        g = card["gpu_check"]
        verdict = "passes" if g["ok"] else f"fails ({g['num_issues']} issues: {', '.join(g['rules'])})"
        lines.append(f"- GPU-delegate check (classic delegate, rules L1-L10): {verdict}")
    if "evaluation" in card:
        e = card["evaluation"]
        lines += [
            "",
            "## Accuracy",
            f"- images: {e['num_images']}",
            f"- Keras top-1: {e['keras_top1']:.4f}",
            f"- TFLite top-1: {e['top1']:.4f}",
            f"- top-1 agreement with Keras: {e['top1_agreement']:.4f}",
            f"- max |probability difference|: {e['max_abs_diff']:.3g}",
        ]
    lines += ["", f"Created {card['created']} with kerasfer {card['software']['kerasfer']}.", ""]
    return "\n".join(lines)


def _source_key(source) -> str:
    """`source` compared the way files are: a path by its real location (`runs/a` and `./runs/a` are one run)."""
    text = str(source)
    return os.path.realpath(text) if os.path.exists(text) else text


def export_clashes(tflite_paths, source, other_files=()) -> list[tuple[str, str | None]]:
    """The files an export of `source` would replace that came from another source, with that source.

    `tflite_paths`: the `.tflite` files about to be written; each one's labels and card beside it count with it,
    and its card's `"source"` says where it came from. `other_files`: JSON files with a `"source"` key (the
    export report). A file of unknown origin (no card, or a card without `"source"`, as before cards recorded it)
    is a clash too, with source None. Returns `[(path, source or None), ...]`; empty when nothing clashes.
    """
    key = _source_key(source)
    clashes = []

    def recorded(json_path):
        try:
            with open(json_path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data.get("source") if isinstance(data, dict) else None

    for path in map(os.fspath, tflite_paths):
        card_json, card_md = card_paths(path)
        group = [p for p in (path, labels_path_for(path), card_json, card_md) if os.path.exists(p)]
        if not group:
            continue
        theirs = recorded(card_json)
        if theirs is None or _source_key(theirs) != key:
            clashes += [(p, theirs) for p in group]
    for path in map(os.fspath, other_files):
        if os.path.exists(path):
            theirs = recorded(path)
            if theirs is None or _source_key(theirs) != key:
                clashes.append((path, theirs))
    return clashes


def write_card(card: dict, json_path, markdown_path) -> None:
    """Writes the card as JSON and Markdown (`card_markdown`), each file whole or not at all."""
    with replaced_when_done(json_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2, default=str)
        f.write("\n")
    with replaced_when_done(markdown_path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(card_markdown(card))


__all__ = [
    "build_card",
    "card_paths",
    "card_markdown",
    "embedded_metadata",
    "export_clashes",
    "normalization_of",
    "read_labels",
    "write_card",
    "write_labels",
]
