"""Teacher label distributions for label-distribution learning (LFER-LDL) and distillation.

LFER-LDL trains its student against the softmax output of a teacher (a ResNet-50
fine-tuned on the same FER data) with `KL(P_teacher || Q_student)`
(`kerasfer.losses.LabelDistributionKL`). These helpers compute those targets with
`model.predict`, so they work on any Keras backend for NumPy inputs; `tf.data` inputs need
TensorFlow (imported inside the functions).
"""

import numpy as np


def _to_distribution(outputs, from_logits, temperature):
    outputs = np.asarray(outputs, dtype="float64")
    if outputs.ndim != 2:
        raise ValueError(f"The teacher must output (N, num_classes) scores, got shape {outputs.shape}.")
    if not np.all(np.isfinite(outputs)):
        raise ValueError("The teacher produced NaN/Inf outputs.")
    if from_logits is None:
        sums = outputs.sum(axis=1)
        from_logits = not (np.all(outputs >= 0) and np.allclose(sums, 1.0, atol=1e-3))
    if from_logits:
        z = outputs / temperature
    else:
        if np.any(outputs < 0):
            raise ValueError("from_logits=False but the teacher outputs negative values (are they logits?).")
        z = np.log(np.clip(outputs, 1e-12, None)) / temperature  # softmax(log p / T) == p^(1/T) normalised
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=1, keepdims=True)).astype("float32")


def _mix(dist, labels, hard_label_weight):
    if hard_label_weight == 0:
        return dist
    if labels is None:
        raise ValueError("hard_label_weight > 0 needs the labels (pass labels=, or a dataset of (x, y)).")
    labels = np.asarray(labels)
    num_classes = dist.shape[1]
    if labels.ndim == 2 and labels.shape[1] == num_classes:
        onehot = labels.astype("float32")
    else:
        labels = labels.reshape(-1)
        if labels.size != dist.shape[0]:
            raise ValueError(f"{labels.size} labels for {dist.shape[0]} teacher outputs.")
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"labels out of range: got [{labels.min()}, {labels.max()}] for {num_classes} classes.")
        onehot = np.eye(num_classes, dtype="float32")[labels.astype("int64")]
    return (1.0 - hard_label_weight) * dist + hard_label_weight * onehot


def teacher_targets(
    teacher, x, labels=None, temperature=1.0, from_logits=None, hard_label_weight=0.0, batch_size=32, verbose=0
):
    """Label distributions `(N, C)` predicted by a trained `teacher` over `x`.

    Args:
        teacher: a trained `keras.Model` outputting probabilities or logits `(B, C)`.
        x: images as a NumPy array, or a finite `tf.data.Dataset` of images or
            `(images, labels, ...)` batches (not shuffled, so the order is kept).
        labels: hard labels for `hard_label_weight` (taken from the dataset when it has them).
        temperature: softmax temperature `T` (1 = the teacher's own distribution; for
            probability outputs `p^(1/T)` renormalised, which equals `softmax(logits/T)`).
        from_logits: whether the teacher outputs logits; `None` detects it (rows of
            non-negative values summing to 1 are taken as probabilities).
        hard_label_weight: `w` in `(1 - w) * P_teacher + w * onehot(y)` (0: the paper).
        batch_size: predict batch size for arrays.

    Returns:
        float32 `(N, C)` array of distributions (rows sum to 1).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if not 0.0 <= hard_label_weight <= 1.0:
        raise ValueError(f"hard_label_weight must be in [0, 1], got {hard_label_weight}.")
    if isinstance(x, np.ndarray):
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"x must be a non-empty batch of images, got shape {x.shape}.")
        outputs = teacher.predict(x, batch_size=batch_size, verbose=verbose)
    else:
        import tensorflow as tf

        if not isinstance(x, tf.data.Dataset):
            raise TypeError(f"x must be a NumPy array or a tf.data.Dataset, got {type(x).__name__}.")
        spec = x.element_spec
        if isinstance(spec, tuple):
            if labels is None and len(spec) > 1 and hard_label_weight > 0:
                labels = np.concatenate([np.asarray(y) for y in x.map(lambda *e: e[1]).as_numpy_iterator()])
            x = x.map(lambda *e: e[0])
        outputs = teacher.predict(x, verbose=verbose)
    if isinstance(outputs, list | tuple | dict):
        raise ValueError("The teacher must have a single (B, num_classes) output.")
    dist = _to_distribution(outputs, from_logits, temperature)
    return _mix(dist, labels, hard_label_weight)


def with_teacher_targets(dataset, teacher, temperature=1.0, from_logits=None, hard_label_weight=0.0):
    """Maps a batched `tf.data.Dataset` of `(images, labels)` to `(images, teacher distributions)`.

    The teacher runs inside the pipeline (TensorFlow backend only), so shuffling and
    augmentation stay consistent with the targets; use `teacher_targets` to precompute
    them once on other backends. `from_logits=None` assumes a softmax teacher unless its
    last layer's activation is linear.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "with_teacher_targets runs the teacher inside tf.data and needs the TensorFlow backend; on "
            f"{keras.backend.backend()!r} precompute the targets with teacher_targets(teacher, images)."
        )
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if not 0.0 <= hard_label_weight <= 1.0:
        raise ValueError(f"hard_label_weight must be in [0, 1], got {hard_label_weight}.")
    if from_logits is None:
        activation = getattr(teacher.layers[-1], "activation", None)
        from_logits = getattr(activation, "__name__", "") == "linear"

    def to_targets(images, labels):
        out = tf.cast(teacher(images, training=False), tf.float32)
        num_classes = out.shape[-1]
        logits = out if from_logits else tf.math.log(tf.maximum(out, 1e-12))
        dist = tf.nn.softmax(logits / temperature, axis=-1)
        if hard_label_weight:
            labels = tf.convert_to_tensor(labels)
            if labels.shape.rank == 1 or (labels.shape.rank == 2 and labels.shape[-1] == 1):
                labels = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)
            dist = (1.0 - hard_label_weight) * dist + hard_label_weight * tf.cast(labels, tf.float32)
        return images, dist

    return dataset.map(to_targets)
