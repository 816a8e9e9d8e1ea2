"""Runs a `.tflite` with LiteRT on arrays and compares it with the Keras model.

`TFLiteRunner` feeds images one at a time (the exported models have a fixed batch of 1),
quantizing float inputs for int8/uint8 models and dequantizing their outputs, so every
variant is compared on the same float scale. `compare` gives top-1 accuracy, top-1
agreement with a reference and the largest absolute probability difference.
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


class TFLiteRunner:
    """A LiteRT interpreter over one `.tflite` model with float in / float out.

    Args:
        model: a `.tflite` path or its bytes.
        num_threads: CPU threads (None = LiteRT's default).
        use_xnnpack: False disables the default XNNPACK delegate (reference kernels).

    Example:
    >>> runner = TFLiteRunner("lfnsb_int8.tflite")
    >>> probs = runner.predict(images)  # (N, num_classes) float32
    """

    def __init__(self, model, num_threads: int | None = None, use_xnnpack: bool = True):
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_litert.interpreter import OpResolverType

        kwargs = {"num_threads": num_threads}
        if not use_xnnpack:
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        if isinstance(model, bytes | bytearray):
            self.interpreter = Interpreter(model_content=bytes(model), **kwargs)
        else:
            path = os.fspath(model)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"No .tflite file at {path!r}.")
            self.interpreter = Interpreter(model_path=path, **kwargs)
        self.interpreter.allocate_tensors()
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"Expected a single-input model, got {len(inputs)} inputs.")
        self.input = inputs[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.input["shape"])

    @property
    def delegated(self) -> bool:
        """True when a delegate (XNNPACK) took over part of the graph."""
        return any(op["op_name"] == "DELEGATE" for op in self.interpreter._get_ops_details())

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input["dtype"]
        if dtype in (np.int8, np.uint8):
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        if self.output["dtype"] in (np.int8, np.uint8):
            scale, zero = self.output["quantization"]
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def set_input(self, image: np.ndarray) -> None:
        self.interpreter.set_tensor(self.input["index"], self.quantize_input(image[None]))

    def invoke(self) -> None:
        self.interpreter.invoke()

    def predict(self, images) -> np.ndarray:
        """Outputs for `(N, H, W, C)` float images (raw pixels), as float32 `(N, ...)`."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 3:
            images = images[None]
        if tuple(images.shape[1:]) != self.input_shape[1:]:
            raise ValueError(f"Images have shape {images.shape[1:]} but the .tflite takes {self.input_shape[1:]}.")
        if not np.all(np.isfinite(images)):
            raise ValueError("Images contain NaN or infinite values.")
        out = []
        for img in images:
            self.set_input(img)
            self.interpreter.invoke()
            out.append(self.dequantize_output(self.interpreter.get_tensor(self.output["index"]))[0])
        return np.stack(out)


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
    outputs = TFLiteRunner(model, num_threads=num_threads).predict(images)
    result: dict = {}
    if labels is not None:
        result["top1"] = top1_accuracy(outputs, labels)
    if reference is not None:
        result.update(compare(reference, outputs, labels))
    return result


def _layer_outputs(content: bytes) -> dict:
    """`{layer: (tensor index, tensor name, shape)}`: the last op output of each layer, in order.

    Only ops whose own output names (or the graph's output list) say which layer they belong to
    are counted: a quantized file's SOFTMAX output carries no layer name, and attributing it to
    the dense layer before it would compare probabilities with logits. A DEQUANTIZE counts only
    where it makes a graph output (it then stands for the layer that output is named after).
    """
    from kerasfer.export import flatbuffer

    fm = flatbuffer.read_tflite(content)
    graph_outputs = set(fm.outputs[0]) if fm.outputs else set()
    result: dict = {}
    for op in fm.ops:
        if op.name == "QUANTIZE" or (op.name == "DEQUANTIZE" and not set(op.outputs) & graph_outputs):
            continue
        layer = fm.layer_of(op, from_inputs=False)
        if not layer:
            continue
        t = fm.tensor(op.outputs[0])
        result.pop(layer, None)  # keep insertion order = the layer's last op
        result[layer] = (t.index, t.name, tuple(t.shape))
    return result


def _all_tensors(content: bytes, image: np.ndarray) -> tuple:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    interp = Interpreter(
        model_content=bytes(content),
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    runner = TFLiteRunner.__new__(TFLiteRunner)
    runner.interpreter = interp
    runner.input = interp.get_input_details()[0]
    runner.output = interp.get_output_details()[0]
    runner.set_input(image)
    interp.invoke()
    details = {d["index"]: d for d in interp.get_tensor_details()}
    return interp, details


def _dequantized(interp, detail) -> np.ndarray:
    value = interp.get_tensor(detail["index"]).astype(np.float32)
    scale, zero = detail["quantization"]
    if detail["dtype"] in (np.int8, np.uint8, np.int16) and scale:
        value = (value - zero) * scale
    return value


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
    common = [k for k in q_layers if k in ref_layers and ref_layers[k][2] == q_layers[k][2]]
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
    "TFLiteRunner",
    "compare",
    "layer_drift",
    "evaluate_tflite",
    "predict_keras",
    "top1_accuracy",
    "validate_eval_data",
]
