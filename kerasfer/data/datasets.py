"""Loading FER datasets: `load`, `num_examples`, `class_names`, `load_numpy`.

`load("fer2013", "train")` builds the TFDS dataset on first use (from `manual_dir` for the
manual-download datasets) and returns a `tf.data.Dataset` of `(image uint8 (H, W, C), label
int32)`. `name` may carry a config: `"ferplus/majority"`, `"affectnet/expr7"`. For
`ferplus/distribution` the second element is the float32 (8,) vote distribution instead.

`load_numpy("synthetic_faces", ...)` needs no TensorFlow (the generator is numpy + OpenCV),
so the JAX/GPU machines can train on it; other datasets go through TFDS.

TensorFlow and TFDS are imported inside the functions.
"""

import numpy as np

from kerasfer.data.labels import label_names

MANUAL_DATASETS = ("fer2013", "ferplus", "raf_db", "affectnet", "ck_plus", "oulu_casia", "sfew", "jaffe")


def _split_name(name):
    name = str(name).strip()
    base, _, config = name.partition("/")
    return base.lower(), (config or None)


def _builder(name, *, data_dir=None, config=None):
    import tensorflow_datasets as tfds

    import kerasfer.tfds_builders  # noqa: F401  (registers the builders)

    base, cfg = _split_name(name)
    if config is not None and cfg is not None and config != cfg:
        raise ValueError(f"Conflicting configs: name {name!r} and config={config!r}.")
    cfg = config or cfg
    full = f"{base}/{cfg}" if cfg else base
    try:
        return tfds.builder(full, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown dataset {name!r}. kerasfer datasets: synthetic_faces, {', '.join(MANUAL_DATASETS)} "
            "(or any TFDS dataset name)."
        ) from None
    except ValueError as e:
        if "config" in str(e).lower():
            raise ValueError(f"Unknown config for dataset {name!r}: {e}") from e
        raise


def _prepare(builder, manual_dir):
    import tensorflow_datasets as tfds

    if builder.is_prepared() if hasattr(builder, "is_prepared") else builder.data_path.exists():
        return builder
    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir) if manual_dir is not None else None)
    builder.download_and_prepare(download_config=config)
    return builder


def _check_split(builder, split):
    import tensorflow_datasets as tfds

    available = sorted(builder.info.splits.keys())
    base = str(split).split("[")[0]
    parts = [p.strip() for p in base.split("+")]
    missing = [p for p in parts if p not in available]
    if missing:
        raise ValueError(f"{builder.info.full_name} has no split {missing}; available splits: {available}.")
    return tfds.Split(split) if isinstance(split, str) else split


def load(name: str, split: str, *, data_dir=None, manual_dir=None, config=None):
    """Returns a `tf.data.Dataset` of `(image uint8 (H, W, C), label int32 scalar)`.

    Args:
        name: dataset key, optionally with a config (`"fer2013"`, `"ferplus/majority"`,
            `"synthetic_faces"`, `"affectnet/expr7"`, ...).
        split: a TFDS split string (`"train"`, `"validation"`, `"test[:10%]"`, `"fold0+fold1"`).
        data_dir: where TFDS keeps prepared datasets (default `~/tensorflow_datasets`).
        manual_dir: where the manually downloaded files are (see each builder's
            `MANUAL_DOWNLOAD_INSTRUCTIONS`); the error names the expected paths when missing.
        config: builder config (alternative to `name="x/config"`).

    Returns:
        The dataset; labels use `class_names(name)` (canonical order). For
        `ferplus/distribution` the target is the float32 (8,) vote distribution.
    """
    import tensorflow as tf

    builder = _prepare(_builder(name, data_dir=data_dir, config=config), manual_dir)
    split = _check_split(builder, split)
    target = builder.info.supervised_keys[1] if builder.info.supervised_keys else "label"
    ds = builder.as_dataset(split=split, shuffle_files=False)

    def to_pair(ex):
        y = ex[target]
        y = tf.cast(y, tf.float32) if target == "distribution" else tf.cast(y, tf.int32)
        return ex["image"], y

    return ds.map(to_pair, num_parallel_calls=tf.data.AUTOTUNE)


def num_examples(name: str, split: str, *, data_dir=None, manual_dir=None, config=None) -> int:
    """Number of examples of a split (builds the dataset if needed)."""
    import tensorflow_datasets as tfds

    builder = _prepare(_builder(name, data_dir=data_dir, config=config), manual_dir)
    split = _check_split(builder, split)
    if isinstance(split, str) and split in builder.info.splits:
        return int(builder.info.splits[split].num_examples)
    return int(builder.info.splits[tfds.Split(split)].num_examples)


def class_names(name: str) -> tuple[str, ...]:
    """The class names of a dataset in label-id order (canonical order; no TensorFlow needed)."""
    return label_names(name)


def load_numpy(name: str, split: str, input_shape, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Loads a whole split as arrays: float32 images prepared with `prepare_images`, int32 labels.

    `synthetic_faces` is generated directly (numpy + OpenCV; no TensorFlow needed, identical
    images to the TFDS `rgb64` config). Other datasets are read through `load` (TensorFlow and
    TFDS required; same keyword arguments).

    Args:
        name: dataset key (see `load`).
        split: split name; for `synthetic_faces` one of "train", "validation", "test".
        input_shape: `(H, W, C)` of the model.
        **kw: `data_dir`, `manual_dir`, `config` for `load`; for `synthetic_faces` also
            `num_examples` (a prefix of the split) and `seed` (override the split seed).
    """
    from kerasfer.data.pipeline import prepare_images

    base, cfg = _split_name(name)
    if base == "synthetic_faces" and (cfg in (None, "rgb64")) and kw.get("config") in (None, "rgb64"):
        from kerasfer.data import synthetic

        if split not in synthetic.SPLITS:
            raise ValueError(f"synthetic_faces has no split {split!r}; available: {sorted(synthetic.SPLITS)}.")
        n, seed = synthetic.SPLITS[split]
        n = int(kw.pop("num_examples", n))
        seed = int(kw.pop("seed", seed))
        images, labels = synthetic.generate(n, seed=seed, image_size=synthetic.IMAGE_SIZE, channels=3)
        return prepare_images(images, input_shape), labels.astype(np.int32)
    images, labels = [], []
    for x, y in load(name, split, **kw).as_numpy_iterator():
        images.append(prepare_images(x, input_shape))
        labels.append(y)
    if not images:
        raise ValueError(f"{name}/{split} is empty.")
    return np.stack(images).astype(np.float32), np.asarray(labels)
