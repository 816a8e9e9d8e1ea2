"""The files a training run writes and every command reads back: their names, once, and their readers and writers.

keras-hub's `preset_utils` names every file of a preset in one module; this is that module for the run folder
(`kerasfer train --output RUN`), so training, loading, evaluation, export, the demo and the packaging tool spell
each name the same way:

    config.json           the full TrainConfig (`kerasfer train --config config.json` repeats it)
    preprocessing.json    input shape, colour mode, pixel range, class names (read by evaluate/export)
    labels.txt            one class name per line, in output order
    model.keras           the trained classifier (best validation epoch when there is validation)
    checkpoints/best.weights.h5, checkpoints/last_good.weights.h5
    backup/               BackupAndRestore state while a run is unfinished (resumes with no lost epoch)
    log.csv, history.json, result.json

A labels file (`labels.txt` in a run, `<file>.labels.txt` beside an exported `.tflite`) is read and written by
`read_labels` / `write_labels` only; `preprocessing.json` by `save_preprocessing` / `load_preprocessing` only.
This module imports neither Keras nor TensorFlow.
"""

from __future__ import annotations

import json
import os
import pathlib

CONFIG_FILE = "config.json"
PREPROCESSING_FILE = "preprocessing.json"
LABELS_FILE = "labels.txt"
MODEL_FILE = "model.keras"
CHECKPOINTS_DIR = "checkpoints"
BEST_CHECKPOINT = os.path.join(CHECKPOINTS_DIR, "best.weights.h5")
LAST_GOOD_CHECKPOINT = os.path.join(CHECKPOINTS_DIR, "last_good.weights.h5")
BACKUP_DIR = "backup"
LOG_FILE = "log.csv"
HISTORY_FILE = "history.json"
RESULT_FILE = "result.json"
# The evaluation report `kerasfer demo` writes beside its run folder.
REPORT_FILE = "report.json"
# The suffix of the labels file written beside a single model file (`<stem>.labels.txt`).
LABELS_SUFFIX = ".labels.txt"


def run_paths(out) -> dict:
    """The paths of everything a run writes into `out`, by short name."""
    join = os.path.join
    return {
        "config": join(out, CONFIG_FILE),
        "preprocessing": join(out, PREPROCESSING_FILE),
        "model": join(out, MODEL_FILE),
        "checkpoints": join(out, CHECKPOINTS_DIR),
        "best": join(out, BEST_CHECKPOINT),
        "last_good": join(out, LAST_GOOD_CHECKPOINT),
        "backup": join(out, BACKUP_DIR),
        "csv": join(out, LOG_FILE),
        "history": join(out, HISTORY_FILE),
        "result": join(out, RESULT_FILE),
        "labels": join(out, LABELS_FILE),
    }


def is_run_dir(folder) -> bool:
    """Whether `folder` holds a kerasfer run (its `config.json` or `preprocessing.json`)."""
    folder = pathlib.Path(folder)
    return (folder / CONFIG_FILE).is_file() or (folder / PREPROCESSING_FILE).is_file()


def read_json(path, what: str = "file") -> dict:
    """A JSON object read from `path`; a `ValueError` naming `what` and the file when it is unreadable or not an
    object (a missing file is a `FileNotFoundError`)."""
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"The {what} {path} is unreadable: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"The {what} {path} must hold a JSON object.")
    return data


def read_run_config(run_dir) -> dict | None:
    """The run's `config.json` as a dict (None when there is none)."""
    path = pathlib.Path(run_dir) / CONFIG_FILE
    return read_json(path, "run configuration") if path.is_file() else None


# ------------------------------------------------------------------------------------------- labels
def write_labels(labels, path) -> str:
    """Writes one label per line, in output order; returns the path."""
    labels = [str(x) for x in labels]
    if not labels:
        raise ValueError("No labels to write.")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(labels) + "\n")
    return os.fspath(path)


def read_labels(path) -> list:
    """The class names of a labels file, one per line (blank lines ignored).

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is unreadable or holds no labels.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No labels file at {os.fspath(path)!r}.")
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"Cannot read the label file {path}: {e}") from e
    if not names:
        raise ValueError(f"The label file {path} holds no labels.")
    return names


def labels_path_for(model_path) -> str:
    """`<stem>.labels.txt` beside a model file (`m.tflite`, `m.keras`, `m.weights.h5` -> `m.labels.txt`)."""
    path = pathlib.Path(model_path)
    return os.fspath(path.with_name(file_stem(path) + LABELS_SUFFIX))


def file_stem(path) -> str:
    """A model file's name without its kind's suffix (`.weights.h5`, `.keras`, `.tflite`, `.h5`)."""
    path = pathlib.Path(path)
    for suffix in (".weights.h5", ".keras", ".tflite", ".h5"):
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


# ------------------------------------------------------------------------------------------- preprocessing
def preprocessing_definition(input_shape, class_names=None, dataset=None) -> dict:
    """The single preprocessing definition saved next to a trained model.

    Images reach the model as float32 raw pixels in [0, 255], resized (bilinear, antialiased
    when shrinking) to `input_shape[:2]` and converted gray<->RGB to `input_shape[2]` channels
    by `kerasfer.data.pipeline.prepare_images`; normalisation is the model's own first layer.
    """
    h, w, c = (int(v) for v in input_shape)
    return {
        "input_shape": [h, w, c],
        "color_mode": "grayscale" if c == 1 else "rgb",
        "input_range": [0, 255],
        "dtype": "float32",
        "resize": "bilinear, antialias when shrinking (kerasfer.data.pipeline.prepare_images)",
        "normalization": "inside the model (first layer ImageNormalization)",
        "class_names": list(class_names) if class_names is not None else None,
        "dataset": dataset,
    }


def save_preprocessing(directory, input_shape, class_names=None, dataset=None) -> str:
    """Writes `preprocessing.json` (`preprocessing_definition`) into `directory`; returns its path."""
    path = os.path.join(directory, PREPROCESSING_FILE)
    with open(path, "w") as f:
        json.dump(preprocessing_definition(input_shape, class_names, dataset), f, indent=2)
        f.write("\n")
    return path


def load_preprocessing(model_path) -> dict | None:
    """Reads `preprocessing.json` beside `model_path` (a file or a run directory); None if absent.

    Raises:
        ValueError: the file is unreadable or its `input_shape` is not `[height, width, channels]`.
    """
    directory = model_path if os.path.isdir(model_path) else os.path.dirname(os.path.abspath(model_path))
    path = pathlib.Path(directory) / PREPROCESSING_FILE
    if not path.is_file():
        return None
    prep = read_json(path, "preprocessing file")
    shape = prep.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3):
        raise ValueError(f"{path}: 'input_shape' must be [height, width, channels], got {shape!r}.")
    return prep


__all__ = [
    "BEST_CHECKPOINT",
    "CONFIG_FILE",
    "LABELS_FILE",
    "MODEL_FILE",
    "PREPROCESSING_FILE",
    "REPORT_FILE",
    "file_stem",
    "is_run_dir",
    "labels_path_for",
    "load_preprocessing",
    "preprocessing_definition",
    "read_json",
    "read_labels",
    "read_run_config",
    "run_paths",
    "save_preprocessing",
    "write_labels",
]
