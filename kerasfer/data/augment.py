"""Training-time augmentation presets, built from core `keras.layers` and applied inside `tf.data`.

Every preset works on *batches* of float32 images in `[0, 255]` (`(B, H, W, C)`), is applied
by `make_pipeline` with `ds.map` after batching (never inside the model), and randomises
per image. Keras's image-preprocessing layers switch to TensorFlow ops inside `tf.data`,
so the presets work whatever `KERAS_BACKEND` is.

Presets (`AUGMENTATIONS`):

- `"none"`: identity.
- `"flip"`: horizontal flip (p=0.5).
- `"lfnsb"`: the LFNSB RAF-DB recipe (`main.py`): horizontal flip; with p=0.2 a rotation of up
  to 5 degrees followed by a random crop after 8-pixel zero padding; random erasing (p=0.5,
  area (0.02, 0.25)).
- `"lfnsb_affectnet"`: the LFNSB AffectNet recipe (`affectnet.py`): flip; with p=0.7 an affine
  transform (rotation up to 20 degrees, scale (0.8, 1), translation up to 20 %); random
  erasing with torchvision's default area (0.02, 0.33), p=0.5.
- `"rmn"`: flip + rotation up to 30 degrees (residual masking network's FER2013 recipe).
- `"lfer_ldl"`: flip.
- `"fer2013"`: ours, for small grayscale faces trained from scratch (`resnet18_fer2013`):
  flip; a rotation of up to 10 degrees, a zoom of up to 10 % in or out and a shift of up to
  10 % (about 5 px at 48 px, like the usual 44-of-48 random crop), all with reflected borders
  so no black frame teaches the model a shortcut; random erasing (p=0.5, area (0.02, 0.2)).

Differences from torchvision (documented, deliberate):

- The pad-8 random crop is a `RandomTranslation` of up to 8 pixels with zero fill and
  nearest-neighbour sampling, i.e. the same distribution of integer shifts per image.
- torchvision erases *after* `Normalize` with value 0, i.e. with the dataset mean colour; here
  the images are raw pixels, so the erased box is filled with the ImageNet mean colour
  (`255 * IMAGENET_MEAN`), which is the same thing for the ImageNet-normalised LFNSB models.
  `keras.layers.RandomErasing` draws the box's width and height fractions independently as
  `sqrt(U(scale))`, so its area is not uniform in `scale` as in torchvision (same range of
  box sizes, no explicit aspect-ratio draw).
"""

from collections.abc import Callable

import numpy as np

IMAGENET_MEAN_255 = tuple(255.0 * m for m in (0.485, 0.456, 0.406))


class BatchAugmenter:
    """Applies a sequence of `(probability, [keras layers])` stages to a batch of images.

    A stage with probability 1 runs on the whole batch; otherwise each image is selected with
    that probability (torchvision's `RandomApply`) and only the selected images are transformed.
    Call it with a `(B, H, W, C)` float32 tensor inside `tf.data`.
    """

    def __init__(self, stages, seed=None, name="augment"):
        self.stages = stages
        self.seed = seed
        self.name = name

    def __call__(self, images):
        import tensorflow as tf

        x = tf.cast(images, tf.float32)
        for i, (prob, layers) in enumerate(self.stages):
            if prob >= 1.0:
                for layer in layers:
                    x = tf.cast(layer(x, training=True), tf.float32)
                continue
            # RandomApply per image: transform only the selected images (cheaper than the whole batch).
            u = tf.random.uniform(tf.shape(x)[:1], seed=None if self.seed is None else self.seed + i)
            idx = tf.where(u < prob)
            y = tf.gather_nd(x, idx)
            for layer in layers:
                y = tf.cast(layer(y, training=True), tf.float32)
            x = tf.tensor_scatter_nd_update(x, idx, y)
        return tf.clip_by_value(x, 0.0, 255.0)

    def __repr__(self):
        parts = [f"p={p}: " + ", ".join(type(layer).__name__ for layer in layers) for p, layers in self.stages]
        return f"BatchAugmenter({'; '.join(parts)})"


def _seed(seed, k):
    return None if seed is None else int(seed) * 97 + k


def _hflip(seed):
    """torchvision's `RandomHorizontalFlip()` (p=0.5), the first layer of every preset but `"none"`."""
    import keras

    return keras.layers.RandomFlip("horizontal", seed=_seed(seed, 1))


