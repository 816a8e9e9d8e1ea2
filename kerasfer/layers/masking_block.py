"""The residual-masking block of the Residual Masking Network, and its ResNet basic block."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.conv2d_bn import BN_EPSILON
from kerasfer.layers.conv2d_bn import BN_MOMENTUM


def conv_initializer():
    """Kaiming-normal, fan-out, ReLU gain: torchvision's (and RMN's) conv initialisation."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


@kerasfer_export("kerasfer.layers.BasicBlock")
class BasicBlock(keras.layers.Layer):
    """The ResNet-18/34 basic residual block in the torchvision layout.

    `relu(bn2(conv3x3(relu(bn1(conv3x3_s(x))))) + shortcut(x))`, where the shortcut is the
    identity, or a 1x1 strided conv + BN projection when the channel count or the
    resolution changes. Convolutions have no bias, BN uses PyTorch's epsilon 1e-5, and
    3x3 convolutions pad one pixel symmetrically (`ZeroPadding2D` + `"valid"`), so a
    stride-2 block gives exactly PyTorch's output on even and odd inputs.

    Args:
        filters: output channels.
        strides: stride of the first 3x3 conv and of the projection (1 or 2).
        projection: `None` (default) adds the 1x1 projection exactly when the input
            channels differ from `filters` or `strides > 1`; `True`/`False` force it.
        zero_init_last_bn: start the last BN's gamma at zero, so the block starts as its
            shortcut (RMN's masking blocks do this; torchvision's default does not).

    Input shape: `(B, H, W, C)`. Output shape: `(B, ceil(H/s), ceil(W/s), filters)`.

    Example:
    >>> block = kerasfer.layers.BasicBlock(64, strides=2)
    >>> block(np.zeros((2, 32, 32, 32))).shape
    (2, 16, 16, 64)

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016; torchvision
        `models/resnet.py` `BasicBlock`.
    """

    def __init__(self, filters, strides=1, projection=None, zero_init_last_bn=False, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"filters must be >= 1, got {filters}.")
        if int(strides) not in (1, 2):
            raise ValueError(f"strides must be 1 or 2, got {strides}.")
        self.filters = int(filters)
        self.strides = int(strides)
        self.projection = None if projection is None else bool(projection)
        self.zero_init_last_bn = bool(zero_init_last_bn)
        self.pad1 = keras.layers.ZeroPadding2D(1, name=f"{self.name}_pad1")
        self.conv1 = keras.layers.Conv2D(
            self.filters,
            3,
            strides=self.strides,
            use_bias=False,
            kernel_initializer=conv_initializer(),
            name=f"{self.name}_conv1",
        )
        self.bn1 = BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{self.name}_bn1")
        self.pad2 = keras.layers.ZeroPadding2D(1, name=f"{self.name}_pad2")
        self.conv2 = keras.layers.Conv2D(
            self.filters, 3, use_bias=False, kernel_initializer=conv_initializer(), name=f"{self.name}_conv2"
        )
        self.bn2 = BatchNormalization(
            epsilon=BN_EPSILON,
            momentum=BN_MOMENTUM,
            gamma_initializer="zeros" if self.zero_init_last_bn else "ones",
            name=f"{self.name}_bn2",
        )
        self.shortcut_conv = keras.layers.Conv2D(
            self.filters,
            1,
            strides=self.strides,
            use_bias=False,
            kernel_initializer=conv_initializer(),
            name=f"{self.name}_downsample_conv",
        )
        self.shortcut_bn = BatchNormalization(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{self.name}_downsample_bn"
        )
        self._use_projection = self.projection

    def _needs_projection(self, channels):
        if self.projection is not None:
            return self.projection
        return channels != self.filters or self.strides != 1

    def build(self, input_shape):
        feature_map_shape(self.name, input_shape)
        self._use_projection = self._needs_projection(input_shape[-1])
        if not self._use_projection and input_shape[-1] != self.filters:
            raise ValueError(
                f"{self.name}: projection=False needs input channels == filters ({self.filters}), "
                f"got {input_shape[-1]}."
            )
        shape = self.pad1.compute_output_shape(input_shape)
        self.conv1.build(shape)
        shape = self.conv1.compute_output_shape(shape)
        self.bn1.build(shape)
        padded = self.pad2.compute_output_shape(shape)
        self.conv2.build(padded)
        self.bn2.build(shape)
        if self._use_projection:
            self.shortcut_conv.build(input_shape)
            self.shortcut_bn.build(self.shortcut_conv.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=None):
        x = self.conv1(self.pad1(inputs))
        x = keras.ops.relu(self.bn1(x, training=training))
        x = self.bn2(self.conv2(self.pad2(x)), training=training)
        if self._use_projection:
            shortcut = self.shortcut_bn(self.shortcut_conv(inputs), training=training)
        else:
            shortcut = inputs
        return keras.ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        shape = self.conv1.compute_output_shape(self.pad1.compute_output_shape(input_shape))
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "projection": self.projection,
                "zero_init_last_bn": self.zero_init_last_bn,
            }
        )
        return config


