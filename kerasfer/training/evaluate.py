"""`evaluate(...)`: a trained model on a dataset split -> metrics report (JSON + Markdown + PNG).

The images go through the same `kerasfer.data.pipeline.prepare_images` definition as in
training, at the input shape saved with the model (`preprocessing.json`, else the model's
own input shape), so a 48x48 grayscale FER2013 face and a 100x100 RGB RAF-DB face reach the
model the way it was trained.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from kerasfer.training import metrics as M
from kerasfer.training.config import load_preprocessing


def _find_preprocessing(path):
    """`preprocessing.json` beside `path` or one folder up (for checkpoints/*.weights.h5)."""
    prep = load_preprocessing(path)
    if prep is None and not os.path.isdir(path):
        parent = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        prep = load_preprocessing(parent)
    return prep


def load_trained_model(model=None, weights=None, input_shape=None, num_classes=None):
    """Returns `(keras.Model, preprocessing dict or None)`.

    Args:
        model: a registry key (needed for `.weights.h5` files and bundled weight names), or
            None when `weights` is a `.keras` file or a run directory.
        weights: a run directory (holding `model.keras`), a `.keras` file, a `.weights.h5`
            file, or a bundled weights name understood by the model builder.
        input_shape, num_classes: override what `preprocessing.json` says (for `.weights.h5`).
    """
    if isinstance(model, keras.Model):
        return model, None
    if weights is None:
        raise ValueError("evaluate needs trained weights: pass --weights (a run directory, .keras or .weights.h5).")
    weights = str(weights)
    looks_like_path = os.sep in weights or weights.endswith((".keras", ".h5")) or os.path.exists(weights)
    if looks_like_path and not os.path.exists(weights):
        raise FileNotFoundError(f"Weights {weights!r} do not exist.")
    if os.path.isdir(weights):
        path = os.path.join(weights, "model.keras")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{weights!r} is a directory without model.keras (is the training finished?).")
        weights = path
    if weights.endswith(".keras"):
        import kerasfer  # noqa: F401  (registers the custom layers)

        try:
            loaded = keras.saving.load_model(weights, compile=False)
        except Exception as e:  # noqa: BLE001 - report which file failed
            raise ValueError(f"Could not load the model in {weights!r}: {e}") from e
        return loaded, _find_preprocessing(weights)
    from kerasfer.models import create_model
    from kerasfer.models import get_model_info

    if model is None:
        raise ValueError(f"Loading {weights!r} needs --model (the registry key of the architecture).")
    prep = _find_preprocessing(weights) if looks_like_path else None
    shape = tuple(input_shape or (prep or {}).get("input_shape") or get_model_info(model).input_shape)
    n = num_classes or len((prep or {}).get("class_names") or []) or 7
    if weights.endswith(".weights.h5"):
        built = create_model(model, num_classes=n, input_shape=shape)
        try:
            built.load_weights(weights)
        except Exception as e:  # noqa: BLE001
            raise ValueError(
                f"Weights {weights!r} do not fit {model!r} with input_shape={shape}, num_classes={n}: {e}"
            ) from e
        return built, prep
    from kerasfer.models.weights import packaged_card

    card = packaged_card(get_model_info(model).name, weights)
    if card is not None:  # packaged weights: the builder takes their input shape and classes from the card
        kwargs = {}
        if input_shape is not None:
            kwargs["input_shape"] = tuple(input_shape)
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        built = create_model(model, weights=weights, **kwargs)
        prep = {
            "input_shape": [int(d) for d in built.inputs[0].shape[1:]],
            "class_names": list(card.get("labels") or []),
        }
        return built, prep
    return create_model(model, num_classes=n, input_shape=shape, weights=weights), prep


def model_input_shape(model, prep=None):
    shape = tuple(model.input_shape[1:])
    if prep:
        saved = tuple(prep["input_shape"])
        if None not in shape and shape != saved:
            raise ValueError(f"preprocessing.json says input_shape={saved} but the model takes {shape}.")
        return saved
    if None in shape:
        raise ValueError(f"The model's input shape {shape} is not fixed; pass --input-size.")
    return shape


def predict_split(
    model,
    dataset,
    split,
    input_shape,
    *,
    data_dir=None,
    manual_dir=None,
    batch_size=64,
    max_examples=None,
):
    """`(labels (N,), scores (N, C))` for a split, through the shared preprocessing."""
    from kerasfer.data import datasets

    if keras.backend.backend() == "tensorflow":
        from kerasfer.data import pipeline

        raw = datasets.load(dataset, split, data_dir=data_dir, manual_dir=manual_dir)
        if max_examples:
            raw = raw.take(max_examples)
        ds = pipeline.make_pipeline(raw, input_shape, batch_size, training=False)
        ys, ps = [], []
        for x, y in ds:
            ps.append(np.asarray(model.predict_on_batch(x)))
            ys.append(np.asarray(y))
        if not ys:
            raise ValueError(f"Split {split!r} of {dataset!r} is empty.")
        return np.concatenate(ys).astype("int64"), np.concatenate(ps).astype("float64")
    x, y = datasets.load_numpy(dataset, split, input_shape, data_dir=data_dir, manual_dir=manual_dir)
    if max_examples:
        x, y = x[:max_examples], y[:max_examples]
    if len(y) == 0:
        raise ValueError(f"Split {split!r} of {dataset!r} is empty.")
    return np.asarray(y).astype("int64"), np.asarray(model.predict(x, batch_size=batch_size, verbose=0), "float64")


def evaluate(
    model=None,
    *,
    weights=None,
    dataset="synthetic_faces",
    split="test",
    data_dir=None,
    manual_dir=None,
    batch_size=64,
    input_shape=None,
    max_examples=None,
    output=None,
    class_names=None,
) -> dict:
    """Evaluates a trained model on `dataset`/`split`; returns the report dict.

    Args:
        model: a `keras.Model`, or a registry key used with `weights`.
        weights: see `load_trained_model`.
        input_shape: only to override the saved preprocessing (a clear error if the model
            has a fixed, different input).
        output: path of the JSON report; a Markdown summary (`.md`) and the confusion-matrix
            plot (`_confusion.png`) are written beside it.

    The report has `accuracy`, `mean_class_accuracy`, `macro_f1`, `macro_precision`,
    `macro_recall`, `roc_auc_ovr_macro`, `per_class` (precision, recall, F1, AUC, support),
    `confusion_matrix`, `num_examples`, plus `model`, `weights`, `dataset`, `split`,
    `input_shape` and the paths written.
    """
    net, prep = load_trained_model(model, weights, input_shape=input_shape)
    shape = model_input_shape(net, prep)
    if input_shape is not None and tuple(input_shape) != tuple(shape):
        fixed = tuple(net.input_shape[1:])
        if None not in fixed:
            raise ValueError(
                f"The model was trained at input_shape={tuple(shape)}; it cannot evaluate at {tuple(input_shape)} "
                "(the preprocessing is part of the model's definition)."
            )
        shape = tuple(input_shape)
    from kerasfer.data import datasets

    y, probs = predict_split(
        net,
        dataset,
        split,
        shape,
        data_dir=data_dir,
        manual_dir=manual_dir,
        batch_size=batch_size,
        max_examples=max_examples,
    )
    c = probs.shape[1]
    if y.max() >= c:
        raise ValueError(
            f"{dataset!r} has labels up to {int(y.max())} but the model has only {c} outputs; "
            "evaluate it on a dataset with the classes it was trained on."
        )
    if class_names is None:
        names = tuple(datasets.class_names(dataset))
        saved = (prep or {}).get("class_names")
        class_names = names if len(names) == c else (saved if saved and len(saved) == c else None)
    report = M.classification_report(y, probs, class_names)
    report.update(
        {
            "model": getattr(net, "name", str(model)),
            "weights": None if weights is None else str(weights),
            "dataset": dataset,
            "split": split,
            "input_shape": list(shape),
        }
    )
    if output:
        out = str(output)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        stem = out[: -len(".json")] if out.endswith(".json") else out
        png = stem + "_confusion.png"
        md = stem + ".md"
        M.plot_confusion_matrix(
            np.asarray(report["confusion_matrix"]),
            report["class_names"],
            png,
            title=f"{report['model']} on {dataset}/{split}",
        )
        report["confusion_png"] = png
        report["summary_md"] = md
        with open(md, "w") as f:
            f.write(M.markdown_summary(report, title=f"{report['model']} on {dataset} ({split})"))
        with open(out if out.endswith(".json") else out + ".json", "w") as f:
            json.dump(report, f, indent=2)
    return report
