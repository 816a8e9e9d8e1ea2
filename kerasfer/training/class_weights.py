"""Class-imbalance weights from class counts (pure NumPy).

`adaptive_class_weights` is SDNet's scheme (Zhou, Li, Wang and Liu, "SDNet: Lightweight
Facial Expression Recognition for Sample Disequilibrium", ICASSP 2022, section 2.2,
equations 1-3; the log base is not stated there and defaults to natural log here);
inverse-frequency and effective-number weights (Cui et al., "Class-Balanced Loss Based on
Effective Number of Samples", CVPR 2019, arXiv:1901.05555) are the usual alternatives. Every
function returns a float array of one weight per class: pass `class_weight_dict(w)` to
`model.fit(class_weight=...)`, or `sample_weights(labels, w)` as `sample_weight` to any
loss.
"""

import math

import numpy as np

# FER2013 training-split counts, label order angry, disgust, fear, happy, sad, surprise, neutral.
FER2013_TRAIN_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)


def _validate_counts(counts, allow_zero=False):
    arr = np.asarray(counts, dtype="float64")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D sequence of per-class counts, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"counts contain NaN/Inf: {arr.tolist()}.")
    if np.any(arr < 0):
        raise ValueError(f"counts must be >= 0; class(es) {np.flatnonzero(arr < 0).tolist()} are negative.")
    if not allow_zero and np.any(arr == 0):
        raise ValueError(
            f"class(es) {np.flatnonzero(arr == 0).tolist()} have no samples: their weight would be infinite. "
            "Drop the empty classes or pass allow_empty=True to give them weight 0."
        )
    if arr.sum() == 0:
        raise ValueError("counts are all zero.")
    return arr


def class_counts(labels, num_classes):
    """Per-class counts of integer `labels` (one-hot `(N, C)` labels are argmax-ed)."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == num_classes:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if labels.size and (not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels))):
        raise ValueError("labels must be integer class indices.")
    labels = labels.astype("int64")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels out of range: got values in [{labels.min()}, {labels.max()}] for {num_classes} classes."
        )
    return np.bincount(labels, minlength=num_classes)


def adaptive_class_weights(counts, log_base=math.e, allow_empty=False):
    """SDNet's adaptive class weights (equations 1-3).

    With counts `S_1..S_n`, `A = mean(S)` and the `m` classes with `S_i < A`:
    `d = (1/m) sum_{S_i < A} (A - S_i)/A` (1), `W_i = log_base(d * sum(S) / S_i)` (2),
    `W_i = max(W_i, 1)` (3). The paper does not state the log base; natural log is the
    default (FER2013 training counts give disgust 2.939 and 1.0 for the other six; log10
    gives disgust 1.276; log2 also lifts surprise, angry and fear above 1). When no class
    is below the mean (all counts equal) `d` is taken as 0 and every weight is 1.

    Args:
        counts: per-class sample counts (all > 0).
        log_base: base of the logarithm (> 1).
        allow_empty: give classes with no samples weight 0 and apply the equations to the
            other classes (by default an empty class raises `ValueError`).

    Returns:
        float64 array of per-class weights (>= 1).

    Example:
    >>> adaptive_class_weights([3995, 436, 4097, 7215, 4830, 3171, 4965]).round(3)
    array([1.   , 2.939, 1.   , 1.   , 1.   , 1.   , 1.   ])
    """
    all_counts = _validate_counts(counts, allow_zero=allow_empty)
    if not log_base > 1:
        raise ValueError(f"log_base must be > 1, got {log_base}.")
    present = all_counts > 0
    s = all_counts[present]
    weights = np.zeros_like(all_counts)
    mean = s.mean()
    below = s < mean
    if not np.any(below):
        weights[present] = 1.0
        return weights
    d = float(np.mean((mean - s[below]) / mean))
    weights[present] = np.maximum(np.log(d * s.sum() / s) / math.log(log_base), 1.0)
    return weights


def inverse_frequency_weights(counts, normalize=True, allow_empty=False):
    """`W_i = N / (C * S_i)` (1 for a balanced set, as sklearn's "balanced").

    With `normalize=True` the weights are rescaled so that the count-weighted mean is
    1 (the expected loss scale is unchanged). With `allow_empty=True` empty classes get 0.
    """
    s = _validate_counts(counts, allow_zero=allow_empty)
    w = np.zeros_like(s)
    present = s > 0
    w[present] = s.sum() / (np.count_nonzero(present) * s[present])
    if normalize:
        w = w * s.sum() / np.sum(w * s)
    return w


def effective_number_weights(counts, beta=0.999, normalize=True, allow_empty=False):
    """Class-balanced weights `W_i = (1 - beta) / (1 - beta^S_i)` (Cui et al., 2019).

    `beta -> 0` gives equal weights, `beta -> 1` inverse frequency. With `normalize=True`
    the weights sum to the number of classes (the paper's convention).
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}.")
    s = _validate_counts(counts, allow_zero=allow_empty)
    w = np.zeros_like(s)
    present = s > 0
    w[present] = (1.0 - beta) / (1.0 - np.power(beta, s[present]))
    if normalize:
        w = w * np.count_nonzero(present) / w.sum()
    return w


def class_weight_dict(weights):
    """`{class_index: weight}` for `model.fit(class_weight=...)`."""
    w = np.asarray(weights, dtype="float64")
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be a 1-D array of finite non-negative values, got {weights}.")
    return {i: float(v) for i, v in enumerate(w)}


def sample_weights(labels, weights):
    """Per-sample weights `W[y_i]` for integer (or one-hot) `labels`, to pass as `sample_weight`."""
    w = np.asarray(weights, dtype="float64")
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == w.size:
        labels = labels.argmax(axis=1)
    class_counts(labels, w.size)  # validates the range
    return w[labels.astype("int64").reshape(-1)].astype("float32")
