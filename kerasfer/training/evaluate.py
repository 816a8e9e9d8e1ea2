"""`evaluate(...)`: a trained model on a dataset split -> metrics report (JSON + Markdown + PNG).

The model comes from `kerasfer.models.load_trained` (a run directory, a `.keras` or
`.weights.h5` file, a packaged name). The images go through the same
`kerasfer.data.pipeline.prepare_images` definition as in training, at the model's input shape,
so a 48x48 grayscale FER2013 face and a 100x100 RGB RAF-DB face reach the model the way it was
trained. `tta="flip"` / `"crops"` averages the probabilities over mirrored / ten-crop views
(`kerasfer.inference.tta`); the report records the mode and its cost in model calls per image.
"""

from __future__ import annotations

import json

import keras
import numpy as np

from kerasfer.training import metrics as M


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
    tta="none",
    progress=None,
):
    """`(labels (N,), scores (N, C))` for a split, through the shared preprocessing.

    `tta`: a `kerasfer.inference.tta.TTA_MODES` mode. `progress`: an optional `print`-like
    callable, told how many images are done every few seconds.
    """
    import time

    from kerasfer.data import datasets
    from kerasfer.inference.tta import check_mode
    from kerasfer.inference.tta import predict_tta

    check_mode(tta)
    last = [time.monotonic()]

    def predict(x):
        return np.asarray(model.predict_on_batch(x))

    def tell(done, final=False):
        if progress is not None and (final or time.monotonic() - last[0] > 5):
            progress(f"evaluated {done:,} images" + (f" in {time.monotonic() - start:.1f} s" if final else ""))
            last[0] = time.monotonic()

    start = time.monotonic()
    if progress is not None:
        progress(f"evaluating {dataset}/{split} (loading or preparing the dataset) ...")
    if keras.backend.backend() == "tensorflow":
        from kerasfer.data import pipeline

        raw = datasets.load(dataset, split, data_dir=data_dir, manual_dir=manual_dir)
        if max_examples:
            raw = raw.take(max_examples)
        ds = pipeline.make_pipeline(raw, input_shape, batch_size, training=False)
        ys, ps = [], []
        for x, y in ds:
            ps.append(predict_tta(predict, np.asarray(x), tta))
            ys.append(np.asarray(y))
            tell(sum(len(v) for v in ys))
        if not ys:
            raise ValueError(f"Split {split!r} of {dataset!r} is empty.")
        tell(sum(len(v) for v in ys), final=True)
        return np.concatenate(ys).astype("int64"), np.concatenate(ps).astype("float64")
    x, y = datasets.load_numpy(dataset, split, input_shape, data_dir=data_dir, manual_dir=manual_dir)
    if max_examples:
        x, y = x[:max_examples], y[:max_examples]
    if len(y) == 0:
        raise ValueError(f"Split {split!r} of {dataset!r} is empty.")
    out = []
    for i in range(0, len(x), batch_size):
        out.append(predict_tta(predict, x[i : i + batch_size], tta))
        tell(i + len(out[-1]))
    tell(len(y), final=True)
    return np.asarray(y).astype("int64"), np.concatenate(out).astype("float64")


def run_config_of(source):
    """The `TrainConfig` of the run `source` belongs to (a run directory, or a file in one), with the path of
    its `config.json`; None for anything else (a packaged name, a `keras.Model`, a file outside a run)."""
    import os
    import pathlib

    from kerasfer.models.loading import _run_dir_of
    from kerasfer.run_files import CONFIG_FILE
    from kerasfer.training.config import TrainConfig

    if not isinstance(source, str | os.PathLike):
        return None
    path = pathlib.Path(source)
    if path.is_dir():
        run_dir = path if (path / CONFIG_FILE).is_file() else None
    elif path.is_file():
        run_dir = _run_dir_of(path)
    else:
        return None
    if run_dir is None or not (run_dir / CONFIG_FILE).is_file():
        return None
    return TrainConfig.from_json(run_dir / CONFIG_FILE), str(run_dir / CONFIG_FILE)


