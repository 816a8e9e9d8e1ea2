"""Integer-friendly activations for int8 export: the same function, ops XNNPACK can run in int8.

LiteRT's XNNPACK CPU delegate (ai-edge-litert 2.3) does not take int8 `PRELU` or
`HARD_SWISH`. Every one of them is left to TFLite's builtin kernels and cuts the delegated
graph in two: int8 LFNSB 112 ran as 71 XNNPACK partitions and MobileFaceNet as 35, and the
builtin int8 PReLU kernel is slow. On a 2-core EPYC (one thread) int8 LFNSB took 37.2 ms against
15.8 ms in float32, and int8 MobileFaceNet 36.0 ms against 6.2 ms; with this rewrite, 18.8 ms and
9.6 ms (measured with `kerasfer bench` on a 2-core x86 CPU).

While `integer_friendly_activations(model)` is active, tracing the model writes:

* `PReLU(x)` (slope `a` per channel) as `c1 * x + s * relu(c2 * x)` with `c1 = min(a, 1)`,
  `c2 = 1 - a` and `s = +1` where `a <= 1`, `-1` where `a > 1` (`s` is left out when every
  `a <= 1`, the usual case). The converter fuses the ReLU into the MUL before it, so a PReLU
  becomes MUL, MUL+ReLU, ADD, all of which XNNPACK runs in int8. Exact for any `a`:
  for `x > 0` both forms give `x`, for `x < 0` both give `a * x`.
* Coordinate attention's hard swish `x * relu6(x + 3) / 6` in an order
  (`relu6(x + 3) * x * (1/6)`) that the converter does not fuse into `HARD_SWISH`: an ADD
  with a fused ReLU6 and a MUL (the `1/6` folds into the next convolution).

The Keras model itself is not changed: only the traced graph differs, and only in the order
of exact float arithmetic. `kerasfer.export.convert` applies it to `"int8"` exports by
default (`QuantizationConfig.rewrite_activations`); float32 and float16 exports keep
`PRELU` and `HARD_SWISH`, which both XNNPACK and the GPU delegate run as single ops.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np


def prelu_coefficients(alpha) -> tuple:
    """`(c1, c2, s)` with `PReLU_a(x) = c1 * x + s * relu(c2 * x)`; `s` is None when all `a <= 1`."""
    a = np.asarray(alpha, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError("PReLU slopes hold NaN or inf; the model's weights are broken.")
    c1 = np.minimum(a, 1.0).astype(np.float32)
    c2 = (1.0 - a).astype(np.float32)
    s = None if np.all(a <= 1.0) else np.where(a <= 1.0, 1.0, -1.0).astype(np.float32)
    return c1, c2, s


def decomposed_prelu(x, c1, c2, s=None):
    """`c1 * x + s * relu(c2 * x)`: a PReLU in ops that int8 XNNPACK delegates."""
    ops = keras.ops
    branch = ops.relu(x * c2)
    if s is not None:
        branch = branch * s
    return x * c1 + branch


def unfused_hard_swish(x):
    """`relu6(x + 3) * x / 6`, ordered so the TFLite converter keeps it as ADD(ReLU6) + MUL."""
    return keras.ops.relu6(x + 3.0) * x * (1.0 / 6.0)


def _prelu_layers(model) -> list:
    return [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, keras.layers.PReLU)
    ]


@contextlib.contextmanager
def integer_friendly_activations(model, prelu: bool = True, hard_swish: bool = True):
    """While active, calls of `model`'s PReLU layers and of coordinate attention's hard swish
    trace as the integer-friendly forms above. Restores everything on exit.

    `prelu=False` / `hard_swish=False` leave that activation as it is (for an op kept in float
    by selective quantization, `QuantizationConfig.float_ops`).

    Only meant around the tracing of a graph for int8 conversion: it patches
    `keras.layers.PReLU.call` (for the layers of `model` only; other PReLU layers run as
    usual) and `kerasfer.layers.coordinate_attention.h_swish` for the duration.
    """
    from kerasfer.layers import coordinate_attention

    coefficients = {}
    for layer in _prelu_layers(model) if prelu else ():
        if not layer.built:
            continue
        try:
            coefficients[id(layer)] = prelu_coefficients(keras.ops.convert_to_numpy(layer.alpha))
        except ValueError as e:
            raise ValueError(f"PReLU layer {layer.name!r}: {e}") from None
    original_call = keras.layers.PReLU.call
    original_h_swish = coordinate_attention.h_swish

    def call(self, inputs):
        found = coefficients.get(id(self))
        if found is None:
            return original_call(self, inputs)
        return decomposed_prelu(inputs, *found)

    keras.layers.PReLU.call = call
    if hard_swish:
        coordinate_attention.h_swish = unfused_hard_swish
    try:
        yield
    finally:
        keras.layers.PReLU.call = original_call
        coordinate_attention.h_swish = original_h_swish


__all__ = ["decomposed_prelu", "integer_friendly_activations", "prelu_coefficients", "unfused_hard_swish"]
