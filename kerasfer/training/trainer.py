"""`train(config) -> TrainResult`: one training run from a `TrainConfig`, on TensorFlow or JAX.

The recipe (`train`): check the run directory (read only), load and check the data, build and
compile the model, and only then write the run directory and fit. A run that cannot start
leaves its directory as it was. The parts live beside this module:

- `kerasfer.training.rundir`: what is written where, resume / refuse / replace decisions.
- `kerasfer.training.data`: the splits (tf.data on TensorFlow, NumPy batches elsewhere), class
  names, class weights and balanced sampling.
- `kerasfer.training.optim`: the loss (from the `kerasfer.losses` registry) and the optimizer.
- `kerasfer.training.callbacks`: the NaN guard, LR schedules, time budget, checkpoints, logs.

Their public names are importable from here too.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import keras

from kerasfer.losses.cross_entropy import SparseSmoothedCrossentropy  # noqa: F401  (re-exported)
from kerasfer.losses.sum_loss import SumLoss  # noqa: F401  (re-exported)
from kerasfer.paths import replaced_when_done
from kerasfer.training import batchnorm
from kerasfer.training import callbacks as cbs
from kerasfer.training import data
from kerasfer.training import rundir
from kerasfer.training.config import TrainConfig
from kerasfer.training.config import loss_parts
from kerasfer.training.data import ArrayBatches  # noqa: F401  (re-exported)
from kerasfer.training.data import class_names_for  # noqa: F401  (re-exported)
from kerasfer.training.data import class_weight_dict
from kerasfer.training.data import load_split  # noqa: F401  (re-exported)
from kerasfer.training.data import resolve_val_split  # noqa: F401  (re-exported)
from kerasfer.training.distribute import distribution_scope
from kerasfer.training.optim import build_loss
from kerasfer.training.optim import build_optimizer
from kerasfer.training.optim import check_loss_targets
from kerasfer.training.rundir import RunExistsError  # noqa: F401  (re-exported)
from kerasfer.training.rundir import _paths  # noqa: F401  (re-exported)
from kerasfer.training.rundir import prepare_output_dir  # noqa: F401  (re-exported)


class TrainingDivergedError(RuntimeError):
    """The loss became NaN/inf; the message names the last good checkpoint."""


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


# --------------------------------------------------------------------------- model
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
    """`(classifier, model to compile)`: the same model, or a Cosine-Harmony training wrapper around it."""
    from kerasfer.models import create_model

    model = create_model(config.model, num_classes=num_classes, input_shape=tuple(input_shape), **config.model_kwargs)
    parts = loss_parts(config.loss)
    if "cosine_harmony" in parts:
        from kerasfer.losses import with_cosine_harmony

        kw = dict(config.loss_kwargs.get("cosine_harmony", {}))
        return model, with_cosine_harmony(model, **kw)
    return model, model


def init_from(model, source, model_name=None, class_names=None, verbose=False):
    """Copies the weights of a trained `source` (see `kerasfer.models.loading.load_trained`) into `model`.

    With the same number of classes every weight is copied (unless `class_names` names the source's classes in
    another order). When the classes differ (FER2013's 7 to FER+'s 8, say) and both models end in a
    `"predictions"` layer, every other weight is copied, and of the classifier the rows of each class of
    `class_names` (default: `model`'s canonical labels) that `source` also has, by name; the classes new to
    `model` keep their fresh initialisation (all of them for a task that shares none: the usual fine-tuning of a
    new head). `verbose` says what was kept. Returns the loaded source.

    Raises:
        FileNotFoundError: `source` does not exist.
        ValueError: `source` is another architecture or input size (the first differing weight is named).
    """
    from kerasfer.models.loading import canonical_labels
    from kerasfer.models.loading import load_trained

    classes = int(model.output_shape[-1])
    try:  # a lone .weights.h5 file is built with the model's classes
        src = load_trained(source, model_name, input_shape=model.input_shape[1:], num_classes=classes)
    except ValueError:  # weights of other classes: built with their own (the packaged card's, the run's)
        src = load_trained(source, model_name, input_shape=model.input_shape[1:])
    have, want = src.model.weights, model.weights
    if len(have) != len(want):
        raise ValueError(
            f"init_weights {source!r} holds {len(have)} weights and the model {len(want)}: another architecture."
        )
    target = tuple(class_names) if class_names is not None else canonical_labels(classes)
    if len(target) != classes:
        raise ValueError(f"class_names has {len(target)} names for a model with {classes} outputs.")
    head = set()
    reordered = class_names is not None and target != tuple(src.labels) and set(target) & set(src.labels)
    if len(src.labels) != classes or reordered:
        try:
            head = {id(v) for v in model.get_layer("predictions").weights}
        except ValueError:
            head = set()
    values = []
    for h, w in zip(have, want, strict=True):
        value = keras.ops.convert_to_numpy(h)
        if id(w) in head:
            value = _head_rows(value, keras.ops.convert_to_numpy(w), src.labels, target, source)
        elif tuple(h.shape) != tuple(w.shape):
            raise ValueError(
                f"init_weights {source!r} does not fit the model: {h.path} has shape {tuple(h.shape)}, "
                f"the model's {w.path} {tuple(w.shape)} (another architecture, input size or number of classes)."
            )
        values.append(value)
    model.set_weights(values)
    if head and verbose:
        new = [name for name in target if name not in src.labels]
        print(f"init_weights: {src.source} has {len(src.labels)} classes, the model {classes}: every layer copied, "
              f"the classifier's rows of the shared classes too; new: {', '.join(new) or 'none'}.")  # fmt: skip
    return src


def _head_rows(value, fresh, source_labels, target, source):
    """The classifier kernel `(features, classes)` or bias `(classes,)`: `fresh` with each shared class's column
    taken from the source's `value`, by class name (`target`: the model's class names)."""
    shared = [(i, source_labels.index(name)) for i, name in enumerate(target) if name in source_labels]
    if value.shape[:-1] != fresh.shape[:-1]:
        raise ValueError(
            f"init_weights {source!r} does not fit the model's classifier: its classes {list(source_labels)}, "
            f"the model's {list(target)}, shapes {value.shape} and {fresh.shape}."
        )
    out = fresh.copy()
    for i, j in shared:
        out[..., i] = value[..., j]
    return out


def _distiller(config, class_names):
    """The frozen teachers of `config.distill_from` (`kerasfer.training.distillation.load_distiller`), or None."""
    if not config.distill_from:
        return None
    from kerasfer.training.distillation import load_distiller

    return load_distiller(config.distill_from, class_names, config.distill_alpha, config.distill_temperature)


# --------------------------------------------------------------------------- train
def _set_policy(config):
    keras.config.set_dtype_policy("mixed_float16" if config.mixed_precision else "float32")


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

    Nothing is written before the data have been loaded and the model built, so a run that
    fails to start (a missing dataset, a bad setting) leaves the output directory untouched.

    Args:
        config: the `TrainConfig`.
        extra_callbacks: more Keras callbacks (run after the built-in ones).
        arrays: optional `{"train": (images, labels), "val": (images, labels) or None}` used
            instead of the dataset's splits (cross-validation folds); images at any size,
            labels integer class ids of `config.dataset`'s classes.

    Raises:
        RunExistsError: the output directory holds a run that cannot be resumed.
        FileNotFoundError: a missing soft_labels file, arrays_dir or manually downloaded dataset files.
        ValueError: bad configuration, input size too small for the model, labels out of range,
            a loss that does not fit the labels, an empty split, a distillation teacher that does not
            load or gives other classes.
        TrainingDivergedError: the loss became NaN/inf (the last good weights are kept).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train() takes a TrainConfig, got {type(config).__name__}.")
    config.validate()
    start = time.time()
    plan = rundir.plan_output_dir(config)  # refuses early; writes nothing
    # a fresh Keras session: the same seed then gives the same initial weights in every run
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    input_shape = resolve_input_shape(config)
    class_names, num_classes = data.resolve_class_names(config)
    check_loss_targets(config)
    soft = data.load_soft_labels(config)
    if arrays is None and config.arrays_dir:
        arrays = data.arrays_from_dir(config)

    _set_policy(config)
    try:
        with distribution_scope(config.distribute):
            splits = data.load_splits(config, input_shape, num_classes, soft=soft, arrays=arrays)
            data.check_classes_present(splits.train.counts, class_names, config)
            base, model = build_model(config, input_shape, num_classes)
            if config.init_weights and not plan.resumed:
                init_from(base, config.init_weights, config.model, class_names, verbose=bool(config.verbose))
            # loaded after the student is built, so the student's initial weights do not depend on it
            distiller = _distiller(config, class_names)
            # augments in the step on the NumPy path; mixup and distillation in the step on both
            model = data.with_step_augmentation(model, splits.train, config, distiller)
            model.compile(
                optimizer=build_optimizer(config),
                loss=build_loss(config, num_classes),
                metrics=[_accuracy(config)],
                jit_compile=config.jit_compile,
            )
            cw = class_weight_dict(config, splits.train.counts)
            if cw is not None and soft is not None:
                raise ValueError("class weights are defined for hard labels; do not combine them with soft_labels.")
            monitor, mode = cbs.monitor_for(config, splits.val is not None)
            p = rundir.run_paths(config.output_dir)
            run_cbs = cbs.RunCallbacks(config, p, monitor, mode, start, extra_callbacks, classifier=base)
            # everything checked: now the run directory is written
            resumed = rundir.apply_plan(plan)
            rundir.write_run_files(config, input_shape, class_names)
            return _fit(config, base, model, splits, cw, run_cbs, class_names, input_shape, resumed, p, start, arrays)
    finally:
        keras.config.set_dtype_policy("float32")


def _accuracy(config):
    if config.label_mode == "sparse":
        return keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    return keras.metrics.CategoricalAccuracy(name="accuracy")


def _fit(config, base, model, splits, cw, run_cbs, class_names, input_shape, resumed, p, start, arrays=None):
    monitor, mode = run_cbs.monitor, run_cbs.mode
    if resumed and config.verbose:
        print(f"Resuming the unfinished run in {config.output_dir}.")
    history = model.fit(
        splits.train.data,
        validation_data=None if splits.val is None else splits.val.data,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch or splits.train.steps,
        class_weight=cw,
        callbacks=run_cbs.callbacks,
        verbose=config.verbose,
        # a tf.data pipeline shuffles itself (Keras warns on every run when asked to); batch order of ArrayBatches
        shuffle=isinstance(splits.train.data, keras.utils.PyDataset),
    )
    initial_epoch = int(getattr(model, "_initial_epoch", 0) or 0)
    hist_now = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if run_cbs.guard.triggered:
        raise TrainingDivergedError(run_cbs.guard.message())

    # the whole run's history, resumed parts included (this call's alone when log.csv is missing)
    hist = _history_from_csv(p["csv"], hist_now) if os.path.exists(p["csv"]) else hist_now
    best_epoch = _best_epoch_from_csv(p["csv"], monitor, mode) if os.path.exists(p["csv"]) else None
    if splits.val is not None and os.path.exists(p["best"]):
        _load_best(base, model, p["best"])
    with replaced_when_done(p["model"]) as tmp:  # a model.keras on disk is always whole
        base.save(tmp)
    recalibration = None
    if config.recalibrate_bn:  # after the save above, so an interrupt here still leaves the run's model
        recalibration = batchnorm.recalibrate_for_run(
            base, config, input_shape, len(class_names), val=splits.val, train_arrays=(arrays or {}).get("train")
        )
        if config.verbose:
            print(batchnorm.describe(recalibration), flush=True)
        if recalibration["kept"]:
            with replaced_when_done(p["model"]) as tmp:
                base.save(tmp)
    with open(p["history"], "w") as f:
        json.dump(hist, f, indent=2)
    budget = run_cbs.budget
    summary = {
        "model": config.model,
        "dataset": config.dataset,
        "model_path": p["model"],
        "input_shape": list(input_shape),
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "train_examples": splits.train.num_examples,
        "train_class_counts": splits.train.counts.tolist(),
        "val_split": splits.val_name,
        "val_examples": None if splits.val is None else splits.val.num_examples,
        "class_weight": cw,
        "monitor": monitor,
        "best_epoch": best_epoch,
        "final": {k: v[-1] for k, v in hist.items() if v},
        "epochs_run_now": len(next(iter(hist_now.values()), [])),
        "initial_epoch": initial_epoch,
        "elapsed_s": round(time.time() - start, 2),
        "time_budget_minutes": config.time_budget_minutes,
        "stopped_by_time_budget": bool(budget and budget.stopped_early),
        "distribute": config.distribute,
        "batchnorm_recalibration": recalibration,
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


def _epoch_rows(path) -> list[dict]:
    """The rows of `log.csv`, one per epoch in order (an epoch run again after an interrupt: its last row)."""
    import csv

    with open(path) as f:
        rows = {int(r["epoch"]): r for r in csv.DictReader(f) if r.get("epoch") not in (None, "")}
    return [rows[e] for e in sorted(rows)]


def _history_from_csv(path, hist_now) -> dict:
    """The history of every epoch of the run (`log.csv` spans the resumed parts), with the keys of `hist_now`."""
    rows = _epoch_rows(path)
    if not rows or any(k not in rows[0] for k in hist_now):
        return hist_now
    return {k: [float(r[k]) if r[k] not in ("", None) else math.nan for r in rows] for k in hist_now}


def _load_best(base, model, path):
    """Loads the best checkpoint into the classifier `base`. A run resumed from a checkpoint written before the
    checkpoint held the classifier (it held the training wrapper `model`) loads it through the wrapper: Keras
    would only warn, and keep fresh weights, when the layout does not match."""
    from kerasfer.models.weights import top_level_groups

    if model is not base and not top_level_groups(path) <= {"layers", "vars", "optimizer"}:
        model.load_weights(path)
    else:
        base.load_weights(path)


def _best_epoch_from_csv(path, monitor, mode):
    """The epoch (counted from 1, as `log.csv` counts) whose `monitor` was best, or None."""
    vals = [(int(r["epoch"]), float(r[monitor])) for r in _epoch_rows(path) if r.get(monitor) not in (None, "", "nan")]
    vals = [(e, v) for e, v in vals if math.isfinite(v)]
    if not vals:
        return None
    pick = min if mode == "min" else max
    return pick(vals, key=lambda ev: ev[1])[0]
