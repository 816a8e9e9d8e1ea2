"""Runs a `.tflite` with LiteRT on arrays and compares it with the Keras model.

`run_tflite` feeds images through the package's one TFLite runner
(`kerasfer.runtime.runners.TFLiteRunner`, which quantizes float inputs for int8/uint8 models
and dequantizes their outputs) and returns the outputs as they are, so every variant is
compared with the Keras model on the same float scale. `compare` gives top-1 accuracy, top-1
agreement with a reference and the largest absolute probability difference; `layer_drift`
says where an int8 model's activations leave the float ones.
"""

from __future__ import annotations

import os

import numpy as np


def validate_eval_data(images, labels, input_shape=None, num_classes=None) -> None:
    """Checks evaluation arrays: shapes, finiteness, label range; raises ValueError naming the problem."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4:
        raise ValueError(f"Evaluation images must be a (N, H, W, C) array, got shape {images.shape}.")
    if input_shape is not None and tuple(images.shape[1:]) != tuple(input_shape):
        raise ValueError(f"Evaluation images have shape {images.shape[1:]} but the model takes {tuple(input_shape)}.")
    if len(images) == 0:
        raise ValueError("The evaluation set is empty.")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"Expected {len(images)} integer labels (shape (N,)), got shape {labels.shape}.")
    if not np.all(np.isfinite(images)):
        raise ValueError("Evaluation images contain NaN or infinite values.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"Labels must be integer class ids, got dtype {labels.dtype}.")
    if num_classes is not None and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"Labels must lie in [0, {num_classes - 1}], got range [{labels.min()}, {labels.max()}].")


def load_eval_data(spec: str, input_shape, limit: int | None = None, default_split: str = "validation", *,
                   data_dir=None, manual_dir=None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """`(images float32 (N, H, W, C), labels int64 (N,))` for evaluation or int8 calibration.

    Args:
        spec: a `.npz` file with `images` (or `x`) and `labels` (or `y`) arrays, or `DATASET[:SPLIT]`
            read through the TFDS builders (`kerasfer.data.datasets.load`), e.g. `fer2013:validation`
            (FER2013 PublicTest) with `manual_dir` pointing at the downloaded files.
        input_shape: the model's `(H, W, C)`; images go through `kerasfer.data.pipeline.prepare_images`.
        limit: use only the first `limit` images.
        default_split: the split when `spec` names none.
        data_dir, manual_dir: as for `kerasfer.data.datasets.load`.
    """
    from kerasfer.data.pipeline import prepare_images

    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}.")
    if spec.endswith(".npz"):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"No dataset file at {spec!r}.")
        try:
            data = np.load(spec)
        except (OSError, ValueError) as e:
            raise ValueError(f"{spec} is not a readable .npz file: {e}") from e
        xk = next((k for k in ("images", "x", "image") if k in data), None)
        yk = next((k for k in ("labels", "y", "label") if k in data), None)
        if xk is None or yk is None:
            raise ValueError(f"{spec} must hold 'images' and 'labels' arrays; it has {list(data.keys())}.")
        x, y = data[xk][:limit], data[yk][:limit]
        if len(x) == 0:
            raise ValueError(f"{spec} holds no images.")
        return np.asarray(prepare_images(x, input_shape), np.float32), np.asarray(y).astype(np.int64)
    from kerasfer.data import datasets

    name, _, split = spec.partition(":")
    ds = datasets.load(name, split or default_split, data_dir=data_dir, manual_dir=manual_dir)
    if limit is not None:
        ds = ds.take(limit)
    ds = ds.map(lambda x, y: (prepare_images(x, input_shape), y))  # images of any size, resized one by one
    images, labels = [], []
    for x, y in ds.batch(256).as_numpy_iterator():
        images.append(np.asarray(x, np.float32))
        labels.append(np.asarray(y))
    if not images:
        raise ValueError(f"{spec} has no images.")
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def run_tflite(model, images, num_threads: int | None = None) -> np.ndarray:
    """The outputs `(N, ...)` float32 of a `.tflite` (path or bytes) on `(N, H, W, C)` raw-pixel images, as they are."""
    from kerasfer.runtime.runners import TFLiteRunner

    return TFLiteRunner(model, num_threads=num_threads, output="probabilities").raw(images)


def predict_keras(model, images, batch_size: int = 64) -> np.ndarray:
    """Keras outputs (inference mode) for `(N, H, W, C)` images, in batches."""
    images = np.asarray(images, dtype=np.float32)
    out = [np.asarray(model(images[i : i + batch_size], training=False)) for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32)


def top1_accuracy(probs, labels) -> float:
    """Fraction of rows whose argmax equals the label."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if len(probs) != len(labels):
        raise ValueError(f"{len(probs)} predictions but {len(labels)} labels.")
    return float(np.mean(np.argmax(probs, axis=-1) == labels))