@kerasfer_export("kerasfer.layers.MaskingBlock")
class MaskingBlock(keras.layers.Layer):
    """Residual masking block: a U-Net-like mask `M` applied as `x * (1 + M)`.

    The encoder is a chain of `BasicBlock`s that double the width (`C -> 2C -> 4C ...`,
    `depth` blocks) with 2x2 max pooling between them; the decoder upsamples with a 2x2
    stride-2 transposed conv (with bias) + BN + ReLU, concatenates the encoder skip
    (`[upsampled, skip]`) and reduces with a `BasicBlock`; a last `BasicBlock` maps back
    to `C` channels. `M` is a softmax over the channel axis (the reference code) or a
    sigmoid. Depth 1 is `BasicBlock(2C)` then `BasicBlock(C)` without pooling. Every
    `BasicBlock` here starts with its last BN gamma at zero, as in the reference.

    With `width_multiplier=1` and `C` = 64/128/256/512 the blocks of depth 4/3/2/1 have
    32,366,080 / 31,885,312 / 29,965,312 / 22,291,456 parameters (the reference
    values): five times a ResNet-34. `width_multiplier` scales every internal width
    (`round(C * 2**k * width_multiplier)`), the output keeps `C` channels.

    Args:
        filters: channels of the input and output (`C`).
        depth: number of encoder levels, 1 to 4 (RMN uses 4, 3, 2, 1 after stages 1-4).
        width_multiplier: factor on the internal widths (1.0 = reference).
        activation: `"softmax"` (over channels, reference) or `"sigmoid"`.

    Input shape: `(B, H, W, C)` with `H` and `W` divisible by `2**(depth - 1)`.
    Output shape: same as the input.

    Example:
    >>> block = kerasfer.layers.MaskingBlock(16, depth=2, width_multiplier=0.5)
    >>> block(np.zeros((2, 8, 8, 16))).shape
    (2, 8, 8, 16)

    Reference:
        Pham, Vu and Tran, "Facial Expression Recognition using Residual Masking
        Network", ICPR 2020; code phamquiluan/ResidualMaskingNetwork `models/masking.py`.
    """

    def __init__(self, filters, depth, width_multiplier=1.0, activation="softmax", **kwargs):
        super().__init__(**kwargs)
        if int(depth) not in (1, 2, 3, 4):
            raise ValueError(f"depth must be 1, 2, 3 or 4, got {depth}.")
        if int(filters) < 1:
            raise ValueError(f"filters must be >= 1, got {filters}.")
        if not float(width_multiplier) > 0:
            raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}.")
        if activation not in ("softmax", "sigmoid"):
            raise ValueError(f"activation must be 'softmax' or 'sigmoid', got {activation!r}.")
        self.filters = int(filters)
        self.depth = int(depth)
        self.width_multiplier = float(width_multiplier)
        self.activation = activation
        widths = [max(1, int(round(self.filters * 2**k * self.width_multiplier))) for k in range(1, self.depth + 1)]
        self._widths = widths
        self.down_blocks = [
            BasicBlock(w, zero_init_last_bn=True, name=f"{self.name}_down{k + 1}") for k, w in enumerate(widths)
        ]
        self.pools = [keras.layers.MaxPooling2D(2, name=f"{self.name}_pool{k + 1}") for k in range(self.depth - 1)]
        self.up_convs = []
        self.up_bns = []
        self.up_blocks = []
        for k in range(self.depth - 1, 0, -1):
            self.up_convs.append(
                keras.layers.Conv2DTranspose(
                    widths[k - 1], 2, strides=2, kernel_initializer=conv_initializer(), name=f"{self.name}_up{k}_deconv"
                )
            )
            self.up_bns.append(
                BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{self.name}_up{k}_bn")
            )
            self.up_blocks.append(BasicBlock(widths[k - 1], zero_init_last_bn=True, name=f"{self.name}_up{k}_block"))
        self.out_block = BasicBlock(self.filters, zero_init_last_bn=True, name=f"{self.name}_out")

    def build(self, input_shape):
        feature_map_shape(self.name, input_shape)
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"{self.name} was created for {self.filters} channels, got an input of shape {input_shape}."
            )
        factor = 2 ** (self.depth - 1)
        for side in input_shape[1:3]:
            if side is not None and side % factor:
                raise ValueError(
                    f"{self.name}: a depth-{self.depth} masking block needs H and W divisible by {factor}, "
                    f"got {input_shape[1:3]}."
                )
        shape = tuple(input_shape)
        skips = []
        for k, block in enumerate(self.down_blocks):
            if k > 0:
                shape = tuple(self.pools[k - 1].compute_output_shape(shape))
            block.build(shape)
            shape = tuple(block.compute_output_shape(shape))
            skips.append(shape)
        for i, (conv, bn, block) in enumerate(zip(self.up_convs, self.up_bns, self.up_blocks)):
            conv.build(shape)
            shape = tuple(conv.compute_output_shape(shape))
            bn.build(shape)
            skip = skips[self.depth - 2 - i]
            shape = shape[:-1] + (shape[-1] + skip[-1],)
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.out_block.build(shape)
        self.built = True

    def attention_map(self, inputs, training=None):
        """Returns the mask `M` (same shape as `inputs`) without applying it."""
        x = inputs
        skips = []
        for k, block in enumerate(self.down_blocks):
            if k > 0:
                x = self.pools[k - 1](x)
            x = block(x, training=training)
            skips.append(x)
        for i, (conv, bn, block) in enumerate(zip(self.up_convs, self.up_bns, self.up_blocks)):
            # relu(concat(up, skip)) == concat(relu(up), skip): the skip is a BasicBlock output, already
            # >= 0. Written this way the TFLite converter cannot fuse the ReLU into the transposed conv,
            # which would make it TRANSPOSE_CONV v4, a version the GPU delegate rejects.
            x = bn(conv(x), training=training)
            x = keras.ops.relu(keras.ops.concatenate([x, skips[self.depth - 2 - i]], axis=-1))
            x = block(x, training=training)
        x = self.out_block(x, training=training)
        if self.activation == "softmax":
            return keras.ops.softmax(x, axis=-1)
        return keras.ops.sigmoid(x)

    def call(self, inputs, training=None):
        return inputs * (1.0 + self.attention_map(inputs, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "depth": self.depth,
                "width_multiplier": self.width_multiplier,
                "activation": self.activation,
            }
        )
        return config