def _default_data(loaded, model, weights, split):
    """`(dataset, split, data_dir, manual_dir, where)` of a model evaluated with no dataset named: the run's own
    (its `config.json`), else the packaged weights' card's; a `UserError` when neither says."""
    from kerasfer.paths import UserError

    found = run_config_of(weights if weights is not None else model)
    if found is not None:
        config, where = found
        if split is None:
            from kerasfer.training.data import _available_splits
            from kerasfer.training.data import resolve_val_split

            splits = _available_splits(config)
            split = "test" if splits is None or "test" in splits else resolve_val_split(config)
            if split is None:
                raise UserError(f"The run's dataset {config.dataset} has no test or validation split: give --split.")
        return config.dataset, split, config.data_dir, config.manual_dir, where
    evaluation = (loaded.card or {}).get("evaluation") or {}
    if evaluation.get("dataset"):
        return evaluation["dataset"], split or evaluation.get("split") or "test", None, None, "the model card"
    raise UserError(
        f"Which dataset should {loaded.source} be evaluated on? It is not a training run whose config.json names "
        "one: give --dataset (e.g. --dataset fer2013 --manual-dir DIR)."
    )


def evaluate(
    model=None,
    *,
    weights=None,
    dataset=None,
    split=None,
    data_dir=None,
    manual_dir=None,
    batch_size=64,
    input_shape=None,
    max_examples=None,
    output=None,
    class_names=None,
    tta="none",
    progress=None,
) -> dict:
    """Evaluates a trained model on `dataset`/`split`; returns the report dict.

    Args:
        model: a `keras.Model`, a registry key (with `weights`), or what `weights` may be.
        weights: a run directory, a `.keras` / `.weights.h5` file or a packaged name
            (`kerasfer.models.load_trained`).
        dataset: a TFDS name; None: the dataset the run was trained on (its `config.json`, with its
            `data_dir` and `manual_dir` unless given), else the packaged weights' evaluation dataset; the
            report's `dataset_from` says which (None when `dataset` was given).
        split: None: `"test"` (a run whose dataset has no test split: its validation split; packaged weights:
            the split of their card).
        input_shape: must match the model's input when given (a clear error otherwise).
        tta: test-time augmentation, `"none"` (default), `"flip"` or `"crops"`.
        progress: optional `print`-like callable for progress lines.
        output: path of the JSON report; a Markdown summary (`.md`) and the confusion-matrix
            plot (`_confusion.png`) are written beside it.

    The report has `accuracy`, `mean_class_accuracy`, `macro_f1`, `macro_precision`,
    `macro_recall`, `roc_auc_ovr_macro`, `per_class` (precision, recall, F1, AUC, support),
    `confusion_matrix`, `num_examples`, plus `model`, `weights`, `dataset`, `split`,
    `input_shape`, `tta` and `tta_views`, and the paths written.
    """
    from kerasfer.data import datasets
    from kerasfer.inference.tta import num_views
    from kerasfer.models.loading import load_model_and_weights

    if output is not None:
        from kerasfer.paths import check_output_file

        M.require_plotting()  # before any work: the plot is the last thing written
        check_output_file(output, flag="--output")
    loaded = load_model_and_weights(model, weights)
    net, shape = loaded.model, loaded.input_shape
    dataset_from = None
    if dataset is None:
        dataset, split, run_data_dir, run_manual_dir, dataset_from = _default_data(loaded, model, weights, split)
        data_dir, manual_dir = data_dir or run_data_dir, manual_dir or run_manual_dir
    split = split or "test"
    if progress is not None and dataset_from is not None:
        progress(f"dataset {dataset}, split {split}: from {dataset_from} (give --dataset / --split for others)")
    if input_shape is not None and tuple(input_shape) != tuple(shape):
        raise ValueError(
            f"The model was trained at input_shape={tuple(shape)}; it cannot evaluate at {tuple(input_shape)} "
            "(the preprocessing is part of the model's definition)."
        )
    views = num_views(tta)

    y, probs = predict_split(
        net,
        dataset,
        split,
        shape,
        data_dir=data_dir,
        manual_dir=manual_dir,
        batch_size=batch_size,
        max_examples=max_examples,
        tta=tta,
        progress=progress,
    )
    c = probs.shape[1]
    if y.max() >= c:
        raise ValueError(
            f"{dataset!r} has labels up to {int(y.max())} but the model has only {c} outputs; "
            "evaluate it on a dataset with the classes it was trained on."
        )
    if class_names is None:
        names = tuple(datasets.class_names(dataset))
        class_names = names if len(names) == c else loaded.labels
    report = M.classification_report(y, probs, class_names)
    report.update(
        {
            "model": getattr(net, "name", str(model)),
            "weights": None if weights is None else str(weights),
            "source": loaded.source,
            "dataset": dataset,
            "dataset_from": dataset_from,
            "split": split,
            "input_shape": list(shape),
            "tta": tta,
            "tta_views": views,
        }
    )
    if output:
        out = str(output)
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
