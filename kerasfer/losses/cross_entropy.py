"""Cross-entropy on integer labels with label smoothing (Keras's sparse cross-entropy has no smoothing)."""

import keras

from kerasfer.api_export import kerasfer_export


@kerasfer_export("kerasfer.losses.SparseSmoothedCrossentropy")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing.

    The same value as `keras.losses.CategoricalCrossentropy(label_smoothing=...)` on the
    one-hot targets, without one-hot encoding the dataset: labels `(B,)` or `(B, 1)` are
    encoded per batch. Registered as `"kerasfer>SparseSmoothedCrossentropy"`, the name saved
    `.keras` files refer to.

    Args:
        num_classes: the number of classes (the width of `y_pred`).
        label_smoothing: in `[0, 1)`; the target is `(1 - s) * one_hot + s / num_classes`.
        from_logits: whether `y_pred` holds logits rather than probabilities.
    """

    def __init__(self, num_classes, label_smoothing=0.0, from_logits=False, name="sparse_smoothed_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_true = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        targets = keras.ops.one_hot(y_true, self.num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            targets, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, label_smoothing=self.label_smoothing, from_logits=self.from_logits)
        return config
