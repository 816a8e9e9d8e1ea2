"""The input pipeline: `prepare_images` (THE preprocessing definition) and `make_pipeline` (tf.data).

Every kerasfer model takes raw float32 pixels in `[0, 255]` and normalises them itself (its
first layer is `ImageNormalization`), so the data side only resizes and fixes the channel
count. TensorFlow is imported inside the functions: this module loads on machines without
TensorFlow (the NumPy path of `prepare_images` then falls back to OpenCV).
"""

from collections.abc import Mapping

import numpy as np

from kerasfer.data.augment import AUGMENTATIONS  # noqa: F401  (re-exported: kerasfer.data.pipeline.AUGMENTATIONS)
from kerasfer.data.augment import get_augmentation

LABEL_MODES = ("sparse", "categorical", "distribution")


def _check_input_shape(input_shape):
    if len(tuple(input_shape)) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}.")
    h, w, c = (int(v) for v in input_shape)
    if h < 1 or w < 1:
        raise ValueError(f"input_shape height and width must be >= 1, got {input_shape!r}.")
    if c not in (1, 3):
        raise ValueError(f"input_shape channels must be 1 (grayscale) or 3 (RGB), got {c} in {input_shape!r}.")
    return h, w, c


def _have_tf():
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # a broken install, or an import hook that refuses it
        return False


def _prepare_tf(images, h, w, c):
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    rank = x.shape.rank
    if rank not in (3, 4):
        raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got shape {x.shape}.")
    in_c = x.shape[-1]
    if in_c is not None and in_c not in (1, 3, 4):
        raise ValueError(f"images must have 1, 3 or 4 channels (last axis), got shape {x.shape}.")
    x = tf.cast(x, tf.float32)
    if in_c == 4:  # drop alpha
        x = x[..., :3]
        in_c = 3
    src_h, src_w = x.shape[-3], x.shape[-2]
    if src_h != h or src_w != w:
        shrinking = src_h is None or src_w is None or src_h > h or src_w > w
        x = tf.image.resize(x, (h, w), method="bilinear", antialias=bool(shrinking))
    if in_c is None:  # unknown channel count (e.g. tf.data from decode_image)
        x = tf.cond(
            tf.equal(tf.shape(x)[-1], c),
            lambda: x,
            lambda: tf.image.grayscale_to_rgb(x) if c == 3 else tf.image.rgb_to_grayscale(x),
        )
        x = tf.ensure_shape(x, [None] * (x.shape.rank - 1) + [c])
    elif in_c != c:
        x = tf.image.grayscale_to_rgb(x) if c == 3 else tf.image.rgb_to_grayscale(x)
    return tf.clip_by_value(x, 0.0, 255.0)


# tf.image.rgb_to_grayscale's weights (ITU-R BT.601), used where NumPy converts the channels.
GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], np.float32)


def _prepare_cv2(images, h, w, c):
    import cv2

    x = np.asarray(images, np.float32)
    single = x.ndim == 3
    xs = x[None] if single else x
    out = np.empty((xs.shape[0], h, w, c), np.float32)
    for i, im in enumerate(xs):
        if im.shape[-1] == 4:
            im = im[..., :3]
        if im.shape[:2] != (h, w):
            shrinking = im.shape[0] > h or im.shape[1] > w
            im = cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
            if im.ndim == 2:
                im = im[..., None]
        if im.shape[-1] != c:  # tf.image.grayscale_to_rgb / rgb_to_grayscale
            im = np.repeat(im, 3, -1) if c == 3 else (im @ GRAY_WEIGHTS)[..., None]
        out[i] = im
    out = np.clip(out, 0, 255)
    return out[0] if single else out


def prepare_images(images, input_shape):
    """Resizes images to `input_shape` and converts their channels: THE kerasfer preprocessing.

    Bilinear resize (anti-aliased when shrinking) to `(H, W)`, grayscale <-> RGB to `C`
    channels (an alpha channel is dropped), float32 output in `[0, 255]`. No normalisation:
    every model normalises inside (its `ImageNormalization` layer).

    Args:
        images: one image `(h, w, c)` or a batch `(n, h, w, c)`, any real dtype, values in
            `[0, 255]`; a NumPy array or a TensorFlow tensor (also symbolic, inside `tf.data`).
        input_shape: the model's `(H, W, C)`, C in {1, 3}.

    Returns:
        float32 images `(..., H, W, C)`: a NumPy array for NumPy input, else a `tf.Tensor`.
        Without TensorFlow installed, NumPy input is resized with OpenCV (area filter when
        shrinking), which differs from TensorFlow's by a few grey levels. NumPy images
        already at `(H, W)` only have their channels converted, in NumPy (the same weights
        as `tf.image.rgb_to_grayscale`), so per-frame video inference calls no TensorFlow.

    Raises:
        ValueError: wrong rank or channel count, non-finite values, a bad `input_shape`.
    """
    h, w, c = _check_input_shape(input_shape)
    if isinstance(images, (np.ndarray, list, tuple)):
        arr = np.asarray(images)
        if arr.ndim not in (3, 4):
            raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got shape {arr.shape}.")
        if arr.shape[-1] not in (1, 3, 4):
            raise ValueError(f"images must have 1, 3 or 4 channels (last axis), got shape {arr.shape}.")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError("images contain NaN or infinite values.")
        if arr.ndim == 4 and arr.shape[0] == 0:
            return np.zeros((0, h, w, c), np.float32)
        if arr.shape[-3:-1] == (h, w):  # no resize: the channels alone, in NumPy (no TensorFlow call per frame)
            return _prepare_cv2(arr, h, w, c)
        if _have_tf():
            return _prepare_tf(arr, h, w, c).numpy()
        return _prepare_cv2(arr, h, w, c)
    return _prepare_tf(images, h, w, c)


