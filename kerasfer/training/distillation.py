"""Teachers for label-distribution learning (LFER-LDL) and knowledge distillation.

Offline targets: LFER-LDL trains its student against the softmax output of a teacher (a
ResNet-50 fine-tuned on the same FER data) with `KL(P_teacher || Q_student)`
(`kerasfer.losses.LabelDistributionKL`). `teacher_targets` computes those targets with
`model.predict`, so it works on any Keras backend for NumPy inputs; `tf.data` inputs need
TensorFlow (imported inside the functions).

Distillation inside the training step (Hinton, Vinyals and Dean, "Distilling the Knowledge in a
Neural Network", 2015, arXiv:1503.02531): `Distiller` holds one or more frozen, trained teachers
(`load_distiller`: packaged names, run directories, `.keras` files, through
`kerasfer.models.loading.load_trained`) and mixes the student's own loss with the temperature-scaled
KL divergence to them,

    L = (1 - alpha) * L_student(y, p_s) + alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)),

per example, weighted by the same sample weights (class weights, mixup-blended weights) as
`L_student`. `kerasfer.training.augment_step.AugmentInStep(..., distiller=...)` runs the teachers
on the very batch the student sees (augmented, mixed) in inference mode, inside the compiled step.
An ensemble averages its teachers' probabilities. kerasfer models output probabilities, so the
logits `z` are taken as log-probabilities (`softmax(log p / T)` is `p^(1/T)` normalised, the same
distribution as `softmax(logits / T)`). This module imports keras only inside its functions.
"""

import numpy as np

from kerasfer.training.config import check_distillation

# the smallest probability taken as a log (an exact 0 would be -inf)
PROB_FLOOR = 1e-12


def tempered_log_probs(scores, from_logits, temperature):
    """`log softmax(z / T)` in float32 (keras.ops), with `z` = `scores` (logits) or `log(scores)` (probabilities).

    For probabilities `p`, `softmax(log p / T)` is `p^(1/T)` normalised: the distribution `softmax(logits / T)`
    of the logits behind them. The one tempering of teacher and student scores in kerasfer.
    """
    from keras import ops

    scores = ops.cast(scores, "float32")
    z = scores if from_logits else ops.log(ops.maximum(scores, PROB_FLOOR))
    return ops.log_softmax(z / float(temperature), axis=-1)


def outputs_logits(model) -> bool:
    """Whether `model` outputs logits: its last layer (or its Dense `"predictions"`) has a linear activation.

    kerasfer models end in a softmax (`classifier_activation="softmax"`), so they output probabilities.
    """
    try:
        layer = model.get_layer("predictions")
    except ValueError:
        layer = model.layers[-1]
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "linear"


def _to_distribution(outputs, from_logits, temperature):
    outputs = np.asarray(outputs, dtype="float64")
    if outputs.ndim != 2:
        raise ValueError(f"The teacher must output (N, num_classes) scores, got shape {outputs.shape}.")
    if not np.all(np.isfinite(outputs)):
        raise ValueError("The teacher produced NaN/Inf outputs.")
    if from_logits is None:
        sums = outputs.sum(axis=1)
        from_logits = not (np.all(outputs >= 0) and np.allclose(sums, 1.0, atol=1e-3))
    if not from_logits and np.any(outputs < 0):
        raise ValueError("from_logits=False but the teacher outputs negative values (are they logits?).")
    from keras import ops

    return np.asarray(ops.convert_to_numpy(ops.exp(tempered_log_probs(outputs, from_logits, temperature))), "float32")


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
        from_logits = outputs_logits(teacher)

    def to_targets(images, labels):
        out = teacher(images, training=False)
        num_classes = out.shape[-1]
        dist = tf.exp(tempered_log_probs(out, from_logits, temperature))
        if hard_label_weight:
            labels = tf.convert_to_tensor(labels)
            if labels.shape.rank == 1 or (labels.shape.rank == 2 and labels.shape[-1] == 1):
                labels = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)
            dist = (1.0 - hard_label_weight) * dist + hard_label_weight * tf.cast(labels, tf.float32)
        return images, dist

    return dataset.map(to_targets)


# --------------------------------------------------------------------------- distillation in the training step
def to_model_input(images, input_shape):
    """A batch `(B, h, w, c)` of `[0, 255]` images as another model's `(H, W, C)` input, with keras.ops.

    `kerasfer.data.pipeline.prepare_images`'s definition inside a compiled step: bilinear resize
    (anti-aliased when shrinking), then grayscale <-> RGB (`tf.image.rgb_to_grayscale`'s BT.601 weights),
    float32 clipped to `[0, 255]`. Images already of that shape come back as they are (in float32).
    """
    from keras import ops

    from kerasfer.data.pipeline import GRAY_WEIGHTS

    h, w, c = (int(v) for v in input_shape)
    x = ops.cast(images, "float32")
    if len(x.shape) != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images must be a (B, H, W, C) batch with C 1 or 3 (static), got shape {tuple(x.shape)}.")
    src_h, src_w, src_c = x.shape[1], x.shape[2], x.shape[3]
    if (src_h, src_w, src_c) == (h, w, c):
        return x
    if (src_h, src_w) != (h, w):
        shrinking = src_h is None or src_w is None or src_h > h or src_w > w
        x = ops.image.resize(x, (h, w), interpolation="bilinear", antialias=bool(shrinking))
    if src_c != c:
        gray = ops.convert_to_tensor(GRAY_WEIGHTS, "float32")
        x = ops.repeat(x, 3, axis=-1) if c == 3 else ops.sum(x * gray, axis=-1, keepdims=True)
    return ops.clip(x, 0.0, 255.0)


