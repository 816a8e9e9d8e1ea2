"""BatchNorm statistics recomputed after training ("precise BatchNorm").

While a model trains, each `BatchNormalization` layer keeps exponential moving averages of the statistics of
*augmented* batches, taken while the weights still moved. At inference those averages meet un-augmented faces.
`recalibrate_batchnorm` runs the final weights over un-augmented training batches in training mode and sets each
layer's moving mean and variance to the plain average of the batches' own statistics (the statistics training
normalised with), so inference normalises the way training did. Nothing else changes: no weight moves.

Measured with 200 un-augmented FER2013 training batches of 64 (FER2013 PublicTest, 2-core AMD EPYC CPU): packaged
LFNSB (stage 3, 48x48x1) 62.33% -> 64.70%, with fewer PublicTest faces whose stage-5 activations run away to over
10x the median image's (48 -> 28, with 150 batches); packaged `resnet18_small` 67.12% -> 69.74%; packaged ShuffleNetV2
0.5x 50.07% -> 49.96%. Where the statistics already match there is nothing to gain, so `recalibrate_for_run` keeps
the new statistics only when the validation accuracy does not drop.

Reference: Yuxin Wu and Justin Johnson, "Rethinking 'Batch' in BatchNorm", arXiv:2105.07576, 2021 (PreciseBN).
"""

from __future__ import annotations

import os

import numpy as np

from kerasfer.pretrained import recalibration_text as describe  # one sentence on a record (logs, cards)

DEFAULT_BATCHES = 200


def batchnorm_layers(model) -> list:
    """The trainable `BatchNormalization` layers of `model`, nested models included (frozen ones keep theirs)."""
    import keras

    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def _snapshot(layers) -> list:
    return [(layer.moving_mean.numpy(), layer.moving_variance.numpy()) for layer in layers]


def _restore(layers, snapshot) -> None:
    for (mean, var), layer in zip(snapshot, layers):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(var)


def _images_of(item):
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError("recalibration data yielded an empty batch tuple.")
        item = item[0]
    if isinstance(item, dict):
        raise ValueError("recalibration data must yield image batches or (images, labels) tuples, not dicts.")
    return item


def _batches(data, batch_size, max_batches):
    """Image batches from an array of images, a `keras.utils.PyDataset` or any iterable of batches."""
    import keras

    if isinstance(data, np.ndarray):
        if data.ndim != 4:
            raise ValueError(f"recalibration images must have shape (N, H, W, C), got {data.shape}.")
        for i in range(0, min(len(data), batch_size * max_batches), batch_size):
            yield data[i : i + batch_size]
        return
    if isinstance(data, keras.utils.PyDataset):
        for i in range(min(len(data), max_batches)):
            yield _images_of(data[i])
        return
    for k, item in enumerate(data):
        if k >= max_batches:
            return
        yield _images_of(item)