def _split_example(example):
    if isinstance(example, Mapping):
        if "image" not in example or "label" not in example:
            raise ValueError(f"Dataset elements must have 'image' and 'label' keys, got {sorted(example)}.")
        return example["image"], example["label"]
    if isinstance(example, (tuple, list)) and len(example) >= 2:
        return example[0], example[1]
    raise ValueError("Dataset elements must be (image, label) tuples or {'image', 'label'} dicts.")


def make_pipeline(
    ds,
    input_shape,
    batch_size,
    *,
    training,
    augment="none",
    num_classes=None,
    label_mode="sparse",
    shuffle_buffer=2048,
    seed=None,
    cache=False,
    class_weights=None,
    drop_remainder=False,
):
    """Turns a dataset of `(image, label)` into batches ready for `model.fit` / `evaluate`.

    Steps: `prepare_images` per example (parallel) -> optional `cache` -> shuffle (training)
    -> batch -> augmentation preset (training only, per image, on the batch) -> labels ->
    prefetch.

    Args:
        ds: a `tf.data.Dataset` of `(image, label)` tuples or `{"image", "label"}` dicts
            (TFDS's `as_supervised=True` / `False`); images of any size, 1 or 3 channels.
        input_shape: the model's `(H, W, C)`.
        batch_size: batch size (>= 1).
        training: shuffle and augment when True.
        augment: a preset name from `AUGMENTATIONS` (`"none"`, `"flip"`, `"lfnsb"`,
            `"lfnsb_affectnet"`, `"rmn"`, `"lfer_ldl"`) or a callable on float32 batches.
            Ignored when `training` is False.
        num_classes: number of classes. Required for `"categorical"` labels and for
            `class_weights`; when given, sparse labels outside `[0, num_classes)` raise an
            `InvalidArgumentError` ("label out of range") while iterating.
        label_mode: `"sparse"` (int32 ids), `"categorical"` (float32 one-hot) or
            `"distribution"` (the labels are already float32 vectors, e.g. FER+ votes; they
            are renormalised to sum to 1).
        shuffle_buffer: shuffle buffer size (training).
        seed: shuffle/augmentation seed (reproducible order when set).
        cache: cache the resized images in memory (`True`) or in a file (a path string).
        class_weights: a sequence or `{class: weight}` dict; adds a per-example
            `sample_weight` (batches become `(x, y, w)`).
        drop_remainder: drop the last incomplete batch.

    Returns:
        A `tf.data.Dataset` of `(x float32 (B, H, W, C) in [0, 255], y)` or `(x, y, w)`.
    """
    import tensorflow as tf

    h, w, c = _check_input_shape(input_shape)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}.")
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}.")
    if num_classes is not None and int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes!r}.")
    if label_mode == "categorical" and num_classes is None:
        raise ValueError("label_mode='categorical' needs num_classes.")
    weights = None
    if class_weights is not None:
        if label_mode == "distribution":
            raise ValueError("class_weights need integer labels; they do not apply to label_mode='distribution'.")
        if num_classes is None:
            raise ValueError("class_weights need num_classes.")
        if isinstance(class_weights, Mapping):
            unknown = [k for k in class_weights if not 0 <= int(k) < int(num_classes)]
            if unknown:
                raise ValueError(f"class_weights has classes outside [0, {num_classes}): {unknown}.")
            weights = [float(class_weights.get(i, class_weights.get(str(i), 1.0))) for i in range(int(num_classes))]
        else:
            weights = [float(v) for v in class_weights]
            if len(weights) != int(num_classes):
                raise ValueError(f"class_weights has {len(weights)} entries, expected num_classes={num_classes}.")
        if not all(np.isfinite(weights)) or min(weights) < 0:
            raise ValueError(f"class_weights must be finite and >= 0, got {weights}.")
    augmenter = get_augmentation(augment, (h, w, c), seed) if training else None
    autotune = tf.data.AUTOTUNE

    def prep(*example):
        image, label = _split_example(example[0] if len(example) == 1 else example)
        x = _prepare_tf(image, h, w, c)
        x = tf.ensure_shape(x, (h, w, c))
        if label_mode == "distribution":
            y = tf.cast(label, tf.float32)
        else:
            y = tf.cast(label, tf.int32)
            if num_classes is not None:
                with tf.control_dependencies(
                    [
                        tf.debugging.assert_greater_equal(y, 0, message="label out of range (negative)"),
                        tf.debugging.assert_less(
                            y, int(num_classes), message=f"label out of range (>= num_classes={num_classes})"
                        ),
                    ]
                ):
                    y = tf.identity(y)
        return x, y

    out = ds.map(prep, num_parallel_calls=autotune, deterministic=seed is not None or not training)
    if cache:
        out = out.cache(cache if isinstance(cache, str) else "")
    if training:
        out = out.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    out = out.batch(int(batch_size), drop_remainder=drop_remainder, num_parallel_calls=autotune)

    table = tf.constant(weights, tf.float32) if weights is not None else None

    def finish(x, y):
        if augmenter is not None:
            x = augmenter(x)
            x = tf.ensure_shape(x, (None, h, w, c))
        if label_mode == "categorical":
            y_out = tf.one_hot(y, int(num_classes), dtype=tf.float32)
        elif label_mode == "distribution":
            y_out = y / tf.maximum(tf.reduce_sum(y, axis=-1, keepdims=True), 1e-12)
        else:
            y_out = y
        if table is not None:
            return x, y_out, tf.gather(table, y)
        return x, y_out

    out = out.map(finish, num_parallel_calls=autotune, deterministic=seed is not None or not training)
    return out.prefetch(autotune)