class Distiller:
    """Frozen teacher model(s) and the distillation loss of a student trained beside them.

    Not a Keras layer: the models it holds are not tracked by the model being trained, so they are
    neither trained nor saved with it (checkpoints and `model.keras` hold the student only). The
    teachers run with `training=False` (their BatchNormalization statistics never change).

    Args:
        teachers: one or more trained `keras.Model`s with `(B, C)` outputs over the student's classes in
            the student's order (an ensemble: their probabilities are averaged).
        alpha: the teacher's share of the loss, in [0, 1] (0: the student's own loss alone).
        temperature: `T` > 0, softening both distributions; the KL term is scaled by `T^2`.
        sources: what each teacher was loaded from (for messages and reports).
    """

    def __init__(self, teachers, alpha=0.5, temperature=4.0, sources=None):
        self.alpha, self.temperature = check_distillation(alpha, temperature)
        teachers = list(teachers) if isinstance(teachers, list | tuple) else [teachers]
        if not teachers:
            raise ValueError("Distiller needs at least one teacher model.")
        widths = set()
        self.input_shapes, self.from_logits = [], []
        for t in teachers:
            shape = tuple(t.inputs[0].shape[1:])
            out = tuple(t.outputs[0].shape)
            if len(shape) != 3 or None in shape or len(t.outputs) != 1 or len(out) != 2 or out[-1] is None:
                raise ValueError(
                    f"A teacher must take fixed-size (H, W, C) images and give one (B, num_classes) output; "
                    f"{t.name!r} takes {shape} and gives {[tuple(o.shape) for o in t.outputs]}."
                )
            t.trainable = False
            widths.add(int(out[-1]))
            self.input_shapes.append(tuple(int(v) for v in shape))
            self.from_logits.append(outputs_logits(t))
        if len(widths) != 1:
            raise ValueError(f"The teachers of an ensemble must have the same number of classes, got {sorted(widths)}.")
        self.teachers = teachers
        self.num_classes = widths.pop()
        self.sources = list(sources) if sources is not None else [t.name for t in teachers]

    def probabilities(self, images):
        """The teachers' mean class probabilities `(B, C)` (float32) for a batch of `[0, 255]` images at any size.

        Each teacher gets the batch as its own input (`to_model_input`) and runs in inference mode.
        """
        from keras import ops

        total = None
        for teacher, shape, logits in zip(self.teachers, self.input_shapes, self.from_logits):
            out = ops.cast(teacher(to_model_input(images, shape), training=False), "float32")
            p = ops.softmax(out, axis=-1) if logits else out
            total = p if total is None else total + p
        return ops.stop_gradient(total / float(len(self.teachers)))

    def kl_per_example(self, teacher_probs, student_scores, student_from_logits=False):
        """`T^2 * KL(softmax(z_t / T) || softmax(z_s / T))` per example `(B,)`, in float32."""
        from keras import ops

        t = self.temperature
        log_q_t = tempered_log_probs(teacher_probs, False, t)
        log_q_s = tempered_log_probs(student_scores, student_from_logits, t)
        return (t * t) * ops.sum(ops.exp(log_q_t) * (log_q_t - log_q_s), axis=-1)

    def loss(self, student_loss, teacher_probs, student_scores, sample_weight=None, student_from_logits=False):
        """`(1 - alpha) * student_loss + alpha * mean_i(w_i * T^2 * KL_i)`: the batch's distillation loss.

        `student_loss` is the run's own loss of the batch (reduced: a mean over the batch of the weighted
        per-example losses); `sample_weight` (None: all 1) weights the KL terms the same way.
        """
        from keras import ops

        kl = self.kl_per_example(teacher_probs, student_scores, student_from_logits)
        if sample_weight is not None:
            kl = kl * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        return (1.0 - self.alpha) * ops.cast(student_loss, "float32") + self.alpha * ops.mean(kl)


def load_distiller(sources, class_names, alpha=0.5, temperature=4.0) -> Distiller:
    """A `Distiller` of the trained models at `sources`, checked against the student's `class_names`.

    Args:
        sources: a packaged name (`"resnet18_small/fer2013"`), a run directory or a `.keras` file, or a list
            of them (an ensemble); loaded with `kerasfer.models.loading.load_trained`.
        class_names: the student's classes, in its output order.
        alpha, temperature: see `Distiller`.

    Raises:
        ValueError: a teacher that does not load, with another number of classes, or with the classes in
            another order; alpha outside [0, 1]; temperature <= 0.
    """
    from kerasfer.models.loading import load_trained

    check_distillation(alpha, temperature)
    sources = [sources] if isinstance(sources, str) else list(sources or ())
    if not sources:
        raise ValueError("Distillation needs a teacher: a packaged name, a run directory or a .keras file.")
    want = tuple(str(c) for c in class_names)
    models = []
    for source in sources:
        try:
            loaded = load_trained(source)
        except (OSError, ValueError, TypeError) as e:
            raise ValueError(f"The distillation teacher {source!r} does not load: {e}") from e
        have = tuple(loaded.labels)
        if len(have) != len(want):
            raise ValueError(
                f"The distillation teacher {source!r} has {len(have)} classes {list(have)}; the student has "
                f"{len(want)} {list(want)}."
            )
        if [c.lower() for c in have] != [c.lower() for c in want]:
            raise ValueError(
                f"The distillation teacher {source!r} orders its classes {list(have)} (from {loaded.labels_source}); "
                f"the student's are {list(want)}: a teacher must give its probabilities in the student's order."
            )
        models.append(loaded.model)
    return Distiller(models, alpha=alpha, temperature=temperature, sources=sources)
