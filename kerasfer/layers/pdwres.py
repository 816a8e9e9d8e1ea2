"""PDWRes: LFER-LDL's parallel depthwise residual branch over four image quadrants."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization

_QUADRANTS = ("top_left", "bottom_left", "top_right", "bottom_right")


@kerasfer_export("kerasfer.layers.PDWRes")
class PDWRes(keras.layers.Layer):
    """Parallel depthwise residual branch (PDWRes) of LFER-LDL.

    The input map (the ShuffleNetV2 stem output after max pooling, `(B, H, W, C)` with
    even `H` and `W`) is cut into four quadrants of `H/2 x W/2`. Each quadrant goes
    through its own (separately weighted) pair of depthwise convolutions:

    1. depthwise 3x3, stride 2, symmetric padding 1, depth multiplier `depth_multiplier`
       (`C -> C * depth_multiplier`), no bias -> BatchNorm -> activation;
    2. depthwise 3x3, stride 1, padding 1 (`C * m -> C * m`), no bias -> BatchNorm ->
       activation.

    The four results are put back in place (top-left above bottom-left, top-right above
    bottom-right, the two columns side by side), giving
    `(B, 2 * ceil(H/4), 2 * ceil(W/4), C * depth_multiplier)`, which LFER-LDL adds to
    Stage 2's output. With 29 input channels and `depth_multiplier=4` it has 10,208
    parameters. The stride-2 convolution pads one pixel on every side, as PyTorch does
    (Keras `"same"` would pad only bottom/right), so PyTorch weights port exactly;
    `DepthwiseConv2D(depth_multiplier=m)` orders outputs like PyTorch `groups=C`
    (output `j` comes from input `j // m`).

    Args:
        depth_multiplier: output channels per input channel (4 maps 29 to 116).
        activation: activation after each BatchNorm; the paper uses `"relu6"`, the
            EfficientFace code `"relu"`.
        epsilon: BatchNorm epsilon (1e-5 = PyTorch).
        momentum: BatchNorm momentum (0.9 = PyTorch's 0.1).

    Example:
    >>> layer = kerasfer.layers.PDWRes(depth_multiplier=4)
    >>> layer(np.zeros((2, 56, 56, 29))).shape
    (2, 28, 28, 116)

    Reference:
    - Liu, Luo, Xu, Lightweight Facial Expression Recognition Based on Label Distribution Learning
      (LFER-LDL), ChinaXiv 202204.00070, 2022. Closest public code: `LocalFeatureExtractor` in
      zengqunzhao/EfficientFace.
    """

    def __init__(self, depth_multiplier=4, activation="relu6", epsilon=1e-5, momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        if int(depth_multiplier) != depth_multiplier or depth_multiplier < 1:
            raise ValueError(f"depth_multiplier must be a positive integer, got {depth_multiplier!r}.")
        self.depth_multiplier = int(depth_multiplier)
        self.activation = activation
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self._act = keras.activations.get(activation)
        self.branches = []
        for q in _QUADRANTS:
            prefix = f"{self.name}_{q}"
            self.branches.append(
                [
                    keras.layers.DepthwiseConv2D(
                        3,
                        strides=2,
                        padding="valid",
                        depth_multiplier=self.depth_multiplier,
                        use_bias=False,
                        name=f"{prefix}_dw1",
                    ),
                    BatchNormalization(epsilon=self.epsilon, momentum=self.momentum, name=f"{prefix}_bn1"),
                    keras.layers.DepthwiseConv2D(3, strides=1, padding="same", use_bias=False, name=f"{prefix}_dw2"),
                    BatchNormalization(epsilon=self.epsilon, momentum=self.momentum, name=f"{prefix}_bn2"),
                ]
            )

    def _quadrant_shape(self, input_shape):
        _, h, w, c = feature_map_shape("PDWRes", input_shape)
        if h is None or w is None or c is None:
            raise ValueError(f"PDWRes needs static height, width and channels, got {tuple(input_shape)}.")
        if h % 2 or w % 2:
            raise ValueError(f"PDWRes splits the map into four equal quadrants, so H and W must be even; got {h}x{w}.")
        return h // 2, w // 2, c

    def build(self, input_shape):
        qh, qw, c = self._quadrant_shape(input_shape)
        for dw1, bn1, dw2, bn2 in self.branches:
            shape = (input_shape[0], qh + 2, qw + 2, c)
            dw1.build(shape)
            shape = dw1.compute_output_shape(shape)
            bn1.build(shape)
            dw2.build(shape)
            bn2.build(shape)

    def _branch(self, x, layers, training):
        dw1, bn1, dw2, bn2 = layers
        x = keras.ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        x = self._act(bn1(dw1(x), training=training))
        return self._act(bn2(dw2(x), training=training))

    def call(self, inputs, training=None):
        qh, qw, _ = self._quadrant_shape(inputs.shape)
        quads = (
            inputs[:, :qh, :qw, :],
            inputs[:, qh:, :qw, :],
            inputs[:, :qh, qw:, :],
            inputs[:, qh:, qw:, :],
        )
        tl, bl, tr, br = (self._branch(q, layers, training) for q, layers in zip(quads, self.branches, strict=True))
        left = keras.ops.concatenate([tl, bl], axis=1)
        right = keras.ops.concatenate([tr, br], axis=1)
        return keras.ops.concatenate([left, right], axis=2)

    def compute_output_shape(self, input_shape):
        qh, qw, c = self._quadrant_shape(input_shape)
        return (input_shape[0], 2 * ((qh - 1) // 2 + 1), 2 * ((qw - 1) // 2 + 1), c * self.depth_multiplier)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth_multiplier": self.depth_multiplier,
                "activation": self.activation,
                "epsilon": self.epsilon,
                "momentum": self.momentum,
            }
        )
        return config
