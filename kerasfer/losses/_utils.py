"""Shared helpers of the kerasfer losses: target conversion and input checks.

Checks on values (labels in range, finite numbers) run when the tensors are concrete
(eager calls). Inside a traced function (`model.fit`, `jax.jit`) values cannot raise, so
the losses turn an invalid label into a NaN loss instead of silently scoring it as zero.
"""

import keras
import numpy as np
from keras import ops


def concrete(x):
    """`x` as a NumPy array when it has concrete values, else `None` (symbolic or traced)."""
    if isinstance(x, np.ndarray | float | int):
        return np.asarray(x)
    if keras.utils.is_keras_tensor(x):
        return None
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except Exception:  # symbolic tf.Tensor in a tf.function, JAX tracer under jit
        return None


def check_finite(x, what):
    """Raises `ValueError` naming `what` when a concrete `x` holds NaN or Inf."""
    value = concrete(x)
    if value is not None and value.size and not np.all(np.isfinite(value)):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        raise ValueError(f"{what} contains {bad} NaN/Inf value(s).")


def check_choice(value, choices, what):
    """`value` when it is one of `choices`; else a ValueError naming `what` and the choices."""
    if value not in choices:
        raise ValueError(f"{what} must be one of {tuple(choices)}, got {value!r}.")
    return value


def check_labels(labels, num_classes, what="labels"):
    """Raises `ValueError` when concrete integer `labels` are not in `[0, num_classes)`."""
    value = concrete(labels)
    if value is None:
        return
    if value.size == 0:
        return
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{what} contain NaN/Inf; expected integer class indices in [0, {num_classes}).")
    if np.any(value != np.round(value)):
        raise ValueError(f"{what} must be integer class indices, got non-integer values such as {value.ravel()[0]}.")
    lo, hi = int(np.min(value)), int(np.max(value))
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{what} out of range: got values in [{lo}, {hi}] but there are {num_classes} classes "
            f"(valid labels are 0..{num_classes - 1})."
        )


def is_sparse(y_true, y_pred):
    """True when `y_true` holds class indices for the class axis (last) of `y_pred`."""
    t_rank, p_rank = len(y_true.shape), len(y_pred.shape)
    if t_rank == p_rank - 1:
        return True
    if t_rank == p_rank:
        num_classes = y_pred.shape[-1]
        if y_true.shape[-1] == 1 and num_classes != 1:
            return True
        if y_true.shape[-1] is not None and num_classes is not None and y_true.shape[-1] != num_classes:
            raise ValueError(
                f"Targets of shape {tuple(y_true.shape)} do not match predictions of shape {tuple(y_pred.shape)}: "
                f"expected one-hot/distribution targets with {num_classes} classes or integer labels."
            )
        return False
    raise ValueError(
        f"Targets of rank {t_rank} (shape {tuple(y_true.shape)}) do not fit predictions of shape "
        f"{tuple(y_pred.shape)}: pass integer labels of shape (B,) or one-hot/distributions of shape (B, C)."
    )


def dense_targets(y_true, y_pred, allow_sparse=True):
    """Returns `(targets, valid)`: one-hot or distribution targets shaped like `y_pred`.

    `valid` is a per-sample boolean (all true for dense targets) marking labels inside
    `[0, C)`; concrete out-of-range labels raise `ValueError` right away.
    """
    num_classes = y_pred.shape[-1]
    if is_sparse(y_true, y_pred):
        if not allow_sparse:
            raise ValueError("This loss needs one-hot or distribution targets of shape (B, C), got integer labels.")
        if num_classes is None:
            raise ValueError("The class axis (last) of the predictions must have a static size.")
        if len(y_true.shape) == len(y_pred.shape):
            y_true = ops.squeeze(y_true, axis=-1)
        check_labels(y_true, num_classes)
        labels = ops.cast(ops.round(ops.cast(y_true, "float32")), "int32")
        valid = ops.logical_and(labels >= 0, labels < num_classes)
        return ops.one_hot(labels, num_classes, dtype=y_pred.dtype), valid
    value = concrete(y_true)
    if value is not None and value.size:
        if not np.all(np.isfinite(value)):
            raise ValueError("Targets contain NaN/Inf values.")
        if np.min(value) < 0 or np.max(value) > 1 + 1e-6:
            raise ValueError(
                f"One-hot/distribution targets must lie in [0, 1], got values in [{np.min(value)}, {np.max(value)}]."
            )
    targets = ops.cast(y_true, y_pred.dtype)
    valid = ops.ones(ops.shape(targets)[:-1], dtype="bool")
    return targets, valid


def nan_where_invalid(values, valid):
    """Per-sample `values` with NaN where `valid` is false (traced out-of-range labels)."""
    return ops.where(valid, values, ops.cast(float("nan"), values.dtype))


def log_probs(y_pred, from_logits, axis=-1):
    """`log p` from probabilities (clipped to `[eps, 1]`) or logits (`log_softmax`)."""
    if from_logits:
        return ops.log_softmax(y_pred, axis=axis)
    eps = keras.config.epsilon()
    return ops.log(ops.clip(y_pred, eps, 1.0))


def probabilities(y_pred, from_logits, axis=-1):
    """Softmax of logits, or probabilities clipped to `[eps, 1 - eps]`."""
    eps = keras.config.epsilon()
    p = ops.softmax(y_pred, axis=axis) if from_logits else y_pred
    return ops.clip(p, eps, 1.0 - eps)


def to_float32(*tensors):
    """Casts to float32 so that mixed-precision (float16) inputs give float32 losses."""
    out = tuple(ops.cast(t, "float32") for t in tensors)
    return out if len(out) > 1 else out[0]
