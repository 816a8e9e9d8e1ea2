"""Distributed training on the engines that exist: tf.distribute on TensorFlow, keras.distribution on JAX.

`distribution_scope(kind)` returns a context manager under which the trainer builds and
compiles the model:

- `"none"`: nothing.
- `"mirrored"`: `tf.distribute.MirroredStrategy` (all local GPUs, or all logical CPUs when
  there is no GPU) - TensorFlow backend.
- `"multiworker"`: `tf.distribute.MultiWorkerMirroredStrategy` (reads `TF_CONFIG`) - TensorFlow.
- `"data_parallel"`: `keras.distribution.DataParallel` over all devices - JAX backend (Keras
  shards each global batch over the devices; variables are replicated).

`batch_size` stays the *global* batch in every case, so a run on N devices follows the same
loss curve as a single device at the same batch (up to BatchNorm: under tf.distribute each
replica normalises with its own slice of the batch).
"""

from __future__ import annotations

import contextlib

import keras


def num_replicas(kind: str) -> int:
    """How many devices `kind` would use (without creating anything on the JAX path)."""
    if kind == "none":
        return 1
    if kind == "data_parallel":
        return len(keras.distribution.list_devices())
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return len(gpus) or len(tf.config.list_logical_devices("CPU"))


def make_strategy(kind: str):
    """The `tf.distribute.Strategy` for `"mirrored"` / `"multiworker"` (TensorFlow backend)."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"distribute={kind!r} uses tf.distribute and needs KERAS_BACKEND=tensorflow (running on {backend}); "
            "on JAX use distribute='data_parallel'."
        )
    import tensorflow as tf

    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown tf.distribute kind {kind!r}.")


@contextlib.contextmanager
def distribution_scope(kind: str = "none"):
    """Builds and compiles under this; yields the strategy/distribution object (or None)."""
    if kind == "none":
        yield None
        return
    if kind in ("mirrored", "multiworker"):
        strategy = make_strategy(kind)
        with strategy.scope():
            yield strategy
        return
    if kind == "data_parallel":
        backend = keras.backend.backend()
        if backend != "jax":
            raise ValueError(
                f"distribute='data_parallel' uses keras.distribution and needs KERAS_BACKEND=jax (running on "
                f"{backend}); on TensorFlow use distribute='mirrored'."
            )
        devices = keras.distribution.list_devices()
        dist = keras.distribution.DataParallel(devices=devices)
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(dist)
        try:
            yield dist
        finally:
            keras.distribution.set_distribution(previous)
        return
    raise ValueError(f"Unknown distribute option {kind!r}; use none, mirrored, multiworker or data_parallel.")
