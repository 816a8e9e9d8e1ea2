"""Combo loss (LFER-LDL): weighted multi-class binary cross-entropy combined with Dice.

Reference:
    Liu Jin, Luo Xiaoshu and Xu Zhaoxing, "Lightweight Facial Expression Recognition Based
    on Label Distribution Learning" (LFER-LDL), ChinaXiv 202204.00070, 2022, section 1.3
    (label distribution learning, where the Combo loss is defined) and section 2.4.1 (the
    beta sweep); DOI not given in the paper. The Combo loss itself: Taghanaki et al., "Combo
    loss: Handling input and output imbalance in multi-organ segmentation", Computerized
    Medical Imaging and Graphics, 2019, arXiv:1805.02798; its author's Keras code is
    https://github.com/asgsaeid/ComboLoss (`combo_loss.py`).
"""

import keras
from keras import ops

from kerasfer.api_export import kerasfer_export
from kerasfer.losses._utils import check_finite
from kerasfer.losses._utils import dense_targets
from kerasfer.losses._utils import nan_where_invalid


def dice_coefficient(y_true, y_pred, smooth=1.0):
    """Batch Dice `(2 sum t p + smooth) / (sum t + sum p + smooth)` over all samples and classes."""
    intersection = ops.sum(y_true * y_pred)
    return (2.0 * intersection + smooth) / (ops.sum(y_true) + ops.sum(y_pred) + smooth)


def _check_weights(alpha, beta):
    if not 0.0 <= alpha <= 1.0 or not 0.0 <= beta <= 1.0:
        raise ValueError(f"alpha and beta must be in [0, 1], got alpha={alpha}, beta={beta}.")


def _combo_parts(y_true, y_pred, beta, from_logits, reference_bracket, smooth):
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    if len(y_pred.shape) != 2:
        raise ValueError(f"Combo loss expects predictions of shape (B, C), got {tuple(y_pred.shape)}.")
    check_finite(y_pred, "y_pred")
    targets, valid = dense_targets(ops.convert_to_tensor(y_true), y_pred)
    probs = ops.softmax(y_pred, axis=-1) if from_logits else y_pred
    dice = dice_coefficient(targets, probs, smooth)
    eps = keras.config.epsilon()
    p = ops.clip(probs, eps, 1.0 - eps)
    pos = targets * ops.log(p)
    neg = (1.0 - targets) * ops.log(1.0 - p)
    if reference_bracket:
        bce = -beta * (pos + (1.0 - beta) * neg)
    else:
        bce = -(beta * pos + (1.0 - beta) * neg)
    return ops.mean(bce, axis=-1), dice, valid


@kerasfer_export("kerasfer.losses.combo_loss")
def combo_loss(
    y_true,
    y_pred,
    alpha=0.5,
    beta=0.5,
    from_logits=False,
    reference_bracket=False,
    smooth=1.0,
    one_minus_dice=False,
):
    """Per-sample Combo loss; their batch mean is `alpha * wBCE - (1 - alpha) * Dice`.

    With `p` the predicted probabilities clipped to `[eps, 1 - eps]` and `t` the targets:

    - paper (default): `wBCE = -mean_{b,c}[beta t log p + (1 - beta)(1 - t) log(1 - p)]`;
    - `reference_bracket=True` (the `ComboLoss` code):
      `wBCE = -mean_{b,c}[beta (t log p + (1 - beta)(1 - t) log(1 - p))]`, i.e. the
      negative term is scaled by `beta (1 - beta)`;
    - `Dice = (2 sum t p + smooth) / (sum t + sum p + smooth)` over the whole batch (all
      samples and classes, `smooth = 1`, unclipped `p`); it is *subtracted* as in the
      code, so the loss can be negative (`one_minus_dice=True` uses `1 - Dice`, the same
      gradients).

    Per sample `i` the value is `alpha * wBCE_i - (1 - alpha) * Dice` (Dice shared by
    the batch), so the mean over the batch is the formula above and `sample_weight`
    weights each sample's terms. Paper: alpha = 0.5; beta best 0.2 on RAF-DB and 0.6 on
    AffectNet-7 (beta < 0.5 penalises false positives more); code defaults 0.5 / 0.5.

    Args:
        y_true: one-hot or label-distribution targets `(B, C)` (integer labels `(B,)` are
            one-hot encoded).
        y_pred: softmax probabilities `(B, C)` (logits with `from_logits=True`).
        alpha: weight of the BCE term (the Dice term gets `1 - alpha`).
        beta: BCE weight of the positive (true-class) term.
        from_logits: whether `y_pred` holds logits.
        reference_bracket: reproduce the reference code's bracket.
        smooth: Dice smoothing constant.
        one_minus_dice: use `1 - Dice` instead of `-Dice` (non-negative loss).
    """
    _check_weights(alpha, beta)
    bce, dice, valid = _combo_parts(y_true, y_pred, beta, from_logits, reference_bracket, smooth)
    dice_term = (1.0 - dice) if one_minus_dice else -dice
    values = alpha * bce + (1.0 - alpha) * dice_term
    return nan_where_invalid(values, valid)


@kerasfer_export("kerasfer.losses.ComboLoss")
class ComboLoss(keras.losses.Loss):
    """Combo loss (LFER-LDL): `alpha * weighted BCE - (1 - alpha) * Dice`.

    See `kerasfer.losses.combo_loss` for the formula, the paper-vs-code bracket and the
    per-sample split. Takes one-hot or label-distribution targets `(B, C)` (integer
    labels are one-hot encoded) and softmax probabilities. The paper does not say how it
    combines Combo with its KL label-distribution loss; `KL + Combo` is our assumption
    (`kerasfer.losses.LabelDistributionKL`).

    Args:
        alpha: BCE weight (0.5, paper and code).
        beta: positive-term weight (0.5 code default; paper best 0.2 RAF-DB, 0.6 AffectNet-7).
        from_logits: whether predictions are logits.
        reference_bracket: the reference code's bracket (`beta (1 - beta)` on the negative term).
        smooth: Dice smoothing (1.0).
        one_minus_dice: use `1 - Dice` (non-negative) instead of `-Dice`.

    Example:
    >>> loss = kerasfer.losses.ComboLoss(alpha=0.5, beta=0.2)
    >>> model.compile("sgd", loss=loss)
    """

    def __init__(
        self,
        alpha=0.5,
        beta=0.5,
        from_logits=False,
        reference_bracket=False,
        smooth=1.0,
        one_minus_dice=False,
        reduction="sum_over_batch_size",
        name="combo_loss",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        _check_weights(alpha, beta)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.from_logits = bool(from_logits)
        self.reference_bracket = bool(reference_bracket)
        self.smooth = float(smooth)
        self.one_minus_dice = bool(one_minus_dice)

    def call(self, y_true, y_pred):
        return combo_loss(
            y_true,
            y_pred,
            self.alpha,
            self.beta,
            self.from_logits,
            self.reference_bracket,
            self.smooth,
            self.one_minus_dice,
        )

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update(
            {
                "alpha": self.alpha,
                "beta": self.beta,
                "from_logits": self.from_logits,
                "reference_bracket": self.reference_bracket,
                "smooth": self.smooth,
                "one_minus_dice": self.one_minus_dice,
            }
        )
        return config
