"""`TrainConfig`: everything a training run needs, as one JSON-able dataclass.

A run writes its `TrainConfig` to `<output_dir>/config.json`; `TrainConfig.from_json`
reads it back, so `kerasfer train --config <output_dir>/config.json` repeats the run
exactly. This module imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

# preprocessing.json's reader and writer live in kerasfer.run_files (re-exported here)
from kerasfer.run_files import PREPROCESSING_FILE  # noqa: F401
from kerasfer.run_files import load_preprocessing  # noqa: F401
from kerasfer.run_files import preprocessing_definition  # noqa: F401
from kerasfer.run_files import save_preprocessing  # noqa: F401

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "nadam")
SCHEDULES = ("constant", "cosine", "step", "exponential", "plateau")
CLASS_WEIGHTS = ("none", "adaptive", "inverse_frequency", "effective_number", "balanced")
DISTRIBUTE = ("none", "mirrored", "multiworker", "data_parallel")
ON_EXISTING = ("resume", "refuse", "overwrite")
# Losses that compare distributions: they need one-hot / distribution targets, not integer labels.
DENSE_LABEL_LOSSES = ("kl", "ldl")
KNOWN_LOSSES = ("ce", "focal", "ro", "combo", "kl", "ldl", "cosine_harmony")


@dataclasses.dataclass
class TrainConfig:
    """The complete, repeatable description of one training run.

    Attributes:
        model: registry key of the model (`kerasfer.models.list_models()`).
        dataset: TFDS builder name (`"synthetic_faces"`, `"fer2013"`, `"ferplus/majority"`, ...).
        data_dir: TFDS data directory (None: the TFDS default).
        manual_dir: folder holding manually downloaded files (FER2013's CSV, RAF-DB, ...).
        train_split, val_split: TFDS split names. `val_split=None` trains without validation;
            `"auto"` uses `"validation"` when the dataset has one, else `"test"`.
        input_shape: `(height, width, channels)`; None uses the model's registered default.
        num_classes: None takes the dataset's number of classes.
        model_kwargs: further keyword arguments of the model builder (e.g.
            `{"stem_pool": False}` for ShuffleNetV2); `num_classes` and `input_shape` come
            from their own fields.
        epochs, batch_size: as in `model.fit` (`batch_size` is the global batch).
        max_train_examples, max_val_examples: use only the first N examples (quick runs).
        steps_per_epoch: cap the number of steps per epoch (None: one pass over the data).
        optimizer: one of `OPTIMIZERS`; `learning_rate`, `momentum` (SGD), `weight_decay`
            (decoupled, as `keras.optimizers.*(weight_decay=...)`), `clipnorm`.
        schedule: one of `SCHEDULES`, stepped per epoch like PyTorch's schedulers:
            `"cosine"` anneals to `min_lr` over `epochs`; `"step"` multiplies by `gamma` every
            `step_size` epochs; `"exponential"` multiplies by `gamma` each epoch; `"plateau"`
            is `ReduceLROnPlateau(factor=gamma, patience=plateau_patience, min_lr=min_lr)`.
        warmup_epochs: linear warm-up before the schedule.
        loss: `"ce"`, a paper loss (`"ro"`, `"combo"`, `"focal"`, `"kl"`), or a combination
            joined by `+` (`"ce+cosine_harmony"`, `"kl+combo"`); `loss_kwargs` maps each name
            to its keyword arguments (`{"ro": {"lambda1": 0.9}}`).
        label_smoothing: for `"ce"`.
        class_weights: `"none"`, `"adaptive"` (SDNet eqs. 1-3), `"inverse_frequency"`,
            `"effective_number"`, or `"balanced"` (class-balanced sampling instead of weights).
        augment: augmentation preset name (`kerasfer.data.pipeline.AUGMENTATIONS`).
        mixup: the Beta(alpha, alpha) parameter of mixup inside the training step (0: off; 0.2-0.4 is
            usual), see `kerasfer.training.augment_step`. It blends the targets, so the run then uses
            one-hot targets (`label_mode`).
        mixed_precision: train under the `"mixed_float16"` policy.
        jit_compile: passed to `model.compile` (`"auto"` lets Keras decide).
        seed: seeds Python, NumPy and the backend, the shuffle and the augmentations.
        output_dir: where the run writes `model.keras`, checkpoints, `config.json`, logs.
        early_stopping_patience: None disables early stopping.
        time_budget_minutes: wall-clock budget for the whole `train` call (data loading
            included). After each epoch the run projects, from the epochs it has timed, how
            many more fit; it stops before the budget runs out, and a cosine schedule anneals
            over the epochs that fit rather than over `epochs` (for machines that run one
            command for a fixed time). None: no budget.
        monitor: metric for the best checkpoint and early stopping.
        distribute: `"none"`, `"mirrored"` / `"multiworker"` (tf.distribute, TensorFlow backend)
            or `"data_parallel"` (`keras.distribution.DataParallel`, JAX backend).
        on_existing: what to do when `output_dir` already holds a run: `"resume"` (continue an
            unfinished run with the same configuration, refuse otherwise; a run that never
            finished an epoch is replaced, with a warning), `"refuse"`, or `"overwrite"`
            (delete it first, once the new run's data and model have been checked).
        soft_labels: path to a `.npy` of per-example target distributions for the training
            split (label-distribution learning, see `kerasfer.training.ldl`).
        target_feature: train on this feature of the dataset's examples as target distributions
            instead of their labels, e.g. `"distribution"`: FER+'s crowd vote distributions
            (`dataset="ferplus/majority"`: the majority-label images, trained on their votes and
            validated on their majority labels). The training split only; not with `soft_labels`.
        arrays_dir: a folder of `.npz` splits written by `kerasfer arrays` (`kerasfer.data.arrays`): train
            from those instead of TFDS, with no TensorFlow needed (the JAX GPU machines).
        init_weights: start a new run from trained weights instead of a random initialisation: a
            run directory, a `.keras` / `.weights.h5` file or a packaged name (`"resnet18_small/fer2013"`),
            of the same architecture and input size. For fine-tuning on other data and for a second
            learning-rate cycle (warm restart) from an earlier run. With other classes (FER2013's 7 for FER+'s
            8) the classifier's rows of the shared classes are copied by name and the new ones start fresh
            (`kerasfer.training.trainer.init_from`). A resumed run ignores it (its checkpoint is newer).
        distill_from: knowledge distillation inside the training step (`kerasfer.training.distillation`):
            the trained teacher, a packaged name (`"resnet18_small/fer2013"`), a run directory or a `.keras`
            file, or a list of them (an ensemble: their probabilities are averaged). Its classes must be the
            run's, in the same order; its input size and channels may differ (the batch is converted in the
            step). It sees the augmented (and mixed) batch, in inference mode, and is not saved with the run's
            model. None: no distillation.
        distill_alpha: the teacher's share of the loss, in [0, 1]: `(1 - alpha) * loss + alpha * T^2 *
            KL(teacher || student)` at temperature `T` (Hinton et al. 2015).
        distill_temperature: that `T` > 0.
        recalibrate_bn: after training, recompute the BatchNorm statistics of the best weights over this many
            un-augmented, shuffled training batches (`kerasfer.training.batchnorm`, "precise BatchNorm"), kept
            when the validation accuracy does not drop; 0: off. 200 batches cost a few minutes on a CPU.
        preset: the preset this configuration came from (informational).
        verbose: Keras verbosity (1: progress bar).
    """

    model: str = "lfnsb"
    dataset: str = "synthetic_faces"
    data_dir: str | None = None
    manual_dir: str | None = None
    train_split: str = "train"
    val_split: str | None = "auto"
    input_shape: tuple | None = None
    num_classes: int | None = None
    epochs: int = 10
    batch_size: int = 32
    max_train_examples: int | None = None
    max_val_examples: int | None = None
    steps_per_epoch: int | None = None
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    clipnorm: float | None = None
    schedule: str = "cosine"
    min_lr: float = 0.0
    gamma: float = 0.1
    step_size: int = 10
    plateau_patience: int = 2
    warmup_epochs: int = 0
    loss: str = "ce"
    loss_kwargs: dict = dataclasses.field(default_factory=dict)
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    label_smoothing: float = 0.0
    class_weights: str = "none"
    augment: str = "none"
    mixup: float = 0.0
    mixed_precision: bool = False
    jit_compile: bool | str = "auto"
    seed: int = 0
    output_dir: str = "runs/train"
    early_stopping_patience: int | None = None
    time_budget_minutes: float | None = None
    monitor: str = "auto"
    distribute: str = "none"
    on_existing: str = "resume"
    soft_labels: str | None = None
    target_feature: str | None = None
    arrays_dir: str | None = None
    init_weights: str | None = None
    distill_from: list | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 4.0
    recalibrate_bn: int = 0
    preset: str | None = None
    verbose: int = 1

    def __post_init__(self):
        if self.input_shape is not None:
            self.input_shape = tuple(int(v) for v in self.input_shape)
        if isinstance(self.distill_from, str):
            self.distill_from = [self.distill_from]
        elif isinstance(self.distill_from, list | tuple):
            self.distill_from = list(self.distill_from) or None
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self):
        """Raises `ValueError` naming the first bad field."""

        def bad(field, msg):
            raise ValueError(f"TrainConfig.{field}: {msg}")

        if not self.model or not isinstance(self.model, str):
            bad("model", "a registered model name is required (see `kerasfer models`).")
        if not self.dataset or not isinstance(self.dataset, str):
            bad("dataset", "a dataset name is required, e.g. 'synthetic_faces'.")
        if self.input_shape is not None and (len(self.input_shape) != 3 or min(self.input_shape) < 1):
            bad("input_shape", f"expected (height, width, channels) with positive sizes, got {self.input_shape}.")
        if self.input_shape is not None and self.input_shape[2] not in (1, 3):
            bad("input_shape", f"channels must be 1 (grayscale) or 3 (RGB), got {self.input_shape[2]}.")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(name, f"must be a positive integer, got {v!r}.")
        for name in ("num_classes", "max_train_examples", "max_val_examples", "steps_per_epoch"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                bad(name, f"must be None or a positive integer, got {v!r}.")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"{self.optimizer!r} is not one of {OPTIMIZERS}.")
        if self.schedule not in SCHEDULES:
            bad("schedule", f"{self.schedule!r} is not one of {SCHEDULES}.")
        for name in ("learning_rate",):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                bad(name, f"must be a positive finite number, got {v!r}.")
        for name in ("momentum", "weight_decay", "min_lr", "label_smoothing"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                bad(name, f"must be a finite number >= 0, got {v!r}.")
        v = self.time_budget_minutes
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if v is not None and not (number and math.isfinite(v) and v > 0):
            bad("time_budget_minutes", f"must be None or a positive number of minutes, got {v!r}.")
        try:
            check_mixup(self.mixup)
        except ValueError as e:
            bad("mixup", str(e))
        if self.label_smoothing >= 1:
            bad("label_smoothing", f"must be < 1, got {self.label_smoothing}.")
        if not (0 < self.gamma <= 1):
            bad("gamma", f"must be in (0, 1], got {self.gamma}.")
        if self.class_weights not in CLASS_WEIGHTS:
            bad("class_weights", f"{self.class_weights!r} is not one of {CLASS_WEIGHTS}.")
        if self.distribute not in DISTRIBUTE:
            bad("distribute", f"{self.distribute!r} is not one of {DISTRIBUTE}.")
        if self.on_existing not in ON_EXISTING:
            bad("on_existing", f"{self.on_existing!r} is not one of {ON_EXISTING}.")
        if self.target_feature is not None and not (
            isinstance(self.target_feature, str) and self.target_feature.strip()
        ):
            bad("target_feature", f"must be None or a dataset feature name, got {self.target_feature!r}.")
        if self.target_feature and self.soft_labels:
            bad("target_feature", "and soft_labels both give training targets; choose one.")
        if self.init_weights is not None and not (isinstance(self.init_weights, str) and self.init_weights.strip()):
            bad("init_weights", f"must be None or a run directory, weights file or name, got {self.init_weights!r}.")
        if self.distill_from is not None and not (
            isinstance(self.distill_from, list) and all(isinstance(s, str) and s.strip() for s in self.distill_from)
        ):
            bad(
                "distill_from",
                f"must be None or a list of teachers (names, run directories), got {self.distill_from!r}.",
            )
        if isinstance(self.recalibrate_bn, bool) or not isinstance(self.recalibrate_bn, int) or self.recalibrate_bn < 0:
            bad("recalibrate_bn", f"must be a number of batches >= 0 (0: off), got {self.recalibrate_bn!r}.")
        try:
            check_distillation(self.distill_alpha, self.distill_temperature)
        except ValueError as e:
            bad("distill_alpha" if "alpha" in str(e) else "distill_temperature", str(e))
        if not isinstance(self.model_kwargs, dict):
            bad("model_kwargs", f"must be a dict of model builder arguments, got {type(self.model_kwargs).__name__}.")
        clash = sorted({"num_classes", "input_shape", "weights"} & set(self.model_kwargs))
        if clash:
            bad(
                "model_kwargs", f"{clash} have their own fields (or come from the run); leave them out of model_kwargs."
            )
        if not isinstance(self.loss_kwargs, dict):
            bad("loss_kwargs", "must be a dict mapping a loss name to its keyword arguments.")
        for part in loss_parts(self.loss):
            if part not in KNOWN_LOSSES:
                bad("loss", f"unknown loss {part!r} in {self.loss!r}; known: {KNOWN_LOSSES} (combine with '+').")
        return self

    # --------------------------------------------------------------- JSON I/O
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d["input_shape"] is not None:
            d["input_shape"] = list(d["input_shape"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"Unknown TrainConfig field(s) {unknown}; valid fields: {sorted(names)}.")
        return cls(**d)

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, path_or_text) -> TrainConfig:
        text = path_or_text
        if not str(path_or_text).lstrip().startswith("{"):
            if not os.path.exists(path_or_text):
                raise FileNotFoundError(f"No configuration file at {path_or_text!r}.")
            with open(path_or_text) as f:
                text = f.read()
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"Configuration {path_or_text!r} is not valid JSON: {e}") from e
        return cls.from_dict(d)

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    @property
    def label_mode(self) -> str:
        """`"categorical"` when any loss part (or mixup) needs one-hot/distribution targets, else `"sparse"`."""
        if (
            self.soft_labels
            or self.target_feature
            or self.mixup
            or any(p in DENSE_LABEL_LOSSES for p in loss_parts(self.loss))
        ):
            return "categorical"
        return "sparse"


def check_distillation(alpha, temperature):
    """`(alpha, temperature)` as floats, or `ValueError` unless `alpha` is in [0, 1] and `temperature` > 0."""

    def number(v):
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if not (number(alpha) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"distillation alpha (the teacher's share of the loss) must be in [0, 1], got {alpha!r}.")
    if not (number(temperature) and temperature > 0):
        raise ValueError(f"distillation temperature must be a finite number > 0, got {temperature!r}.")
    return float(alpha), float(temperature)


def check_mixup(alpha):
    """`alpha` as a float, or `ValueError` unless it is a finite number >= 0 (0 turns mixup off)."""
    number = isinstance(alpha, int | float) and not isinstance(alpha, bool)
    if not (number and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"mixup must be a finite number >= 0 (Beta(alpha, alpha)'s alpha; 0 = off), got {alpha!r}.")
    return float(alpha)


def loss_parts(loss: str) -> list[str]:
    """`"ce+cosine_harmony"` -> `["ce", "cosine_harmony"]`."""
    return [p.strip().lower() for p in str(loss).split("+") if p.strip()]
