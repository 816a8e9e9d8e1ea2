"""Spatial Bias as used by LFNSB's head (Go and Ryu, "Spatial Bias for Attention-free Non-local Neural
Networks", Expert Systems with Applications 238, 122053, 2024).
"""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.conv2d_bn import BN_EPSILON
from kerasfer.layers.conv2d_bn import BN_MOMENTUM


def adaptive_pool_params(size, output_size):
    """`(pool, stride)` of an `AveragePooling2D` identical to PyTorch `AdaptiveAvgPool` along one axis.

    PyTorch's bin `i` covers `[floor(i * size / out), ceil((i + 1) * size / out))`. When all bins
    have the same length and equal spacing that is a plain valid average pooling (always
    so for `output_size` 2: e.g. 7 -> pool 4 stride 3, 4 -> 2/2, 3 -> 2/1). Raises a
    `ValueError` otherwise, or when the map is smaller than the output.
    """
    if size < output_size:
        raise ValueError(f"cannot pool a map of size {size} down to {output_size}: the map must be >= {output_size}.")
    starts = [(i * size) // output_size for i in range(output_size)]
    ends = [-(-((i + 1) * size) // output_size) for i in range(output_size)]
    lengths = {e - s for s, e in zip(starts, ends)}
    strides = {b - a for a, b in zip(starts, starts[1:])} or {1}
    if len(lengths) != 1 or len(strides) != 1:
        raise ValueError(
            f"adaptive average pooling {size} -> {output_size} has unequal bins and is not a plain average pool; "
            f"use a map size divisible by {output_size} or output_size 2."
        )
    return lengths.pop(), strides.pop()


@kerasfer_export("kerasfer.layers.SpatialBias")
class SpatialBias(keras.layers.Layer):
    """Spatial Bias: a cheap global-context branch mixing all pooled positions with a 1-D conv.

    Computation (LFNSB's `Spatial_bias`, `mode="reference"`):
    1. 1x1 conv `C -> reduced_channels` without bias, BatchNorm, ReLU.
    2. Adaptive average pooling to `pool_size x pool_size` (done as a valid
       `AveragePooling2D` with the identical bins: 7x7 -> 2x2 is pool 4, stride 3; see
       `adaptive_pool_params`; no AdaptiveAveragePooling2D, which exports a GATHER).
    3. The `P = pool_size**2` positions (row-major) act as the channels of a 1-D conv that
       runs along the reduced-channel axis: `y[p, c] = b[p] + sum_q sum_k W[p, q, k] v[q, c + k]`,
       kernel `kernel_size`, no padding, so `num_sb = reduced_channels - kernel_size + 1`
       outputs per position. It is computed as a `Conv2D` of kernel `(kernel_size, 1)` on a
       `(B, reduced_channels, 1, P)` tensor (only RESHAPE/TRANSPOSE of rank <= 4 and CONV_2D
       in TFLite; explicit reshapes, so batch 1 works, unlike the reference's `.squeeze()`).
    4. `mode="reference"`: the result flattened in PyTorch `(C, H, W)` order, shape
       `(B, num_sb * P)` (LFNSB feeds it to the classifier). `mode="concat"` (the paper's and
       the original Spatial Bias's form): the `(B, pool, pool, num_sb)` bias map is bilinearly
       resized (half-pixel, as `align_corners=False`) to the input size and concatenated
       after the input channels: `(B, H, W, C + num_sb)`.

    Porting PyTorch weights: the Conv1d weight `(P_out, P_in, k)` maps to this layer's
    `{name}_conv1d` kernel `(k, 1, P_in, P_out)` (`w.transpose(2, 1, 0)[:, None]`).

    Args:
        reduced_channels: width after the 1x1 conv (`sb_in_plane`, 66 in LFNSB).
        pool_size: pooled map side (`reduce_r`, 2 in LFNSB).
        kernel_size: 1-D conv kernel along the channel axis (3).
        mode: `"reference"` (flattened, default) or `"concat"`.

    Input shape: `(B, H, W, C)` with `H, W >= pool_size` (static).
    Output shape: `(B, (reduced_channels - kernel_size + 1) * pool_size**2)` for `"reference"`,
    `(B, H, W, C + reduced_channels - kernel_size + 1)` for `"concat"`.

    Example:
    >>> layer = kerasfer.layers.SpatialBias()
    >>> layer(np.zeros((1, 7, 7, 256))).shape
    (1, 256)

    Reference:
        Go et al., "Spatial Bias for Attention-free Non-local Neural Networks", 2023
        (GoJunHyeong/SpatialBias `SB_module.py`); LFNSB `LFNSB2.py`.
    """

    def __init__(self, reduced_channels=66, pool_size=2, kernel_size=3, mode="reference", **kwargs):
        super().__init__(**kwargs)
        self.reduced_channels = int(reduced_channels)
        self.pool_size = int(pool_size)
        self.kernel_size = int(kernel_size)
        self.mode = str(mode)
        if self.mode not in ("reference", "concat"):
            raise ValueError(f"mode must be 'reference' or 'concat', got {mode!r}.")
        if self.pool_size < 1 or self.kernel_size < 1:
            raise ValueError(f"pool_size and kernel_size must be >= 1, got {self.pool_size}, {self.kernel_size}.")
        if self.reduced_channels < self.kernel_size:
            raise ValueError(f"reduced_channels ({self.reduced_channels}) must be >= kernel_size ({self.kernel_size}).")
        self.num_sb = self.reduced_channels - self.kernel_size + 1
        self.conv = keras.layers.Conv2D(self.reduced_channels, 1, use_bias=False, name=f"{self.name}_conv")
        self.bn = BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{self.name}_bn")
        self.pool = None  # pool/stride depend on the input map size
        positions = self.pool_size * self.pool_size
        self.conv1d = keras.layers.Conv2D(positions, (self.kernel_size, 1), name=f"{self.name}_conv1d")

    def build(self, input_shape):
        b, h, w, c = feature_map_shape(self.name, input_shape, static_size=True)
        try:
            ph, sh = adaptive_pool_params(h, self.pool_size)
            pw, sw = adaptive_pool_params(w, self.pool_size)
        except ValueError as e:
            raise ValueError(f"{self.name}: input map {h}x{w}: {e}") from None
        self.pool = keras.layers.AveragePooling2D((ph, pw), strides=(sh, sw), padding="valid", name=f"{self.name}_pool")
        self.conv.build(input_shape)
        self.bn.build((b, h, w, self.reduced_channels))
        self.pool.build((b, h, w, self.reduced_channels))
        self.conv1d.build((b, self.reduced_channels, 1, self.pool_size * self.pool_size))
        self.built = True

    def call(self, inputs, training=None):
        r, positions = self.pool_size, self.pool_size * self.pool_size
        x = keras.ops.relu(self.bn(self.conv(inputs), training=training))
        x = self.pool(x)  # (B, r, r, C')
        x = keras.ops.reshape(x, (-1, positions, self.reduced_channels))  # positions row-major
        x = keras.ops.transpose(x, (0, 2, 1))  # (B, C', P)
        x = keras.ops.reshape(x, (-1, self.reduced_channels, 1, positions))
        y = self.conv1d(x)  # (B, num_sb, 1, P)
        if self.mode == "reference":
            return keras.ops.reshape(y, (-1, self.num_sb * positions))  # (C, H, W) order
        y = keras.ops.reshape(y, (-1, self.num_sb, positions))
        y = keras.ops.transpose(y, (0, 2, 1))
        y = keras.ops.reshape(y, (-1, r, r, self.num_sb))
        y = keras.ops.image.resize(y, (inputs.shape[1], inputs.shape[2]), interpolation="bilinear")
        return keras.ops.concatenate([inputs, keras.ops.cast(y, inputs.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        if self.mode == "reference":
            return (b, self.num_sb * self.pool_size * self.pool_size)
        return (b, h, w, c + self.num_sb)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduced_channels": self.reduced_channels,
                "pool_size": self.pool_size,
                "kernel_size": self.kernel_size,
                "mode": self.mode,
            }
        )
        return config
