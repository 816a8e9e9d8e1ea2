"""Coordinate Attention (Hou et al., CVPR 2021)."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.conv2d_bn import BN_EPSILON
from kerasfer.layers.conv2d_bn import BN_MOMENTUM


def h_swish(x):
    """Hard swish written as `x * relu6(x + 3) / 6` (not the old `tf.keras` hard_sigmoid)."""
    return x * keras.ops.relu6(x + 3.0) / 6.0


@kerasfer_export("kerasfer.layers.CoordinateAttention")
class CoordinateAttention(keras.layers.Layer):
    """Coordinate attention: direction-aware channel attention from row and column means.

    For an input `x` of shape `(B, H, W, C)`: `x_h` = mean over W (one value per row),
    `x_w` = mean over H (one per column); both are stacked along the spatial axis into an
    `(H + W) x 1` map, passed through a 1x1 conv `C -> mip` **with bias**, BatchNorm and
    h_swish (`x * relu6(x + 3) / 6`), split back into the row and column parts, and each
    goes through its own 1x1 conv `mip -> C` with bias and a sigmoid. The output is
    `x * a_w * a_h` (broadcast). `mip = max(min_channels, C // reduction)`, i.e.
    `max(8, C // 32)` by default, as in the reference code and MFN/LFN. The channel
    axis is reshaped, never transposed, so the TFLite graph has only rank-4 tensors.

    Args:
        reduction: channel reduction ratio (32).
        min_channels: lower bound on the hidden width `mip` (8).

    Input shape: `(B, H, W, C)`. Output shape: same.

    Example:
    >>> layer = kerasfer.layers.CoordinateAttention()
    >>> layer(np.zeros((1, 14, 14, 96))).shape
    (1, 14, 14, 96)

    Reference:
        Hou, Zhou & Feng, "Coordinate Attention for Efficient Mobile Network Design",
        CVPR 2021 (houqb/CoordAttention `coordatt.py`).
    """

    def __init__(self, reduction=32, min_channels=8, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.min_channels = int(min_channels)
        if self.reduction < 1 or self.min_channels < 1:
            raise ValueError(f"reduction and min_channels must be >= 1, got {self.reduction}, {self.min_channels}.")
        self.conv1 = None
        self.bn1 = BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{self.name}_bn1")
        self.conv_h = None
        self.conv_w = None

    def build(self, input_shape):
        b, h, w, c = feature_map_shape(self.name, input_shape, static_size=True)
        mip = max(self.min_channels, c // self.reduction)
        # Widths depend on the input channels, so the convs are created here (named deterministically).
        self.conv1 = keras.layers.Conv2D(mip, 1, name=f"{self.name}_conv1")
        self.conv_h = keras.layers.Conv2D(c, 1, activation="sigmoid", name=f"{self.name}_conv_h")
        self.conv_w = keras.layers.Conv2D(c, 1, activation="sigmoid", name=f"{self.name}_conv_w")
        self.conv1.build((b, h + w, 1, c))
        self.bn1.build((b, h + w, 1, mip))
        self.conv_h.build((b, h, 1, mip))
        self.conv_w.build((b, 1, w, mip))
        self.built = True

    # `count_macs(convention="fvcore")`: the two directional means read the input twice,
    # as the reference's two adaptive poolings do.
    pooled_input_passes = 2

    def call(self, inputs, training=None):
        _, h, w, c = inputs.shape
        x_h = keras.ops.mean(inputs, axis=2, keepdims=True)  # (B, H, 1, C)
        x_w = keras.ops.mean(inputs, axis=1, keepdims=True)  # (B, 1, W, C)
        x_w = keras.ops.reshape(x_w, (-1, w, 1, c))
        y = keras.ops.concatenate([x_h, x_w], axis=1)  # (B, H + W, 1, C)
        y = h_swish(self.bn1(self.conv1(y), training=training))
        y_h = y[:, :h]
        y_w = keras.ops.reshape(y[:, h:], (-1, 1, w, y.shape[-1]))
        a_h = self.conv_h(y_h)
        a_w = self.conv_w(y_w)
        return inputs * a_w * a_h

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction, "min_channels": self.min_channels})
        return config
