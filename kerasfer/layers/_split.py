"""Channel splits that train fast and export the same graph as slicing."""

import keras


def channel_split(inputs, sizes, training=None):
    """`inputs` cut along the last axis into parts of `sizes` channels.

    In training, one split op: its gradient is a concatenation. TensorFlow's gradient of a channel
    slice (`StridedSliceGrad`, one per part) scatters into a zeroed full-size tensor element by element,
    and took a quarter of LFNSB's training step. At inference the parts are plain slices, as before, so
    exported models keep STRIDED_SLICE (SPLIT_V is not in the GPU delegate's OpenGL fallback).
    """
    if len(sizes) == 1:
        return [inputs]
    if training:
        bounds = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]
        return keras.ops.split(inputs, bounds, axis=-1)
    parts, start = [], 0
    for c in sizes:
        parts.append(inputs[..., start : start + c])
        start += c
    return parts
