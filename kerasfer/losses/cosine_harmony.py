"""Cosine-Harmony loss (LFNSB) and the model wrapper that trains its class centres.

Reference:
    Xuefeng Chen and Liangyu Huang, "A Lightweight Model Enhancing Facial Expression
    Recognition with Spatial Bias and Cosine-Harmony Loss" (LFNSB), Computation 12(10), 201,
    2024, DOI 10.3390/computation12100201, section "Cosine-Harmony Loss". Reference code:
    https://github.com/1chenchen22/LFNSB `losses.py` (class `AffinityLoss`, derived from the
    `AffinityLoss` of https://github.com/yaoing/DAN).
"""

import keras
from keras import ops

from kerasfer.api_export import kerasfer_export
from kerasfer.losses._utils import check_choice
from kerasfer.losses._utils import check_finite
from kerasfer.losses._utils import check_labels
from kerasfer.losses._utils import concrete
from kerasfer.losses._utils import nan_where_invalid

MODES = ("reference", "paper")
NORMALIZE_EPSILON = 1e-12  # as torch.nn.functional.normalize


def _check_mode(mode):
    return check_choice(mode, MODES, "mode")


def _pool(features):
    """(B, D) features, or (B, ..., D) feature maps averaged over their spatial axes."""
    rank = len(features.shape)
    if rank < 2:
        raise ValueError(f"features must have shape (B, D) or (B, H, W, D), got shape {tuple(features.shape)}.")
    if rank > 2:
        features = ops.mean(features, axis=tuple(range(1, rank - 1)))
    return features


def _labels_as_indices(labels, num_classes):
    """Integer labels (B,) from (B,), (B, 1) or one-hot (B, C) labels."""
    rank = len(labels.shape)
    if rank == 2 and labels.shape[-1] == num_classes and num_classes != 1:
        return ops.argmax(labels, axis=-1)
    if rank == 2 and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, axis=-1)
    elif rank != 1:
        raise ValueError(
            f"labels must be integer class indices of shape (B,) (or one-hot (B, {num_classes})), "
            f"got shape {tuple(labels.shape)}."
        )
    check_labels(labels, num_classes)
    return ops.cast(ops.round(ops.cast(labels, "float32")), "int32")


def _normalize_adjusted(x):
    """Centres each row over its own dimensions, then L2-normalises it (eps 1e-12)."""
    x = x - ops.mean(x, axis=-1, keepdims=True)
    norm = ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), NORMALIZE_EPSILON**2))
    return x / norm


def adjusted_cosine_distance(features, centers):
    """`D[i, k] = 1 - corr(f_i, c_k)`: the Pearson-correlation distance, in [0, 2]. Shapes (B, D), (C, D)."""
    f = _normalize_adjusted(features)
    c = _normalize_adjusted(centers)
    return 1.0 - ops.matmul(f, ops.transpose(c))


def cosine_harmony_per_sample(features, labels, centers, alpha=0.1, mode="reference", epsilon=1e-6):
    """Per-sample Cosine-Harmony values whose batch mean is `cosine_harmony(...)`.

    The batch variance `v` is shared by the batch; each sample contributes
    `alpha * D[i, y_i] / (v + epsilon) + (1 - alpha) * inter_i`, with `inter_i = D[i, y_i] / (C - 1)`
    ("reference") or `inter_i = -sum_{j != y_i} D[i, j] / (C - 1)` ("paper").
    Computed in float32 whatever the input dtype.
    """
    _check_mode(mode)
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    features = _pool(ops.cast(features, "float32"))
    centers = ops.cast(ops.convert_to_tensor(centers), "float32")
    if len(centers.shape) != 2:
        raise ValueError(f"centers must have shape (C, D), got shape {tuple(centers.shape)}.")
    num_classes, dim = centers.shape
    if num_classes is None or num_classes < 2:
        raise ValueError(f"Cosine-Harmony needs at least 2 class centres (it divides by C - 1), got {num_classes}.")
    if features.shape[-1] is not None and dim is not None and features.shape[-1] != dim:
        raise ValueError(f"features have dimension {features.shape[-1]} but the centres have dimension {dim}.")
    check_finite(features, "features")
    labels = _labels_as_indices(labels, num_classes)
    if len(labels.shape) != 1:
        raise ValueError(f"labels must have shape (B,), got {tuple(labels.shape)}.")
    f_batch, l_batch = concrete(ops.shape(features)[0]), concrete(ops.shape(labels)[0])
    if f_batch is not None and l_batch is not None and int(f_batch) != int(l_batch):
        raise ValueError(f"features hold {int(f_batch)} samples but labels hold {int(l_batch)}.")

    dist = adjusted_cosine_distance(features, centers)  # (B, C)
    mask = ops.one_hot(labels, num_classes, dtype="float32")
    own = ops.sum(dist * mask, axis=-1)  # D[i, y_i]
    batch = ops.cast(ops.shape(features)[0], "float32")
    sq = ops.sum(ops.square(features - ops.mean(features, axis=0, keepdims=True)))
    if mode == "reference":
        variance = sq / ops.maximum(batch - 1.0, 1.0)  # unbiased (torch.var); 0 for one sample
        inter = own / (num_classes - 1.0)
        values = alpha * own / (variance + epsilon) + (1.0 - alpha) * inter
    else:
        variance = sq / batch  # the paper's 1/N
        inter = ops.sum(dist * (1.0 - mask), axis=-1) / (num_classes - 1.0)
        values = alpha * own / (variance + epsilon) - (1.0 - alpha) * inter
    valid = ops.logical_and(labels >= 0, labels < num_classes)
    return nan_where_invalid(values, valid)


