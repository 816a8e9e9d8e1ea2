"""`load_runner`: a classifier runner from what the user has (a run directory, a `.keras` / `.weights.h5` / `.tflite`
file, a packaged name, a `keras.Model`), with its labels.

The runners themselves (`KerasRunner`, `TFLiteRunner`, `make_interpreter`, ...) are `kerasfer.runtime.runners`'s,
re-exported here where users import them.
"""

from __future__ import annotations

import os

from kerasfer.runtime.runners import KerasRunner
from kerasfer.runtime.runners import Runner
from kerasfer.runtime.runners import TFLiteRunner
from kerasfer.runtime.runners import _to_probabilities  # noqa: F401 - re-exported
from kerasfer.runtime.runners import dequantize
from kerasfer.runtime.runners import make_interpreter
from kerasfer.runtime.runners import quantize_input
from kerasfer.runtime.runners import softmax


def load_runner(
    model=None,
    weights=None,
    *,
    tflite=None,
    batch_size: int = 32,
    output: str = "auto",
    labels=None,
    num_classes: int | None = None,
    input_shape=None,
) -> Runner:
    """Builds a runner from what the user has; the runner carries its `labels`, `source` and `align_margin`.

    Args:
        model: a `keras.Model`, a `Runner`, a `.tflite` path, or anything `kerasfer.models.load_trained`
            takes: a run directory, a `.keras` / `.weights.h5` file, a packaged name
            (`"resnet18_small/fer2013"`), or a registry name with `weights=`.
        weights: a run directory, a `.keras` / `.weights.h5` file or a packaged name, for a registry `model`
            (or to load into a `keras.Model`).
        tflite: a `.tflite` path (same as passing it as `model`).
        batch_size, output: see `KerasRunner`.
        labels: class names to use instead of the stored ones.
        num_classes, input_shape: build arguments for a `.weights.h5` file of a registry model.

    Labels of a `.tflite` come from the file's own `kerasfer_metadata` first (what `kerasfer export`
    embeds), then from a `<stem>.labels.txt` / model card / `labels.txt` beside it; of a Keras model, as
    `kerasfer.models.load_trained` says. A label list whose length differs from the outputs is an error.
    """
    from kerasfer.models.loading import canonical_labels
    from kerasfer.models.loading import labels_beside
    from kerasfer.models.loading import load_model_and_weights

    given = None if labels is None else tuple(str(v) for v in labels)
    if tflite is not None:
        if model is not None:
            raise ValueError("Pass either model= or tflite=, not both.")
        if not str(tflite).lower().endswith(".tflite"):
            raise ValueError(f"{tflite} is not a .tflite file: --tflite takes a TFLite classifier (kerasfer export).")
        model = tflite
    if isinstance(model, Runner):
        runner = model
        if given is not None:
            runner.labels = given
    elif isinstance(model, str | os.PathLike) and str(model).lower().endswith(".tflite"):
        if weights is not None:
            raise ValueError("A .tflite file holds its weights; do not pass weights= with it.")
        runner = TFLiteRunner(model, output=output)
        meta = runner.metadata() or {}
        found = labels_beside(model) if not meta.get("labels") else (tuple(meta["labels"]), "the file's metadata")
        runner.labels = given or (found[0] if found else canonical_labels(runner.num_classes))
        runner.labels_source = "argument" if given else (found[1] if found else "canonical")
    else:
        if model is None and weights is None:
            raise ValueError("load_runner needs a model: a run directory, a .keras / .tflite file or a packaged name.")
        loaded = load_model_and_weights(model, weights, num_classes=num_classes, input_shape=input_shape, labels=given)
        runner = KerasRunner(loaded.model, batch_size, output, source=loaded.source)
        runner.labels, runner.labels_source = loaded.labels, loaded.labels_source
        runner.align_margin = loaded.align_margin
    if runner.labels is not None and len(runner.labels) != runner.num_classes:
        raise ValueError(
            f"{len(runner.labels)} labels {list(runner.labels)} for a model with {runner.num_classes} classes"
            f" ({runner.source or 'model'})."
        )
    return runner


__all__ = [
    "KerasRunner",
    "Runner",
    "TFLiteRunner",
    "dequantize",
    "load_runner",
    "make_interpreter",
    "quantize_input",
    "softmax",
]
