"""The training data: splits ready for `model.fit`, class names, class weights and balanced sampling.

On the TensorFlow backend the splits come from `kerasfer.data.datasets.load` through
`kerasfer.data.pipeline.make_pipeline` (tf.data, augmentations inside `ds.map`); on other
backends (JAX, where TensorFlow may be absent) from `kerasfer.data.datasets.load_numpy` (or the `.npz`
arrays) through `ArrayBatches`, a `keras.utils.PyDataset` of un-augmented batches; the same augmentation
preset then runs inside the compiled training step, on the accelerator
(`kerasfer.training.augment_step`; `with_step_augmentation` wraps the model to compile). Either way
`load_splits` reads every example's label, so a missing or broken dataset fails here, before a
run writes anything.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras
import numpy as np

from kerasfer.data.augment import patch_fill_values
from kerasfer.training.config import TrainConfig


# --------------------------------------------------------------------------- labels and class names
def _split_example(example):
    if isinstance(example, dict):
        return example["image"], example["label"]
    return example[0], example[1]


def _labels_of_tf(ds, distributions=False):
    """The labels of a dataset as int64 `(N,)`; of target distributions, each one's most likely class."""
    import tensorflow as tf

    def label(*ex):
        y = _split_example(ex[0] if len(ex) == 1 else ex)[1]
        return tf.argmax(y, axis=-1) if distributions else tf.cast(y, tf.int64)

    ys = ds.map(label)
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


def class_names_for(dataset):
    from kerasfer.data import datasets

    return tuple(datasets.class_names(dataset))


def resolve_class_names(config: TrainConfig):
    """`(class_names, num_classes)`: the dataset's classes, cut or padded (`"7"`, ...) to `config.num_classes`."""
    class_names = class_names_for(config.dataset)
    num_classes = config.num_classes or len(class_names)
    if config.num_classes and config.num_classes != len(class_names):
        class_names = tuple(class_names[:num_classes]) + tuple(
            str(i) for i in range(len(class_names), config.num_classes)
        )
    return class_names, num_classes