def _random_erasing(channels, scale, seed):
    """torchvision's `RandomErasing(p=0.5, scale=scale)`, the box filled with the ImageNet mean colour."""
    import keras

    fill = list(IMAGENET_MEAN_255) if channels == 3 else float(np.mean(IMAGENET_MEAN_255))
    return keras.layers.RandomErasing(factor=(0.5, 0.5), scale=scale, fill_value=fill, seed=_seed(seed, 4))


def _none(input_shape, seed=None):
    return None


def _flip(input_shape, seed=None):
    return BatchAugmenter([(1.0, [_hflip(seed)])], seed)


def _lfnsb(input_shape, seed=None):
    import keras

    h, w, c = input_shape
    return BatchAugmenter(
        [
            (1.0, [_hflip(seed)]),
            (
                0.2,
                [
                    keras.layers.RandomRotation(5 / 360, fill_mode="constant", fill_value=0.0, seed=_seed(seed, 2)),
                    keras.layers.RandomTranslation(
                        8 / h, 8 / w, fill_mode="constant", interpolation="nearest", fill_value=0.0, seed=_seed(seed, 3)
                    ),
                ],
            ),
            (1.0, [_random_erasing(c, (0.02, 0.25), seed)]),
        ],
        seed,
    )


def _lfnsb_affectnet(input_shape, seed=None):
    import keras

    h, w, c = input_shape
    return BatchAugmenter(
        [
            (1.0, [_hflip(seed)]),
            (
                0.7,
                [
                    keras.layers.RandomRotation(20 / 360, fill_mode="constant", fill_value=0.0, seed=_seed(seed, 2)),
                    keras.layers.RandomZoom((0.0, 0.25), fill_mode="constant", fill_value=0.0, seed=_seed(seed, 5)),
                    keras.layers.RandomTranslation(0.2, 0.2, fill_mode="constant", fill_value=0.0, seed=_seed(seed, 3)),
                ],
            ),
            (1.0, [_random_erasing(c, (0.02, 0.33), seed)]),
        ],
        seed,
    )


def _rmn(input_shape, seed=None):
    import keras

    return BatchAugmenter(
        [
            (1.0, [_hflip(seed)]),
            (1.0, [keras.layers.RandomRotation(30 / 360, fill_mode="constant", fill_value=0.0, seed=_seed(seed, 2))]),
        ],
        seed,
    )


def _fer2013(input_shape, seed=None):
    import keras

    h, w, c = input_shape
    return BatchAugmenter(
        [
            (
                1.0,
                [
                    _hflip(seed),
                    keras.layers.RandomRotation(10 / 360, fill_mode="reflect", seed=_seed(seed, 2)),
                    keras.layers.RandomZoom((-0.1, 0.1), fill_mode="reflect", seed=_seed(seed, 5)),
                    keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=_seed(seed, 3)),
                ],
            ),
            (1.0, [_random_erasing(c, (0.02, 0.2), seed)]),
        ],
        seed,
    )


# name -> factory(input_shape, seed=None) -> BatchAugmenter or None (identity)
AUGMENTATIONS: dict[str, Callable] = {
    "none": _none,
    "flip": _flip,
    "lfnsb": _lfnsb,
    "lfnsb_affectnet": _lfnsb_affectnet,
    "rmn": _rmn,
    "lfer_ldl": _flip,
    "fer2013": _fer2013,
}


class _JaxFillValue(list):
    """A per-channel fill value that JAX accepts (Keras 3.15's RandomErasing passes the list to
    `jnp.full_like`, which rejects lists on the JAX backend)."""

    def __jax_array__(self):
        import jax.numpy as jnp

        return jnp.asarray(list(self), dtype="float32")


def patch_fill_values(augmenter):
    """On the JAX backend, wraps the RandomErasing layers' per-channel fill values so JAX accepts them."""
    import keras

    if keras.backend.backend() != "jax":
        return
    for _, layers in augmenter.stages:
        for layer in layers:
            fill = getattr(layer, "fill_value", None)
            if isinstance(layer, keras.layers.RandomErasing) and isinstance(fill, list | tuple):
                object.__setattr__(layer, "fill_value", _JaxFillValue(fill))


def get_augmentation(augment, input_shape, seed=None):
    """Returns a batch augmenter for a preset name, a callable (returned as is) or `None`."""
    if augment is None:
        return None
    if callable(augment):
        return augment
    if augment not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation {augment!r}. Presets: {', '.join(sorted(AUGMENTATIONS))}.")
    return AUGMENTATIONS[augment](tuple(input_shape), seed)
