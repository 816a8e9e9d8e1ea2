"""`SumLoss`: the weighted sum of several losses, as one serializable Keras loss."""

import math

import keras

from kerasfer.api_export import kerasfer_export
from kerasfer.losses.lookup import LOSSES
from kerasfer.losses.lookup import get


def _as_loss(item):
    """A loss from a `keras.losses.Loss`, a loss function, a serialized loss (dict) or a kerasfer loss name."""
    if isinstance(item, dict):
        return keras.saving.deserialize_keras_object(item)
    if isinstance(item, str):
        return get(item)
    if callable(item):
        return item
    raise TypeError(f"SumLoss terms must be losses, loss names or serialized losses, got {type(item).__name__}.")


@kerasfer_export("kerasfer.losses.SumLoss")
class SumLoss(keras.losses.Loss):
    """The weighted sum `sum_k w_k * L_k(y_true, y_pred)` of several losses.

    Each term is evaluated unreduced (its `call`, per example where the loss gives per-example
    values) and the sum is reduced once with this loss's `reduction` and `sample_weight`, so
    the terms' own `reduction` settings do not apply. The terms are saved in the config, so a
    model compiled with a `SumLoss` saves and loads as a whole.

    Args:
        losses: the terms: `keras.losses.Loss` instances, loss functions, kerasfer loss names
            (`kerasfer.losses.get`) or serialized losses.
        weights: one finite weight per term (default all 1).

    Example:
    >>> loss = SumLoss([kerasfer.losses.get("ro"), kerasfer.losses.get("combo")], [1.0, 0.5])
    """

    def __init__(self, losses, weights=None, name="sum_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.losses = [_as_loss(item) for item in losses]
        if not self.losses:
            raise ValueError("SumLoss needs at least one loss.")
        weights = [1.0] * len(self.losses) if weights is None else [float(w) for w in weights]
        if len(weights) != len(self.losses):
            raise ValueError(f"SumLoss got {len(self.losses)} losses but {len(weights)} weights.")
        if not all(math.isfinite(w) for w in weights):
            raise ValueError(f"SumLoss weights must be finite, got {weights}.")
        self.weights = weights

    def call(self, y_true, y_pred):
        total = 0.0
        for loss, w in zip(self.losses, self.weights):
            value = loss.call(y_true, y_pred) if hasattr(loss, "call") else loss(y_true, y_pred)
            total = total + w * keras.ops.cast(value, "float32")
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            losses=[keras.saving.serialize_keras_object(loss) for loss in self.losses],
            weights=list(self.weights),
        )
        return config


LOSSES["sum"] = SumLoss  # `kerasfer.losses.get("sum", losses=[...], weights=[...])`