def check_classes_present(counts, class_names, config: TrainConfig):
    """Raises `ValueError` naming the classes with no training example."""
    empty = [class_names[k] for k in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(
            f"Class(es) {empty} have no examples in the {config.train_split!r} split of {config.dataset!r} "
            f"(class counts {counts.tolist()}); a classifier cannot learn them. Use more examples "
            "(max_train_examples) or set num_classes to the classes present."
        )


# --------------------------------------------------------------------------- splits
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


def load_soft_labels(config: TrainConfig):
    """The `(N, C)` target distributions of `config.soft_labels` (None without them)."""
    if not config.soft_labels:
        return None
    if not os.path.exists(config.soft_labels):
        raise FileNotFoundError(f"soft_labels file {config.soft_labels!r} does not exist.")
    soft = np.load(config.soft_labels)
    if soft.ndim != 2 or not np.all(np.isfinite(soft)) or soft.min() < 0:
        raise ValueError(f"soft_labels {config.soft_labels!r} must be a finite non-negative (N, C) array.")
    return soft


def arrays_from_dir(config: TrainConfig):
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


@dataclasses.dataclass
class _Split:
    data: object
    counts: np.ndarray
    num_examples: int
    steps: int | None = None
    # A `StepAugmentation` to run inside the training step (the NumPy path), or None.
    step_augment: object = None


@dataclasses.dataclass
class Splits:
    """The training split, and the validation split (None without validation) named `val_name`."""

    train: _Split
    val: _Split | None
    val_name: str | None


def load_splits(config: TrainConfig, input_shape, num_classes, soft=None, arrays=None) -> Splits:
    """The training and validation splits of `config` (or of `arrays`, `{"train": (x, y), "val": (x, y) or None}`)."""
    arrays = arrays or {}
    train = load_split(
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
    val = None
    if val_name:
        val = load_split(
            config,
            val_name,
            input_shape,
            num_classes,
            training=False,
            max_examples=config.max_val_examples,
            arrays=arrays.get("val"),
        )
    return Splits(train, val, val_name)


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


def _load_split_tf(config, split, input_shape, num_classes, *, training, max_examples, soft=None, arrays=None):
    import tensorflow as tf

    from kerasfer.data import datasets
    from kerasfer.data import pipeline

    feature = _target_feature(config, training, arrays)
    if arrays is not None:
        raw = tf.data.Dataset.from_tensor_slices((arrays[0], np.asarray(arrays[1]).astype("int64")))
    else:
        raw = datasets.load(
            config.dataset, split, data_dir=config.data_dir, manual_dir=config.manual_dir, target=feature
        )
    if max_examples:
        raw = raw.take(max_examples)
    if feature:
        _check_target_shape(tuple(raw.element_spec[1].shape), feature, config.dataset, num_classes)
        raw = raw.map(lambda x, y: (x, _normalized_tf(y, tf)))
    labels = _labels_of_tf(raw, distributions=bool(feature))
    counts = _check_labels(labels, num_classes, split, config.dataset)
    n = int(labels.size)
    label_mode = "categorical" if config.label_mode == "categorical" else "sparse"
    if feature:
        label_mode = "distribution"
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


def _load_split_numpy(config, split, input_shape, num_classes, *, training, max_examples, soft=None, arrays=None):
    feature = _target_feature(config, training, arrays)
    if arrays is not None:
        from kerasfer.data.pipeline import prepare_images

        x, y = prepare_images(arrays[0], input_shape), arrays[1]
    else:
        from kerasfer.data import datasets

        kw = {"target": feature} if feature else {}
        x, y = datasets.load_numpy(
            config.dataset, split, input_shape, data_dir=config.data_dir, manual_dir=config.manual_dir, **kw
        )
    if max_examples:
        x, y = x[:max_examples], y[:max_examples]
    dist = None
    if feature:
        dist = np.asarray(y, np.float32)
        _check_target_shape(dist.shape[1:], feature, config.dataset, num_classes)
        y = dist.argmax(-1)
    y = np.asarray(y).astype("int64")
    counts = _check_labels(y, num_classes, split, config.dataset)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"Split {split!r} of {config.dataset!r} holds NaN/inf pixels.")
    targets = y
    if dist is not None:
        targets = _normalized(dist, f"target_feature {feature!r} of {config.dataset!r}")
    elif soft is not None:
        if soft.shape != (len(y), num_classes):
            raise ValueError(f"soft labels have shape {soft.shape}, expected ({len(y)}, {num_classes}).")
        targets = (soft / np.maximum(soft.sum(-1, keepdims=True), 1e-12)).astype("float32")
    elif config.label_mode == "categorical":
        targets = np.eye(num_classes, dtype="float32")[y]
    step_augment = None
    if training and config.augment != "none":
        from kerasfer.training.augment_step import StepAugmentation

        # On the device, inside the compiled step (`with_step_augmentation`), not per batch on the host.
        step_augment = StepAugmentation(config.augment, input_shape, seed=config.seed, name="step_augmentation")
    data = ArrayBatches(
        x,
        targets,
        config.batch_size,
        training=training,
        seed=config.seed,
        balanced=training and config.class_weights == "balanced",
    )
    return _Split(data, counts, len(y), step_augment=step_augment)


def _target_feature(config, training, arrays):
    """The dataset feature the training split takes as its targets (`config.target_feature`), or None."""
    feature = config.target_feature if training else None
    if feature and arrays is not None:
        raise ValueError(
            f"target_feature={feature!r} reads the dataset's own examples; it does not apply to arrays "
            "(arrays_dir, cross-validation folds)."
        )
    return feature


def _check_target_shape(shape, feature, dataset, num_classes):
    """`ValueError` unless each target of `feature` is a distribution over the model's `num_classes`."""
    if tuple(shape) != (num_classes,):
        raise ValueError(
            f"target_feature {feature!r} of {dataset!r} has shape {tuple(shape)}; the model has {num_classes} "
            "classes, so each target must be a distribution of that length."
        )


def _normalized(dist, what):
    """Rows of `dist` scaled to sum to 1; `ValueError` for NaN, negative or all-zero rows."""
    dist = np.asarray(dist, np.float32)
    sums = dist.sum(-1, keepdims=True)
    if not np.all(np.isfinite(dist)) or np.any(dist < 0) or np.any(sums <= 0):
        raise ValueError(f"{what} must be finite, non-negative distributions with a positive sum.")
    return dist / sums


def _normalized_tf(y, tf):
    """`_normalized` inside a tf.data map: an invalid distribution fails the pipeline with a named error."""
    y = tf.cast(y, tf.float32)
    total = tf.reduce_sum(y)
    tf.debugging.assert_greater(total, 0.0, message="a target distribution sums to 0 (or is NaN)")
    tf.debugging.assert_non_negative(y, message="a target distribution has a negative entry")
    return y / total


def with_step_augmentation(model, split: _Split, config: TrainConfig, distiller=None):
    """The model to compile: `model`, wrapped to augment inside the training step when `split` asks for it
    (the NumPy path), when `config.mixup` is set (either path) or to distil from `distiller`'s teachers
    (`kerasfer.training.distillation.Distiller`, on the batch the model sees).

    The wrapper (`kerasfer.training.augment_step.AugmentInStep`) shares `model`'s weights; save `model`.
    """
    from kerasfer.training.augment_step import augment_in_step

    return augment_in_step(model, split.step_augment, mixup=config.mixup, seed=config.seed, distiller=distiller)


# --------------------------------------------------------------------------- class imbalance
def class_weight_dict(config: TrainConfig, counts):
    """`{class: weight}` for `config.class_weights` (None for "none" and "balanced", which samples instead)."""
    from kerasfer.training import class_weights as cw

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
    weights = np.asarray(getattr(cw, fn_name)(counts), dtype="float64")
    if weights.shape != counts.shape or not np.all(np.isfinite(weights[present])):
        raise ValueError(f"{fn_name} returned {weights} for counts {counts.tolist()}.")
    return {int(k): float(weights[k]) for k in range(len(counts)) if present[k]}


def _balanced_indices(labels, rng):
    counts = np.bincount(labels)
    p = 1.0 / counts[labels]
    return rng.choice(labels.size, size=labels.size, replace=True, p=p / p.sum())


def _balanced_tf(ds, counts, seed):
    """Class-balanced sampling (each class drawn with equal probability; an infinite stream)."""
    from kerasfer.training.sampling import class_balanced_dataset

    return class_balanced_dataset(ds, len(counts), counts=counts, seed=seed)


# --------------------------------------------------------------------------- NumPy batches (JAX)
class ArrayBatches(keras.utils.PyDataset):
    """Batches from NumPy arrays with shuffling, balanced sampling and optional host-side batch augmentation.

    `augment` (a `kerasfer.data.augment` preset's `BatchAugmenter`) runs its Keras layers on the host
    by the current backend, a NumPy copy after each layer. Training no longer uses it (the preset runs
    in the compiled step: `kerasfer.training.augment_step`); it stays for comparison
    (the input-path benchmark) and for callers that want augmented NumPy batches.
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
            patch_fill_values(self.augment)
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
