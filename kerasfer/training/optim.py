"""What a run compiles its model with: the loss (from the `kerasfer.losses` registry) and the optimizer.

The learning-rate schedules are callbacks (`kerasfer.training.callbacks`).
"""

from __future__ import annotations

import keras

from kerasfer.training.config import TrainConfig
from kerasfer.training.config import loss_parts


def check_loss_targets(config: TrainConfig):
    """Raises `ValueError` when `config.loss` does not fit the targets (hard labels or `soft_labels`)."""
    parts = loss_parts(config.loss)
    soft = config.soft_labels or config.target_feature
    if soft and "cosine_harmony" in parts:
        raise ValueError("loss 'cosine_harmony' needs hard labels; it cannot train on target distributions.")
    if not soft and any(p in ("kl", "ldl") for p in parts):
        raise ValueError(
            f"loss {config.loss!r} compares distributions; give soft_labels (a teacher's output) or "
            "target_feature (the dataset's own, e.g. FER+'s vote 'distribution')."
        )


def _cross_entropy(config, num_classes, kwargs):
    """The `"ce"` term: Keras's cross-entropy, or `SparseSmoothedCrossentropy` for smoothed integer labels."""
    from kerasfer.losses import get

    if config.label_mode != "sparse":
        return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing, **kwargs)
    if config.label_smoothing == 0:
        return keras.losses.SparseCategoricalCrossentropy(**kwargs)
    return get("sparse_smoothed_ce", num_classes=num_classes, label_smoothing=config.label_smoothing, **kwargs)


def build_loss(config: TrainConfig, num_classes):
    """The compiled loss for `config.loss` (Cosine-Harmony is added by the model wrapper).

    Each `+`-joined part is looked up by name in `kerasfer.losses.get` (`"ldl"` is `"kl"`),
    built with its `config.loss_kwargs` entry, whose `"weight"` key weights it in the sum
    (a `kerasfer.losses.SumLoss` when there are several parts or a weight other than 1).
    """
    from kerasfer.losses import get

    parts = [p for p in loss_parts(config.loss) if p != "cosine_harmony"]
    if not parts:
        parts = ["ce"]
    if config.label_smoothing and "ce" not in parts:
        raise ValueError(
            f"label_smoothing is applied by the 'ce' loss only; loss {config.loss!r} has no 'ce' term "
            "(the focal loss takes its own label_smoothing in --loss-kwargs)."
        )
    losses, weights = [], []
    for part in parts:
        kw = dict(config.loss_kwargs.get(part, {}))
        weights.append(float(kw.pop("weight", 1.0)))
        if part == "ce":
            losses.append(_cross_entropy(config, num_classes, kw))
        else:
            losses.append(get("kl" if part == "ldl" else part, **kw))
    if len(losses) == 1 and weights[0] == 1.0:
        return losses[0]
    return get("sum", losses=losses, weights=weights)


def build_optimizer(config: TrainConfig):
    """The `keras.optimizers` instance for `config.optimizer` (rate, momentum, decoupled weight decay, clipnorm)."""
    kw = {"learning_rate": config.learning_rate}
    if config.clipnorm:
        kw["clipnorm"] = config.clipnorm
    if config.weight_decay:
        kw["weight_decay"] = config.weight_decay
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum, **kw)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(**kw)
    if config.optimizer == "adamw":
        kw.setdefault("weight_decay", 0.004)
        return keras.optimizers.AdamW(**kw)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(momentum=config.momentum, **kw)
    if config.optimizer == "nadam":
        return keras.optimizers.Nadam(**kw)
    raise ValueError(f"Unknown optimizer {config.optimizer!r}.")
