"""RO loss (SDNet): cross-entropy against a target smoothed towards the uniform distribution.

Reference:
    Lifang Zhou, Siqin Li, Yi Wang and Junlin Liu, "SDNet: Lightweight Facial Expression
    Recognition for Sample Disequilibrium", ICASSP 2022 (DOI not given in the paper),
    section 2.3, equations 4-6.
"""

import keras
from keras import ops

from kerasfer.api_export import kerasfer_export
from kerasfer.losses._utils import check_finite
from kerasfer.losses._utils import dense_targets
from kerasfer.losses._utils import log_probs
from kerasfer.losses._utils import nan_where_invalid


@kerasfer_export("kerasfer.losses.ro_loss")
def ro_loss(y_true, y_pred, lambda1=0.9, lambda2=0.1, from_logits=False, axis=-1):
    """Per-sample RO loss `-sum_i (lambda1 * p_i + lambda2 / N) * log q_i`.

    The paper writes `L_RO = L1 + L2`, `L1 = lambda1 sum_i p(x_i) log q(x_i)`,
    `L2 = lambda2 sum_i (1/N) log q(x_i)` (N classes, `O(p)` all ones) without the minus
    signs; with them it is the cross-entropy against the smoothed target
    `lambda1 * p + lambda2 / N`. With `lambda1 = 1 - eps`, `lambda2 = eps` it is exactly
    label smoothing (Keras `CategoricalCrossentropy(label_smoothing=eps)`). The paper does
    not give lambda1, lambda2; the defaults 0.9 / 0.1 are ours. `lambda1=1, lambda2=0` is
    plain cross-entropy.

    Args:
        y_true: integer labels `(B,)` or one-hot/distribution targets `(B, N)`.
        y_pred: probabilities (or logits with `from_logits=True`) `(B, N)`.
        lambda1: weight of the true-label term.
        lambda2: weight of the uniform term.
        from_logits: whether `y_pred` holds logits.
        axis: the class axis (must be the last one).

    Returns:
        Per-sample losses `(B,)` (NaN for an out-of-range label inside a traced function).
    """
    if axis not in (-1, len(y_pred.shape) - 1):
        raise ValueError(f"Only the last axis can be the class axis, got axis={axis}.")
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    y_true = ops.convert_to_tensor(y_true)
    check_finite(y_pred, "y_pred")
    targets, valid = dense_targets(y_true, y_pred)
    num_classes = y_pred.shape[-1]
    smoothed = lambda1 * targets + lambda2 / num_classes
    values = -ops.sum(smoothed * log_probs(y_pred, from_logits), axis=-1)
    return nan_where_invalid(values, valid)


@kerasfer_export("kerasfer.losses.ROLoss")
class ROLoss(keras.losses.Loss):
    """RO loss (SDNet eqs 4-6): cross-entropy against `lambda1 * p + lambda2 / N`.

    See `kerasfer.losses.ro_loss` for the formula and how it relates to the paper (the
    paper's missing minus signs, unstated lambdas) and to label smoothing. Takes integer
    labels `(B,)` or one-hot/distribution targets `(B, N)`; returns per-sample values, so
    `sample_weight` (e.g. SDNet's adaptive class weights `W[y]`) weights each sample.

    Args:
        lambda1: weight of the true-label term (0.9, our choice).
        lambda2: weight of the uniform term (0.1, our choice).
        from_logits: whether predictions are logits.

    Example:
    >>> loss = kerasfer.losses.ROLoss(lambda1=0.9, lambda2=0.1)
    >>> round(float(loss(np.array([0]), np.array([[0.5, 0.25, 0.25]]))), 4)
    0.7394
    >>> model.compile("adam", loss=loss)
    """

    def __init__(
        self,
        lambda1=0.9,
        lambda2=0.1,
        from_logits=False,
        reduction="sum_over_batch_size",
        name="ro_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if lambda1 < 0 or lambda2 < 0:
            raise ValueError(f"lambda1 and lambda2 must be >= 0, got {lambda1}, {lambda2}.")
        self.lambda1 = float(lambda1)
        self.lambda2 = float(lambda2)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return ro_loss(y_true, y_pred, self.lambda1, self.lambda2, self.from_logits)

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update({"lambda1": self.lambda1, "lambda2": self.lambda2, "from_logits": self.from_logits})
        return config
