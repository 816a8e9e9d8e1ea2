"""Masking-reconstruction losses: L1 image reconstruction and the "margin" BCE.

Reference:
    Jianing Shen and Hongmei Li, "Facial Expression Recognition Method Based on Residual
    Masking Reconstruction Network", Journal of Information Processing Systems 19(3),
    pp. 323-333, 2023 (DOI not given in the paper), section 3.2: `L_rec = ||p - p'||_1` and
    `L_margin = -[p_i log e_i + (1 - p_i) log(1 - e_i)]`. The paper leaves the
    reconstruction target, the upsampler and the loss weights unspecified; these
    functions are our interpretation, with user weights.
"""

import keras
from keras import ops

from kerasfer.api_export import kerasfer_export
from kerasfer.losses._utils import check_finite
from kerasfer.losses._utils import dense_targets
from kerasfer.losses._utils import nan_where_invalid


@kerasfer_export("kerasfer.losses.reconstruction_l1")
def reconstruction_l1(images, reconstructions):
    """Per-sample mean absolute error `mean |p - p'|` over all non-batch axes.

    Both tensors must have the same shape and scale (e.g. both in [0, 1]; resize the
    images to the reconstruction size beforehand if the decoder outputs a smaller map).
    The paper's `||.||_1` is a sum; the mean differs by the constant H*W*C, which the
    loss weight absorbs.
    """
    images = ops.cast(ops.convert_to_tensor(images), "float32")
    reconstructions = ops.cast(ops.convert_to_tensor(reconstructions), "float32")
    if tuple(images.shape[1:]) != tuple(reconstructions.shape[1:]):
        raise ValueError(
            f"images {tuple(images.shape)} and reconstructions {tuple(reconstructions.shape)} must have the same "
            "shape (resize the images to the reconstruction size first)."
        )
    check_finite(reconstructions, "reconstructions")
    rank = len(images.shape)
    return ops.mean(ops.abs(images - reconstructions), axis=tuple(range(1, rank)))


@kerasfer_export("kerasfer.losses.margin_bce")
def margin_bce(y_true, y_pred, from_logits=False):
    """Per-sample mean over classes of `-[t log e + (1 - t) log(1 - e)]` (the reconstruction paper's "margin" loss).

    Despite its name the paper's formula is a plain binary cross-entropy (no margin);
    we apply it to one-hot targets (integer labels are one-hot encoded) and per-class
    probabilities `e` (sigmoid of logits with `from_logits=True`).
    """
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    check_finite(y_pred, "y_pred")
    targets, valid = dense_targets(ops.convert_to_tensor(y_true), y_pred)
    if from_logits:
        log_e, log_1me = ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
    else:
        eps = keras.config.epsilon()
        e = ops.clip(y_pred, eps, 1.0 - eps)
        log_e, log_1me = ops.log(e), ops.log(1.0 - e)
    values = -ops.mean(targets * log_e + (1.0 - targets) * log_1me, axis=-1)
    return nan_where_invalid(values, valid)


@kerasfer_export("kerasfer.losses.ReconstructionL1")
class ReconstructionL1(keras.losses.Loss):
    """`weight * mean |images - reconstructions|` per sample (the reconstruction paper's `L_rec`).

    `loss(y_true=images, y_pred=reconstructions)`; see `kerasfer.losses.reconstruction_l1`.

    Args:
        weight: loss weight (unspecified in the paper; 1.0).

    Example:
    >>> loss = kerasfer.losses.ReconstructionL1(weight=0.5)
    >>> float(loss(np.ones((1, 4, 4, 3)), np.zeros((1, 4, 4, 3))))
    0.5
    """

    def __init__(self, weight=1.0, reduction="sum_over_batch_size", name="reconstruction_l1", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}.")
        self.weight = float(weight)

    def call(self, y_true, y_pred):
        return self.weight * reconstruction_l1(y_true, y_pred)

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update({"weight": self.weight})
        return config


@kerasfer_export("kerasfer.losses.MarginBCE")
class MarginBCE(keras.losses.Loss):
    """`weight * BCE(one-hot, e)` per sample (the reconstruction paper's `L_margin`, a plain BCE).

    Takes one-hot targets `(B, C)` or integer labels `(B,)`; see `kerasfer.losses.margin_bce`.

    Args:
        weight: loss weight (1.0).
        from_logits: whether predictions are logits (sigmoid per class).

    Example:
    >>> loss = kerasfer.losses.MarginBCE()
    >>> round(float(loss(np.array([0]), np.array([[0.5, 0.5]]))), 4)
    0.6931
    """

    def __init__(self, weight=1.0, from_logits=False, reduction="sum_over_batch_size", name="margin_bce", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if weight < 0:
            raise ValueError(f"weight must be >= 0, got {weight}.")
        self.weight = float(weight)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return self.weight * margin_bce(y_true, y_pred, self.from_logits)

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update({"weight": self.weight, "from_logits": self.from_logits})
        return config
