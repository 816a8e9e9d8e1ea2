"""k-fold cross-validation (LFNSB paper, Table 9): stratified, subject-wise where the dataset has subjects.

`cross_validate(config, folds=5)` pools one split, divides it into `folds` folds that keep the
class proportions (and never put one subject's images in two folds, when the dataset has a
`subject` feature), trains a fresh model per fold with `kerasfer.training.trainer.train`
(validating on the held-out fold) and reports each fold's accuracy, mean class accuracy and
macro-F1 with their mean and standard deviation (population std, ddof=0, and the sample std).
"""

from __future__ import annotations

import json
import os

import numpy as np

from kerasfer.training import metrics as M


def stratified_kfold(labels, folds, seed=0, groups=None):
    """`[(train_idx, val_idx), ...]`: class-stratified folds; group-aware when `groups` is given.

    Without groups every class is shuffled and dealt round-robin over the folds, so fold
    class counts differ by at most one. With groups (subject ids) whole groups are placed,
    largest first, in the fold whose class counts are furthest below their target
    (a greedy stratified group k-fold), so no subject appears in two folds.
    """
    y = np.asarray(labels).astype("int64")
    if y.ndim != 1 or y.size == 0:
        raise ValueError("labels must be a non-empty 1-D array.")
    folds = int(folds)
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}.")
    rng = np.random.default_rng(seed)
    assign = np.empty(y.size, np.int64)
    if groups is None:
        if y.size < folds:
            raise ValueError(f"{y.size} examples cannot make {folds} folds.")
        offset = 0
        for k in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == k))
            assign[idx] = (np.arange(idx.size) + offset) % folds
            offset += idx.size  # continue the deal so small classes don't all land in fold 0
    else:
        g = np.asarray(groups)
        if g.shape != y.shape:
            raise ValueError(f"groups has shape {g.shape}, labels {y.shape}.")
        uniq, inverse = np.unique(g, return_inverse=True)
        if uniq.size < folds:
            raise ValueError(f"{uniq.size} subjects cannot make {folds} subject-wise folds.")
        num_classes = int(y.max()) + 1
        group_counts = np.zeros((uniq.size, num_classes))
        np.add.at(group_counts, (inverse, y), 1)
        target = np.bincount(y, minlength=num_classes) / folds
        fold_counts = np.zeros((folds, num_classes))
        order = rng.permutation(uniq.size)
        order = order[np.argsort(-group_counts[order].sum(1), kind="stable")]
        group_fold = np.empty(uniq.size, np.int64)
        for gi in order:
            after = fold_counts + group_counts[gi]
            cost = np.maximum(after - target, 0).sum(1) + 1e-3 * after.sum(1)
            f = int(np.argmin(cost))
            group_fold[gi] = f
            fold_counts[f] += group_counts[gi]
        assign = group_fold[inverse]
    splits = []
    for f in range(folds):
        val = np.flatnonzero(assign == f)
        train = np.flatnonzero(assign != f)
        if val.size == 0:
            raise ValueError(f"fold {f} is empty; use fewer folds.")
        splits.append((train, val))
    return splits


def load_groups(dataset, split, data_dir=None, num_examples=None):
    """Subject ids for each example of a TFDS split, or None when the dataset has none."""
    try:
        import tensorflow_datasets as tfds

        import kerasfer  # noqa: F401  (registers the builders)

        builder = tfds.builder(dataset, data_dir=data_dir)
        features = builder.info.features
    except Exception:  # noqa: BLE001 - no TFDS / unknown builder: no subjects
        return None
    key = next((k for k in ("subject", "subject_id") if k in features), None)
    if key is None:
        return None
    ds = builder.as_dataset(split=split, shuffle_files=False)
    ids = [ex[key] for ex in tfds.as_numpy(ds.map(lambda ex: {key: ex[key]}))]
    ids = np.asarray([i.decode() if isinstance(i, bytes) else i for i in ids])
    return ids[:num_examples] if num_examples else ids


def _summary(values):
    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "std_sample": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "values": v.tolist(),
    }


def cross_validate(config, folds=5, split=None, subject_wise=True, arrays=None, groups=None):
    """Runs k-fold cross-validation; writes `<output_dir>/cv_report.json` and one run per fold.

    Args:
        config: `TrainConfig` for every fold (`output_dir` is the CV folder).
        folds: k.
        split: the split to pool (default `config.train_split`).
        subject_wise: use the dataset's subject ids when it has them.
        arrays, groups: `(images, labels)` and optional subject ids instead of loading a split.
    """
    from kerasfer.training import trainer

    split = split or config.train_split
    out = config.output_dir
    if arrays is None:
        from kerasfer.data import datasets

        shape = trainer.resolve_input_shape(config)
        x, y = datasets.load_numpy(config.dataset, split, shape, data_dir=config.data_dir, manual_dir=config.manual_dir)
        if config.max_train_examples:
            x, y = x[: config.max_train_examples], y[: config.max_train_examples]
        if groups is None and subject_wise:
            groups = load_groups(config.dataset, split, config.data_dir, len(y))
    else:
        x, y = arrays
    y = np.asarray(y).astype("int64")
    if groups is not None and len(groups) != len(y):
        raise ValueError(f"{len(groups)} subject ids for {len(y)} examples.")
    report_path = os.path.join(out, "cv_report.json")
    if os.path.exists(report_path) and config.on_existing != "overwrite":
        raise FileExistsError(f"{out!r} already holds a finished cross-validation ({report_path}); use a new output.")
    os.makedirs(out, exist_ok=True)
    config.to_json(os.path.join(out, "cv_config.json"))
    splits = stratified_kfold(y, folds, seed=config.seed, groups=groups)
    per_fold = []
    for f, (tr, va) in enumerate(splits):
        fold_cfg = config.replace(output_dir=os.path.join(out, f"fold_{f + 1}"), max_train_examples=None)
        if config.verbose:
            print(f"fold {f + 1}/{folds}: {tr.size} train, {va.size} validation examples")
        result = trainer.train(fold_cfg, arrays={"train": (x[tr], y[tr]), "val": (x[va], y[va])})
        probs = np.asarray(result.model.predict(x[va], batch_size=config.batch_size, verbose=0))
        rep = M.classification_report(y[va], probs, list(result.class_names)[: probs.shape[1]])
        per_fold.append(
            {
                "fold": f + 1,
                "train_examples": int(tr.size),
                "val_examples": int(va.size),
                "accuracy": rep["accuracy"],
                "mean_class_accuracy": rep["mean_class_accuracy"],
                "macro_f1": rep["macro_f1"],
                "confusion_matrix": rep["confusion_matrix"],
                "run_dir": fold_cfg.output_dir,
            }
        )
    report = {
        "model": config.model,
        "dataset": config.dataset,
        "split": split,
        "folds": int(folds),
        "subject_wise": groups is not None,
        "num_examples": int(len(y)),
        "per_fold": per_fold,
        "summary": {k: _summary([r[k] for r in per_fold]) for k in ("accuracy", "mean_class_accuracy", "macro_f1")},
        "report_path": report_path,
    }
    with open(report_path, "w") as fh:
        json.dump(report, fh, indent=2)
    return report
