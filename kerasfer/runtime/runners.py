"""Model runners: one interface over a Keras model and a `.tflite` file (`load_runner`, which builds one from what
a user has, is `kerasfer.inference.runners`'s).

They sit below the models, data, face and export code so that each can run a model without importing upward:
BlazeFace runs on `make_interpreter`, export's checks and benchmarks on `TFLiteRunner`.

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

import pathlib

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _output_activation(model) -> str | None:
    """The activation name of the layer that produces the model's output (`"softmax"`, `"linear"`, ...), or None.

    The output layer is the one to look at: kerasfer builders end in a Dense `"predictions"` with the activation,
    but a user's model may end in a linear Dense followed by an `Activation` layer, whose Dense alone would look
    like logits."""
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
    labels: tuple[str, ...] | None = None  # class names in output order, when known
    labels_source: str | None = None
    align_margin: float | None = None  # the face-crop margin the weights were trained with, when known

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


def quantize_input(x: np.ndarray, details: dict) -> np.ndarray:
    """Float raw pixels -> the dtype of a TFLite input tensor (int8/uint8 with its scale and zero point)."""
    dtype = details["dtype"]
    if dtype in (np.int8, np.uint8):
        scale, zero = details["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return np.asarray(x).astype(dtype)


def dequantize(y: np.ndarray, details: dict) -> np.ndarray:
    """A TFLite tensor's values as float32 (int8/uint8/int16 dequantized with its scale and zero point)."""
    scale, zero = details.get("quantization", (0.0, 0))
    if details["dtype"] in (np.int8, np.uint8, np.int16) and scale:
        return (np.asarray(y).astype(np.float32) - zero) * scale
    return np.asarray(y, dtype=np.float32)


def make_interpreter(model, num_threads: int | None = None, use_xnnpack: bool = True, **kwargs):
    """A LiteRT `Interpreter` over a `.tflite` path or its bytes (not yet allocated); clear errors."""
    try:
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_litert.interpreter import OpResolverType
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("Running .tflite files needs ai-edge-litert: pip install 'kerasfer[tflite]'.") from e
    if not use_xnnpack:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(model, bytes | bytearray):
        source = {"model_content": bytes(model)}
        name = "the .tflite bytes"
    else:
        path = pathlib.Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"No such .tflite file: {path}")
        source, name = {"model_path": str(path)}, str(path)
    try:
        return Interpreter(num_threads=num_threads, **source, **kwargs)
    except (ValueError, RuntimeError) as e:
        raise ValueError(f"Cannot load {name} as a TFLite model: {e}") from e


class TFLiteRunner(Runner):
    """Runs a `.tflite` classifier with `ai_edge_litert` (batch-1 models: resized input or a loop; see module doc).

    The one TFLite runner of the package: `kerasfer predict`, `FER(tflite=...)`, `kerasfer export`'s accuracy
    and agreement checks and the layer-drift report all use it.

    Args:
        model: the `.tflite` file, or its bytes.
        num_threads: interpreter threads (None: LiteRT's default).
        output: `"auto"`, `"probabilities"` (the outputs as they are) or `"logits"`.
        use_xnnpack: False runs LiteRT's reference kernels (no default delegate).
    """

    def __init__(self, model, num_threads: int | None = None, output: str = "auto", use_xnnpack: bool = True):
        self._make = lambda: make_interpreter(model, num_threads, use_xnnpack)
        self.interpreter = self._make()
        name = "the .tflite bytes" if isinstance(model, bytes | bytearray) else str(model)
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{name}: expected one input and one output, got {len(inputs)} and {len(outputs)}.")
        self._in, self._out = inputs[0], outputs[0]
        shape = tuple(int(d) for d in self._in["shape"])
        if len(shape) != 4:
            raise ValueError(f"{name}: the input must be (1, H, W, C) images; it is {shape}.")
        self.input_shape = shape[1:]
        self.num_classes = int(self._out["shape"][-1])
        self.output = _check_output_mode(output)
        if self.output == "auto" and _tflite_ends_in_softmax(self.interpreter, self._out["index"]):
            # decided once from the graph: a per-batch check of the values is fooled by int8 outputs, whose
            # dequantized probabilities need not sum to 1 within the tolerance
            self.output = "probabilities"
        try:
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"Cannot load {name} as a TFLite model: {e}") from e
        self._batch = shape[0]  # the batch the interpreter is currently allocated for
        self._resizable = True
        self.source = None if isinstance(model, bytes | bytearray) else str(model)
        self._content = bytes(model) if isinstance(model, bytes | bytearray) else None

    @property
    def delegated(self) -> bool:
        """True when a delegate (XNNPACK) took over part of the graph."""
        return any(op["op_name"] == "DELEGATE" for op in self.interpreter._get_ops_details())

    def metadata(self) -> dict | None:
        """The `kerasfer_metadata` JSON that `kerasfer export` embeds (labels, input, ...), or None."""
        try:
            from kerasfer.runtime.flatbuffer import read_tflite

            return read_tflite(self._content if self._content is not None else self.source).kerasfer_metadata()
        except (ImportError, ValueError, OSError):
            return None

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

    def set_input(self, image: np.ndarray) -> None:
        """Sets one `(H, W, C)` raw-pixel image as the input (batch 1), for timing `invoke` alone."""
        self._set_batch(1)
        self.interpreter.set_tensor(self._in["index"], quantize_input(np.asarray(image, np.float32)[None], self._in))

    def invoke(self) -> None:
        self.interpreter.invoke()

    def _run(self, batch):
        self.interpreter.set_tensor(self._in["index"], quantize_input(batch, self._in))
        self.interpreter.invoke()
        return np.array(dequantize(self.interpreter.get_tensor(self._out["index"]), self._out), dtype=np.float32)

    def raw(self, batch: np.ndarray) -> np.ndarray:
        """The model's outputs for a batch (or one image) as they are, dequantized: `(N, ...)` float32."""
        batch = self._check_batch(batch)
        n = len(batch)
        if n == 0:
            return np.zeros((0, *(int(d) for d in self._out["shape"][1:])), np.float32)
        if self._set_batch(n):
            return self._run(batch)
        return np.concatenate([self._run(batch[i : i + 1]) for i in range(n)])

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.raw(batch)
        return _to_probabilities(out.reshape(len(out), -1), self.output)

    def predict(self, images) -> np.ndarray:
        """`self(images)` for one image `(H, W, C)` or a batch: `(N, num_classes)` float32."""
        return self(images)
