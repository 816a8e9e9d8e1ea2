"""The MixConv bottleneck of MFN and LFN (`Mix_Depth_Wise`): expand, MixConv, coordinate attention, project."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import PReLU
from kerasfer.layers.conv2d_bn import Conv2dBN
from kerasfer.layers.coordinate_attention import CoordinateAttention
from kerasfer.layers.mix_conv import MixConv


def prelu(name):
    """PyTorch `PReLU(C)`: one slope per channel, initialised to 0.25."""
    return PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name)


@kerasfer_export("kerasfer.layers.MixBottleneck")
class MixBottleneck(keras.layers.Layer):
    """MixConv bottleneck: 1x1 expand + PReLU -> MixConv -> CoordinateAttention -> 1x1 project (+ shortcut).

    The block of MixedFeatureNet (MFN) and LFNSB's LFN (`Mix_Depth_Wise`): a 1x1 conv
    (no bias) + BN + PReLU (per-channel, init 0.25) to `expansion` channels; a `MixConv`
    with the given kernels/splits and stride (no BN, no activation after it); coordinate
    attention over the expanded channels; a linear 1x1 conv + BN to `filters`; and, when
    `residual=True` (the repeated blocks, `Mix_Residual`), the input added back. The
    stride-2 transition blocks have no shortcut. The convs are `Conv2dBN` layers, so
    `inference_mode=True` (or `kerasfer.export.reparameterize`) folds their BatchNorms.

    Args:
        filters: output channels.
        expansion: channels after the 1x1 expansion.
        kernel_sizes: MixConv kernel sizes.
        splits: MixConv channel split (sums to `expansion`), or `None` for the equal split.
        strides: MixConv stride.
        residual: add the input to the output (needs stride 1 and `filters == input channels`).
        inference_mode: build the 1x1 conv+BN pairs as single biased convs.

    Input shape: `(B, H, W, C)`. Output shape: `(B, ceil(H / s), ceil(W / s), filters)`.

    Example:
    >>> layer = kerasfer.layers.MixBottleneck(64, expansion=96, kernel_sizes=[3, 5], splits=[64, 32], strides=2)
    >>> layer(np.zeros((1, 56, 56, 64))).shape
    (1, 28, 28, 64)

    Reference:
        Zhang et al., "A Dual-Direction Attention Mixed Feature Network for Facial Expression
        Recognition" (DDAMFN, `MixedFeatureNet.py`); LFNSB `LFN.py`.
    """

    def __init__(
        self,
        filters,
        expansion,
        kernel_sizes=(3,),
        splits=None,
        strides=1,
        residual=False,
        inference_mode=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.expansion = int(expansion)
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.splits = None if splits is None else [int(s) for s in splits]
        self.strides = int(strides)
        self.residual = bool(residual)
        self.inference_mode = bool(inference_mode)
        if self.residual and self.strides != 1:
            raise ValueError(f"{self.name}: a residual block needs strides=1, got {self.strides}.")
        if self.splits is not None and sum(self.splits) != self.expansion:
            raise ValueError(f"{self.name}: splits {self.splits} must sum to expansion={self.expansion}.")
        self.expand = Conv2dBN(self.expansion, 1, inference_mode=self.inference_mode, name=f"{self.name}_expand")
        self.expand_prelu = prelu(f"{self.name}_expand_prelu")
        self.mixconv = MixConv(self.kernel_sizes, self.splits, self.strides, name=f"{self.name}_mixconv")
        self.attention = CoordinateAttention(name=f"{self.name}_ca")
        self.project = Conv2dBN(self.filters, 1, inference_mode=self.inference_mode, name=f"{self.name}_project")

    def build(self, input_shape):
        feature_map_shape(self.name, input_shape)
        if self.residual and input_shape[-1] != self.filters:
            raise ValueError(
                f"{self.name}: a residual block needs input channels == filters, "
                f"got {input_shape[-1]} and {self.filters}."
            )
        shape = tuple(input_shape)
        for layer in (self.expand, self.expand_prelu, self.mixconv, self.attention, self.project):
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = self.expand_prelu(self.expand(inputs, training=training))
        x = self.mixconv(x)
        x = self.attention(x, training=training)
        x = self.project(x, training=training)
        if self.residual:
            x = x + inputs
        return x

    def compute_output_shape(self, input_shape):
        shape = self.mixconv.compute_output_shape(tuple(input_shape[:3]) + (self.expansion,))
        return shape[:3] + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "expansion": self.expansion,
                "kernel_sizes": self.kernel_sizes,
                "splits": self.splits,
                "strides": self.strides,
                "residual": self.residual,
                "inference_mode": self.inference_mode,
            }
        )
        return config
