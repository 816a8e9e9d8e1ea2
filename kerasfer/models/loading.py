"""`load_trained`: the one way to get a trained classifier, whatever the user has.

Every command (`kerasfer evaluate`, `export`, `predict`) and `kerasfer.FER` load models through
`load_trained`, so each accepts the same things:

- a **run directory** written by `kerasfer train` (`model.keras`, `preprocessing.json`,
  `labels.txt`, `config.json`; an unfinished run loads its best checkpoint, built from the
  run's `config.json`);
- a **`.keras` file** (its `preprocessing.json` / `labels.txt` are looked for beside it and, for
  files inside a run's `checkpoints/`, one folder up);
- a **`.weights.h5` file**, with the registry name of its architecture, or without when a run's
  `config.json` beside it (or one folder up) names it;
- a **packaged name**: `"fer2013"` with the model's registry name, or `"resnet18_small/fer2013"`
  / `"resnet18_small:fer2013"` alone (weights shipped inside the package, no download);
- a `keras.Model` (used as it is).

It returns a `TrainedModel`: the model, its input shape, its class names (in output order) and
where they came from, the saved preprocessing, the packaged model card, and the face-crop
margin the weights were trained with. Labels are taken, in this order, from the packaged card,
a `<stem>.labels.txt` beside the file, `labels.txt` in the run, the run's
`preprocessing.json`, and otherwise the canonical order (`kerasfer.data.labels`); a label file
whose length does not match the model's outputs is an error, never silently ignored.

A bare registry name with no weights builds an untrained model only with
`allow_untrained=True`; the result then has `trained=False` so callers can warn.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import zipfile

from kerasfer.run_files import BEST_CHECKPOINT as RUN_CHECKPOINT
from kerasfer.run_files import CONFIG_FILE
from kerasfer.run_files import LABELS_FILE
from kerasfer.run_files import LABELS_SUFFIX
from kerasfer.run_files import MODEL_FILE as RUN_MODEL_FILE
from kerasfer.run_files import PREPROCESSING_FILE
from kerasfer.run_files import file_stem
from kerasfer.run_files import is_run_dir
from kerasfer.run_files import load_preprocessing
from kerasfer.run_files import read_json
from kerasfer.run_files import read_labels
from kerasfer.run_files import read_run_config

read_label_file = read_labels  # the name this module gave it


@dataclasses.dataclass
class TrainedModel:
    """A loaded classifier and what belongs with it.

    Attributes:
        model: the `keras.Model` (raw `[0, 255]` pixels in, class scores out).
        input_shape: `(H, W, C)` the model takes.
        labels: class names in output order.
        labels_source: where the labels came from (a path, `"model card"`, `"canonical"`).
        source: what was loaded, for messages and reports (a path or `model/name`).
        kind: `"run"`, `"keras"`, `"weights"`, `"packaged"`, `"model"` or `"untrained"`.
        model_name: the registry key when known.
        preprocessing: the saved `preprocessing.json` (None when there is none).
        card: the packaged model card (None for other sources).
        trained: False only for an untrained registry model (`allow_untrained=True`).
    """

    model: object
    input_shape: tuple
    labels: tuple
    labels_source: str
    source: str
    kind: str
    model_name: str | None = None
    preprocessing: dict | None = None
    card: dict | None = None
    trained: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def align_margin(self) -> float | None:
        """The face-crop margin the weights were trained with (packaged card or preprocessing.json), or None."""
        for d in ((self.card or {}).get("preprocessing") or {}, self.preprocessing or {}):
            if d.get("align_margin") is not None:
                return float(d["align_margin"])
        return None


def canonical_labels(num_classes: int) -> tuple[str, ...]:
    """`kerasfer.data.labels.CANONICAL_LABELS[:num_classes]` (FER2013 order + contempt; `class_<i>` beyond 8)."""
    from kerasfer.data.labels import CANONICAL_LABELS

    n = int(num_classes)
    if n <= len(CANONICAL_LABELS):
        return tuple(CANONICAL_LABELS[:n])
    return tuple(CANONICAL_LABELS) + tuple(f"class_{i}" for i in range(len(CANONICAL_LABELS), n))


def labels_beside(path) -> tuple[tuple[str, ...], str] | None:
    """Label names stored next to a model file, with the file they came from, or None.

    Looked for, in order: `<stem>.labels.txt`, a model card `<stem>.card.json` / `<stem>.json` with a
    `"labels"` or `"class_names"` list (what `kerasfer export` and the packaged weights write), then a
    shared `labels.txt` in the same folder.
    """
    path = pathlib.Path(path)
    stem = file_stem(path)
    own = path.with_name(stem + LABELS_SUFFIX)
    if own.is_file():
        return tuple(read_labels(own)), str(own)
    for card in (path.with_name(f"{stem}.card.json"), path.with_name(f"{stem}.json")):
        if not card.is_file():
            continue
        data = read_json(card, "model card")
        for key in ("labels", "class_names"):
            if isinstance(data.get(key), list) and data[key]:
                return tuple(str(v) for v in data[key]), str(card)
    shared = path.with_name(LABELS_FILE)
    if shared.is_file():
        return tuple(read_labels(shared)), str(shared)
    return None


def _run_dir_of(path: pathlib.Path) -> pathlib.Path | None:
    """The run directory a file belongs to (its folder, or one up for `checkpoints/`), if it is one."""
    return next((folder for folder in (path.parent, path.parent.parent) if is_run_dir(folder)), None)


def split_packaged_name(text: str):
    """`"resnet18_small/fer2013"` or `"resnet18_small:fer2013"` -> `("resnet18_small", "fer2013")` when that
    registered model ships weights of that name; else None."""
    from kerasfer.models.registry import list_models
    from kerasfer.models.weights import packaged_weights

    for sep in (":", "/"):
        model, found, name = text.partition(sep)
        if found and model.lower() in list_models() and (model.lower(), name) in packaged_weights(model.lower()):
            return model.lower(), name
    return None


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or text.endswith((".keras", ".h5", ".tflite")) or os.path.exists(text)


def _build(model_name, *, weights=None, num_classes=None, input_shape=None, model_kwargs=None):
    from kerasfer.models.registry import create_model

    kwargs = dict(model_kwargs or {})
    if num_classes is not None:
        kwargs["num_classes"] = int(num_classes)
    if input_shape is not None:
        kwargs["input_shape"] = tuple(int(d) for d in input_shape)
    return create_model(model_name, weights=weights, **kwargs)


def _model_shape(model) -> tuple:
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(f"The model must take (H, W, C) images of a fixed size; its input is {shape}.")
    return tuple(int(d) for d in shape)


def _num_outputs(model) -> int:
    shape = tuple(model.outputs[0].shape)
    if len(model.outputs) != 1 or len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"{model.name!r} is not a classifier: it must have one (batch, num_classes) output, "
            f"it has {[tuple(o.shape) for o in model.outputs]} (built with include_top=False?)."
        )
    return int(shape[-1])


def _finish(model, *, source, kind, labels=None, labels_source=None, model_name=None, prep=None, card=None,
            trained=True, file_for_labels=None) -> TrainedModel:  # fmt: skip
    """The `TrainedModel` of a loaded `model`: `labels` are the caller's (`"argument"` unless `labels_source` says
    otherwise); without them they come from beside `file_for_labels`, `prep`, or the canonical order."""
    shape = _model_shape(model)
    n = _num_outputs(model)
    if labels is not None and labels_source is None:
        labels_source = "argument"
    if prep is not None and tuple(prep["input_shape"]) != shape:
        raise ValueError(
            f"{source}: {PREPROCESSING_FILE} says input_shape={tuple(prep['input_shape'])} but the model takes {shape}."
        )
    if labels is None and file_for_labels is not None:
        found = labels_beside(file_for_labels)
        if found is not None:
            labels, labels_source = found
    if labels is None and prep is not None and prep.get("class_names"):
        labels, labels_source = tuple(prep["class_names"]), PREPROCESSING_FILE
    if labels is None:
        labels, labels_source = canonical_labels(n), "canonical"
    labels = tuple(str(v) for v in labels)
    if len(labels) != n:
        raise ValueError(
            f"{len(labels)} labels {list(labels)} (from {labels_source}) for a model with {n} outputs ({source})."
        )
    return TrainedModel(
        model=model,
        input_shape=shape,
        labels=labels,
        labels_source=labels_source,
        source=str(source),
        kind=kind,
        model_name=model_name,
        preprocessing=prep,
        card=card,
        trained=trained,
    )


def load_trained(
    source,
    model_name: str | None = None,
    *,
    num_classes: int | None = None,
    input_shape=None,
    labels=None,
    allow_untrained: bool = False,
) -> TrainedModel:
    """Loads a trained classifier from a run directory, a `.keras` / `.weights.h5` file, a packaged name or a model.

    Args:
        source: see the module docstring. A registry name alone (`"lfnsb"`) is an untrained model and
            needs `allow_untrained=True`.
        model_name: the registry key of the architecture: needed for a `.weights.h5` file outside a run and
            for a bare packaged name (`"fer2013"`); checked against the run's when both are known.
        num_classes, input_shape: build arguments for a `.weights.h5` file or an untrained model (default:
            the run's, the card's, or the registry's).
        labels: class names to use instead of the stored ones (checked against the outputs).
        allow_untrained: let a bare registry name build a randomly initialised model.

    Returns:
        A `TrainedModel`.

    Raises:
        FileNotFoundError: a path that does not exist, or a run with neither `model.keras` nor a checkpoint.
        ValueError: anything that does not fit (an unknown name, weights of another architecture, labels whose
            number differs from the outputs, an unreadable file).
    """
    labels = None if labels is None else tuple(str(v) for v in labels)
    if hasattr(source, "inputs") and hasattr(source, "predict_on_batch"):
        return _finish(source, source=getattr(source, "name", "model"), kind="model", labels=labels)
    if source is None:
        if model_name is None:
            raise ValueError("Nothing to load: give a run directory, a .keras / .weights.h5 file or a packaged name.")
        source, model_name = model_name, None
    text = os.fspath(source)
    name = None if model_name is None else str(model_name).lower()
    if name is not None:
        from kerasfer.models.registry import get_model_info

        name = get_model_info(name).name  # a clear error for an unknown architecture
    path = pathlib.Path(text)
    if path.is_dir():
        return _load_run(path, name, labels)
    if not path.exists():
        packaged = split_packaged_name(text)
        if packaged is not None:
            if name is not None and name != packaged[0]:
                raise ValueError(f"{text!r} are weights of {packaged[0]!r}, not of {name!r}.")
            return _load_packaged(*packaged, labels=labels, num_classes=num_classes, input_shape=input_shape)
        if not _looks_like_path(text):
            return _load_name(text, name, labels, num_classes, input_shape, allow_untrained)
        raise FileNotFoundError(f"No such model file or run directory: {text}")
    if text.endswith(".tflite"):
        raise ValueError(f"{text} is a TFLite file: run it with kerasfer.FER(tflite=...) or `--tflite`, not as Keras.")
    if text.endswith((".keras", ".weights.h5")):
        return _load_file(path, name, labels, num_classes, input_shape)
    raise ValueError(
        f"{text}: expected a run directory, a .keras or .weights.h5 file (or a packaged name such as "
        "'resnet18_small/fer2013')."
    )


def load_model_and_weights(model=None, weights=None, **kwargs) -> TrainedModel:
    """`load_trained` for the `--model` / `--weights` pair every command takes (and `FER(model, weights)`).

    With `weights`, `model` is the architecture's registry name (or a `keras.Model` to load them into); without,
    `model` is itself what to load. `kwargs` are `load_trained`'s.
    """
    if hasattr(model, "inputs") and hasattr(model, "predict_on_batch"):
        if weights is not None:
            model.load_weights(os.fspath(weights))
        return load_trained(model, **kwargs)
    if model is not None and not isinstance(model, str | os.PathLike):
        raise TypeError(f"Expected a keras.Model, a name or a path; got {type(model).__name__}.")
    if weights is not None:
        return load_trained(weights, model, **kwargs)
    if model is None:
        raise ValueError("Nothing to load: give a run directory, a .keras / .weights.h5 file or a packaged name.")
    return load_trained(model, **kwargs)


def _load_file(path: pathlib.Path, name, labels, num_classes=None, input_shape=None) -> TrainedModel:
    """A `.keras` file, or a `.weights.h5` file loaded into a freshly built model; the run directory the file
    belongs to (if any) gives the architecture, the build arguments, the preprocessing and the labels."""
    run_dir = _run_dir_of(path)
    config = (read_run_config(run_dir) if run_dir is not None else None) or {}
    prep = load_preprocessing(run_dir) if run_dir is not None else None
    run_model = config.get("model")
    if name is not None and run_model is not None and run_model != name:
        raise ValueError(f"{path} belongs to a {run_model!r} run, not {name!r}.")
    name = name or run_model
    if path.name.endswith(".keras"):
        model, kind = _read_keras(path), "keras"
    else:
        model, kind = _build_for_weights(path, name, config, prep, num_classes, input_shape), "weights"
    return _finish(model, source=path, kind=kind, labels=labels, model_name=name, prep=prep, file_for_labels=path)


def _read_keras(path: pathlib.Path):
    import keras

    import kerasfer

    kerasfer.register_keras_objects()  # the custom layers and losses, for deserialisation
    if not zipfile.is_zipfile(path):  # Keras would say "File not found" of a file that is there
        raise ValueError(f"{path} is not a Keras model file: a .keras file is a zip archive, and this one is not.")
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001 - name the file that failed
        raise ValueError(f"Could not load the model in {path}: {type(e).__name__}: {e}") from e


def _build_for_weights(path: pathlib.Path, name, config, prep, num_classes, input_shape):
    """The architecture `name` built with the run's (or the given) arguments, with the weights file loaded."""
    if name is None:
        raise ValueError(f"Loading {path} needs the model's registry name (--model NAME; see `kerasfer models`).")
    shape = input_shape or (prep or {}).get("input_shape") or config.get("input_shape")
    n = num_classes or len((prep or {}).get("class_names") or []) or config.get("num_classes") or None
    model = _build(name, num_classes=n, input_shape=shape, model_kwargs=config.get("model_kwargs"))
    try:
        model.load_weights(str(path))
    except Exception as e:  # noqa: BLE001 - name the mismatch
        raise ValueError(
            f"The weights {path} do not fit {name!r} with input_shape={_model_shape(model)}, "
            f"num_classes={_num_outputs(model)}: {e}"
        ) from e
    return model


def _load_run(run_dir: pathlib.Path, name, labels) -> TrainedModel:
    model_file = run_dir / RUN_MODEL_FILE
    if model_file.is_file():
        loaded = _load_file(model_file, name, labels)
        loaded.kind = "run"
        loaded.source = str(run_dir)
        return loaded
    checkpoint = run_dir / RUN_CHECKPOINT
    if checkpoint.is_file() and (run_dir / CONFIG_FILE).is_file():
        loaded = _load_file(checkpoint, name, labels)
        loaded.kind = "run"
        loaded.source = f"{run_dir} (unfinished run: best checkpoint so far)"
        return loaded
    if (run_dir / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{run_dir} holds a training run that has not saved a model or checkpoint yet.")
    raise FileNotFoundError(f"{run_dir} is not a kerasfer run directory (no {RUN_MODEL_FILE} or {CONFIG_FILE}).")


def _load_packaged(model_name, weights_name, *, labels=None, num_classes=None, input_shape=None) -> TrainedModel:
    from kerasfer.models.weights import packaged_card

    card = packaged_card(model_name, weights_name)
    model = _build(model_name, weights=weights_name, num_classes=num_classes, input_shape=input_shape)
    card_labels = tuple(card.get("labels") or ()) if card else ()
    return _finish(
        model,
        source=f"{model_name}/{weights_name}",
        kind="packaged",
        labels=labels or card_labels or None,
        labels_source="argument" if labels else ("model card" if card_labels else None),
        model_name=model_name,
        card=card,
    )


def _load_name(text, name, labels, num_classes, input_shape, allow_untrained) -> TrainedModel:
    from kerasfer.models.registry import get_model_info
    from kerasfer.models.registry import list_models
    from kerasfer.models.weights import packaged_weights

    if name is not None:  # `--model NAME --weights fer2013`
        if (name, text) not in packaged_weights(name):
            shipped = ", ".join(f"{m}/{n}" for m, n in packaged_weights()) or "none"
            raise ValueError(
                f"No packaged weights named {text!r} for {name!r} (packaged: {shipped}); "
                "kerasfer never downloads weights: give a run directory or a .keras / .weights.h5 file."
            )
        return _load_packaged(name, text, labels=labels, num_classes=num_classes, input_shape=input_shape)
    key = text.lower()
    owners = [f"{m}/{n}" for m, n in packaged_weights() if n == text]
    if key not in list_models() and owners:
        raise ValueError(f"{text!r} names packaged weights; say of which model: {', '.join(owners)}.")
    if key not in list_models():
        raise ValueError(
            f"{text!r} is neither a file, a run directory, a packaged name (e.g. "
            f"{', '.join(f'{m}/{n}' for m, n in packaged_weights()) or 'none shipped'}) nor a registered model "
            f"({', '.join(list_models())})."
        )
    if not allow_untrained:
        shipped = sorted(n for _, n in packaged_weights(key))
        hint = f"packaged for it: {', '.join(f'{key}/{n}' for n in shipped)}" if shipped else "none are packaged"
        raise ValueError(
            f"{text!r} alone is an untrained model; give its trained weights (a run directory, a .keras or "
            f".weights.h5 file, or a packaged name; {hint})."
        )
    model = _build(get_model_info(key).name, num_classes=num_classes, input_shape=input_shape)
    return _finish(model, source=key, kind="untrained", labels=labels, model_name=key, trained=False)


__all__ = [
    "TrainedModel",
    "canonical_labels",
    "labels_beside",
    "load_model_and_weights",
    "load_trained",
    "read_label_file",
    "split_packaged_name",
]
