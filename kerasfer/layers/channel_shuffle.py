"""Channel shuffle (ShuffleNet) written so that TFLite sees only rank-4 tensors."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers._split import channel_split

_METHODS = ("transpose", "concat")


@kerasfer_export("kerasfer.layers.ChannelShuffle")
class ChannelShuffle(keras.layers.Layer):
    """Exact ShuffleNet channel shuffle that the TFLite GPU delegate accepts.

    With `C` channels in `groups` groups of `C / groups`, output channel `j * groups + g`
    is input channel `g * (C / groups) + j` (the same permutation as torchvision's
    `channel_shuffle`). The classic formulation reshapes to a 5-D tensor
    `(B, H, W, groups, C / groups)` and transposes it, which the GPU delegate rejects
    (every tensor must have rank <= 4). This layer folds the two spatial axes into one,
    so no tensor ever has more than four dimensions and no GATHER is emitted:

    * `method="concat"` (default): slice the `groups` channel blocks, reshape each to
      `(B, H*W, C/groups, 1)`, concatenate them on the last axis, reshape back:
      STRIDED_SLICE x groups -> RESHAPE x groups -> CONCATENATION -> RESHAPE. Accepted
      by the classic OpenCL delegate, ML Drift and the OpenGL fallback
      (`kerasfer.export.gpu_check.check(..., strict_gl=True)` passes).
    * `method="transpose"`: reshape to `(B, H*W, groups, C/groups)`, swap the last two
      axes, reshape back: RESHAPE -> TRANSPOSE (perm length 4) -> RESHAPE. Fewer ops and
      accepted by the OpenCL delegate and ML Drift, but the OpenGL fallback has no
      TRANSPOSE shader.

    Both are pure data movement, hence exact, and add no parameters and no MACs. The
    spatial size must be static (it always is in a built kerasfer model); the batch may
    be dynamic.

    Args:
        groups: number of channel groups (2 in ShuffleNetV2); must divide the channels.
        method: `"transpose"` or `"concat"` (see above).

    Example:
    >>> layer = kerasfer.layers.ChannelShuffle(groups=2)
    >>> x = np.arange(4, dtype="float32").reshape(1, 1, 1, 4)
    >>> np.asarray(layer(x)).ravel().tolist()
    [0.0, 2.0, 1.0, 3.0]

    Reference:
    - [Ma et al., ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design, ECCV 2018](
      https://arxiv.org/abs/1807.11164)
    """

    def __init__(self, groups=2, method="concat", **kwargs):
        super().__init__(**kwargs)
        if int(groups) != groups or groups < 1:
            raise ValueError(f"groups must be a positive integer, got {groups!r}.")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
        self.groups = int(groups)
        self.method = method

    def _check_shape(self, input_shape):
        _, h, w, c = feature_map_shape("ChannelShuffle", input_shape)
        if h is None or w is None or c is None:
            raise ValueError(
                f"ChannelShuffle needs static height, width and channels, got {tuple(input_shape)} "
                "(the reshape must not depend on runtime shapes for the GPU delegate)."
            )
        if c % self.groups:
            raise ValueError(f"ChannelShuffle: {c} channels are not divisible by groups={self.groups}.")
        return h, w, c

    def build(self, input_shape):
        self._check_shape(input_shape)

    def call(self, inputs, training=None):
        h, w, c = self._check_shape(inputs.shape)
        g = self.groups
        if g == 1:
            return inputs
        n = c // g
        if self.method == "transpose":
            x = keras.ops.reshape(inputs, (-1, h * w, g, n))
            x = keras.ops.transpose(x, (0, 1, 3, 2))
            return keras.ops.reshape(x, (-1, h, w, c))
        parts = [keras.ops.reshape(part, (-1, h * w, n, 1)) for part in channel_split(inputs, [n] * g, training)]
        x = keras.ops.concatenate(parts, axis=-1)
        return keras.ops.reshape(x, (-1, h, w, c))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"groups": self.groups, "method": self.method})
        return config
