"""`train(config) -> TrainResult`: one training run from a `TrainConfig`, on TensorFlow or JAX.

The run directory (`config.output_dir`) ends up holding:

    config.json           the full TrainConfig (`kerasfer train --config config.json` repeats it)
    preprocessing.json    input shape, colour mode, pixel range, class names (read by evaluate/export)
    labels.txt            one class name per line
    model.keras           the trained classifier (best validation epoch when there is validation)
    checkpoints/best.weights.h5, checkpoints/last_good.weights.h5
    backup/               BackupAndRestore state while a run is unfinished (resumes with no lost epoch)
    log.csv, history.json, result.json

Data: on the TensorFlow backend the splits come from `kerasfer.data.datasets.load` through
`kerasfer.data.pipeline.make_pipeline` (tf.data, augmentations inside `ds.map`); on other
backends (JAX, where TensorFlow may be absent) from `kerasfer.data.datasets.load_numpy` through
a `keras.utils.PyDataset` that applies the same augmentation layers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import time

import keras
import numpy as np

from kerasfer.training import callbacks as cbs
from kerasfer.training.config import TrainConfig
from kerasfer.training.config import loss_parts
from kerasfer.training.config import save_preprocessing
from kerasfer.training.distribute import distribution_scope

# Config fields that may change when a run is resumed.
_RESUMABLE_CHANGES = ("epochs", "verbose", "on_existing", "early_stopping_patience")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/inf; the message names the last good checkpoint."""


class RunExistsError(FileExistsError):
    """The output directory already holds a run that cannot be resumed."""


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    history: dict
    output_dir: str
    model_path: str
    config: TrainConfig
    class_names: tuple
    input_shape: tuple
    best_epoch: int | None
    initial_epoch: int
    elapsed_s: float
    summary: dict


# --------------------------------------------------------------------------- run directory
def _paths(out):
    return {
        "config": os.path.join(out, "config.json"),
        "model": os.path.join(out, "model.keras"),
        "best": os.path.join(out, "checkpoints", "best.weights.h5"),
        "last_good": os.path.join(out, "checkpoints", "last_good.weights.h5"),
        "backup": os.path.join(out, "backup"),
        "csv": os.path.join(out, "log.csv"),
        "history": os.path.join(out, "history.json"),
        "result": os.path.join(out, "result.json"),
        "labels": os.path.join(out, "labels.txt"),
    }


def prepare_output_dir(config: TrainConfig) -> bool:
    """Creates or checks `config.output_dir`. Returns True when an unfinished run is resumed.

    Never overwrites silently: a finished run, a run with a different configuration or a
    non-empty folder that is not a kerasfer run is refused unless `on_existing="overwrite"`
    (which only ever deletes a folder holding a kerasfer `config.json`).
    """
    out = config.output_dir
    p = _paths(out)
    if not os.path.exists(out) or (os.path.isdir(out) and not os.listdir(out)):
        os.makedirs(out, exist_ok=True)
        return False
    if not os.path.isdir(out):
        raise RunExistsError(f"Output path {out!r} exists and is not a directory.")
    if not os.path.exists(p["config"]):
        raise RunExistsError(
            f"Output directory {out!r} is not empty and holds no kerasfer run (no config.json); "
            "choose an empty or new directory."
        )
    if config.on_existing == "overwrite":
        shutil.rmtree(out)
        os.makedirs(out)
        return False
    finished = os.path.exists(p["model"])
    if finished:
        raise RunExistsError(
            f"Output directory {out!r} already holds a finished run (model.keras). Choose a new --output, "
            "or pass --overwrite to replace it."
        )
    if config.on_existing == "refuse":
        raise RunExistsError(
            f"Output directory {out!r} holds an unfinished run; pass --resume to continue it or --overwrite to "
            "start again."
        )
    saved = TrainConfig.from_json(p["config"]).to_dict()
    now = config.to_dict()
    diff = sorted(k for k in now if k not in _RESUMABLE_CHANGES and saved.get(k) != now[k])
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff)
        raise RunExistsError(
            f"Output directory {out!r} holds an unfinished run with a different configuration ({details}). "
            "Resume it with the same settings, choose a new --output, or pass --overwrite."
        )
    return True


