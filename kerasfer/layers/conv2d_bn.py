"""Convolution + BatchNorm without activation (RepViT / LFNSB `Conv2d_BN`), fusable into one conv."""

import keras
import numpy as np

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization

BN_EPSILON = 1e-5  # PyTorch BatchNorm default
BN_MOMENTUM = 0.9  # PyTorch momentum 0.1


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value}.")
    return value


def torch_padding(kernel_size, strides, padding, dilation_rate):
    """Resolves PyTorch-style symmetric padding into a Keras padding plan.

    Returns `(keras_padding, zero_pad)` where `keras_padding` is `"same"` or `"valid"` and
    `zero_pad` is `None` or the `((top, bottom), (left, right))` to apply before a valid conv.
    `"same"` is only used where it is identical to PyTorch's symmetric padding (stride 1,
    odd kernel, padding equal to half the dilated kernel).
    """
    kernel_size = _pair(kernel_size, "kernel_size")
    strides = _pair(strides, "strides")
    dilation_rate = _pair(dilation_rate, "dilation_rate")
    if padding is None:
        pad = tuple(d * (k - 1) // 2 for k, d in zip(kernel_size, dilation_rate))
    else:
        pad = _pair(padding, "padding")
    if any(p < 0 for p in pad):
        raise ValueError(f"padding must be non-negative, got {pad}.")
    if all(p == 0 for p in pad):
        return "valid", None
    same_ok = all(
        s == 1 and k % 2 == 1 and p == d * (k - 1) // 2 for k, s, p, d in zip(kernel_size, strides, pad, dilation_rate)
    )
    if same_ok:
        return "same", None
    return "valid", ((pad[0], pad[0]), (pad[1], pad[1]))


def fuse_bn(kernel, bn, bias=None, depthwise=False):
    """Folds an inference-mode BatchNormalization into the preceding conv's kernel and bias.

    `kernel` is a Keras conv kernel (`Conv2D`: `(kh, kw, in, out)`; `DepthwiseConv2D`:
    `(kh, kw, in, multiplier)`, output channel `c * multiplier + m`). Returns numpy
    `(kernel, bias)` with `W' = W * s`, `b' = beta + (b - mean) * s`, `s = gamma / sqrt(var + eps)`.
    """
    kernel = np.asarray(kernel, dtype="float64")
    as_np = keras.ops.convert_to_numpy
    out_channels = kernel.shape[-2] * kernel.shape[-1] if depthwise else kernel.shape[-1]
    gamma = np.asarray(as_np(bn.gamma) if bn.gamma is not None else np.ones(out_channels), dtype="float64")
    beta = np.asarray(as_np(bn.beta) if bn.beta is not None else np.zeros(out_channels), dtype="float64")
    mean = np.asarray(as_np(bn.moving_mean), dtype="float64")
    var = np.asarray(as_np(bn.moving_variance), dtype="float64")
    scale = gamma / np.sqrt(var + bn.epsilon)
    if depthwise:
        fused_kernel = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        fused_kernel = kernel * scale
    bias = np.zeros(out_channels) if bias is None else np.asarray(bias, dtype="float64")
    fused_bias = beta + (bias - mean) * scale
    return fused_kernel.astype("float32"), fused_bias.astype("float32")


@kerasfer_export("kerasfer.layers.Conv2dBN")
class Conv2dBN(keras.layers.Layer):
    """Convolution without bias followed by BatchNormalization, no activation (`Conv2d_BN`).

    The building block of RepViT and LFNSB's LFN backbone. Padding follows PyTorch:
    symmetric `padding` pixels on every side (default `dilation * (kernel_size - 1) // 2`),
    done with `ZeroPadding2D` + a valid convolution unless Keras `"same"` is identical
    (stride 1, odd kernel). `groups == input channels` gives a depthwise convolution
    (`DepthwiseConv2D` with `depth_multiplier = filters // groups`, the same channel order as
    PyTorch); other `groups > 1` give a grouped `Conv2D`. BatchNorm uses PyTorch's
    `epsilon=1e-5`, `momentum=0.9` (PyTorch 0.1) and initialises gamma to `bn_weight_init`.

    With `inference_mode=True` the layer holds a single convolution with bias (the fused
    form); `get_fused_weights()` returns the fused `(kernel, bias)` for it and
    `kerasfer.export.reparameterize` swaps one for the other.

    Args:
        filters: output channels.
        kernel_size: int or pair.
        strides: int or pair.
        padding: `None` (half the dilated kernel) or a symmetric int / pair of ints.
        dilation_rate: int or pair.
        groups: convolution groups; equal to the input channels for a depthwise conv.
        bn_weight_init: initial BatchNorm gamma (RepViT uses 0 for the last BN of a block).
        inference_mode: build the fused single-conv form.

    Input shape: `(B, H, W, C)`. Output shape: `(B, H', W', filters)`.

    Example:
    >>> layer = kerasfer.layers.Conv2dBN(64, 3, strides=2)
    >>> layer(np.zeros((1, 112, 112, 3))).shape
    (1, 56, 56, 64)

    Reference:
        Wang et al., "RepViT: Revisiting Mobile CNN From ViT Perspective", CVPR 2024
        (`Conv2d_BN` in THU-MIG/RepViT `model/repvit.py`).
    """

    def __init__(
        self,
        filters,
        kernel_size=1,
        strides=1,
        padding=None,
        dilation_rate=1,
        groups=1,
        bn_weight_init=1.0,
        inference_mode=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = None if padding is None else _pair(padding, "padding")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.groups = int(groups)
        self.bn_weight_init = float(bn_weight_init)
        self.inference_mode = bool(inference_mode)
        if self.filters < 1 or self.groups < 1 or self.filters % self.groups:
            raise ValueError(f"filters ({self.filters}) must be a positive multiple of groups ({self.groups}).")
        keras_padding, zero_pad = torch_padding(self.kernel_size, self.strides, self.padding, self.dilation_rate)
        self._keras_padding = keras_padding
        self.pad = keras.layers.ZeroPadding2D(zero_pad, name=f"{self.name}_pad") if zero_pad else None
        self.bn = None
        if not self.inference_mode:
            self.bn = BatchNormalization(
                epsilon=BN_EPSILON,
                momentum=BN_MOMENTUM,
                gamma_initializer=keras.initializers.Constant(self.bn_weight_init),
                name=f"{self.name}_bn",
            )
        # The conv type (Conv2D or DepthwiseConv2D) depends on the input channels, so it is
        # created in build(); its name is deterministic all the same.
        self.conv = None
        self.depthwise = None

    def _make_conv(self, in_channels):
        if in_channels % self.groups:
            raise ValueError(
                f"{self.name}: input channels ({in_channels}) must be a multiple of groups ({self.groups})."
            )
        self.depthwise = self.groups > 1 and self.groups == in_channels
        common = dict(
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self._keras_padding,
            dilation_rate=self.dilation_rate,
            use_bias=self.inference_mode,
            name=f"{self.name}_conv",
        )
        if self.depthwise:
            return keras.layers.DepthwiseConv2D(depth_multiplier=self.filters // self.groups, **common)
        return keras.layers.Conv2D(self.filters, groups=self.groups, **common)

    def build(self, input_shape):
        feature_map_shape(self.name, input_shape)
        self.conv = self._make_conv(int(input_shape[-1]))
        shape = input_shape
        if self.pad is not None:
            self.pad.build(shape)
            shape = self.pad.compute_output_shape(shape)
        self.conv.build(shape)
        shape = self.conv.compute_output_shape(shape)
        if self.bn is not None:
            self.bn.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        if self.pad is not None:
            x = self.pad(x)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.pad is not None:
            shape = self.pad.compute_output_shape(shape)
        out = []
        for size, k, s, d in zip(shape[1:3], self.kernel_size, self.strides, self.dilation_rate):
            if size is None:
                out.append(None)
            elif self._keras_padding == "same":
                out.append(-(-size // s))
            else:
                out.append((size - d * (k - 1) - 1) // s + 1)
        return (shape[0], out[0], out[1], self.filters)

    def get_fused_weights(self):
        """The `(kernel, bias)` of the equivalent single biased conv, as numpy arrays.

        The kernel has the layout of this layer's conv in inference mode (`Conv2D`: HWIO,
        depthwise: `(kh, kw, C, multiplier)`). Reads the current weights; changes nothing.
        """
        if not self.built:
            raise ValueError(f"{self.name} is not built: call it on an input first.")
        if self.inference_mode:
            return tuple(np.asarray(w) for w in self.conv.get_weights())
        return fuse_bn(keras.ops.convert_to_numpy(self.conv.kernel), self.bn, depthwise=self.depthwise)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": list(self.kernel_size),
                "strides": list(self.strides),
                "padding": None if self.padding is None else list(self.padding),
                "dilation_rate": list(self.dilation_rate),
                "groups": self.groups,
                "bn_weight_init": self.bn_weight_init,
                "inference_mode": self.inference_mode,
            }
        )
        return config