@kerasfer_export("kerasfer.losses.cosine_harmony")
def cosine_harmony(features, labels, centers, alpha=0.1, mode="reference", epsilon=1e-6):
    """The Cosine-Harmony loss of a batch (LFNSB), a scalar.

    With `f_i` the pooled features, `c_k` the class centres and the adjusted cosine
    (Pearson) distance `D[i, k] = 1 - <f_i - mean(f_i), c_k - mean(c_k)> / (|.| |.|)`:

    - `mode="reference"` reproduces the released code exactly:
      `intra = sum_i D[i, y_i] / B`, `inter = sum_i D[i, y_i] / (B (C - 1))` (the same
      own-class sum), `v = sum_d var_unbiased(f[:, d])` (batch variance, N - 1), and
      `L = alpha * intra / v + (1 - alpha) * inter`. It only pulls samples towards their
      own centre.
    - `mode="paper"` follows the paper's formula and intent: `inter` sums the distances to
      the *other* centres, `inter = sum_i sum_{j != y_i} D[i, j] / (B (C - 1))`, and is
      subtracted (pushing classes apart): `L = alpha * intra / v - (1 - alpha) * inter`
      with the paper's biased variance `v = sum_d mean_i (f_id - mu_d)^2`.

    `epsilon` is added to `v` (the code has none). Degenerate batches: zero feature
    vectors have distance 1 to every centre; a single sample or all-equal features give
    `v = 0`, so the loss is `alpha * intra / epsilon + ...` (large but finite); an absent
    class only means its centre gets no pull this batch. Labels outside `[0, C)` raise
    `ValueError` (or give NaN inside a traced function).

    Args:
        features: pooled features `(B, D)` (a `(B, H, W, D)` map is averaged over H, W).
        labels: integer labels `(B,)` (`(B, 1)` or one-hot `(B, C)` accepted).
        centers: class centres `(C, D)`, C >= 2.
        alpha: weight of the intra term (paper and code: 0.1).
        mode: `"reference"` or `"paper"`.
        epsilon: added to the batch variance.

    Example:
    >>> f = np.random.rand(4, 8); c = np.random.rand(7, 8)
    >>> float(kerasfer.losses.cosine_harmony(f, np.array([0, 1, 2, 3]), c)) > 0
    True
    """
    return ops.mean(cosine_harmony_per_sample(features, labels, centers, alpha, mode, epsilon))