# --------------------------------------------------------------------------- data
def _split_example(example):
    if isinstance(example, dict):
        return example["image"], example["label"]
    return example[0], example[1]


def _labels_of_tf(ds):
    import tensorflow as tf

    ys = ds.map(lambda *ex: tf.cast(_split_example(ex[0] if len(ex) == 1 else ex)[1], tf.int64))
    chunks = [np.asarray(b) for b in ys.batch(65536).as_numpy_iterator()]
    return np.concatenate(chunks) if chunks else np.zeros((0,), np.int64)


def _check_labels(labels, num_classes, split, dataset):
    if labels.size == 0:
        raise ValueError(f"Split {split!r} of dataset {dataset!r} is empty.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"Split {split!r} of {dataset!r} has labels in [{labels.min()}, {labels.max()}] but the model has "
            f"{num_classes} classes (num_classes={num_classes}); labels must be in [0, {num_classes - 1}]."
        )
    return np.bincount(labels, minlength=num_classes)


def resolve_val_split(config: TrainConfig):
    """`"auto"` -> `"validation"` when the dataset has it, else `"test"`, else None."""
    if config.val_split != "auto":
        return config.val_split
    splits = _available_splits(config)
    if splits is None:
        return "validation"
    for s in ("validation", "test"):
        if s in splits:
            return s
    return None


def _available_splits(config):
    """The dataset's split names (None when they cannot be known without TensorFlow)."""
    from kerasfer.data import datasets

    if config.dataset.split("/")[0] == "synthetic_faces":
        from kerasfer.data import synthetic

        return tuple(synthetic.SPLITS)
    found = []
    for split in ("validation", "test"):
        try:
            datasets.num_examples(config.dataset, split, data_dir=config.data_dir, manual_dir=config.manual_dir)
            found.append(split)
        except ImportError:
            return None
        except ValueError as e:
            if "no split" not in str(e):
                raise
    return tuple(found)


def class_names_for(dataset):
    from kerasfer.data import datasets

    return tuple(datasets.class_names(dataset))


@dataclasses.dataclass
class _Split:
    data: object
    counts: np.ndarray
    num_examples: int
    steps: int | None = None


def _balanced_indices(labels, rng):
    counts = np.bincount(labels)
    p = 1.0 / counts[labels]
    return rng.choice(labels.size, size=labels.size, replace=True, p=p / p.sum())


