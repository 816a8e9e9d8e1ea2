"""Class-balanced sampling for `tf.data` (TensorFlow is imported inside the functions).

The alternative to loss weighting (`kerasfer.training.class_weights`): draw each
training example's class from a target distribution (uniform by default), as the LFNSB
AffectNet script's `ImbalancedDatasetSampler` and the LFER-LDL AffectNet recipe do.
"""

import numpy as np

from kerasfer.training.class_weights import _validate_counts


def _default_label_fn(tf):
    def label_of(*element):
        if len(element) == 1 and isinstance(element[0], dict):
            if "label" not in element[0]:
                raise ValueError(f"dict elements need a 'label' key, got keys {sorted(element[0])}.")
            return element[0]["label"]
        if len(element) < 2:
            raise ValueError(
                "Cannot find the label: elements must be (image, label[, ...]) tuples or dicts with a 'label' key; "
                "otherwise pass label_fn."
            )
        return element[1]

    return label_of


def _as_index(tf, label, num_classes):
    label = tf.convert_to_tensor(label)
    if label.shape.rank == 1 and label.shape[0] == num_classes:
        label = tf.argmax(label, output_type=tf.int64)
    elif label.shape.rank not in (0, None):
        raise ValueError(
            f"Each element must hold one label (a scalar or a one-hot vector of {num_classes}); got a label of shape "
            f"{label.shape}. Call class_balanced_dataset on an unbatched dataset and batch afterwards."
        )
    return tf.cast(label, tf.int64)


def dataset_class_counts(dataset, num_classes, label_fn=None):
    """Counts the labels of a finite, unbatched `tf.data.Dataset` in one pass."""
    import tensorflow as tf

    label_fn = label_fn or _default_label_fn(tf)
    labels = dataset.map(lambda *e: _as_index(tf, label_fn(*e), num_classes))
    counts = np.zeros(num_classes, dtype="int64")
    for label in labels.batch(4096).as_numpy_iterator():
        if label.size and (label.min() < 0 or label.max() >= num_classes):
            raise ValueError(
                f"labels out of range: got values in [{label.min()}, {label.max()}] for {num_classes} classes."
            )
        counts += np.bincount(label, minlength=num_classes)
    return counts


def class_balanced_dataset(dataset, num_classes, counts=None, target_distribution=None, label_fn=None, seed=None):
    """An endless dataset whose examples' classes follow `target_distribution` (uniform by default).

    Builds one filtered, repeated view of `dataset` per class and mixes them with
    `tf.data.Dataset.sample_from_datasets`, so each class is drawn with its target
    probability whatever its frequency (rare classes are repeated more often). Every
    class view reads through the source dataset, so cache or shuffle it first; the result
    is infinite: batch it and give `model.fit` a `steps_per_epoch`.

    Args:
        dataset: an unbatched `tf.data.Dataset` of `(image, label, ...)` tuples or dicts with a
            `"label"` key; labels are integers or one-hot vectors.
        num_classes: number of classes.
        counts: per-class counts; when `None` they are counted in one pass over `dataset`.
            Used to refuse a class with a target probability but no examples (the mix would
            wait for it forever).
        target_distribution: per-class sampling probabilities (normalised; default uniform).
            A class may get 0 to leave it out.
        label_fn: `fn(*element) -> label` when the label is elsewhere.
        seed: sampling seed.

    Returns:
        An infinite `tf.data.Dataset` with the same element structure.

    Example:
    >>> ds = class_balanced_dataset(train_ds, num_classes=7, seed=0).batch(32)
    >>> model.fit(ds, steps_per_epoch=len_train // 32)
    """
    import tensorflow as tf

    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
    if counts is None:
        counts = dataset_class_counts(dataset, num_classes, label_fn)
    counts = _validate_counts(counts, allow_zero=True)
    if counts.size != num_classes:
        raise ValueError(f"counts has {counts.size} entries but num_classes is {num_classes}.")
    if target_distribution is None:
        target = np.ones(num_classes)
    else:
        target = np.asarray(target_distribution, dtype="float64")
        if target.shape != (num_classes,) or not np.all(np.isfinite(target)) or np.any(target < 0) or target.sum() <= 0:
            raise ValueError(
                f"target_distribution must be {num_classes} non-negative numbers with a positive sum, got "
                f"{target_distribution}."
            )
    empty = [int(c) for c in np.flatnonzero((counts == 0) & (target > 0))]
    if empty:
        raise ValueError(
            f"class(es) {empty} have no examples but a target probability > 0; give them 0 in target_distribution."
        )
    target = target / target.sum()
    label_fn = label_fn or _default_label_fn(tf)
    classes = [c for c in range(num_classes) if target[c] > 0]
    views = []
    for c in classes:
        view = dataset.filter(lambda *e, c=c: tf.equal(_as_index(tf, label_fn(*e), num_classes), c))
        views.append(view.repeat())
    weights = [float(target[c]) for c in classes]
    return tf.data.Dataset.sample_from_datasets(views, weights=weights, seed=seed)
