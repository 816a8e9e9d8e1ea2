"""Parameter and multiply-accumulate (MAC) counting.

Conventions follow the papers and PyTorch: parameters are the trainable weights only
(BatchNorm moving statistics are buffers, not parameters), and MACs count the
multiply-accumulates of convolutions (standard, grouped, depthwise, separable,
transposed, 1-D), dense layers and matrix products (the fvcore convention), per image.
"""

import keras
import numpy as np

_MOVING_STAT_NAMES = ("moving_mean", "moving_variance")


def count_params(model) -> int:
    """Counts the parameters of a model or layer as the papers do.

    Keras's `count_params()` also counts BatchNorm moving statistics; this function
    counts every variable created as trainable (a frozen layer's weights still count,
    its moving statistics never do), each shared variable once.

    Args:
        model: a built `keras.Model` or `keras.layers.Layer`.

    Returns:
        The number of parameters as an int.
    """
    if not model.built:
        raise ValueError(f"{model.name!r} is not built: call it on an input or build it first.")
    seen = set()
    total = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        # Keras 3 keeps the variables created trainable in `_trainable_variables`, also
        # after `layer.trainable = False` flips their `trainable` flag.
        created_trainable = getattr(layer, "_trainable_variables", None)
        if created_trainable is None:
            created_trainable = [v for v in layer.weights if v.trainable]
        for v in created_trainable:
            if id(v) in seen:
                continue
            seen.add(id(v))
            name = v.path.rsplit("/", 1)[-1]
            if not name.startswith(_MOVING_STAT_NAMES):
                total += int(np.prod(v.shape))
    return total


def _conv_macs(layer, in_shape, out_shape):
    kernel_size = int(np.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Conv2DTranspose | keras.layers.Conv1DTranspose):
        return int(np.prod(in_shape[1:-1])) * kernel_size
    return int(np.prod(out_shape[1:-1])) * kernel_size


def _layer_macs(layer, in_shapes, out_shape):
    """MACs of one call of `layer` for a batch of 1 (shapes include the batch axis)."""
    total = 0
    hook = getattr(layer, "compute_macs", None)
    if callable(hook):
        total += int(hook(in_shapes, out_shape))
    if not in_shapes:
        return total
    in_shape = in_shapes[0]
    if isinstance(layer, keras.layers.SeparableConv2D):
        spatial = int(np.prod(out_shape[1:-1]))
        total += spatial * int(np.prod(layer.depthwise_kernel.shape))
        total += spatial * int(np.prod(layer.pointwise_kernel.shape))
    elif isinstance(layer, keras.layers.DepthwiseConv2D | keras.layers.DepthwiseConv1D):
        total += int(np.prod(out_shape[1:-1])) * int(np.prod(layer.kernel.shape))
    elif hasattr(keras.layers, "Conv2D") and isinstance(
        layer,
        keras.layers.Conv1D
        | keras.layers.Conv2D
        | keras.layers.Conv3D
        | keras.layers.Conv2DTranspose
        | keras.layers.Conv1DTranspose,
    ):
        total += _conv_macs(layer, in_shape, out_shape)
    elif isinstance(layer, keras.layers.Dense):
        total += int(np.prod(in_shape[1:-1])) * int(np.prod(layer.kernel.shape))
    return total


_FVCORE_EXTRA_TYPES = (
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
)


def _fvcore_extra(layer, in_shapes, out_shape):
    """fvcore's extra counts: BN 2 per output element, average pooling 1 per input element."""
    if not in_shapes or in_shapes[0] is None:
        return 0
    in_elems = int(np.prod(in_shapes[0][1:]))
    extra = in_elems * int(getattr(layer, "pooled_input_passes", 0) or 0)
    if isinstance(layer, keras.layers.BatchNormalization):
        extra += 2 * int(np.prod(out_shape[1:]))
    elif isinstance(layer, _FVCORE_EXTRA_TYPES):
        extra += in_elems
    return extra