class ArrayBatches(keras.utils.PyDataset):
    """Batches from NumPy arrays with shuffling, balanced sampling and batch augmentation.

    The augmentation is the same `kerasfer.data.augment` preset as on tf.data, its Keras
    layers run by the current backend (JAX), with the same per-stage probabilities.
    """

    def __init__(self, x, y, batch_size, *, training, augment=None, seed=0, balanced=False, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.training = training
        self.augment = augment
        self.balanced = balanced
        self.rng = np.random.default_rng(seed)
        self.hard = y if y.ndim == 1 else y.argmax(-1)
        self._new_order()

    def _new_order(self):
        n = len(self.x)
        if not self.training:
            self.order = np.arange(n)
        elif self.balanced:
            self.order = _balanced_indices(self.hard, self.rng)
        else:
            self.order = self.rng.permutation(n)

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        xb = self.x[idx].astype("float32")
        if self.augment is not None:
            xb = self._augment(xb)
        return xb, self.y[idx]

    def _augment(self, x):
        if not getattr(self, "_patched", False):
            _patch_fill_values(self.augment)
            self._patched = True
        for prob, layers in self.augment.stages:
            y = x
            for layer in layers:
                y = keras.ops.convert_to_numpy(layer(y, training=True))
            if prob >= 1:
                x = y
            else:
                keep = self.rng.uniform(size=len(x)) < prob
                x = np.where(keep[:, None, None, None], y, x)
        return np.clip(x, 0, 255).astype("float32")

    def on_epoch_end(self):
        self._new_order()


class _JaxFillValue(list):
    """A per-channel fill value that JAX accepts (Keras 3.15's RandomErasing passes the list to
    `jnp.full_like`, which rejects lists on the JAX backend)."""

    def __jax_array__(self):
        import jax.numpy as jnp

        return jnp.asarray(list(self), dtype="float32")


def _patch_fill_values(augmenter):
    if keras.backend.backend() != "jax":
        return
    for _, layers in augmenter.stages:
        for layer in layers:
            fill = getattr(layer, "fill_value", None)
            if isinstance(layer, keras.layers.RandomErasing) and isinstance(fill, list | tuple):
                object.__setattr__(layer, "fill_value", _JaxFillValue(fill))


def _load_split_tf(config, split, input_shape, num_classes, *, training, max_examples, soft=None, arrays=None):
    import tensorflow as tf

    from kerasfer.data import datasets
    from kerasfer.data import pipeline

    if arrays is not None:
        raw = tf.data.Dataset.from_tensor_slices((arrays[0], np.asarray(arrays[1]).astype("int64")))
    else:
        raw = datasets.load(config.dataset, split, data_dir=config.data_dir, manual_dir=config.manual_dir)
    if max_examples:
        raw = raw.take(max_examples)
    labels = _labels_of_tf(raw)
    counts = _check_labels(labels, num_classes, split, config.dataset)
    n = int(labels.size)
    label_mode = "categorical" if config.label_mode == "categorical" else "sparse"
    ds = raw
    if soft is not None:
        if soft.shape != (n, num_classes):
            raise ValueError(
                f"soft labels {config.soft_labels!r} have shape {soft.shape}, expected ({n}, {num_classes}) for the "
                f"{split!r} split of {config.dataset!r}."
            )
        images = raw.map(lambda *ex: _split_example(ex[0] if len(ex) == 1 else ex)[0])
        ds = tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(soft.astype("float32"))))
        label_mode = "distribution"
    steps = None
    if training and config.class_weights == "balanced":
        ds = _balanced_tf(ds.cache(), counts, config.seed)
        steps = math.ceil(n / config.batch_size)
    out = pipeline.make_pipeline(
        ds,
        input_shape,
        config.batch_size,
        training=training,
        augment=config.augment if training else "none",
        num_classes=num_classes,
        label_mode=label_mode,
        seed=config.seed,
        cache=n * int(np.prod(input_shape)) * 4 < 2**30 and steps is None,
        drop_remainder=training and config.distribute != "none",
    )
    if training and config.steps_per_epoch and steps is None:
        out = out.repeat()
    return _Split(out, counts, n, steps)


def _balanced_tf(ds, counts, seed):
    """Class-balanced sampling (each class drawn with equal probability; an infinite stream)."""
    from kerasfer.training.sampling import class_balanced_dataset

    return class_balanced_dataset(ds, len(counts), counts=counts, seed=seed)


def _load_split_numpy(config, split, input_shape, num_classes, *, training, max_examples, soft=None, arrays=None):
    if arrays is not None:
        from kerasfer.data.pipeline import prepare_images

        x, y = prepare_images(arrays[0], input_shape), arrays[1]
    else:
        from kerasfer.data import datasets

        x, y = datasets.load_numpy(
            config.dataset, split, input_shape, data_dir=config.data_dir, manual_dir=config.manual_dir
        )
    if max_examples:
        x, y = x[:max_examples], y[:max_examples]
    y = np.asarray(y).astype("int64")
    counts = _check_labels(y, num_classes, split, config.dataset)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"Split {split!r} of {config.dataset!r} holds NaN/inf pixels.")
    targets = y
    if soft is not None:
        if soft.shape != (len(y), num_classes):
            raise ValueError(f"soft labels have shape {soft.shape}, expected ({len(y)}, {num_classes}).")
        targets = (soft / np.maximum(soft.sum(-1, keepdims=True), 1e-12)).astype("float32")
    elif config.label_mode == "categorical":
        targets = np.eye(num_classes, dtype="float32")[y]
    augment = None
    if training and config.augment != "none":
        from kerasfer.data.augment import get_augmentation

        augment = get_augmentation(config.augment, input_shape, config.seed)
    data = ArrayBatches(
        x,
        targets,
        config.batch_size,
        training=training,
        augment=augment,
        seed=config.seed,
        balanced=training and config.class_weights == "balanced",
    )
    return _Split(data, counts, len(y))