def _forward(model):
    """`model(x, training=True)`, compiled on TensorFlow (eager op by op is several times slower there)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x: model(x, training=True), reduce_retracing=True)
    return lambda x: model(x, training=True)


def recalibrate_batchnorm(model, data, *, max_batches: int = DEFAULT_BATCHES, batch_size: int = 64) -> dict:
    """Sets every trainable BatchNorm layer's moving statistics to their average over the batches of `data`.

    Each batch runs through `model` in training mode; a layer's moving mean and variance become the mean of the
    batches' means and of their variances (each batch weighs the same, as in training). Batches of fewer than two
    images are skipped (their variance is zero). The weights, and BatchNorm layers that are frozen
    (`trainable=False`), are left as they are; on any error every layer's statistics are put back.

    Args:
        model: a Keras model holding `BatchNormalization` layers (the classifier, not a training wrapper).
        data: images `(N, H, W, C)` in the model's input range (split into `batch_size` batches), or a
            `tf.data.Dataset`, `keras.utils.PyDataset` or iterable yielding image batches or `(images, labels)`.
            Use un-augmented training images, shuffled: batches of one class bias the variances.
        max_batches: at most this many batches are used.
        batch_size: batch size for an array of images (the training batch size is the natural choice).

    Returns:
        `{"layers": number of layers recalibrated, "batches": batches used, "images": images used}`.

    Raises:
        ValueError: no trainable BatchNorm layer, `max_batches`/`batch_size` below 1 (2 for `batch_size`), no
            batch of at least two images, or a batch holding NaN/inf.
    """
    import keras

    if int(max_batches) < 1:
        raise ValueError(f"max_batches must be at least 1, got {max_batches}.")
    if int(batch_size) < 2:
        raise ValueError(f"batch_size must be at least 2 (a batch of one image has no variance), got {batch_size}.")
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"Model {model.name!r} has no trainable BatchNormalization layer to recalibrate.")
    saved, momenta = _snapshot(layers), [layer.momentum for layer in layers]
    sums = [[np.zeros(layer.moving_mean.shape, np.float64) for _ in range(2)] for layer in layers]
    used = images = 0
    try:
        for layer in layers:
            layer.momentum = 0.0  # each forward pass leaves exactly its batch's statistics in the moving ones
        step = _forward(model)
        for k, x in enumerate(_batches(data, int(batch_size), int(max_batches))):
            n = int(x.shape[0])
            if n < 2:
                continue
            if not np.all(np.isfinite(keras.ops.convert_to_numpy(x))):
                raise ValueError(f"Recalibration batch {k} holds NaN/inf pixels.")
            step(x)
            for (mean, var), layer in zip(sums, layers):
                mean += keras.ops.convert_to_numpy(layer.moving_mean)
                var += keras.ops.convert_to_numpy(layer.moving_variance)
            used += 1
            images += n
        if not used:
            raise ValueError("No batch of at least two images to recalibrate BatchNorm on: the data are empty.")
        for (mean, var), layer in zip(sums, layers):
            layer.moving_mean.assign((mean / used).astype(layer.moving_mean.dtype))
            layer.moving_variance.assign((var / used).astype(layer.moving_variance.dtype))
    except BaseException:
        _restore(layers, saved)
        raise
    finally:
        for momentum, layer in zip(momenta, layers):
            layer.momentum = momentum
    return {"layers": len(layers), "batches": used, "images": images}


def split_accuracy(model, data) -> float:
    """Top-1 accuracy of `model` over a loaded split's `(images, labels)` batches (a `tf.data.Dataset` or
    `keras.utils.PyDataset`; labels are class ids, or one-hot / distributions whose arg-max is the class)."""
    import keras

    from kerasfer.export.evaluate import top1_accuracy

    probs, labels = [], []
    items = (data[i] for i in range(len(data))) if isinstance(data, keras.utils.PyDataset) else data
    for item in items:
        y = keras.ops.convert_to_numpy(item[1])
        probs.append(keras.ops.convert_to_numpy(model.predict_on_batch(item[0])))
        labels.append(y.argmax(-1) if y.ndim == 2 else y.reshape(-1))
    if not labels:
        raise ValueError("No validation example to measure the accuracy on.")
    return top1_accuracy(np.concatenate(probs), np.concatenate(labels))


def recalibrate_for_run(model, config, input_shape, num_classes, *, val=None, train_arrays=None) -> dict:
    """`recalibrate_batchnorm` over `config.recalibrate_bn` batches of its training split, un-augmented and
    shuffled, kept only when the accuracy on the validation split `val` (a loaded split) does not drop.

    Without `val` the new statistics are kept unchecked. `train_arrays` replaces the training split, as in
    `kerasfer.training.train(arrays=...)`. Returns the record the run's `result.json` keeps:
    `{"batches", "images", "layers", "val_accuracy_before", "val_accuracy_after", "kept"}`.
    """
    from kerasfer.training import data as data_lib

    plain = config.replace(augment="none", class_weights="none", steps_per_epoch=None)
    train = data_lib.load_split(
        plain, plain.train_split, input_shape, num_classes, training=True,
        max_examples=plain.max_train_examples, arrays=train_arrays,
    )  # fmt: skip
    before = split_accuracy(model, val.data) if val is not None else None
    saved = _snapshot(batchnorm_layers(model))
    record = recalibrate_batchnorm(model, train.data, max_batches=config.recalibrate_bn, batch_size=config.batch_size)
    after = split_accuracy(model, val.data) if val is not None else None
    kept = before is None or after >= before
    if not kept:
        _restore(batchnorm_layers(model), saved)
    return {**record, "val_accuracy_before": before, "val_accuracy_after": after, "kept": kept}


def recalibrate_model(model, config) -> dict:
    """`recalibrate_for_run` on a trained `model` after the fact, over the splits `config` names (a finished run's
    configuration, or the one a packaged card records, with `recalibrate_bn` set and this machine's data folders).
    Returns its record, marked `"after_training": True`."""
    from kerasfer.training import data as data_lib

    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    num_classes = int(model.outputs[0].shape[-1])
    arrays = data_lib.arrays_from_dir(config) if config.arrays_dir else {}
    val_name = "validation" if arrays.get("val") is not None else data_lib.resolve_val_split(config)
    val = None
    if val_name:
        val = data_lib.load_split(
            config, val_name, input_shape, num_classes, training=False,
            max_examples=config.max_val_examples, arrays=arrays.get("val"),
        )  # fmt: skip
    record = recalibrate_for_run(model, config, input_shape, num_classes, val=val, train_arrays=arrays.get("train"))
    return {**record, "after_training": True}


def recalibrate_run(run_dir, batches: int = DEFAULT_BATCHES, *, manual_dir=None, data_dir=None) -> dict:
    """`recalibrate_for_run` on a finished run that trained without `recalibrate_bn`, after the fact.

    The run's `model.keras` is replaced (whole) only when the new statistics are kept; `result.json` gets the
    record under `"batchnorm_recalibration"` (with `"after_training": True`), so whatever packages the run reads the
    accuracy the model now has. `manual_dir`/`data_dir` override the folders the run's `config.json` recorded
    (another machine); with `manual_dir`, a run trained from array files that are not on this machine
    (`arrays_dir`, a GPU run) recalibrates on the dataset's own training split instead.

    Raises:
        FileNotFoundError: no `config.json`, `model.keras` or `result.json` (not a finished kerasfer run).
        ValueError: the run already holds a recalibration record, or see `recalibrate_batchnorm`.
    """
    import json

    import keras

    from kerasfer import run_files
    from kerasfer.paths import replaced_when_done
    from kerasfer.training.config import TrainConfig

    files = run_files.run_paths(run_dir)
    raw = run_files.read_run_config(run_dir)
    if raw is None:
        raise FileNotFoundError(f"{run_dir} has no {run_files.CONFIG_FILE}: not a kerasfer run directory.")
    for key in ("model", "result"):
        if not os.path.isfile(files[key]):
            raise FileNotFoundError(f"{files[key]} is missing: the run has not finished.")
    result = run_files.read_json(files["result"], "run result")
    if result.get("batchnorm_recalibration"):
        raise ValueError(f"{run_dir} has already recomputed its BatchNorm statistics (result.json).")
    arrays_dir = raw.get("arrays_dir")
    if arrays_dir and manual_dir and not os.path.isdir(arrays_dir):
        arrays_dir = None  # the arrays stayed on the machine that trained (a GPU run): the dataset's own files
    config = TrainConfig.from_dict(raw).replace(
        recalibrate_bn=int(batches),
        manual_dir=manual_dir or raw.get("manual_dir"),
        data_dir=data_dir or raw.get("data_dir"),
        arrays_dir=arrays_dir,
    )
    model = keras.saving.load_model(files["model"], compile=False)
    record = recalibrate_model(model, config)
    if record["kept"]:
        with replaced_when_done(files["model"]) as tmp:
            model.save(tmp)
    result["batchnorm_recalibration"] = record
    with replaced_when_done(files["result"]) as tmp, open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    return record


__all__ = [
    "DEFAULT_BATCHES",
    "describe",
    "batchnorm_layers",
    "recalibrate_batchnorm",
    "recalibrate_for_run",
    "recalibrate_model",
    "recalibrate_run",
    "split_accuracy",
]
