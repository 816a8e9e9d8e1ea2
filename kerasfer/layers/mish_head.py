"""LFER-LDL's "new output module": a depthwise-separable head with Mish activations."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers.batch_norm import BatchNormalization


def mish(x):
    """Mish activation `x * tanh(softplus(x))` (Misra, 2019), with a stable softplus."""
    return x * keras.ops.tanh(keras.ops.softplus(x))


@kerasfer_export("kerasfer.layers.MishHead")
class MishHead(keras.layers.Layer):
    """Depthwise-separable output module with Mish, applied after global pooling.

    LFER-LDL replaces ShuffleNetV2's fully connected output with a module "mainly
    consisting of improved depthwise separable convolutions" whose ReLUs are replaced by
    Mish (`x * tanh(softplus(x))`). The paper's figure is not available and its ablation
    reports only +0.02M parameters and +0.03M FLOPs over the FC head, so the module must
    work on the pooled `1 x 1` map (any convolution on the 7x7 map would cost >= 0.4M
    MACs). The layout is therefore our choice (see `docs/models.md`), made configurable:

    global average pooling (kept as `(B, 1, 1, C)`) -> depthwise 1x1 conv (depth
    multiplier `depth_multiplier`, no bias) -> BatchNorm -> Mish -> [optional pointwise
    1x1 conv to `hidden_units` (no bias) -> BatchNorm -> Mish] -> flatten -> dropout.

    The layer outputs the `(B, C')` feature vector; the model's classifier (a `Dense`
    named `"predictions"`, i.e. the pointwise convolution to the classes on a 1x1 map)
    follows it. At C = 1024 the default adds 3,072 parameters over the plain FC head;
    `hidden_units=24` adds 20,696 (closest to the paper's +0.02M).

    Args:
        depth_multiplier: outputs per channel of the depthwise convolution.
        hidden_units: if set, add a pointwise convolution to this many channels
            (+ BatchNorm + Mish) after the depthwise stage.
        dropout_rate: dropout on the output vector (training only).
        epsilon: BatchNorm epsilon (1e-5 = PyTorch).
        momentum: BatchNorm momentum (0.9 = PyTorch's 0.1).

    Example:
    >>> head = kerasfer.layers.MishHead()
    >>> head(np.zeros((2, 7, 7, 1024))).shape
    (2, 1024)

    Reference:
    - Liu, Luo, Xu, Lightweight Facial Expression Recognition Based on Label Distribution Learning
      (LFER-LDL), ChinaXiv 202204.00070, 2022, section 1.1 and Fig. 2.
    - [Misra, Mish: A Self Regularized Non-Monotonic Activation Function, 2019](https://arxiv.org/abs/1908.08681)
    """

    def __init__(self, depth_multiplier=1, hidden_units=None, dropout_rate=0.0, epsilon=1e-5, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        if int(depth_multiplier) != depth_multiplier or depth_multiplier < 1:
            raise ValueError(f"depth_multiplier must be a positive integer, got {depth_multiplier!r}.")
        if hidden_units is not None and (int(hidden_units) != hidden_units or hidden_units < 1):
            raise ValueError(f"hidden_units must be None or a positive integer, got {hidden_units!r}.")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate!r}.")
        self.depth_multiplier = int(depth_multiplier)
        self.hidden_units = None if hidden_units is None else int(hidden_units)
        self.dropout_rate = float(dropout_rate)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.depthwise = keras.layers.DepthwiseConv2D(
            1, depth_multiplier=self.depth_multiplier, use_bias=False, name=f"{self.name}_dw"
        )
        self.dw_bn = BatchNormalization(epsilon=self.epsilon, momentum=self.momentum, name=f"{self.name}_dw_bn")
        self.pointwise = None
        self.pw_bn = None
        if self.hidden_units is not None:
            self.pointwise = keras.layers.Conv2D(self.hidden_units, 1, use_bias=False, name=f"{self.name}_pw")
            self.pw_bn = BatchNormalization(epsilon=self.epsilon, momentum=self.momentum, name=f"{self.name}_pw_bn")
        self.dropout = keras.layers.Dropout(self.dropout_rate, name=f"{self.name}_dropout")

    def _check(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"MishHead expects a 4-D (B, H, W, C) input with known C, got {tuple(input_shape)}.")
        return input_shape[-1]

    def build(self, input_shape):
        channels = self._check(input_shape)
        shape = (input_shape[0], 1, 1, channels)
        self.depthwise.build(shape)
        shape = self.depthwise.compute_output_shape(shape)
        self.dw_bn.build(shape)
        if self.pointwise is not None:
            self.pointwise.build(shape)
            shape = self.pointwise.compute_output_shape(shape)
            self.pw_bn.build(shape)

    def call(self, inputs, training=None):
        self._check(inputs.shape)
        x = keras.ops.mean(inputs, axis=(1, 2), keepdims=True)
        x = mish(self.dw_bn(self.depthwise(x), training=training))
        if self.pointwise is not None:
            x = mish(self.pw_bn(self.pointwise(x), training=training))
        x = keras.ops.reshape(x, (-1, x.shape[-1]))
        return self.dropout(x, training=training)

    def compute_output_shape(self, input_shape):
        channels = self._check(input_shape)
        units = self.hidden_units if self.hidden_units is not None else channels * self.depth_multiplier
        return (input_shape[0], units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth_multiplier": self.depth_multiplier,
                "hidden_units": self.hidden_units,
                "dropout_rate": self.dropout_rate,
                "epsilon": self.epsilon,
                "momentum": self.momentum,
            }
        )
        return config