def compare(reference, outputs, labels=None) -> dict:
    """Top-1 agreement and max |difference| of `outputs` against `reference` (+ top-1 accuracy).

    Returns:
        dict with `top1_agreement`, `max_abs_diff`, `mean_abs_diff` and, with labels, `top1`.
    """
    reference = np.asarray(reference, dtype=np.float32)
    outputs = np.asarray(outputs, dtype=np.float32)
    if reference.shape != outputs.shape:
        raise ValueError(f"Shapes differ: reference {reference.shape}, outputs {outputs.shape}.")
    diff = np.abs(reference - outputs)
    result = {
        "top1_agreement": float(np.mean(np.argmax(reference, -1) == np.argmax(outputs, -1))),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
    }
    if labels is not None:
        result["top1"] = top1_accuracy(outputs, labels)
    return result


def evaluate_tflite(model, images, labels=None, reference=None, num_threads: int | None = None) -> dict:
    """Runs a `.tflite` (path/bytes) on images; accuracy and agreement with `reference` outputs."""
    outputs = run_tflite(model, images, num_threads=num_threads)
    result: dict = {}
    if labels is not None:
        result["top1"] = top1_accuracy(outputs, labels)
    if reference is not None:
        result.update(compare(reference, outputs, labels))
    return result


def _layer_outputs(content: bytes) -> dict:
    """`{layer: (tensor index, tensor name, shape, op kind)}`: the last op output of each layer, in order.

    Only ops whose own output names (or the graph's output list) say which layer they belong to
    are counted: a quantized file's SOFTMAX output carries no layer name, and attributing it to
    the dense layer before it would compare probabilities with logits. A DEQUANTIZE counts only
    where it makes a graph output (it then stands for the layer that output is named after); its kind is
    that of the op it dequantizes, so two files are compared only where the same kind of op made the tensor.
    """
    from kerasfer.runtime import flatbuffer

    fm = flatbuffer.read_tflite(content)
    graph_outputs = set(fm.outputs[0]) if fm.outputs else set()
    producer = {o: op for op in fm.ops for o in op.outputs}
    result: dict = {}
    for op in fm.ops:
        if op.name == "QUANTIZE" or (op.name == "DEQUANTIZE" and not set(op.outputs) & graph_outputs):
            continue
        layer = fm.layer_of(op, from_inputs=False)
        if not layer:
            continue
        t = fm.tensor(op.outputs[0])
        kind = op.name
        if op.name == "DEQUANTIZE" and op.inputs and op.inputs[0] in producer:
            kind = producer[op.inputs[0]].name
        result.pop(layer, None)  # keep insertion order = the layer's last op
        result[layer] = (t.index, t.name, tuple(t.shape), kind)
    return result


def _all_tensors(content: bytes, image: np.ndarray) -> tuple:
    from kerasfer.runtime.runners import make_interpreter
    from kerasfer.runtime.runners import quantize_input

    interp = make_interpreter(bytes(content), use_xnnpack=False, experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    detail = interp.get_input_details()[0]
    interp.set_tensor(detail["index"], quantize_input(np.asarray(image, np.float32)[None], detail))
    interp.invoke()
    details = {d["index"]: d for d in interp.get_tensor_details()}
    return interp, details


def _dequantized(interp, detail) -> np.ndarray:
    from kerasfer.runtime.runners import dequantize

    return dequantize(interp.get_tensor(detail["index"]), detail)


def layer_drift(reference: bytes, quantized: bytes, images) -> list:
    """Where a quantized model's activations drift from a float reference, layer by layer.

    Both models run on each image with every intermediate tensor preserved; the output of
    each Keras layer (its last op, found through tensor names) is compared as
    `||q - f|| / ||f||`, averaged over the images. `increase` is the error a layer adds over
    the previous compared layer: the layers with the largest increase lose the accuracy.

    Returns:
        A list of dicts `layer`, `tensor`, `relative_error`, `increase`, sorted by `increase`.
    """
    images = np.asarray(images, dtype=np.float32)
    ref_layers, q_layers = _layer_outputs(reference), _layer_outputs(quantized)
    # the same layer, shape and kind of op (a file without kerasfer metadata names its softmax output after no
    # layer, so its "predictions" is the dense logits: never set those against the other file's probabilities)
    common = [k for k in q_layers if k in ref_layers and ref_layers[k][2:] == q_layers[k][2:]]
    errors = {k: [] for k in common}
    for img in images:
        ri, rd = _all_tensors(reference, img)
        qi, qd = _all_tensors(quantized, img)
        for k in common:
            f = _dequantized(ri, rd[ref_layers[k][0]])
            q = _dequantized(qi, qd[q_layers[k][0]])
            errors[k].append(float(np.linalg.norm(q - f) / (np.linalg.norm(f) + 1e-12)))
    rows, prev = [], 0.0
    for k in common:
        err = float(np.mean(errors[k])) if errors[k] else 0.0
        rows.append({"layer": k, "tensor": q_layers[k][1], "relative_error": err, "increase": err - prev})
        prev = err
    return sorted(rows, key=lambda r: -r["increase"])


__all__ = [
    "load_eval_data",
    "run_tflite",
    "compare",
    "layer_drift",
    "evaluate_tflite",
    "predict_keras",
    "top1_accuracy",
    "validate_eval_data",
]
