"""MixConv (MDConv): depthwise convolutions with several kernel sizes over channel groups."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers._split import channel_split


def split_channels(channels, num_groups):
    """MixNet's equal-split rule: `[C // g] * g` with the remainder added to the first group."""
    if num_groups < 1:
        raise ValueError(f"num_groups must be >= 1, got {num_groups}.")
    split = [channels // num_groups] * num_groups
    split[0] += channels - sum(split)
    return split


@kerasfer_export("kerasfer.layers.MixConv")
class MixConv(keras.layers.Layer):
    """Mixed depthwise convolution: channel group `i` gets a depthwise `k_i x k_i` conv.

    The input channels are split in order into groups (`splits`, or MixNet's equal-split
    rule when `splits=None`: `[C // g] * g`, remainder to the first group), each group is
    convolved depthwise with its own kernel size (no bias, PyTorch padding `k // 2` on every
    side, the given stride) and the results are concatenated in the same order. There is no
    BatchNorm and no activation (as in MFN/LFN's `MDConv.forward`). With a single kernel it
    is one depthwise conv.

    Args:
        kernel_sizes: list of odd kernel sizes, one per group.
        splits: list of channel counts per group (must sum to the input channels), or
            `None` for the equal-split rule.
        strides: stride of every group's conv.

    Input shape: `(B, H, W, C)`. Output shape: `(B, ceil(H / s), ceil(W / s), C)`.

    Example:
    >>> layer = kerasfer.layers.MixConv(kernel_sizes=[3, 5], splits=[64, 32], strides=2)
    >>> layer(np.zeros((1, 56, 56, 96))).shape
    (1, 28, 28, 96)

    Reference:
        Tan & Le, "MixConv: Mixed Depthwise Convolutional Kernels", BMVC 2019
        (`_split_channels` in MixNet / timm `mixed_conv2d.py`; explicit splits from DDAMFN
        `MixedFeatureNet.py` and LFNSB `LFN.py`).
    """

    def __init__(self, kernel_sizes=(3,), splits=None, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.splits = None if splits is None else [int(s) for s in splits]
        self.strides = int(strides)
        if not self.kernel_sizes or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"kernel_sizes must be a non-empty list of odd sizes, got {self.kernel_sizes}.")
        if self.splits is not None:
            if len(self.splits) != len(self.kernel_sizes):
                raise ValueError(f"splits {self.splits} and kernel_sizes {self.kernel_sizes} differ in length.")
            if any(s < 1 for s in self.splits):
                raise ValueError(f"every split must be >= 1, got {self.splits}.")
        if self.strides < 1:
            raise ValueError(f"strides must be >= 1, got {self.strides}.")
        self.pads = []
        self.convs = []
        for i, k in enumerate(self.kernel_sizes):
            same = self.strides == 1
            pad = None if same or k == 1 else keras.layers.ZeroPadding2D(k // 2, name=f"{self.name}_pad{i}")
            self.pads.append(pad)
            self.convs.append(
                keras.layers.DepthwiseConv2D(
                    k,
                    strides=self.strides,
                    padding="same" if same else "valid",
                    use_bias=False,
                    name=f"{self.name}_conv{i}",
                )
            )

    def _resolve_splits(self, channels):
        splits = self.splits if self.splits is not None else split_channels(channels, len(self.kernel_sizes))
        if sum(splits) != channels:
            raise ValueError(
                f"{self.name}: splits {splits} sum to {sum(splits)} but the input has {channels} channels."
            )
        if any(s < 1 for s in splits):
            raise ValueError(f"{self.name}: {channels} channels cannot be split into {len(splits)} non-empty groups.")
        return splits

    def build(self, input_shape):
        feature_map_shape(self.name, input_shape)
        splits = self._resolve_splits(int(input_shape[-1]))
        for pad, conv, c in zip(self.pads, self.convs, splits):
            shape = tuple(input_shape[:3]) + (c,)
            if pad is not None:
                pad.build(shape)
                shape = pad.compute_output_shape(shape)
            conv.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        splits = self._resolve_splits(inputs.shape[-1])
        outputs = []
        for pad, conv, x in zip(self.pads, self.convs, channel_split(inputs, splits, training)):
            if pad is not None:
                x = pad(x)
            outputs.append(conv(x))
        if len(outputs) == 1:
            return outputs[0]
        return keras.ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.strides
        return (b, None if h is None else -(-h // s), None if w is None else -(-w // s), c)

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_sizes": self.kernel_sizes, "splits": self.splits, "strides": self.strides})
        return config
