"""Focal cross-entropy: categorical (emotion classification) and binary (detection).

Reference:
    Lin, Goyal, Girshick, He and Dollar, "Focal Loss for Dense Object Detection", ICCV 2017,
    arXiv:1708.02002. The multi-scale attention FER paper (Zhang, Zhang, Fu and Qi, "A
    Multi-scale Attention-based Facial Emotion Recognition Method Based on Deep Learning",
    Instrumentation 9(3), 2022, DOI 10.15878/j.cnki.instrumentation.2022.03.005, section 3.2)
    uses the binary form in its emotion-region detector.
"""

import keras
from keras import ops

from kerasfer.api_export import kerasfer_export
from kerasfer.losses._utils import check_finite
from kerasfer.losses._utils import dense_targets
from kerasfer.losses._utils import log_probs
from kerasfer.losses._utils import nan_where_invalid


def _alpha_vector(alpha, num_classes):
    if alpha is None:
        return 1.0
    if isinstance(alpha, list | tuple):
        if len(alpha) != num_classes:
            raise ValueError(f"alpha has {len(alpha)} values but there are {num_classes} classes.")
        return ops.convert_to_tensor(alpha, dtype="float32")
    return float(alpha)


def _check_gamma(gamma) -> float:
    gamma = float(gamma)
    if not gamma >= 0:
        raise ValueError(f"gamma must be >= 0, got {gamma}.")
    return gamma


@kerasfer_export("kerasfer.losses.categorical_focal_loss")
def categorical_focal_loss(y_true, y_pred, alpha=None, gamma=2.0, from_logits=False, label_smoothing=0.0):
    """Per-sample `-sum_c alpha_c t_c (1 - p_c)^gamma log p_c`.

    `alpha=None` (or 1.0) means no class weighting; a float scales every class (Keras's
    `CategoricalFocalCrossentropy` defaults to 0.25); a list gives one weight per class
    (e.g. inverse frequency). `gamma=0, alpha=None` is the cross-entropy.

    Args:
        y_true: one-hot/distribution targets `(B, C)` or integer labels `(B,)`.
        y_pred: probabilities (or logits with `from_logits=True`) `(B, C)`.
        alpha: `None`, a float or a list of C class weights.
        gamma: focusing parameter (2.0).
        from_logits: whether `y_pred` holds logits.
        label_smoothing: smooths the targets towards uniform before the loss.
    """
    gamma = _check_gamma(gamma)
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    check_finite(y_pred, "y_pred")
    targets, valid = dense_targets(ops.convert_to_tensor(y_true), y_pred)
    num_classes = y_pred.shape[-1]
    if label_smoothing:
        targets = targets * (1.0 - label_smoothing) + label_smoothing / num_classes
    log_p = log_probs(y_pred, from_logits)
    p = ops.exp(log_p)
    modulator = ops.power(ops.maximum(1.0 - p, 0.0), gamma)
    values = -ops.sum(_alpha_vector(alpha, num_classes) * targets * modulator * log_p, axis=-1)
    return nan_where_invalid(values, valid)


@kerasfer_export("kerasfer.losses.binary_focal_loss")
def binary_focal_loss(y_true, y_pred, gamma=2.0, alpha=None, from_logits=False):
    """Element-wise `-alpha_t (1 - p_t)^gamma log p_t`, averaged over the last axis.

    `p_t = p y + (1 - p)(1 - y)` (the multi-scale paper's form, whose printed bracket is
    misplaced; it has no alpha, so `alpha=None` by default; with a float,
    `alpha_t = alpha y + (1 - alpha)(1 - y)` as in RetinaNet). The paper does not give
    gamma; 2 is RetinaNet's value.

    Args:
        y_true: binary targets, same shape as `y_pred` (e.g. `(B, anchors)` or `(B, anchors, K)`).
        y_pred: probabilities (or logits with `from_logits=True`).
        gamma: focusing parameter (2.0).
        alpha: `None` or the positive-class weight in [0, 1].
        from_logits: whether `y_pred` holds logits.

    Returns:
        Values with the last axis reduced (per sample for `(B, K)` inputs).
    """
    gamma = _check_gamma(gamma)
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(
            f"binary focal loss needs targets shaped like the predictions: {y_true.shape} vs {y_pred.shape}."
        )
    check_finite(y_pred, "y_pred")
    check_finite(y_true, "y_true")
    eps = keras.config.epsilon()
    p = ops.sigmoid(y_pred) if from_logits else y_pred
    p_t = p * y_true + (1.0 - p) * (1.0 - y_true)
    log_pt = ops.log(ops.clip(p_t, eps, 1.0))
    values = -ops.power(ops.maximum(1.0 - p_t, 0.0), gamma) * log_pt
    if alpha is not None:
        values = (alpha * y_true + (1.0 - alpha) * (1.0 - y_true)) * values
    return ops.mean(values, axis=-1)


