"""Classification metrics in pure NumPy, a confusion-matrix plot and a Markdown summary.

`classification_report(y_true, probs)` returns everything `kerasfer evaluate` writes:
accuracy, mean per-class accuracy (= macro recall, the RAF-DB papers' "average accuracy"),
macro-F1, per-class precision/recall/F1/support, one-vs-rest ROC AUC and the confusion
matrix (rows = true class, columns = predicted class).
"""

from __future__ import annotations

import numpy as np


def _check_labels(y_true, num_classes, what="y_true"):
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array of integer labels, got shape {y.shape}.")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError(f"{what} must hold integer class ids; found non-integer values.")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)]
        raise ValueError(f"{what} has labels out of range [0, {num_classes - 1}]: e.g. {bad[:5].tolist()}.")
    return y.astype(np.int64)


def _check_probs(probs):
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (num_examples, num_classes), got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities contain NaN or infinite values (did the model diverge?).")
    return p


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; rows are true classes, columns predictions."""
    y_true = _check_labels(y_true, num_classes)
    y_pred = _check_labels(y_pred, num_classes, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape[0]} vs {y_pred.shape[0]}.")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def _safe_div(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b > 0)
    return out


def precision_recall_f1(cm: np.ndarray):
    """Per-class precision, recall, F1 and support from a confusion matrix (0 where undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    precision = _safe_div(tp, cm.sum(axis=0))
    recall = _safe_div(tp, cm.sum(axis=1))
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return precision, recall, f1, cm.sum(axis=1).astype(np.int64)


def binary_roc_auc(y_binary, scores) -> float:
    """ROC AUC of `scores` for the binary labels `y_binary` (Mann-Whitney U, ties averaged).

    Returns NaN when only one class is present.
    """
    y = np.asarray(y_binary).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # average ranks over ties (1-based)
    i = 0
    while i < s.size:
        j = i
        while j + 1 < s.size and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_auc_ovr(y_true, probs) -> np.ndarray:
    """One-vs-rest ROC AUC per class (NaN for a class absent from `y_true` or present alone)."""
    p = _check_probs(probs)
    y = _check_labels(y_true, p.shape[1])
    return np.array([binary_roc_auc(y == k, p[:, k]) for k in range(p.shape[1])])


def classification_report(y_true, probs, class_names=None) -> dict:
    """All evaluation figures as a JSON-able dict.

    Args:
        y_true: (N,) integer labels.
        probs: (N, C) class scores (probabilities or logits; AUC and argmax need only order).
        class_names: C names (default "0".."C-1").
    """
    p = _check_probs(probs)
    n, c = p.shape
    if n == 0:
        raise ValueError("No examples to evaluate (the split is empty).")
    y = _check_labels(y_true, c)
    if y.shape[0] != n:
        raise ValueError(f"{y.shape[0]} labels but {n} predictions.")
    if class_names is None:
        class_names = [str(i) for i in range(c)]
    class_names = list(class_names)
    if len(class_names) != c:
        raise ValueError(f"{len(class_names)} class names for {c} model outputs: {class_names}.")
    y_pred = p.argmax(axis=1)
    cm = confusion_matrix(y, y_pred, c)
    precision, recall, f1, support = precision_recall_f1(cm)
    present = support > 0
    auc = roc_auc_ovr(y, p)
    valid_auc = auc[np.isfinite(auc)]
    per_class = {}
    for k, name in enumerate(class_names):
        per_class[name] = {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
            "roc_auc": None if not np.isfinite(auc[k]) else float(auc[k]),
        }
    return {
        "num_examples": int(n),
        "num_classes": int(c),
        "class_names": class_names,
        "accuracy": float(np.trace(cm) / n),
        # classes absent from the split are left out of the class means
        "mean_class_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "macro_precision": float(precision[present].mean()),
        "macro_recall": float(recall[present].mean()),
        "roc_auc_ovr_macro": None if valid_auc.size == 0 else float(valid_auc.mean()),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


PLOTTING_INSTALL = "pip install 'kerasfer[tfds]'"  # the extra that brings matplotlib (setup.cfg)


def require_plotting() -> None:
    """Raises `ImportError` with the install line when matplotlib (the confusion-matrix plot) is missing.

    Commands that end with a plot call it before any work, so a missing dependency fails in a second
    rather than after the evaluation or the training.
    """
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError(
            f"The confusion-matrix plot needs matplotlib, which is not installed: {PLOTTING_INSTALL} "
            "(or pip install matplotlib)."
        )


def plot_confusion_matrix(cm, class_names, path, normalize=True, title=None) -> str:
    """Writes the confusion matrix as a PNG (row-normalised colours, counts in the cells)."""
    require_plotting()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    shown = _safe_div(cm, cm.sum(axis=1, keepdims=True)) if normalize else cm
    size = max(4.0, 0.7 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(class_names)), labels=class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or ("confusion matrix (row-normalised)" if normalize else "confusion matrix"))
    thresh = (shown.max() if shown.size else 0) / 2
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{shown[i, j]:.2f}" if normalize else f"{cm[i, j]}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[i, j] > thresh else "black",
            )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def markdown_summary(report: dict, title="Evaluation") -> str:
    """A short Markdown summary of a `classification_report`."""

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"

    lines = [f"# {title}", ""]
    meta = [f"{k}: {report[k]}" for k in ("model", "dataset", "split", "weights") if report.get(k)]
    if meta:
        lines += ["; ".join(meta), ""]
    lines += [
        f"- examples: {report['num_examples']}",
        f"- accuracy: {pct(report['accuracy'])}",
        f"- mean class accuracy: {pct(report['mean_class_accuracy'])}",
        f"- macro-F1: {pct(report['macro_f1'])}",
        f"- one-vs-rest ROC AUC (macro): {pct(report['roc_auc_ovr_macro'])}",
        "",
        "| class | precision | recall | F1 | AUC | support |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in report["per_class"].items():
        lines.append(
            f"| {name} | {pct(m['precision'])} | {pct(m['recall'])} | {pct(m['f1'])} | {pct(m['roc_auc'])} "
            f"| {m['support']} |"
        )
    lines += ["", "Confusion matrix (rows: true, columns: predicted):", ""]
    names = report["class_names"]
    lines.append("| true \\ pred | " + " | ".join(names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
