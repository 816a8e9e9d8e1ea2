"""CBAM: Convolutional Block Attention Module (channel gate then spatial gate)."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization


@kerasfer_export("kerasfer.layers.CBAM")
class CBAM(keras.layers.Layer):
    """Convolutional Block Attention Module, as in the reference implementation.

    Channel gate: global average pooling and global max pooling of the input each go
    through a shared MLP `Dense(C // reduction_ratio) -> ReLU -> Dense(C)` (both with
    bias); the two results are summed, passed through a sigmoid and scale the input per
    channel. Spatial gate (applied to the channel-gated map): the per-pixel maximum and
    mean over channels (in that order) are stacked into a 2-channel map ->
    `Conv2D(1, kernel_size, padding="same", use_bias=False)` -> BatchNorm (eps 1e-5,
    PyTorch momentum 0.01 = Keras 0.99) -> sigmoid, which scales every pixel. Output
    shape = input shape. The shared MLP runs twice per call, and `count_macs` counts both
    passes.

    Args:
        reduction_ratio: channel reduction of the MLP's hidden layer (hidden units =
            `max(1, C // reduction_ratio)`).
        kernel_size: side of the spatial gate's convolution (7 in the paper).
        use_spatial: apply the spatial gate (the reference's `no_spatial=False`).

    Example:
    >>> layer = kerasfer.layers.CBAM(reduction_ratio=16)
    >>> layer(np.zeros((2, 8, 8, 64))).shape
    (2, 8, 8, 64)

    Reference:
    - [Woo et al., CBAM: Convolutional Block Attention Module, ECCV 2018](https://arxiv.org/abs/1807.06521);
      code: Jongchan/attention-module `MODELS/cbam.py`.
    """

    def __init__(self, reduction_ratio=16, kernel_size=7, use_spatial=True, **kwargs):
        super().__init__(**kwargs)
        if int(reduction_ratio) != reduction_ratio or reduction_ratio < 1:
            raise ValueError(f"reduction_ratio must be a positive integer, got {reduction_ratio!r}.")
        if int(kernel_size) != kernel_size or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}.")
        self.reduction_ratio = int(reduction_ratio)
        self.kernel_size = int(kernel_size)
        self.use_spatial = bool(use_spatial)
        self.mlp_hidden = None
        self.mlp_out = None
        self.spatial_conv = keras.layers.Conv2D(
            1, self.kernel_size, padding="same", use_bias=False, name=f"{self.name}_spatial_conv"
        )
        self.spatial_bn = BatchNormalization(epsilon=1e-5, momentum=0.99, name=f"{self.name}_spatial_bn")

    def _channels(self, input_shape):
        channels = feature_map_shape("CBAM", input_shape)[-1]
        if channels is None:
            raise ValueError("CBAM needs a known number of channels.")
        return channels

    def build(self, input_shape):
        channels = self._channels(input_shape)
        hidden = max(1, channels // self.reduction_ratio)
        self.mlp_hidden = keras.layers.Dense(hidden, activation="relu", name=f"{self.name}_mlp_hidden")
        self.mlp_out = keras.layers.Dense(channels, name=f"{self.name}_mlp_out")
        self.mlp_hidden.build((input_shape[0], channels))
        self.mlp_out.build((input_shape[0], hidden))
        if self.use_spatial:
            spatial_shape = tuple(input_shape[:-1]) + (2,)
            self.spatial_conv.build(spatial_shape)
            self.spatial_bn.build(tuple(input_shape[:-1]) + (1,))

    def call(self, inputs, training=None):
        avg = keras.ops.mean(inputs, axis=(1, 2))
        mx = keras.ops.max(inputs, axis=(1, 2))
        att = self.mlp_out(self.mlp_hidden(avg)) + self.mlp_out(self.mlp_hidden(mx))
        scale = keras.ops.reshape(keras.ops.sigmoid(att), (-1, 1, 1, inputs.shape[-1]))
        x = inputs * scale
        if not self.use_spatial:
            return x
        pooled = keras.ops.concatenate(
            [keras.ops.max(x, axis=-1, keepdims=True), keras.ops.mean(x, axis=-1, keepdims=True)], axis=-1
        )
        s = self.spatial_bn(self.spatial_conv(pooled), training=training)
        return x * keras.ops.sigmoid(s)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"reduction_ratio": self.reduction_ratio, "kernel_size": self.kernel_size, "use_spatial": self.use_spatial}
        )
        return config