def load_split(config, split, input_shape, num_classes, *, training, max_examples=None, soft=None, arrays=None):
    """A split ready for `fit`: tf.data on TensorFlow, a PyDataset of NumPy arrays elsewhere.

    `arrays=(images, labels)` uses those instead of loading `split` (cross-validation folds).
    """
    fn = _load_split_tf if keras.backend.backend() == "tensorflow" else _load_split_numpy
    return fn(
        config,
        split,
        input_shape,
        num_classes,
        training=training,
        max_examples=max_examples,
        soft=soft,
        arrays=arrays,
    )


# --------------------------------------------------------------------------- model / loss / optimizer
def resolve_input_shape(config: TrainConfig):
    """The input shape to train at, checked against the model's smallest accepted size."""
    from kerasfer.models import get_model_info

    info = get_model_info(config.model)
    shape = tuple(config.input_shape or info.input_shape)
    if min(shape[:2]) < info.min_input_size:
        raise ValueError(
            f"Model {info.name!r} needs inputs of at least {info.min_input_size}x{info.min_input_size} pixels "
            f"(its strided stages would shrink a smaller image to nothing); got input_shape={shape}."
        )
    return shape


def build_model(config, input_shape, num_classes):
    from kerasfer.models import create_model

    model = create_model(config.model, num_classes=num_classes, input_shape=tuple(input_shape), **config.model_kwargs)
    parts = loss_parts(config.loss)
    if "cosine_harmony" in parts:
        from kerasfer.losses import with_cosine_harmony

        kw = dict(config.loss_kwargs.get("cosine_harmony", {}))
        return model, with_cosine_harmony(model, **kw)
    return model, model


