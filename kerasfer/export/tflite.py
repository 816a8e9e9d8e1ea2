"""Keras -> TFLite (LiteRT) conversion with post-training quantization.

`convert(model, quantization)` returns the `.tflite` bytes; `export_tflite(model, path, ...)`
also writes `<file>.labels.txt`, a model card (JSON + Markdown) and embeds kerasfer metadata (the
labels included), so two models exported to one folder never share or overwrite a label file.

The conversion path, chosen because it gives correct numbers and builtin ops only:
re-parameterize the model (fused re-param blocks), trace `model(x, training=False)` in a
`tf.function` with a fixed batch-1 `TensorSpec`, freeze the variables into constants
(`convert_variables_to_constants_v2`; an unfrozen concrete function gives NaNs in TF 2.21)
and convert with `TFLiteConverter.from_concrete_functions`, restricting
`target_spec.supported_ops` to the builtin op sets (never `SELECT_TF_OPS`, which Keras's
`model.export(format="litert")` adds by default). The result is re-read and rejected if it
holds any custom or Flex op.

TensorFlow is imported inside the functions only; the model must have been built on the
TensorFlow backend (the converter traces it as a TF graph).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings
from collections.abc import Callable
from collections.abc import Iterable

import numpy as np

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("fp32", "fp16", "dynamic", "int8")
# The ops that int8 exports keep in float for XNNPACK on x86 CPUs (`float_ops="cpu"`): PReLU, and coordinate
# attention's pooling (MEAN), hard swish and gating (MUL). Measured with `kerasfer.export.bench.interleaved`, 1
# thread on a 2-core x86 (AVX-512 VNNI), ai-edge-litert 2.3: int8 LFNSB 0.62x of fp32 latency with them in float
# against 0.77x all-integer, MobileFaceNet 0.68x against 0.86x.
CPU_FLOAT_OPS = ("PRELU", "MUL", "MEAN", "HARD_SWISH")
_IO_TYPES = ("float32", "int8", "uint8")


class ConversionError(RuntimeError):
    """The model could not be converted to builtin TFLite ops."""


@dataclasses.dataclass
class QuantizationConfig:
    """How to quantize a model during TFLite conversion (after MediaPipe Model Maker's).

    Build it with one of the constructors: `for_float32()`, `for_float16()` (fp16 weights,
    float compute: the GPU choice), `for_dynamic()` (int8 weights, float activations) or
    `for_int8(representative_data)` (full integer: int8 weights and activations, the
    CPU/NPU choice).

    Args:
        mode: `"fp32"`, `"fp16"`, `"dynamic"` or `"int8"`.
        representative_data: model inputs (raw `[0, 255]` pixels) for int8 calibration: an
            array `(N, H, W, C)`, a `tf.data.Dataset` (of images, batches, or `(image, label)`
            pairs) or a generator / callable returning an iterable of them.
        quantization_steps: the most images used for calibration.
        inference_input_type: `"float32"`, `"int8"` or `"uint8"` (int8 mode only).
        inference_output_type: `"float32"`, `"int8"` or `"uint8"` (int8 mode only).
        allow_float_fallback: int8 mode only: let ops that have no int8 kernel stay float
            (default False: full integer or fail).
        rewrite_activations: int8 mode only: trace PReLU and hard swish as the equivalent ops
            XNNPACK runs in int8 (`kerasfer.export.int8_rewrite`; default True). Without it
            each int8 PRELU / HARD_SWISH runs outside XNNPACK and LFNSB int8 is slower than fp32.
            An activation named in `float_ops` is not rewritten.
        float_ops: int8 mode only: TFLite builtin op names (`"PRELU"`, `"HARD_SWISH"`, ...) kept
            in float32 inside the int8 model (selective quantization): each run of such ops gets a
            DEQUANTIZE before it and a QUANTIZE after it, both of which XNNPACK runs. `"cpu"`
            stands for `CPU_FLOAT_OPS`, the set that made int8 LFNSB and MobileFaceNet clearly
            faster than fp32 on the x86 CPU measured (see `CPU_FLOAT_OPS`). Needs float32 model
            I/O; the model is then no longer all-integer, so NPUs that take integer graphs only
            reject it.
        outlier_ratio: int8 mode only: calibration images whose activations, at any layer, exceed
            `outlier_ratio` times the median image's are left out of the calibration (at most a tenth of
            the images; see `calibration_outliers`); None keeps every image. One blank FER2013 image
            among 300 made LFNSB's stage-5 activations a thousand times their usual size, so the int8
            ranges were too coarse for every other face (top-1 agreement with float 54%, 91% without it).
        outliers_dropped: how many calibration images `screened` left out (None: not screened yet).

    Example:
    >>> cfg = QuantizationConfig.for_int8(images, inference_input_type="uint8")
    >>> tflite_bytes = convert(model, cfg)
    """

    mode: str = "fp32"
    representative_data: object = None
    quantization_steps: int = 200
    inference_input_type: str = "float32"
    inference_output_type: str = "float32"
    allow_float_fallback: bool = False
    rewrite_activations: bool = True
    float_ops: tuple = ()
    outlier_ratio: float | None = 10.0
    outliers_dropped: int | None = None

    def __post_init__(self):
        if self.mode not in QUANTIZATIONS:
            raise ValueError(f"Unknown quantization {self.mode!r}; choose one of {QUANTIZATIONS}.")
        for arg in ("inference_input_type", "inference_output_type"):
            value = getattr(self, arg)
            value = np.dtype(value).name if not isinstance(value, str) else value
            if value not in _IO_TYPES:
                raise ValueError(f"{arg} must be one of {_IO_TYPES}, got {value!r}.")
            if value != "float32" and self.mode != "int8":
                raise ValueError(f"{arg}={value!r} needs quantization='int8' (got {self.mode!r}).")
            setattr(self, arg, value)
        if self.mode == "int8" and self.representative_data is None:
            raise ValueError("int8 quantization needs representative_data (model inputs: raw [0, 255] pixels).")
        if int(self.quantization_steps) < 1:
            raise ValueError(f"quantization_steps must be >= 1, got {self.quantization_steps}.")
        if self.outlier_ratio is not None and not (float(self.outlier_ratio) > 1.0):
            raise ValueError(f"outlier_ratio must be > 1 (or None to keep every image), got {self.outlier_ratio!r}.")
        self.float_ops = _check_float_ops(self.float_ops, self)

    @classmethod
    def for_float32(cls) -> QuantizationConfig:
        return cls(mode="fp32")

    @classmethod
    def for_float16(cls) -> QuantizationConfig:
        return cls(mode="fp16")

    @classmethod
    def for_dynamic(cls) -> QuantizationConfig:
        return cls(mode="dynamic")

    @classmethod
    def for_int8(
        cls,
        representative_data,
        quantization_steps: int = 200,
        inference_input_type: str = "float32",
        inference_output_type: str = "float32",
        allow_float_fallback: bool = False,
        rewrite_activations: bool = True,
        float_ops: Iterable[str] = (),
        outlier_ratio: float | None = 10.0,
    ) -> QuantizationConfig:
        return cls(
            mode="int8",
            representative_data=representative_data,
            quantization_steps=quantization_steps,
            inference_input_type=inference_input_type,
            inference_output_type=inference_output_type,
            allow_float_fallback=allow_float_fallback,
            rewrite_activations=rewrite_activations,
            float_ops=float_ops,
            outlier_ratio=outlier_ratio,
        )

    @classmethod
    def from_name(cls, name: str | QuantizationConfig | None, representative_data=None, **kwargs):
        """`"fp32"`/`"fp16"`/`"dynamic"`/`"int8"` (or None = fp32, or a config) -> config."""
        if isinstance(name, cls):
            return name
        name = "fp32" if name is None else str(name).lower()
        name = {"float32": "fp32", "float16": "fp16", "none": "fp32", "drq": "dynamic"}.get(name, name)
        if name == "int8":
            return cls.for_int8(representative_data, **kwargs)
        if kwargs:
            raise ValueError(f"Options {sorted(kwargs)} apply to int8 quantization only (got {name!r}).")
        return cls(mode=name)

    def describe(self) -> dict:
        """JSON-able summary (for the model card)."""
        out = {"mode": self.mode}
        if self.mode == "int8":
            out.update(
                quantization_steps=int(self.quantization_steps),
                inference_input_type=self.inference_input_type,
                inference_output_type=self.inference_output_type,
                allow_float_fallback=bool(self.allow_float_fallback),
                rewrite_activations=bool(self.rewrite_activations),
            )
            if self.float_ops:
                out["float_ops"] = list(self.float_ops)
            out["calibration_outlier_ratio"] = None if self.outlier_ratio is None else float(self.outlier_ratio)
            if self.outliers_dropped is not None:
                out["calibration_outliers_dropped"] = int(self.outliers_dropped)
        return out

    def screened(self, model, input_shape) -> QuantizationConfig:
        """This config with the calibration images collected and `calibration_outliers` of `model` left out.

        Returns `self` unless int8 with `outlier_ratio` set and not screened yet; the new config holds the images
        kept as an array and `outliers_dropped`.
        """
        if self.mode != "int8" or self.outlier_ratio is None or self.outliers_dropped is not None:
            return self
        images = np.stack(representative_images(self.representative_data, input_shape, self.quantization_steps))
        outliers = calibration_outliers(model, images, self.outlier_ratio)
        if outliers.any():
            logger.warning(
                "int8 calibration: left out %d of %d images whose activations exceed %g times the median "
                "image's (outlier_ratio=None keeps them).",
                int(outliers.sum()),
                len(images),
                self.outlier_ratio,
            )
        return dataclasses.replace(self, representative_data=images[~outliers], outliers_dropped=int(outliers.sum()))

    def set_converter_with_quantization(self, converter, input_shape) -> None:
        """Applies this config to a `tf.lite.TFLiteConverter`."""
        import tensorflow as tf

        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if self.mode == "fp32":
            return
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.mode == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        elif self.mode == "int8":
            images = representative_images(self.representative_data, input_shape, self.quantization_steps)

            def gen():
                for img in images:
                    yield [img[None].astype(np.float32)]

            converter.representative_dataset = gen
            ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if self.allow_float_fallback or self.float_ops:
                ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
            converter.target_spec.supported_ops = ops
            converter.inference_input_type = getattr(tf, self.inference_input_type)
            converter.inference_output_type = getattr(tf, self.inference_output_type)

    def run_converter(self, converter) -> bytes:
        """Converts with `converter` (set up by `set_converter_with_quantization`).

        With `float_ops`, quantizes through TensorFlow's `QuantizationDebugger`, whose
        `denylisted_ops` keep those ops in float32 (the public route to selective quantization).
        """
        if not self.float_ops:
            return converter.convert()
        import tensorflow as tf

        with warnings.catch_warnings():  # the debugger checks its debug model with the deprecated tf.lite.Interpreter
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter,
                debug_dataset=converter.representative_dataset,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(self.float_ops)),
            )
            return debugger.get_nondebug_quantized_model()


def _check_float_ops(float_ops, config) -> tuple:
    """`float_ops` as a tuple of upper-case builtin op names; raises on a bad name or combination."""
    if isinstance(float_ops, str):
        float_ops = (float_ops,)
    names = [str(op).strip().upper() for op in (float_ops or ())]
    names = tuple(dict.fromkeys(n for op in names for n in (CPU_FLOAT_OPS if op == "CPU" else (op,))))
    if not names:
        return ()
    if config.mode != "int8":
        raise ValueError(f"float_ops={list(names)} applies to int8 quantization only (got {config.mode!r}).")
    from kerasfer.runtime import flatbuffer

    unknown = [op for op in names if not flatbuffer.is_builtin(op)]
    if unknown:
        raise ValueError(
            f"float_ops: {unknown} are not TFLite builtin op names (e.g. PRELU, HARD_SWISH, MEAN) nor 'cpu'."
        )
    if config.inference_input_type != "float32" or config.inference_output_type != "float32":
        raise ValueError(
            "float_ops needs float32 model I/O: a model with float ops inside is not all-integer, "
            f"so integer I/O ({config.inference_input_type} / {config.inference_output_type}) buys nothing."
        )
    return names


def _iter_source(data):
    """Yields numpy arrays (single images or batches) from an array / dataset / generator."""
    if data is None:
        return
    if callable(data) and not hasattr(data, "__iter__"):
        data = data()
    if isinstance(data, np.ndarray) or hasattr(data, "__array__") and not hasattr(data, "element_spec"):
        yield np.asarray(data)
        return
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        data = data.as_numpy_iterator()
    for element in data:
        if isinstance(element, dict):
            element = element.get("image", next(iter(element.values())))
        elif isinstance(element, list | tuple):
            element = element[0]
        yield np.asarray(element)


def representative_images(data, input_shape, max_images: int = 200) -> list:
    """Collects up to `max_images` single images `(H, W, C)` float32 from `data`.

    Raises:
        ValueError: no images, a wrong shape, or non-finite values.
    """
    h, w, c = (int(d) for d in input_shape[-3:])
    images: list = []
    for arr in _iter_source(data):
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or tuple(arr.shape[1:]) != (h, w, c):
            raise ValueError(
                f"Representative data must be images of shape (H, W, C) = {(h, w, c)} or batches of them; "
                f"got an element of shape {tuple(arr.shape)}."
            )
        arr = arr.astype(np.float32)
        if not np.all(np.isfinite(arr)):
            raise ValueError("Representative data contains NaN or infinite values.")
        for img in arr:
            images.append(img)
            if len(images) >= max_images:
                break
        if len(images) >= max_images:
            break
    if not images:
        raise ValueError("Representative data is empty: int8 calibration needs at least one image.")
    hi = max(float(img.max()) for img in images)
    if hi <= 1.0:
        warnings.warn(
            "Representative data looks normalised (max value <= 1), but kerasfer models take raw [0, 255] "
            "pixels: the int8 ranges will be calibrated on the wrong scale.",
            stacklevel=3,
        )
    return images


def calibration_outliers(model, images, ratio=10.0, max_fraction=0.1, batch_size=32) -> np.ndarray:
    """Which calibration images drive some layer far beyond its usual range (a boolean mask over `images`).

    For each layer output of `model` (float tensors of rank 2 and up; a nested model counts as one layer) it takes
    every image's largest absolute activation. An image is an outlier when, at some layer, that exceeds `ratio`
    times the median over the images. int8 calibration takes each tensor's range from the extremes it sees, so
    one such image (a blank frame, whose normalised values a BatchNorm with a tiny variance multiplies up)
    stretches the ranges of every later layer and costs every other image its resolution. At most
    `max_fraction` of the images (the worst ones) are marked: beyond that, wide ranges are the data, not outliers.

    Raises:
        ValueError: `ratio` not above 1, `max_fraction` outside [0, 1), or `images` not a batch of images.
    """
    import keras

    if not (float(ratio) > 1.0):
        raise ValueError(f"ratio must be > 1, got {ratio!r}.")
    if not (0.0 <= float(max_fraction) < 1.0):
        raise ValueError(f"max_fraction must be in [0, 1), got {max_fraction!r}.")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty batch (N, H, W, C), got shape {images.shape}.")
    peaks = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError, RuntimeError):  # a layer called more than once, or never
            continue
        if isinstance(out, list | tuple) or len(out.shape) < 2 or "float" not in str(out.dtype):
            continue
        peaks.append(keras.ops.max(keras.ops.abs(out), axis=tuple(range(1, len(out.shape)))))
    if not peaks:
        return np.zeros(len(images), bool)
    probe = keras.Model(model.inputs, peaks)
    rows = []
    for i in range(0, len(images), batch_size):
        out = probe.predict_on_batch(images[i : i + batch_size])
        rows.append(np.stack([np.asarray(p) for p in (out if isinstance(out, list | tuple) else [out])], 1))
    per_image = np.concatenate(rows)  # (images, layers)
    median = np.median(per_image, axis=0)
    score = np.max(per_image / np.maximum(median, 1e-6), axis=1)  # how far past its layer's usual range
    limit = int(max_fraction * len(images))
    worst = np.argsort(-score)[:limit]
    mask = np.zeros(len(images), bool)
    mask[worst[score[worst] > float(ratio)]] = True
    return mask


def _reparameterize(model):
    """Fuses re-param blocks with `kerasfer.export.reparam` (the model itself when it has none)."""
    from kerasfer.export import reparam

    return reparam.reparameterize(model) if reparam.needs_reparameterization(model) else model


def _static_input_shape(model, input_shape=None) -> tuple:
    if input_shape is not None:
        shape = tuple(input_shape)
        if len(shape) == 4:
            shape = shape[1:]
    else:
        if not getattr(model, "inputs", None):
            raise ValueError("The model has no defined input (build it as a functional model or pass input_shape).")
        if len(model.inputs) != 1:
            raise ValueError(
                f"TFLite export supports single-input models; this one has {len(model.inputs)} inputs. "
                "Build its image-only form (e.g. MultiScaleFER(region_input=False), which takes the face regions "
                "from the aligned-face template) and export that."
            )
        shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or any(d is None or int(d) <= 0 for d in shape):
        raise ValueError(
            f"TFLite export needs a static (H, W, C) input shape, got {shape}; "
            "pass input_shape=(H, W, C) or build the model with a fixed size."
        )
    return tuple(int(d) for d in shape)


def _check_backend():
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"TFLite export traces the model as a TensorFlow graph and needs KERAS_BACKEND=tensorflow "
            f"(running on {keras.backend.backend()!r}). Save the weights and re-export from a TensorFlow process."
        )


def convert(
    model,
    quantization: str | QuantizationConfig | None = "fp32",
    input_shape: tuple | None = None,
    representative_data=None,
    reparameterize: bool = True,
    **quantization_kwargs,
) -> bytes:
    """Converts a Keras model to `.tflite` bytes with builtin ops only and a batch-1 input.

    Args:
        model: a Keras model built on the TensorFlow backend (input: raw `[0, 255]` pixels).
        quantization: `"fp32"`, `"fp16"`, `"dynamic"`, `"int8"` or a `QuantizationConfig`.
        input_shape: `(H, W, C)` (default: the model's own static input shape).
        representative_data: calibration images for `"int8"` (see `QuantizationConfig`).
        reparameterize: fuse re-param blocks first (`kerasfer.export.reparam`); default True.
        **quantization_kwargs: int8 options (`inference_input_type`, `inference_output_type`,
            `quantization_steps`, `allow_float_fallback`, `rewrite_activations`, `float_ops`).

    Returns:
        The flatbuffer bytes.

    Raises:
        ConversionError: conversion failed or the result holds custom / Flex ops.
    """
    _check_backend()
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from kerasfer.runtime import flatbuffer

    config = QuantizationConfig.from_name(quantization, representative_data, **quantization_kwargs)
    shape = _static_input_shape(model, input_shape)
    if reparameterize:
        model = _reparameterize(model)
    config = config.screened(model, shape)

    @tf.function(input_signature=[tf.TensorSpec((1,) + shape, tf.float32, name="image")])
    def serve(image):
        return model(image, training=False)

    rewrite = {"prelu": "PRELU" not in config.float_ops, "hard_swish": "HARD_SWISH" not in config.float_ops}
    if config.mode == "int8" and config.rewrite_activations and any(rewrite.values()):
        from kerasfer.export.int8_rewrite import integer_friendly_activations

        tracing = integer_friendly_activations(model, **rewrite)
    else:
        tracing = contextlib.nullcontext()
    try:
        with tracing:
            frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
        config.set_converter_with_quantization(converter, shape)
        content = config.run_converter(converter)
    except ValueError as e:
        if "representative" in str(e).lower() or "shape" in str(e).lower():
            raise
        raise ConversionError(f"TFLite conversion of {model.name!r} ({config.mode}) failed: {e}") from e
    except Exception as e:  # the converter raises ConverterError and others
        raise ConversionError(f"TFLite conversion of {model.name!r} ({config.mode}) failed: {e}") from e
    parsed = flatbuffer.read_tflite(content)
    custom = sorted({op.custom_code or op.name for ops in parsed.operators for op in ops if op.name == "CUSTOM"})
    if custom:
        raise ConversionError(f"The converted model holds non-builtin ops {custom}; only builtin ops are allowed.")
    return bytes(content)


def _has_classifier(model) -> bool:
    try:
        model.get_layer("predictions")
    except ValueError:
        return False
    return True


def default_labels(num_classes: int) -> list:
    """The canonical kerasfer label order cut to `num_classes` (`kerasfer.models.loading.canonical_labels`)."""
    from kerasfer.models.loading import canonical_labels

    return list(canonical_labels(num_classes))


@dataclasses.dataclass
class ExportResult:
    """What `export_tflite` wrote.

    Attributes:
        path: the `.tflite` file.
        labels_path: `<file>.labels.txt` beside it (None for a model without a classifier).
        card_json_path: the model card as JSON.
        card_markdown_path: the model card as Markdown.
        size_bytes: size of the `.tflite` file.
        card: the model card dict.
        gpu_report: the `gpu_check.Report` of the exported file (classic delegate).
    """

    path: str
    labels_path: str
    card_json_path: str
    card_markdown_path: str
    size_bytes: int
    card: dict = dataclasses.field(repr=False)  # tens of kilobytes: read it, do not print it
    gpu_report: object = dataclasses.field(default=None, repr=False)


def export_tflite(
    model,
    path: str | os.PathLike,
    quantization: str | QuantizationConfig = "fp32",
    representative_data=None,
    labels: Iterable[str] | None = None,
    eval_data: tuple | None = None,
    input_shape: tuple | None = None,
    reparameterize: bool = True,
    embed_metadata: bool = True,
    gpu_check: bool = True,
    count_macs: bool = True,
    progress: Callable | None = None,
    source: str | None = None,
    **quantization_kwargs,
) -> ExportResult:
    """Exports a Keras model to `.tflite` with `<file>.labels.txt` and a model card beside it.

    The TFLite model takes raw `[0, 255]` float pixels (int8/uint8 when asked) of shape
    `(1, H, W, C)`: normalisation is part of the model (`ImageNormalization`). Outputs are
    what the Keras model outputs (softmax probabilities by default).

    Args:
        model: a Keras model built on the TensorFlow backend.
        path: the `.tflite` file to write (its folder is created).
        quantization: `"fp32"`, `"fp16"`, `"dynamic"`, `"int8"` or a `QuantizationConfig`.
        representative_data: calibration images for int8 (array, `tf.data.Dataset` or generator).
        labels: class names in output order (default: `kerasfer.data.labels.CANONICAL_LABELS[:num_classes]`;
            none for a model without a `"predictions"` layer, e.g. an embedding network).
        eval_data: optional `(images, labels)` arrays; the card then holds the accuracy of the
            Keras model and of the `.tflite`, and their top-1 agreement / max prob difference.
        input_shape: `(H, W, C)` override for a model with a dynamic input size.
        reparameterize: fuse re-param blocks first (default True).
        embed_metadata: embed the card facts as a `kerasfer_metadata` JSON metadata entry.
        gpu_check: run `kerasfer.export.gpu_check` and record the result in the card.
        count_macs: count MACs for the card (one forward pass).
        progress: optional `print`-like callable for progress messages.
        source: what the model was loaded from (a run directory, a file, a packaged name), recorded in the card
            as `"source"` (default: the model's name), so that every exported file says which run it came from.
        **quantization_kwargs: int8 options (see `QuantizationConfig.for_int8`).

    Returns:
        An `ExportResult`.
    """
    from kerasfer.export import card as card_lib
    from kerasfer.run_files import labels_path_for
    from kerasfer.runtime import flatbuffer

    say = progress or (lambda *a: None)
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(f"The export path must end with .tflite, got {path!r}.")
    config = QuantizationConfig.from_name(quantization, representative_data, **quantization_kwargs)
    shape = _static_input_shape(model, input_shape)
    num_classes = int(model.outputs[0].shape[-1]) if getattr(model, "outputs", None) else None
    classifier = _has_classifier(model)
    if labels is None:
        labels = default_labels(num_classes or 0) if classifier else None
    if labels is not None:
        labels = [str(name) for name in labels]
        if num_classes is not None and len(labels) != num_classes:
            raise ValueError(f"Got {len(labels)} labels for a model with {num_classes} outputs: {labels}.")
        if len(set(labels)) != len(labels) or any(not name.strip() or "\n" in name for name in labels):
            raise ValueError(f"Labels must be distinct, non-empty, single-line names: {labels}.")
    elif eval_data is not None:
        raise ValueError(f"{model.name!r} has no classifier ('predictions' layer): it cannot be evaluated on labels.")
    if eval_data is not None:
        from kerasfer.export.evaluate import validate_eval_data

        validate_eval_data(eval_data[0], eval_data[1], shape, num_classes)

    say(f"converting {model.name} ({config.mode}) ...")
    fused = _reparameterize(model) if reparameterize else model
    config = config.screened(fused, shape)  # the card records how many calibration images were left out
    if config.outliers_dropped:
        say(f"int8 calibration: left out {config.outliers_dropped} outlier image(s) (outlier_ratio)")
    content = convert(fused, config, input_shape=shape, reparameterize=False)

    card = card_lib.build_card(
        model,
        content,
        config,
        labels,
        input_shape=shape,
        count_macs=count_macs,
        fused_model=fused,
    )
    card["source"] = str(source) if source is not None else model.name
    if eval_data is not None:
        from kerasfer.export import evaluate

        say("evaluating the Keras model and the .tflite on the eval data ...")
        ref = evaluate.predict_keras(fused, eval_data[0])
        got = evaluate.run_tflite(content, eval_data[0])
        card["evaluation"] = {
            "num_images": int(len(eval_data[1])),
            "keras_top1": evaluate.top1_accuracy(ref, eval_data[1]),
            **evaluate.compare(ref, got, eval_data[1]),
        }
    tagged = flatbuffer.add_metadata(content, flatbuffer.METADATA_NAME, card_lib.embedded_metadata(card))
    report = None
    if gpu_check:
        from kerasfer.export import gpu_check as gpu_check_lib

        report = gpu_check_lib.check(tagged)  # the metadata maps ops to layer names
        card["gpu_check"] = report.summary()
    if embed_metadata:
        content = tagged
    card.pop("layer_names", None)
    card.pop("output_layers", None)
    card["file"]["size_bytes"] = len(content)

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)
    labels_path = None
    if labels is not None:
        labels_path = card_lib.write_labels(labels, labels_path_for(path))
    json_path, md_path = card_lib.card_paths(path)
    card_lib.write_card(card, json_path, md_path)
    say(f"wrote {path} ({len(content):,} bytes), {labels_path}, {json_path}, {md_path}")
    return ExportResult(
        path=path,
        labels_path=labels_path,
        card_json_path=json_path,
        card_markdown_path=md_path,
        size_bytes=len(content),
        card=card,
        gpu_report=report,
    )


__all__ = [
    "CPU_FLOAT_OPS",
    "QUANTIZATIONS",
    "ConversionError",
    "ExportResult",
    "QuantizationConfig",
    "convert",
    "default_labels",
    "export_tflite",
    "calibration_outliers",
    "representative_images",
]
