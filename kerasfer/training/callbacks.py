"""Training callbacks: a NaN guard that keeps the last good weights, per-epoch LR schedules, a
wall-clock time budget, and `RunCallbacks`, the list a training run uses.

They work on the TensorFlow and JAX backends (they only touch weights between epochs, after
the JAX trainer has synced its state into the model's variables).
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np


def save_weights(model, path) -> None:
    """`model.save_weights(path)` under a temporary name, renamed when complete: a checkpoint on disk is always
    whole, even when Ctrl-C or a full disk stops the write (`kerasfer.paths.replaced_when_done`)."""
    from kerasfer.paths import replaced_when_done

    with replaced_when_done(path) as tmp:
        model.save_weights(tmp, overwrite=True)


class BestWeights(keras.callbacks.Callback):
    """Saves the weights to `filepath` after each epoch whose `monitor` improves (`mode` `"max"` or `"min"`), as
    `keras.callbacks.ModelCheckpoint(save_best_only=True, save_weights_only=True)` does, but through
    `save_weights`: an interrupted save leaves the previous best checkpoint, never a partial file.

    `target` is the model whose weights are saved (default: the model being fitted). A run that trains through a
    wrapper (Cosine-Harmony, mixup, distillation) passes its classifier, so the checkpoint has the classifier's
    layout and an unfinished run loads from it like a finished one (`kerasfer.models.load_trained`)."""

    def __init__(self, filepath, monitor, mode, target=None):
        super().__init__()
        self.filepath, self.monitor, self.mode = str(filepath), monitor, mode
        self.target = target
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is not None:  # without the metric every epoch is saved, as ModelCheckpoint does
            current = float(np.asarray(current))
            if self.best is not None and not (current > self.best if self.mode == "max" else current < self.best):
                return
            self.best = current
        save_weights(self.target if self.target is not None else self.model, self.filepath)


class EpochLog(keras.callbacks.CSVLogger):
    """`log.csv`: `keras.callbacks.CSVLogger` (appending, so a resumed run continues it) with epochs counted from 1,
    as Keras prints them ("Epoch 1/10") and as `result.json`'s `best_epoch` counts: one numbering everywhere."""

    def __init__(self, filename):
        super().__init__(filename, append=True)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and keeps the last good weights.

    At the end of each epoch whose loss is finite it saves the weights to `filepath` (the
    "last good checkpoint"). When a batch reports a NaN/inf loss it stops training; at the
    end of that epoch it loads the last good weights back into the model, so callbacks that
    save after it (BackupAndRestore, BestWeights) never write broken weights.
    Put it first in the callback list. `triggered` tells the caller what happened.

    Args:
        filepath: where to keep the last good weights (`*.weights.h5`).
        monitor: the log key to check (`"loss"`).
    """

    def __init__(self, filepath, monitor="loss"):
        super().__init__()
        if not str(filepath).endswith(".weights.h5"):
            raise ValueError(f"NaNGuard filepath must end in '.weights.h5', got {filepath!r}.")
        self.filepath = str(filepath)
        self.monitor = monitor
        self.triggered = False
        self.bad_epoch = None
        self.bad_batch = None
        self.bad_value = None
        self.last_good_epoch = None

    def on_train_begin(self, logs=None):
        self.triggered = False
        if not os.path.exists(self.filepath):
            # the starting weights are the first "good" state
            save_weights(self.model, self.filepath)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _check(self, logs, batch=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return True
        value = float(np.asarray(value))
        if math.isfinite(value):
            return True
        if not self.triggered:
            self.triggered = True
            self.bad_epoch = getattr(self, "_epoch", None)
            self.bad_batch = batch
            self.bad_value = value
        self.model.stop_training = True
        return False

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        ok = self._check(logs) and not self.triggered
        if ok and self._weights_finite():
            save_weights(self.model, self.filepath)
            self.last_good_epoch = epoch
        else:
            self.triggered = True
            if self.bad_epoch is None:
                self.bad_epoch = epoch
            self.model.stop_training = True
            self.model.load_weights(self.filepath)

    def _weights_finite(self):
        return all(np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in self.model.trainable_variables)

    def message(self):
        where = f"epoch {self.bad_epoch + 1 if self.bad_epoch is not None else '?'}"
        if self.bad_batch is not None:
            where += f", batch {self.bad_batch + 1}"
        good = "the initial weights" if self.last_good_epoch is None else f"epoch {self.last_good_epoch + 1}"
        return (
            f"Training stopped: the {self.monitor} became {self.bad_value} at {where}. "
            f"The last good weights ({good}) are kept in {self.filepath}. "
            "Lower the learning rate, add gradient clipping (--clipnorm) or check the data for NaNs."
        )


def epoch_schedule(config, total_epochs=None):
    """`f(epoch) -> learning rate` for a `TrainConfig` (PyTorch-style per-epoch stepping).

    Returns None for `"plateau"` (handled by `ReduceLROnPlateau`) and for a constant rate
    without warm-up. `total_epochs`, a callable, gives the number of epochs the cosine
    schedule anneals over at each call (a `TimeBudget`'s plan), default `config.epochs`.

    Without a plan the cosine is PyTorch's `CosineAnnealingLR(T_max=epochs - warmup)`. Over a
    budget's plan each epoch gets the cosine's value at its midpoint, `(e + 0.5) / T`: the
    cycle's mean rate over that epoch, so a short plan neither spends a whole epoch at
    `min_lr` (with `min_lr=0`, a 2-epoch plan used to train its second epoch at rate 0) nor
    stops short of the annealing; the last planned epoch runs close to `min_lr`.
    """
    lr0 = float(config.learning_rate)
    warm = int(config.warmup_epochs)
    kind = config.schedule
    if kind == "plateau" or (kind == "constant" and warm == 0):
        return None

    def schedule(epoch):
        if epoch < warm:
            return lr0 * (epoch + 1) / (warm + 1)
        e = epoch - warm
        if kind == "constant":
            return lr0
        if kind == "cosine":  # CosineAnnealingLR(T_max=epochs - warmup, eta_min=min_lr)
            if total_epochs is None:
                t_max, t = max(1, int(config.epochs) - warm), e
            else:  # a budget's plan: the cosine at the epoch's midpoint (the run may end after any epoch)
                t_max, t = max(1, int(total_epochs()) - warm), e + 0.5
            return config.min_lr + (lr0 - config.min_lr) * (1 + math.cos(math.pi * min(t, t_max) / t_max)) / 2
        if kind == "step":
            return lr0 * config.gamma ** (e // max(1, config.step_size))
        if kind == "exponential":
            return max(config.min_lr, lr0 * config.gamma**e)
        raise ValueError(f"Unknown schedule {kind!r}.")

    return schedule


class TimeBudget(keras.callbacks.Callback):
    """Ends training before a wall-clock budget runs out, and plans how many epochs fit.

    After each epoch it times the epoch and projects: with `remaining` seconds left and a
    typical epoch of `t` seconds (the median of the epochs after the first, whose time
    includes tracing and compilation; the first alone while it is the only one),
    `floor(remaining / (t * safety))` more epochs fit. `planned_epochs` is then the epochs
    done plus that, capped at `max_epochs`; a cosine schedule built with
    `epoch_schedule(config, total_epochs=lambda: budget.planned_epochs)` anneals over it.
    When no further epoch fits, it sets `model.stop_training`. Re-planned every epoch, so
    a slow first estimate is corrected later; but once the epochs done reach the plan, the cycle is over and
    training stops (epochs that speed up at the end would otherwise add epochs at the schedule's final rate).

    Args:
        budget_s: seconds from `start` (default: the start of `fit`) to the end of training.
        max_epochs: the `epochs` passed to `fit`.
        start: a `clock()` value to count from (e.g. before the data was loaded).
        safety: factor on the typical epoch time (1.1: keep 10% spare).
        clock: a monotonic clock in seconds (tests pass a fake).
    """

    def __init__(self, budget_s, max_epochs, start=None, safety=1.1, clock=None):
        super().__init__()
        if not (budget_s > 0):
            raise ValueError(f"budget_s must be > 0, got {budget_s!r}.")
        self.budget_s = float(budget_s)
        self.max_epochs = int(max_epochs)
        self.safety = float(safety)
        self.clock = clock or time.monotonic
        self.start = start
        self.planned_epochs = self.max_epochs
        self.stopped_early = False
        self.durations: list = []

    def on_train_begin(self, logs=None):
        if self.start is None:
            self.start = self.clock()
        self._epoch_start = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        self.durations.append(now - self._epoch_start)
        typical = float(np.median(self.durations[1:])) if len(self.durations) > 1 else self.durations[0]
        remaining = self.budget_s - (now - self.start)
        more = int(remaining // max(typical * self.safety, 1e-9)) if remaining > 0 else 0
        if epoch + 1 >= self.planned_epochs:
            more = 0  # the planned cycle is complete (the cosine reached its end): never extend it past its end
        self.planned_epochs = min(self.max_epochs, epoch + 1 + max(more, 0))
        if logs is not None:
            logs["planned_epochs"] = float(self.planned_epochs)
        if epoch + 1 < self.max_epochs and more <= 0:
            self.stopped_early = True
            self.model.stop_training = True


class EpochLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's learning rate at the start of each epoch from `schedule(epoch)`.

    Logs it as `lr` so the CSV log shows the schedule. Resuming (BackupAndRestore) gives the
    right rate because the rate is a function of the epoch index only.
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch))
        if not math.isfinite(lr) or lr < 0:  # 0 is a cosine's end (min_lr=0), e.g. a time budget's last epoch
            raise ValueError(f"The learning-rate schedule gave {lr} at epoch {epoch}.")
        self.model.optimizer.learning_rate = lr

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class LogLearningRate(keras.callbacks.Callback):
    """Adds the current learning rate to the epoch logs (for schedules not set by this module)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and "lr" not in logs:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


# --------------------------------------------------------------------------- a run's callbacks
def monitor_for(config, has_val):
    """`(monitor, mode)`: the metric that picks the best checkpoint (and early stopping), and its direction."""
    monitor = config.monitor
    if monitor == "auto":
        monitor = "val_accuracy" if has_val else "accuracy"
    elif monitor.startswith("val_") and not has_val:
        raise ValueError(f"monitor={monitor!r} needs a validation split (val_split is None).")
    return monitor, "min" if "loss" in monitor else "max"


def schedule_callbacks(config, monitor, mode, budget=None):
    """The callbacks that set (and log as `lr`) the learning rate of `config.schedule`."""
    schedule = epoch_schedule(config, total_epochs=(lambda: budget.planned_epochs) if budget else None)
    if schedule is not None:
        return [EpochLearningRate(schedule)]
    if config.schedule == "plateau":
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            mode=mode,
            factor=config.gamma,
            patience=config.plateau_patience,
            min_lr=config.min_lr,
            verbose=min(1, config.verbose),
        )
        return [plateau, LogLearningRate()]
    return [LogLearningRate()]


class RunCallbacks:
    """The callbacks of one training run, in order, with the two the trainer reads afterwards.

    `guard` is the `NaNGuard` (first in the list), `budget` the `TimeBudget` (None without
    `time_budget_minutes`). `paths` are the run directory's paths
    (`kerasfer.training.rundir.run_paths`); `monitor` and `mode` (from `monitor_for`) pick the
    best checkpoint; `start` is the `time.time()` at which the run's budget starts counting;
    `classifier` is the model the best checkpoint holds (default: the fitted model; see `BestWeights`).
    Building the list writes nothing.
    """

    def __init__(self, config, paths, monitor, mode, start, extra=None, classifier=None):
        self.monitor, self.mode = monitor, mode
        self.guard = NaNGuard(paths["last_good"])
        self.budget = None
        if config.time_budget_minutes:
            # `start` is the train() call's time.time(); the callback counts on the same clock
            self.budget = TimeBudget(60.0 * config.time_budget_minutes, config.epochs, start=start, clock=time.time)
        callbacks = [self.guard] + ([self.budget] if self.budget else [])
        callbacks += schedule_callbacks(config, monitor, mode, self.budget)
        callbacks += [
            BestWeights(paths["best"], monitor, mode, target=classifier),
            EpochLog(paths["csv"]),
        ]
        if config.early_stopping_patience:
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping_patience)
            )
        callbacks.append(keras.callbacks.BackupAndRestore(paths["backup"], save_freq="epoch", delete_checkpoint=True))
        self.callbacks = callbacks + list(extra or [])