def _shape_of(x):
    if hasattr(x, "shape"):
        return tuple(int(d) for d in x.shape)
    return None


def count_macs(model, input_shape=None, convention="fvcore") -> int:
    """Counts multiply-accumulates of one forward pass for a single image.

    Every convolution, depthwise/separable/transposed convolution and dense layer is
    counted, inside nested layers too; a custom layer that does its own matrix
    products declares them with a `compute_macs(input_shapes, output_shape)` method.
    The model is run once on a batch of zeros (batch size 1, inference mode) while the
    counted layers record their shapes, so the count is exact for the graph that runs.

    Two conventions:
    - `"fvcore"` (default): what fvcore reports, the convention of the reference
      measurements in the papers' tables (LFNSB's 397.18M): the above plus 2 per
      BatchNorm output element and 1 per input element of average pooling (layers, and
      in-layer means that declare `pooled_input_passes`).
    - `"conv"`: convolutions, dense layers and declared matrix products only.

    Args:
        model: a built `keras.Model`.
        convention: `"fvcore"` or `"conv"`.
        input_shape: `(H, W, C)` of the (first) image input; default: the model's own
            input shape. Further inputs (e.g. region boxes) are fed zeros of their own shape.

    Returns:
        MACs per image, as an int.
    """
    if convention not in ("fvcore", "conv"):
        raise ValueError(f"convention must be 'fvcore' or 'conv', got {convention!r}.")
    fvcore = convention == "fvcore"
    model_inputs = list(getattr(model, "inputs", None) or [])
    if input_shape is None:
        if not model_inputs:
            raise ValueError("count_macs needs input_shape for a model without symbolic inputs.")
        shapes = [tuple(t.shape[1:]) for t in model_inputs]
    elif len(model_inputs) > 1:
        # the first input is the image; the others keep the model's own shapes
        shapes = [tuple(input_shape)] + [tuple(t.shape[1:]) for t in model_inputs[1:]]
    else:
        shapes = [tuple(input_shape)]
    for shape in shapes:
        if any(d is None for d in shape):
            raise ValueError(f"count_macs needs a static input shape, got {shape}.")
    records = []
    patched = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        counted = isinstance(
            layer,
            keras.layers.Conv1D
            | keras.layers.Conv2D
            | keras.layers.Conv3D
            | keras.layers.DepthwiseConv2D
            | keras.layers.DepthwiseConv1D
            | keras.layers.SeparableConv2D
            | keras.layers.Conv2DTranspose
            | keras.layers.Conv1DTranspose
            | keras.layers.Dense,
        ) or callable(getattr(layer, "compute_macs", None))
        if fvcore and isinstance(layer, _FVCORE_EXTRA_TYPES + (keras.layers.BatchNormalization,)):
            counted = True
        if fvcore and getattr(layer, "pooled_input_passes", 0):
            counted = True
        if not counted:
            continue
        original = layer.call

        def wrapped(*args, __layer=layer, __orig=original, **kwargs):
            out = __orig(*args, **kwargs)
            tensors = [a for a in args if hasattr(a, "shape")]
            first_out = out[0] if isinstance(out, list | tuple) else out
            records.append((__layer, [_shape_of(t) for t in tensors], _shape_of(first_out)))
            return out

        object.__setattr__(layer, "call", wrapped)
        patched.append(layer)
    try:
        xs = [np.zeros((1,) + shape, dtype="float32") for shape in shapes]
        model(xs if len(xs) > 1 else xs[0], training=False)
    finally:
        for layer in patched:
            object.__delattr__(layer, "call")
    total = sum(_layer_macs(layer, ins, out) for layer, ins, out in records)
    if fvcore:
        total += sum(_fvcore_extra(layer, ins, out) for layer, ins, out in records)
    return int(total)


__all__ = ["count_params", "count_macs"]