@keras.saving.register_keras_serializable(package="kerasfer")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (Keras's sparse loss has no smoothing)."""

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


class SumLoss(keras.losses.Loss):
    """The (weighted) sum of several losses, each reduced per example where it can be."""

    def __init__(self, losses, weights, name="sum_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.losses = list(losses)
        self.weights = list(weights)

    def call(self, y_true, y_pred):
        total = 0.0
        for loss, w in zip(self.losses, self.weights):
            value = loss.call(y_true, y_pred) if hasattr(loss, "call") else loss(y_true, y_pred)
            total = total + w * keras.ops.cast(value, "float32")
        return total


def build_loss(config, num_classes):
    """The compiled loss for `config.loss` (Cosine-Harmony is added by the model wrapper)."""
    parts = [p for p in loss_parts(config.loss) if p != "cosine_harmony"]
    if not parts:
        parts = ["ce"]
    sparse = config.label_mode == "sparse"
    losses, weights = [], []
    for part in parts:
        kw = dict(config.loss_kwargs.get(part, {}))
        weights.append(float(kw.pop("weight", 1.0)))
        if part == "ce":
            if sparse and config.label_smoothing == 0:
                losses.append(keras.losses.SparseCategoricalCrossentropy(**kw))
            elif sparse:
                losses.append(SparseSmoothedCrossentropy(num_classes, config.label_smoothing, **kw))
            else:
                losses.append(keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing, **kw))
            continue
        from kerasfer import losses as kl

        if not hasattr(kl, "get"):
            raise ImportError(f"Loss {part!r} needs kerasfer.losses.get, which is not available in this install.")
        losses.append(kl.get("kl" if part == "ldl" else part, **kw))
    if config.label_smoothing and "ce" not in parts:
        raise ValueError(
            f"label_smoothing is applied by the 'ce' loss only; loss {config.loss!r} has no 'ce' term "
            "(the focal loss takes its own label_smoothing in --loss-kwargs)."
        )
    if len(losses) == 1 and weights[0] == 1.0:
        return losses[0]
    return SumLoss(losses, weights)


def build_optimizer(config):
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


def class_weight_dict(config, counts):
    """`{class: weight}` for `config.class_weights` (None for "none" and "balanced")."""
    kind = config.class_weights
    if kind in ("none", "balanced"):
        return None
    present = counts > 0
    if kind == "inverse_frequency":
        fn_name = "inverse_frequency_weights"
    elif kind == "adaptive":
        fn_name = "adaptive_class_weights"
    else:
        fn_name = "effective_number_weights"
    try:
        from kerasfer.training import class_weights as cw

        weights = np.asarray(getattr(cw, fn_name)(counts), dtype="float64")
    except (ImportError, AttributeError) as e:
        raise ImportError(f"class_weights={kind!r} needs kerasfer.training.class_weights.{fn_name}: {e}") from e
    if weights.shape != counts.shape or not np.all(np.isfinite(weights[present])):
        raise ValueError(f"{fn_name} returned {weights} for counts {counts.tolist()}.")
    return {int(k): float(weights[k]) for k in range(len(counts)) if present[k]}


# --------------------------------------------------------------------------- train
def _set_policy(config):
    keras.config.set_dtype_policy("mixed_float16" if config.mixed_precision else "float32")


def _monitor(config, has_val):
    if config.monitor != "auto":
        if config.monitor.startswith("val_") and not has_val:
            raise ValueError(f"monitor={config.monitor!r} needs a validation split (val_split is None).")
        return config.monitor
    return "val_accuracy" if has_val else "accuracy"


def _env_info():
    info = {"keras": keras.__version__, "backend": keras.backend.backend()}
    try:
        import importlib.metadata as md

        for pkg in ("tensorflow", "jax", "numpy"):
            try:
                info[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                pass
    except ImportError:  # pragma: no cover
        pass
    from kerasfer.version import __version__

    info["kerasfer"] = __version__
    return info


def train(config: TrainConfig, extra_callbacks=None, arrays=None) -> TrainResult:
    """Trains `config.model` on `config.dataset`; writes everything to `config.output_dir`.

    Args:
        config: the `TrainConfig`.
        extra_callbacks: more Keras callbacks (run after the built-in ones).
        arrays: optional `{"train": (images, labels), "val": (images, labels) or None}` used
            instead of the dataset's splits (cross-validation folds); images at any size,
            labels integer class ids of `config.dataset`'s classes.

    Raises:
        RunExistsError: the output directory holds a run that cannot be resumed.
        ValueError: bad configuration, input size too small for the model, labels out of range,
            a loss that does not fit the labels, an empty split.
        TrainingDivergedError: the loss became NaN/inf (the last good weights are kept).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train() takes a TrainConfig, got {type(config).__name__}.")
    config.validate()
    start = time.time()
    # a fresh Keras session: the same seed then gives the same initial weights in every run
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    input_shape = resolve_input_shape(config)
    class_names = class_names_for(config.dataset)
    num_classes = config.num_classes or len(class_names)
    if config.num_classes and config.num_classes != len(class_names):
        class_names = tuple(class_names[:num_classes]) + tuple(
            str(i) for i in range(len(class_names), config.num_classes)
        )
    if config.soft_labels and "cosine_harmony" in loss_parts(config.loss):
        raise ValueError("loss 'cosine_harmony' needs hard labels; it cannot train on soft_labels distributions.")
    if not config.soft_labels and any(p in ("kl", "ldl") for p in loss_parts(config.loss)):
        raise ValueError(f"loss {config.loss!r} compares distributions; give soft_labels (a teacher's output).")
    soft = None
    if config.soft_labels:
        if not os.path.exists(config.soft_labels):
            raise FileNotFoundError(f"soft_labels file {config.soft_labels!r} does not exist.")
        soft = np.load(config.soft_labels)
        if soft.ndim != 2 or not np.all(np.isfinite(soft)) or soft.min() < 0:
            raise ValueError(f"soft_labels {config.soft_labels!r} must be a finite non-negative (N, C) array.")

    if arrays is None and config.arrays_dir:
        arrays = _arrays_from_dir(config)
    resumed = prepare_output_dir(config)
    p = _paths(config.output_dir)
    os.makedirs(os.path.dirname(p["best"]), exist_ok=True)
    config.to_json(p["config"])
    save_preprocessing(config.output_dir, input_shape, class_names, config.dataset)
    with open(p["labels"], "w") as f:
        f.write("\n".join(class_names) + "\n")

    _set_policy(config)
    try:
        with distribution_scope(config.distribute):
            result = _fit(
                config, input_shape, num_classes, class_names, soft, resumed, p, extra_callbacks, start, arrays or {}
            )
    finally:
        keras.config.set_dtype_policy("float32")
    return result


def _arrays_from_dir(config):
    """`{"train": ..., "val": ...}` from the `.npz` splits in `config.arrays_dir`."""
    from kerasfer.data import arrays as arrays_lib

    d = config.arrays_dir
    if not os.path.isdir(d):
        raise FileNotFoundError(f"arrays_dir {d!r} is not a folder (write it with `kerasfer arrays`).")
    out = {"train": arrays_lib.load_arrays(d, config.dataset, config.train_split), "val": None}
    val = config.val_split
    if val == "auto":
        have = arrays_lib.available_splits(d, config.dataset)
        val = next((s for s in ("validation", "test") if s in have), None)
    if val:
        out["val"] = arrays_lib.load_arrays(d, config.dataset, val)
    for key in ("train", "val"):
        if out[key] is not None and out[key][1].ndim != 1:
            raise ValueError(f"arrays_dir: the {key} labels must be class ids (N,), got shape {out[key][1].shape}.")
    return out


def _fit(config, input_shape, num_classes, class_names, soft, resumed, p, extra_callbacks, start, arrays):
    train_split = load_split(
        config,
        config.train_split,
        input_shape,
        num_classes,
        training=True,
        max_examples=config.max_train_examples,
        soft=soft,
        arrays=arrays.get("train"),
    )
    if arrays:
        val_name = "fold" if arrays.get("val") is not None else None
    else:
        val_name = resolve_val_split(config)
    val_split = None
    if val_name:
        val_split = load_split(
            config,
            val_name,
            input_shape,
            num_classes,
            training=False,
            max_examples=config.max_val_examples,
            arrays=arrays.get("val"),
        )
    base, model = build_model(config, input_shape, num_classes)
    loss = build_loss(config, num_classes)
    acc = (
        keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        if config.label_mode == "sparse"
        else keras.metrics.CategoricalAccuracy(name="accuracy")
    )
    model.compile(optimizer=build_optimizer(config), loss=loss, metrics=[acc], jit_compile=config.jit_compile)
    empty = [class_names[k] for k in np.flatnonzero(train_split.counts == 0)]
    if empty:
        raise ValueError(
            f"Class(es) {empty} have no examples in the {config.train_split!r} split of {config.dataset!r} "
            f"(class counts {train_split.counts.tolist()}); a classifier cannot learn them. Use more examples "
            "(max_train_examples) or set num_classes to the classes present."
        )
    cw = class_weight_dict(config, train_split.counts)
    if cw is not None and soft is not None:
        raise ValueError("class weights are defined for hard labels; do not combine them with soft_labels.")

    monitor = _monitor(config, val_split is not None)
    mode = "min" if "loss" in monitor else "max"
    guard = cbs.NaNGuard(p["last_good"])
    callback_list = [guard]
    budget = None
    if config.time_budget_minutes:
        # `start` is the train() call's time.time(); the callback counts on the same clock
        budget = cbs.TimeBudget(60.0 * config.time_budget_minutes, config.epochs, start=start, clock=time.time)
        callback_list.append(budget)
    schedule = cbs.epoch_schedule(config, total_epochs=(lambda: budget.planned_epochs) if budget else None)
    if schedule is not None:
        callback_list.append(cbs.EpochLearningRate(schedule))
    elif config.schedule == "plateau":
        callback_list.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                mode=mode,
                factor=config.gamma,
                patience=config.plateau_patience,
                min_lr=config.min_lr,
                verbose=min(1, config.verbose),
            )
        )
        callback_list.append(cbs.LogLearningRate())
    else:
        callback_list.append(cbs.LogLearningRate())
    callback_list += [
        keras.callbacks.ModelCheckpoint(
            p["best"], monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.CSVLogger(p["csv"], append=True),
    ]
    if config.early_stopping_patience:
        callback_list.append(
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping_patience)
        )
    backup = keras.callbacks.BackupAndRestore(p["backup"], save_freq="epoch", delete_checkpoint=True)
    callback_list.append(backup)
    callback_list += list(extra_callbacks or [])

    steps = config.steps_per_epoch or train_split.steps
    if resumed and config.verbose:
        print(f"Resuming the unfinished run in {config.output_dir}.")
    history = model.fit(
        train_split.data,
        validation_data=None if val_split is None else val_split.data,
        epochs=config.epochs,
        steps_per_epoch=steps,
        class_weight=cw,
        callbacks=callback_list,
        verbose=config.verbose,
    )
    initial_epoch = int(getattr(model, "_initial_epoch", 0) or 0)
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if guard.triggered:
        raise TrainingDivergedError(guard.message())

    best_epoch = None
    if os.path.exists(p["csv"]):
        best_epoch = _best_epoch_from_csv(p["csv"], monitor, mode)
    if val_split is not None and os.path.exists(p["best"]):
        model.load_weights(p["best"])
    base.save(p["model"])
    with open(p["history"], "w") as f:
        json.dump(hist, f, indent=2)
    summary = {
        "model": config.model,
        "dataset": config.dataset,
        "model_path": p["model"],
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "class_names": list(class_names),
        "train_examples": train_split.num_examples,
        "train_class_counts": train_split.counts.tolist(),
        "val_split": val_name,
        "val_examples": None if val_split is None else val_split.num_examples,
        "class_weight": cw,
        "monitor": monitor,
        "best_epoch": best_epoch,
        "final": {k: v[-1] for k, v in hist.items() if v},
        "epochs_run_now": len(next(iter(hist.values()), [])),
        "initial_epoch": initial_epoch,
        "elapsed_s": round(time.time() - start, 2),
        "time_budget_minutes": config.time_budget_minutes,
        "stopped_by_time_budget": bool(budget and budget.stopped_early),
        "distribute": config.distribute,
        "environment": _env_info(),
    }
    with open(p["result"], "w") as f:
        json.dump(summary, f, indent=2)
    return TrainResult(
        model=base,
        history=hist,
        output_dir=config.output_dir,
        model_path=p["model"],
        config=config,
        class_names=tuple(class_names),
        input_shape=tuple(input_shape),
        best_epoch=best_epoch,
        initial_epoch=initial_epoch,
        elapsed_s=summary["elapsed_s"],
        summary=summary,
    )


def _best_epoch_from_csv(path, monitor, mode):
    import csv

    with open(path) as f:
        rows = list(csv.DictReader(f))
    vals = [(int(r["epoch"]), float(r[monitor])) for r in rows if r.get(monitor) not in (None, "", "nan")]
    vals = [(e, v) for e, v in vals if math.isfinite(v)]
    if not vals:
        return None
    pick = min if mode == "min" else max
    return pick(vals, key=lambda ev: ev[1])[0] + 1
