"""BatchNormalization and PReLU with faster training kernels on TensorFlow, the stock layers elsewhere.

Keras 3 computes a training-mode BatchNormalization on TensorFlow as `tf.nn.moments` followed by
`tf.nn.batch_normalization`: several passes over every activation forward and more backward. In the
depthwise models of the source papers (LFNSB, MobileFaceNet, SDNet, ShuffleNetV2) those passes cost
more than the convolutions. TensorFlow's fused kernel (`FusedBatchNormV3`, oneDNN on x86) does the
same in one pass forward and one backward. Keras's PReLU is `relu(x) - alpha * relu(-x)`: five
elementwise passes where a select and a multiply do.

These subclasses keep the stock layers' variables, names, configs and numerics; only the kernels of
a training step change, and only where the result is the same:

* `BatchNormalization`: fused in training mode on TensorFlow for float32 4-D input normalised over
  the last axis (no mask, no renorm, not synchronized); the stock code otherwise, and always at
  inference, so export and re-parameterization see the stock graph. The moving statistics follow
  Keras's rule, `moving = momentum * moving + (1 - momentum) * batch`, with the batch variance
  *biased* (divided by N, as Keras; the fused kernel returns the unbiased one, which is rescaled by
  `(N - 1) / N`). The output is normalised with the biased variance in both.
* `PReLU`: `x * where(x > 0, 1, alpha)` with a hand-written gradient in training mode on TensorFlow;
  the stock code otherwise (the int8 export's PReLU rewrite patches the stock call).

Loaded from a `.keras` file written before these classes existed, a model keeps the stock layers
(same outputs, stock speed); `create_model` builds these.
"""

import keras

from kerasfer.api_export import kerasfer_export


def _tensorflow():
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


@kerasfer_export("kerasfer.layers.BatchNormalization")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with TensorFlow's fused kernel in training.

    Same arguments, variables and results as the stock layer (see the module docstring for when
    the fused kernel runs and the variance convention).

    Example:
    >>> bn = kerasfer.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)
    >>> bn(np.ones((2, 4, 4, 3)), training=True).shape
    (2, 4, 4, 3)
    """

    def _fusable(self, inputs, training, mask):
        return (
            training
            and self.trainable
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and inputs.dtype == "float32"
        )

    def call(self, inputs, training=None, mask=None):
        tf = _tensorflow()
        if tf is None or not self._fusable(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        from tensorflow.python.ops import gen_nn_ops

        channels = tf.shape(inputs)[-1:]
        gamma = self.gamma if self.scale else tf.ones(channels, inputs.dtype)
        beta = self.beta if self.center else tf.zeros(channels, inputs.dtype)
        empty = tf.zeros([0], inputs.dtype)
        outputs, mean, unbiased_variance, _, _, _ = gen_nn_ops.fused_batch_norm_v3(
            inputs,
            tf.convert_to_tensor(gamma),
            tf.convert_to_tensor(beta),
            mean=empty,
            variance=empty,
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=True,
        )
        # Keras's moving variance averages the biased batch variance (sum / N).
        shape = tf.shape(inputs)
        count = tf.cast(shape[0] * shape[1] * shape[2], inputs.dtype)
        variance = unbiased_variance * tf.where(count > 1.0, (count - 1.0) / count, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return outputs


@kerasfer_export("kerasfer.layers.PReLU")
class PReLU(keras.layers.PReLU):
    """`keras.layers.PReLU` with a two-pass training kernel on TensorFlow.

    Same arguments, variable and results as the stock layer.

    Example:
    >>> kerasfer.layers.PReLU(shared_axes=[1, 2])(np.zeros((1, 4, 4, 3))).shape
    (1, 4, 4, 3)
    """

    def call(self, inputs, training=None):
        tf = _tensorflow()
        if tf is None or not training or inputs.dtype != "float32":
            return super().call(inputs)
        return _prelu(tf)(inputs, tf.convert_to_tensor(self.alpha))


_PRELU = {}


def _prelu(tf):
    """`x * where(x > 0, 1, alpha)` with a gradient that reuses the one mask (built once per process)."""
    if "fn" in _PRELU:
        return _PRELU["fn"]

    @tf.custom_gradient
    def prelu(x, alpha):
        slope = tf.where(x > 0, tf.ones_like(alpha), alpha)
        y = x * slope

        def grad(dy):
            dx = dy * slope
            negative = tf.minimum(x, 0.0) * dy
            # alpha's shape broadcasts against x: sum over the broadcast (shared and batch) axes.
            axes = [i for i in range(len(x.shape)) if i == 0 or alpha.shape[i - 1] == 1]
            dalpha = tf.reshape(tf.reduce_sum(negative, axis=axes), tf.shape(alpha))
            return dx, dalpha

        return y, grad

    _PRELU["fn"] = prelu
    return prelu
