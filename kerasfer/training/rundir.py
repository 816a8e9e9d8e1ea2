"""The run directory (`TrainConfig.output_dir`): what a training run writes where, and when it may reuse one.

What a run directory ends up holding (the file names, their readers and writers) is `kerasfer.run_files`'s;
`run_paths` is re-exported here.

Deciding what to do with an existing directory (`plan_output_dir`) only reads it; the trainer
applies the decision (`apply_plan`) once the data and the model have been checked, so a run that
cannot start leaves the directory as it was.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import shutil

from kerasfer.run_files import run_paths
from kerasfer.run_files import save_preprocessing
from kerasfer.run_files import write_labels
from kerasfer.training.config import TrainConfig

logger = logging.getLogger(__name__)

# Config fields that may change when a run is resumed.
_RESUMABLE_CHANGES = ("epochs", "verbose", "on_existing", "early_stopping_patience")

# What a run writes into its directory (removed when a run that never trained is replaced).
_RUN_FILES = (
    "config",
    "preprocessing",
    "labels",
    "model",
    "checkpoints",
    "backup",
    "csv",
    "history",
    "result",
)


class RunExistsError(FileExistsError):
    """The output directory already holds a run that cannot be resumed."""


_paths = run_paths  # the name the trainer used


def trained_an_epoch(out) -> bool:
    """Whether the run in `out` finished at least one epoch.

    An epoch leaves a row in `log.csv`, a best checkpoint, or BackupAndRestore state; a
    finished run leaves `model.keras`. (`checkpoints/last_good.weights.h5` alone proves
    nothing: it is written with the initial weights before the first epoch.)
    """
    p = run_paths(out)
    if os.path.exists(p["model"]) or os.path.exists(p["best"]):
        return True
    if os.path.isdir(p["backup"]) and os.listdir(p["backup"]):
        return True
    if os.path.exists(p["csv"]):
        with open(p["csv"], newline="") as f:
            return any(True for _ in csv.DictReader(f))
    return False


@dataclasses.dataclass(frozen=True)
class RunDirPlan:
    """What `apply_plan` will do with `output_dir`.

    `action` is `"create"` (a new or empty folder), `"resume"` (continue the unfinished run
    there), `"overwrite"` (delete the run there first, `on_existing="overwrite"`) or
    `"replace"` (the run there never finished an epoch: its files are replaced); `note` says
    why for `"replace"`.
    """

    output_dir: str
    action: str
    note: str | None = None

    @property
    def resumed(self) -> bool:
        return self.action == "resume"


def _config_changes(out, config):
    saved = TrainConfig.from_json(run_paths(out)["config"]).to_dict()
    now = config.to_dict()
    diff = sorted(k for k in now if k not in _RESUMABLE_CHANGES and saved.get(k) != now[k])
    return ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff)


def plan_output_dir(config: TrainConfig) -> RunDirPlan:
    """Decides what to do with `config.output_dir`, reading it only; raises `RunExistsError` to refuse.

    Never overwrites silently: a finished run, a run with a different configuration that
    trained at least one epoch, or a non-empty folder that is not a kerasfer run is refused
    unless `on_existing="overwrite"` (which only ever deletes a folder holding a kerasfer
    `config.json`). A run that never finished an epoch (it failed or was stopped while
    starting) is replaced by a new configuration, with a note.
    """
    out = config.output_dir
    p = run_paths(out)
    if not os.path.exists(out) or (os.path.isdir(out) and not os.listdir(out)):
        return RunDirPlan(out, "create")
    if not os.path.isdir(out):
        raise RunExistsError(f"Output path {out!r} exists and is not a directory.")
    if not os.path.exists(p["config"]):
        raise RunExistsError(
            f"Output directory {out!r} is not empty and holds no kerasfer run (no config.json); "
            "choose an empty or new directory."
        )
    if config.on_existing == "overwrite":
        return RunDirPlan(out, "overwrite")
    if os.path.exists(p["model"]):
        raise RunExistsError(
            f"Output directory {out!r} already holds a finished run (model.keras). Choose a new --output, "
            "or pass --overwrite to replace it."
        )
    if config.on_existing == "refuse":
        raise RunExistsError(
            f"Output directory {out!r} holds an unfinished run; pass --resume to continue it or --overwrite to "
            "start again."
        )
    started = trained_an_epoch(out)
    details = _config_changes(out, config)
    if details and started:
        raise RunExistsError(
            f"Output directory {out!r} holds an unfinished run with a different configuration ({details}). "
            "Resume it with the same settings, choose a new --output, or pass --overwrite."
        )
    if not started:
        note = f"Output directory {out!r} holds a run that never finished an epoch"
        note += f" with a different configuration ({details}); replacing it." if details else "; starting it again."
        return RunDirPlan(out, "replace", note)
    return RunDirPlan(out, "resume")


def apply_plan(plan: RunDirPlan) -> bool:
    """Creates, clears or keeps `plan.output_dir` as planned; returns True when a run is resumed."""
    out = plan.output_dir
    if plan.action == "overwrite":
        shutil.rmtree(out)
    elif plan.action == "replace":
        logger.warning(plan.note)
        for key in _RUN_FILES:
            path = run_paths(out)[key]
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    elif plan.action not in ("create", "resume"):
        raise ValueError(f"Unknown run-directory action {plan.action!r}.")
    os.makedirs(out, exist_ok=True)
    return plan.resumed


def prepare_output_dir(config: TrainConfig) -> bool:
    """Creates or checks `config.output_dir` (`plan_output_dir` + `apply_plan`). True when a run is resumed."""
    return apply_plan(plan_output_dir(config))


def write_run_files(config: TrainConfig, input_shape, class_names) -> dict:
    """Writes `config.json`, `preprocessing.json` and `labels.txt`, makes `checkpoints/`; returns the paths."""
    p = run_paths(config.output_dir)
    os.makedirs(p["checkpoints"], exist_ok=True)
    config.to_json(p["config"])
    save_preprocessing(config.output_dir, input_shape, class_names, config.dataset)
    write_labels(class_names, p["labels"])
    return p
