"""Classifier runners: one interface over a Keras model and a `.tflite` file.

A runner takes a float32 batch of raw `[0, 255]` pixels `(N, H, W, C)` at the model's input size (normalisation is
inside every kerasfer model) and returns class probabilities `(N, K)` as float32.

* `KerasRunner` makes one real batched call per chunk of `batch_size` (the model's compiled predict step via
  `predict_on_batch`, not a Python loop over faces). Batches are padded to a power of two so the JAX backend
  compiles a handful of shapes only.
* `TFLiteRunner` runs `ai_edge_litert.interpreter.Interpreter`. Exported kerasfer models have a fixed batch of 1;
  the runner first tries to resize the input tensor to the batch size (`resize_tensor_input`, works for most
  float models) and otherwise loops over the batch one image at a time. int8/uint8 inputs and outputs are
  (de)quantized with the tensor's scale and zero point.

Outputs: when a model ends in softmax (the default `classifier_activation`), its output is used as is; when its
classifier layer (`"predictions"`) has a linear activation, or the outputs are not a probability distribution,
a softmax is applied (`output="auto"`); force it with `output="logits"` / `output="probabilities"`.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _output_activation(model) -> str | None:
    """The activation name of the layer that produces the model's output (`"softmax"`, `"linear"`, ...), or None.

    The output layer is the one to look at: kerasfer builders end either in a Dense `"predictions"` with the
    activation, or in a linear Dense followed by an `Activation` layer (ShuffleNetV2, LFER-LDL), whose
    `"predictions"` layer alone would look like logits."""
    try:
        layer = model.outputs[0]._keras_history.operation
    except (AttributeError, IndexError, TypeError):
        layer = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", str(activation))


def _tflite_ends_in_softmax(interpreter, output_index) -> bool:
    """Whether the op producing the output (looking through QUANTIZE / DEQUANTIZE) is a SOFTMAX. `interpreter`
    must not have allocated its tensors yet: after that, XNNPACK has replaced the ops by one DELEGATE node."""
    try:
        ops = interpreter._get_ops_details()
    except Exception:  # noqa: BLE001 - a private API; without it the value-based check remains
        return False
    producer = {int(t): op for op in ops for t in op["outputs"]}
    index, seen = int(output_index), 0
    while index in producer and seen < 8:
        op = producer[index]
        if op["op_name"] == "SOFTMAX":
            return True
        if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE") or len(op["inputs"]) != 1:
            return False
        index, seen = int(op["inputs"][0]), seen + 1
    return False


def _check_output_mode(output):
    if output not in ("auto", "probabilities", "logits"):
        raise ValueError(f"output must be 'auto', 'probabilities' or 'logits'; got {output!r}.")
    return output


def _to_probabilities(values: np.ndarray, mode: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"The classifier must output (batch, num_classes); got shape {values.shape}.")
    if mode == "logits":
        return softmax(values).astype(np.float32)
    if mode == "probabilities":
        return values
    looks_like_probs = values.size and values.min() >= -1e-6 and np.allclose(values.sum(-1), 1.0, atol=1e-3)
    return values if looks_like_probs else softmax(values).astype(np.float32)


class Runner:
    """Base class: `input_shape` (H, W, C), `num_classes`, `__call__(batch) -> (N, K)` probabilities."""

    input_shape: tuple[int, int, int]
    num_classes: int
    source: str | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_batch(self, batch) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(self.input_shape):
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"Expected a batch of shape (N, {expected}); got {batch.shape}.")
        if not np.all(np.isfinite(batch)):
            raise ValueError("The input batch contains NaN or inf values.")
        return batch


class KerasRunner(Runner):
    """Runs a `keras.Model` whose first input is `(None, H, W, C)` raw pixels.

    Args:
        model: the model.
        batch_size: the largest batch per model call.
        output: `"auto"`, `"probabilities"` or `"logits"` (see the module docstring).
    """

    def __init__(self, model, batch_size: int = 32, output: str = "auto", source: str | None = None):
        shape = tuple(model.inputs[0].shape)
        if len(shape) != 4 or any(d is None for d in shape[1:]):
            raise ValueError(f"The model must take (batch, H, W, C) images with fixed H, W, C; its input is {shape}.")
        if len(model.outputs) != 1:
            raise ValueError(f"The model must have one output (class scores); it has {len(model.outputs)}.")
        out_shape = tuple(model.outputs[0].shape)
        if len(out_shape) != 2 or out_shape[-1] is None:
            raise ValueError(
                f"The model must output (batch, num_classes); its output is {out_shape} "
                "(built with include_top=False?)."
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.model = model
        self.input_shape = tuple(int(d) for d in shape[1:])
        self.num_classes = int(out_shape[-1])
        self.batch_size = int(batch_size)
        self.output = _check_output_mode(output)
        if self.output == "auto":
            name = _output_activation(model)
            if name == "linear":
                self.output = "logits"
            elif name == "softmax":
                self.output = "probabilities"
        self.source = source

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = self._check_batch(batch)
        n = len(batch)
        if n == 0:
            return np.zeros((0, self.num_classes), np.float32)
        outputs = []
        for start in range(0, n, self.batch_size):
            chunk = batch[start : start + self.batch_size]
            real = len(chunk)
            size = min(1 << (real - 1).bit_length(), self.batch_size)  # next power of two (few compiled shapes)
            if size > real:
                chunk = np.concatenate([chunk, np.zeros((size - real,) + chunk.shape[1:], chunk.dtype)])
            out = self.model.predict_on_batch(chunk)
            outputs.append(np.asarray(out)[:real])
        return _to_probabilities(np.concatenate(outputs), self.output)


class TFLiteRunner(Runner):
    """Runs a `.tflite` classifier with `ai_edge_litert` (batch-1 models: resized input or a loop; see module doc).

    Args:
        path: the `.tflite` file.
        num_threads: interpreter threads (None: LiteRT's default).
        output: `"auto"`, `"probabilities"` or `"logits"`.
    """

    def __init__(self, path, num_threads: int | None = None, output: str = "auto"):
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No such .tflite file: {path}")
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("Running .tflite files needs ai-edge-litert: pip install 'kerasfer[tflite]'.") from e
        try:
            self._make = lambda: Interpreter(model_path=str(path), num_threads=num_threads)
            self.interpreter = self._make()
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"Cannot load {path} as a TFLite model: {e}") from e
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}.")
        self._in, self._out = inputs[0], outputs[0]
        shape = tuple(int(d) for d in self._in["shape"])
        if len(shape) != 4:
            raise ValueError(f"{path}: the input must be (1, H, W, C) images; it is {shape}.")
        self.input_shape = shape[1:]
        self.num_classes = int(self._out["shape"][-1])
        self._batch = shape[0]  # the batch the interpreter is currently allocated for
        self._resizable = True
        self.output = _check_output_mode(output)
        if self.output == "auto" and _tflite_ends_in_softmax(Interpreter(model_path=str(path)), self._out["index"]):
            # decided once from the graph: a per-batch check of the values is fooled by int8 outputs, whose
            # dequantized probabilities need not sum to 1 within the tolerance
            self.output = "probabilities"
        self.source = str(path)

    def _set_batch(self, n) -> bool:
        if n == self._batch:
            return True
        if not self._resizable:
            return False
        try:
            self.interpreter.resize_tensor_input(self._in["index"], [n, *self.input_shape], strict=False)
            self.interpreter.allocate_tensors()
            self._batch = n
            return True
        except (ValueError, RuntimeError):
            # Not resizable (e.g. a RESHAPE with a constant batch 1): go back to batch 1 and loop.
            self._resizable = False
            self.interpreter = self._make()
            self.interpreter.allocate_tensors()
            self._batch = 1
            return n == 1

    def _run(self, batch):
        details = self._in
        x = batch
        if details["dtype"] in (np.int8, np.uint8):
            scale, zero = details["quantization"]
            info = np.iinfo(details["dtype"])
            x = np.clip(np.round(batch / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(details["index"], x.astype(details["dtype"]))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._out["index"])
        if self._out["dtype"] in (np.int8, np.uint8):
            scale, zero = self._out["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return np.array(out, dtype=np.float32)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = self._check_batch(batch)
        n = len(batch)
        if n == 0:
            return np.zeros((0, self.num_classes), np.float32)
        if self._set_batch(n):
            out = self._run(batch)
        else:
            out = np.concatenate([self._run(batch[i : i + 1]) for i in range(n)])
        return _to_probabilities(out.reshape(n, -1), self.output)


def load_runner(model=None, weights=None, *, tflite=None, batch_size: int = 32, output: str = "auto", **model_kwargs):
    """Builds a runner from what the user has.

    Args:
        model: a `keras.Model`, a `Runner`, a registered model name (`kerasfer.models.list_models()`), or a path to
            a `.keras` model or a `.tflite` file.
        weights: a `.weights.h5` / `.keras` path for a registered model name.
        tflite: a `.tflite` path (same as passing it as `model`).
        batch_size, output: see `KerasRunner`.
        **model_kwargs: passed to the model builder for a registered name (e.g. `num_classes`, `input_shape`).
    """
    if tflite is not None:
        if model is not None:
            raise ValueError("Pass either model= or tflite=, not both.")
        return TFLiteRunner(tflite, output=output)
    if isinstance(model, Runner):
        return model
    if isinstance(model, str | os.PathLike):
        text = str(model)
        suffix = pathlib.Path(text).suffix.lower()
        if suffix == ".tflite":
            return TFLiteRunner(text, output=output)
        if suffix in (".keras", ".h5") and not text.endswith(".weights.h5"):
            import keras

            if not os.path.isfile(text):
                raise FileNotFoundError(f"No such model file: {text}")
            import kerasfer  # noqa: F401  (registers the custom layers for deserialisation)

            return KerasRunner(keras.saving.load_model(text, compile=False), batch_size, output, source=text)
        from kerasfer.models import create_model

        built = create_model(text, weights=weights, **model_kwargs)
        return KerasRunner(built, batch_size, output, source=str(weights) if weights else text)
    if model is None:
        raise ValueError("load_runner needs a model, a model name, a .keras path or a .tflite path.")
    if not hasattr(model, "inputs") or not hasattr(model, "predict_on_batch"):
        raise TypeError(f"Expected a keras.Model, a Runner, a name or a path; got {type(model).__name__}.")
    if weights is not None:
        model.load_weights(str(weights))
    return KerasRunner(model, batch_size, output)
