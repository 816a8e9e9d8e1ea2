"""Nearest-neighbour upsampling that TFLite lowers to one RESIZE_NEAREST_NEIGHBOR."""

import keras

from kerasfer.api_export import kerasfer_export


@kerasfer_export("kerasfer.layers.NearestUpsampling2D")
class NearestUpsampling2D(keras.layers.Layer):
    """`UpSampling2D(size)` with nearest interpolation, written as an image resize.

    The same values as `keras.layers.UpSampling2D(size, interpolation="nearest")` (each
    pixel repeated `size` times along H and W), but Keras writes that layer with
    `ops.repeat`, which TFLite lowers to rank-5 RESHAPE/TILE ops the GPU delegate rejects.
    This layer calls `keras.ops.image.resize(..., interpolation="nearest")` (half-pixel
    centres: output pixel `i` reads input pixel `floor(i / size)` for an integer factor),
    which becomes a single RESIZE_NEAREST_NEIGHBOR.

    Args:
        size: integer upsampling factor, or `(factor_h, factor_w)`.

    Input shape: `(B, H, W, C)` with static H and W. Output: `(B, H * fh, W * fw, C)`.
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise ValueError(f"size must be a positive int or a pair of positive ints, got {size!r}.")
        self.size = tuple(int(s) for s in size)

    def call(self, inputs):
        h, w = inputs.shape[1], inputs.shape[2]
        if h is None or w is None:
            raise ValueError(f"{self.name} needs a static H and W, got input shape {inputs.shape}.")
        return keras.ops.image.resize(
            inputs, (h * self.size[0], w * self.size[1]), interpolation="nearest", data_format="channels_last"
        )

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.size[0], None if w is None else w * self.size[1], c)

    def get_config(self):
        config = super().get_config()
        config.update({"size": list(self.size)})
        return config