@kerasfer_export("kerasfer.losses.CosineHarmonyLoss")
class CosineHarmonyLoss(keras.losses.Loss):
    """Cosine-Harmony loss (LFNSB) as a `keras.losses.Loss` with given class centres.

    `loss(y_true=labels, y_pred=features)`; the formula, the two modes and the
    paper-vs-code differences are in `kerasfer.losses.cosine_harmony`. `call` returns
    per-sample values (see `cosine_harmony_per_sample`) whose mean is the batch loss, so
    `sample_weight` (e.g. class weights) weights each sample's term; the batch variance
    is unweighted.

    A `Loss` owns no trainable state, so to *learn* the centres use
    `kerasfer.losses.with_cosine_harmony(model)` (a model that owns them and adds this
    loss to the compiled one); pass a `keras.Variable` as `centers` to share them.

    Args:
        centers: class centres `(C, D)`: an array, nested list or `keras.Variable`
            (serialised as its current values).
        alpha: weight of the intra term (0.1).
        mode: `"reference"` (released code) or `"paper"`.
        epsilon: added to the batch variance.

    Example:
    >>> loss = kerasfer.losses.CosineHarmonyLoss(centers=np.random.randn(7, 16))
    >>> float(loss(np.array([0, 3]), np.random.rand(2, 16))) > 0
    True
    """

    def __init__(
        self,
        centers,
        alpha=0.1,
        mode="reference",
        epsilon=1e-6,
        reduction="sum_over_batch_size",
        name="cosine_harmony",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        _check_mode(mode)
        if not isinstance(centers, keras.Variable):
            centers = ops.convert_to_numpy(ops.convert_to_tensor(centers, dtype="float32"))
        if len(centers.shape) != 2:
            raise ValueError(f"centers must have shape (C, D), got shape {tuple(centers.shape)}.")
        self.centers = centers
        self.alpha = float(alpha)
        self.mode = mode
        self.epsilon = float(epsilon)

    def call(self, y_true, y_pred):
        return cosine_harmony_per_sample(y_pred, y_true, self.centers, self.alpha, self.mode, self.epsilon)

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update(
            {
                "centers": ops.convert_to_numpy(self.centers).astype("float32").tolist(),
                "alpha": self.alpha,
                "mode": self.mode,
                "epsilon": self.epsilon,
            }
        )
        return config


@kerasfer_export("kerasfer.losses.CosineHarmonyModel")
class CosineHarmonyModel(keras.Model):
    """A classifier trained with its compiled loss plus Cosine-Harmony on its features.

    Design: the model owns the class centres (a trainable weight `centers`, random
    normal init as in the reference) and overrides `compute_loss`, so the optimizer
    updates the centres with the network (the released LFNSB code forgets to optimise
    them; DAN, its ancestor, does). `call` runs the wrapped classifier once, returning
    its predictions (so `predict`, metrics and `model(x)` give class probabilities) and
    keeping the pooled output of its `features_layer` for `compute_loss` of the same
    step (Keras's own `_losses_override` works the same way); if `compute_loss` is called
    without that forward pass, the features are recomputed from `x`. The total is

        L = compiled_loss(y, y_pred) + weight * L_CH(GAP(features), y, centers)

    (paper and code: CE + 1 x L_CH), then optional flooding `|L - b| + b` (reference:
    b = 0.5 below 0.52, which is the same thing). `fit` takes integer labels (one-hot
    labels are turned into indices for L_CH); `sample_weight`/`class_weight` weight both
    terms per sample. For deployment or TFLite export use `.classifier`, the wrapped
    model (it shares the weights).

    Args:
        model: a functional classifier whose output is `(B, C)` predictions and which
            has a layer named `features_layer`.
        alpha, mode, epsilon: see `kerasfer.losses.cosine_harmony`.
        weight: weight of the Cosine-Harmony term (1.0).
        flooding: `None` (default) or the flood level `b` (reference code: 0.5).
        features_layer: name of the layer whose output is the feature map (`"features"`).
        trainable_centers: `False` freezes the centres (what the released code does).

    Example:
    >>> model = kerasfer.losses.with_cosine_harmony(kerasfer.models.LFNSB())
    >>> model.compile("sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.fit(images, integer_labels)  # the centres move too
    """

    def __init__(
        self,
        model,
        alpha=0.1,
        mode="reference",
        weight=1.0,
        flooding=None,
        features_layer="features",
        trainable_centers=True,
        epsilon=1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_mode(mode)
        if not isinstance(model, keras.Model) or not hasattr(model, "inputs") or not model.inputs:
            raise ValueError("with_cosine_harmony needs a functional keras.Model (one built from keras.Input).")
        try:
            feature_output = model.get_layer(features_layer).output
        except ValueError as err:
            raise ValueError(
                f"Model {model.name!r} has no layer named {features_layer!r} to tap for Cosine-Harmony; "
                "kerasfer classifiers name their trunk's final feature map 'features'."
            ) from err
        output = model.outputs[0]
        if len(model.outputs) != 1 or len(output.shape) != 2 or output.shape[-1] is None:
            raise ValueError(
                f"The wrapped model must have one (B, num_classes) output (include_top=True); got outputs "
                f"{[tuple(o.shape) for o in model.outputs]}."
            )
        num_classes = int(output.shape[-1])
        if num_classes < 2:
            raise ValueError(f"Cosine-Harmony needs at least 2 classes, the model has {num_classes}.")
        feat_dim = feature_output.shape[-1]
        if feat_dim is None:
            raise ValueError("The features layer must have a static channel dimension.")
        if flooding is not None and float(flooding) < 0:
            raise ValueError(f"flooding must be None or a level >= 0, got {flooding}.")
        self.classifier = model
        self._heads = keras.Model(model.inputs, [output, feature_output], name=f"{self.name}_heads")
        self.alpha = float(alpha)
        self.mode = mode
        self.weight = float(weight)
        self.flooding = None if flooding is None else float(flooding)
        self.features_layer = features_layer
        self.trainable_centers = bool(trainable_centers)
        self.epsilon = float(epsilon)
        self.num_classes = num_classes
        self.centers = self.add_weight(
            shape=(num_classes, int(feat_dim)),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=self.trainable_centers,
            name="centers",
        )
        object.__setattr__(self, "_ch_step", None)
        self.built = True

    def call(self, inputs, training=None):
        predictions, features = self._heads(inputs, training=training)
        object.__setattr__(self, "_ch_step", (predictions, features))
        return predictions

    def _features_for(self, x, y_pred, training):
        step = self._ch_step
        object.__setattr__(self, "_ch_step", None)
        if step is not None and step[0] is y_pred:
            return step[1]
        return self._heads(x, training=training)[1]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        features = self._features_for(x, y_pred, training)
        if self._compile_loss is not None or self.losses:
            total = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        else:
            total = ops.zeros((), dtype="float32")
        ch = CosineHarmonyLoss(centers=self.centers, alpha=self.alpha, mode=self.mode, epsilon=self.epsilon)
        total = ops.cast(total, "float32") + self.weight * ch(y, features, sample_weight=sample_weight)
        if self.flooding is not None:
            total = ops.abs(total - self.flooding) + self.flooding
        return total

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "model": keras.saving.serialize_keras_object(self.classifier),
            "alpha": self.alpha,
            "mode": self.mode,
            "weight": self.weight,
            "flooding": self.flooding,
            "features_layer": self.features_layer,
            "trainable_centers": self.trainable_centers,
            "epsilon": self.epsilon,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"], custom_objects=custom_objects)
        return cls(**config)


@kerasfer_export("kerasfer.losses.with_cosine_harmony")
def with_cosine_harmony(
    model,
    alpha=0.1,
    mode="reference",
    weight=1.0,
    flooding=None,
    features_layer="features",
    trainable_centers=True,
    epsilon=1e-6,
    name=None,
):
    """Wraps a kerasfer classifier so that `fit` adds Cosine-Harmony with learned centres.

    Returns a `CosineHarmonyModel` (see its docstring): compile it with the usual loss
    (e.g. `"sparse_categorical_crossentropy"`, or `"ro"` from `kerasfer.losses.get`) and
    fit with integer labels; `predict` returns the classifier's probabilities; it saves
    and loads as `.keras`; `.classifier` is the plain model for export.

    Args:
        model: functional classifier with a `"features"` layer (any kerasfer model).
        alpha, mode, epsilon: see `kerasfer.losses.cosine_harmony`.
        weight: weight of the Cosine-Harmony term.
        flooding: `None` or the flood level `b` (reference: 0.5).
        features_layer: name of the feature-map layer.
        trainable_centers: `False` reproduces the released code's frozen centres.
        name: model name (default `"<model.name>_ch"`).
    """
    return CosineHarmonyModel(
        model,
        alpha=alpha,
        mode=mode,
        weight=weight,
        flooding=flooding,
        features_layer=features_layer,
        trainable_centers=trainable_centers,
        epsilon=epsilon,
        name=name or f"{model.name}_ch",
    )
