"""RepVGGDW: a depthwise 3x3 + 1x1 + identity block with an outer BatchNorm, fusable into one conv."""

import keras
import numpy as np

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.conv2d_bn import BN_EPSILON
from kerasfer.layers.conv2d_bn import BN_MOMENTUM
from kerasfer.layers.conv2d_bn import fuse_bn


@kerasfer_export("kerasfer.layers.RepVGGDW")
class RepVGGDW(keras.layers.Layer):
    """Re-parameterizable depthwise block `BN(dw3x3_bn(x) + dw1x1(x) + x)` from RepViT.

    Three depthwise branches over the input channels: (a) a 3x3 depthwise conv without
    bias followed by BatchNorm, (b) a 1x1 depthwise conv **with** bias and no BN, (c) the
    identity. Their sum goes through an outer BatchNorm; there is no activation anywhere
    and the channel count is unchanged. Stride 1, "same" padding (1 pixel, as PyTorch).
    BatchNorms use `epsilon=1e-5`, `momentum=0.9` (PyTorch parity).

    With `inference_mode=True` the layer is a single 3x3 depthwise conv with bias (named
    `{name}_reparam_conv`); `get_fused_weights()` gives its `(kernel, bias)` from the
    training form: the 3x3 branch's BN folded in, the 1x1 kernel zero-padded to 3x3, a
    one-hot centre kernel for the identity, then the outer BN folded in.

    Args:
        inference_mode: build the fused single-conv form.

    Input shape: `(B, H, W, C)`. Output shape: same.

    Example:
    >>> layer = kerasfer.layers.RepVGGDW()
    >>> layer(np.zeros((1, 7, 7, 256))).shape
    (1, 7, 7, 256)

    Reference:
        Wang et al., "RepViT: Revisiting Mobile CNN From ViT Perspective", CVPR 2024
        (`RepVGGDW` in THU-MIG/RepViT `model/repvit.py`; reused by LFNSB's `LFN.py` as `conv6_sep`).
    """

    def __init__(self, inference_mode=False, **kwargs):
        super().__init__(**kwargs)
        self.inference_mode = bool(inference_mode)
        bn_args = dict(epsilon=BN_EPSILON, momentum=BN_MOMENTUM)
        if self.inference_mode:
            self.reparam_conv = keras.layers.DepthwiseConv2D(
                3, padding="same", use_bias=True, name=f"{self.name}_reparam_conv"
            )
        else:
            self.conv = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{self.name}_conv")
            self.conv_bn = BatchNormalization(name=f"{self.name}_conv_bn", **bn_args)
            self.conv1 = keras.layers.DepthwiseConv2D(1, use_bias=True, name=f"{self.name}_conv1")
            self.add = keras.layers.Add(name=f"{self.name}_add")
            self.bn = BatchNormalization(name=f"{self.name}_bn", **bn_args)

    def build(self, input_shape):
        feature_map_shape(self.name, input_shape)
        if self.inference_mode:
            self.reparam_conv.build(input_shape)
        else:
            self.conv.build(input_shape)
            self.conv_bn.build(input_shape)
            self.conv1.build(input_shape)
            self.add.build([input_shape] * 3)
            self.bn.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        if self.inference_mode:
            return self.reparam_conv(inputs)
        a = self.conv_bn(self.conv(inputs), training=training)
        b = self.conv1(inputs)
        return self.bn(self.add([a, b, inputs]), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_fused_weights(self):
        """The `(kernel, bias)` of the equivalent 3x3 depthwise conv, numpy, `(3, 3, C, 1)` and `(C,)`."""
        if not self.built:
            raise ValueError(f"{self.name} is not built: call it on an input first.")
        if self.inference_mode:
            return tuple(np.asarray(w) for w in self.reparam_conv.get_weights())
        as_np = keras.ops.convert_to_numpy
        kernel_a, bias_a = fuse_bn(as_np(self.conv.kernel), self.conv_bn, depthwise=True)
        kernel_b = np.zeros_like(kernel_a)
        kernel_b[1, 1] = as_np(self.conv1.kernel)[0, 0]
        bias_b = as_np(self.conv1.bias)
        identity = np.zeros_like(kernel_a)
        identity[1, 1] = 1.0
        kernel = kernel_a.astype("float64") + kernel_b + identity
        bias = bias_a.astype("float64") + bias_b
        return fuse_bn(kernel, self.bn, bias=bias, depthwise=True)

    def get_config(self):
        config = super().get_config()
        config.update({"inference_mode": self.inference_mode})
        return config
