"""GDConv: MobileFaceNet's global depthwise conv embedding head."""

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.layers._shapes import feature_map_shape
from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.conv2d_bn import BN_EPSILON
from kerasfer.layers.conv2d_bn import BN_MOMENTUM
from kerasfer.layers.conv2d_bn import Conv2dBN


@kerasfer_export("kerasfer.layers.GDConv")
class GDConv(keras.layers.Layer):
    """Global depthwise convolution head: dw `k x k` valid conv + BN -> flatten -> linear -> BN (-> L2 norm).

    MobileFaceNet's embedding head (also MFN's and LFN's): a depthwise convolution whose
    kernel covers the whole final feature map (7x7 at 112x112 input; "linear", i.e. BN
    without activation), flatten, a bias-free dense layer to `embedding_size`, a
    BatchNorm1d and, with `normalize=True`, L2 normalisation (`x / max(||x||, 1e-12)`,
    written with elementary ops because TFLite's L2_NORMALIZATION does not run on the GPU
    delegate). With `kernel_size=None` the kernel is the input's spatial size, so the head
    works at any input resolution; a fixed `kernel_size` must equal the map size.

    Args:
        embedding_size: output width.
        kernel_size: depthwise kernel (int or pair), or `None` for the whole input map.
        normalize: L2-normalise the output.
        inference_mode: fold the depthwise conv's BN into a biased conv.

    Input shape: `(B, H, W, C)`. Output shape: `(B, embedding_size)`.

    Example:
    >>> layer = kerasfer.layers.GDConv(256)
    >>> layer(np.zeros((1, 7, 7, 256))).shape
    (1, 256)

    Reference:
        Chen et al., "MobileFaceNets: Efficient CNNs for Accurate Real-Time Face Verification
        on Mobile Devices", CCBR 2018 (TreB1eN/InsightFace_Pytorch `model.py`).
    """

    def __init__(self, embedding_size=512, kernel_size=None, normalize=True, inference_mode=False, **kwargs):
        super().__init__(**kwargs)
        self.embedding_size = int(embedding_size)
        if kernel_size is not None:
            kernel_size = [int(kernel_size)] * 2 if isinstance(kernel_size, int) else [int(k) for k in kernel_size]
        self.kernel_size = kernel_size
        self.normalize = bool(normalize)
        self.inference_mode = bool(inference_mode)
        if self.embedding_size < 1:
            raise ValueError(f"embedding_size must be >= 1, got {self.embedding_size}.")
        self.conv = None  # needs the input's channels (and map size when kernel_size is None)
        self.linear = keras.layers.Dense(self.embedding_size, use_bias=False, name=f"{self.name}_linear")
        self.bn = BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{self.name}_bn")

    def build(self, input_shape):
        b, h, w, c = feature_map_shape(self.name, input_shape, static_size=True)
        kernel = self.kernel_size or [h, w]
        if tuple(kernel) != (h, w):
            raise ValueError(
                f"{self.name}: kernel_size {tuple(kernel)} must equal the feature-map size ({h}, {w}) "
                "(a global depthwise conv); use kernel_size=None to follow the input."
            )
        self.conv = Conv2dBN(
            c, tuple(kernel), padding=0, groups=c, inference_mode=self.inference_mode, name=f"{self.name}_dwconv"
        )
        self.conv.build(input_shape)
        self.linear.build((b, c))
        self.bn.build((b, self.embedding_size))
        self.built = True

    def call(self, inputs, training=None):
        x = self.conv(inputs, training=training)
        x = keras.ops.reshape(x, (-1, x.shape[-1]))
        x = self.bn(self.linear(x), training=training)
        if self.normalize:
            # max(||x||, 1e-12) without the infinite gradient of sqrt at 0. The squared norm is a
            # product with a ones vector, not a SUM: the TFLite converter fuses
            # x / sqrt(max(sum(x^2), eps)) into L2_NORMALIZATION, which the GPU delegate rejects.
            ones = keras.ops.ones((self.embedding_size, 1), dtype=x.dtype)
            sum_sq = keras.ops.matmul(keras.ops.square(x), ones)
            x = x * keras.ops.rsqrt(keras.ops.maximum(sum_sq, 1e-24))
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.embedding_size)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedding_size": self.embedding_size,
                "kernel_size": self.kernel_size,
                "normalize": self.normalize,
                "inference_mode": self.inference_mode,
            }
        )
        return config