@kerasfer_export("kerasfer.losses.CategoricalFocalLoss")
class CategoricalFocalLoss(keras.losses.Loss):
    """Categorical focal cross-entropy (the emotion classifier of the multi-scale FER network, Zhang et al. 2022).

    `-sum_c alpha_c t_c (1 - p_c)^gamma log p_c` per sample. Takes one-hot/distribution
    targets `(B, C)` *or* integer labels `(B,)` (the sparse variant, detected from the
    shapes). Default `alpha=None` (no class weighting), unlike Keras's 0.25; pass a list of
    C weights (e.g. `kerasfer.training.inverse_frequency_weights(counts)`) to weight classes.

    Args:
        alpha: `None`, a float, or a list of per-class weights.
        gamma: focusing parameter (2.0).
        from_logits: whether predictions are logits.
        label_smoothing: target smoothing.

    Example:
    >>> loss = kerasfer.losses.CategoricalFocalLoss(gamma=2.0)
    >>> round(float(loss(np.array([0]), np.array([[0.5, 0.5]]))), 4)  # 0.25 * ln 2
    0.1733
    """

    def __init__(
        self,
        alpha=None,
        gamma=2.0,
        from_logits=False,
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="categorical_focal_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.alpha = [float(a) for a in alpha] if isinstance(alpha, list | tuple) else alpha
        self.alpha = float(self.alpha) if isinstance(self.alpha, int | float) else self.alpha
        self.gamma = _check_gamma(gamma)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        return categorical_focal_loss(y_true, y_pred, self.alpha, self.gamma, self.from_logits, self.label_smoothing)

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update(
            {
                "alpha": self.alpha,
                "gamma": self.gamma,
                "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing,
            }
        )
        return config


@kerasfer_export("kerasfer.losses.BinaryFocalLoss")
class BinaryFocalLoss(keras.losses.Loss):
    """Binary focal cross-entropy for detection (multi-scale attention FER detector).

    `-alpha_t (1 - p_t)^gamma log p_t` with `p_t = p y + (1 - p)(1 - y)`, averaged over the
    last axis; see `kerasfer.losses.binary_focal_loss`.

    Args:
        gamma: focusing parameter (2.0).
        alpha: `None` (paper: no alpha) or the positive-class weight.
        from_logits: whether predictions are logits.

    Example:
    >>> loss = kerasfer.losses.BinaryFocalLoss(gamma=2.0)
    >>> round(float(loss(np.array([[1.0, 0.0]]), np.array([[0.9, 0.1]]))), 5)  # 0.01 * -ln 0.9
    0.00105
    """

    def __init__(
        self,
        gamma=2.0,
        alpha=None,
        from_logits=False,
        reduction="sum_over_batch_size",
        name="binary_focal_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.gamma = _check_gamma(gamma)
        self.alpha = None if alpha is None else float(alpha)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return binary_focal_loss(y_true, y_pred, self.gamma, self.alpha, self.from_logits)

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update({"gamma": self.gamma, "alpha": self.alpha, "from_logits": self.from_logits})
        return config
