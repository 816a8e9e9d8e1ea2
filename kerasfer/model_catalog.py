"""The catalog of the registered models: their facts at the default input size, readable without Keras.

`kerasfer models` lists the models from `kerasfer/models/catalog.json`, so it answers in a fraction of a
second and imports neither Keras nor TensorFlow; `kerasfer models --build` (and `build_catalog`) builds each
model and counts instead, which also covers models registered at run time by a user's code.

The file is generated from the registry by the project's `make table` (with the README's model table), and a
test checks that it equals what building the models gives, so it cannot drift from the code.
This module imports no Keras; only `build_catalog` and `model_table` (they build the models) do.
"""

from __future__ import annotations

import json
import pathlib

from kerasfer import pretrained

CATALOG_PATH = pathlib.Path(__file__).resolve().parent / "models" / "catalog.json"
FIELDS = ("name", "family", "input_shape", "params", "macs", "min_input_size", "embedding", "paper")


def read_catalog(path=CATALOG_PATH) -> list[dict]:
    """The catalog's rows (dicts with `FIELDS`), sorted by name.

    Raises:
        FileNotFoundError: the catalog file is missing (a broken install).
        ValueError: it is not a catalog.
    """
    path = pathlib.Path(path)
    try:
        rows = json.loads(path.read_text())["models"]
    except FileNotFoundError:
        raise FileNotFoundError(f"The model catalog {path} is missing; reinstall kerasfer.") from None
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a kerasfer model catalog ({e}).") from None
    return sorted(rows, key=lambda r: r["name"])


WEIGHTS_DIR = pretrained.WEIGHTS_DIR


def packaged_weights_rows(weights_dir=None) -> list[dict]:
    """One row per weights file shipped in the package, from its model card (`kerasfer.pretrained.index`;
    imports no Keras).

    Keys: `weights` (the name every command takes, `model/name`), `dataset` and `split` it was evaluated on,
    `input_shape`, `params`, `accuracy` (top-1 without test-time augmentation), `mean_class_accuracy`,
    `size_bytes` and `card` (the Markdown card's path).
    """
    rows = []
    for entry in pretrained.index(weights_dir).values():
        card = entry.card
        evaluation = card.get("evaluation") or {}
        rows.append(
            {
                "weights": entry.key,
                "dataset": evaluation.get("dataset"),
                "split": evaluation.get("split"),
                "num_examples": evaluation.get("num_examples"),
                "input_shape": (card.get("build") or {}).get("input_shape"),
                "params": card.get("params"),
                "accuracy": entry.accuracy,
                "mean_class_accuracy": evaluation.get("mean_class_accuracy"),
                "size_bytes": card.get("size_bytes"),
                "card": str(pretrained.card_path(entry.model, entry.name, weights_dir).with_suffix(".md")),
            }
        )
    return rows


def select(rows, names=None) -> list[dict]:
    """`rows` restricted to `names` (in the order given; case-insensitive).

    Raises:
        ValueError: a name that is not in `rows`, with the known names.
    """
    if not names:
        return list(rows)
    by_name = {r["name"]: r for r in rows}
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        what = "Unknown model" + ("s" if len(unknown) > 1 else "")
        raise ValueError(f"{what} {', '.join(map(repr, unknown))}; registered: {', '.join(sorted(by_name))}.")
    return [by_name[n.lower()] for n in names]


def model_table(names=None, input_shapes=None, with_macs=True):
    """Builds registered models and returns rows of name, input, params and MACs.

    Args:
        names: registry keys (default: every registered model).
        input_shapes: optional dict of name -> input shape overriding the default.
        with_macs: also count MACs (runs one forward pass per model).

    Returns:
        A list of dicts with keys `name`, `family`, `input_shape`, `params`, `macs`.
    """
    import keras

    from kerasfer import models
    from kerasfer.utils.params import count_macs
    from kerasfer.utils.params import count_params

    rows = []
    for name in names or models.list_models():
        info = models.get_model_info(name)
        shape = (input_shapes or {}).get(name, info.input_shape)
        model = models.create_model(name, input_shape=shape)
        rows.append(
            {
                "name": name,
                "family": info.family,
                "input_shape": list(shape),
                "params": count_params(model),
                "macs": count_macs(model) if with_macs else None,
            }
        )
        del model
        keras.backend.clear_session()
    return rows


def build_catalog(names=None, with_macs=True) -> list[dict]:
    """Builds the registered models (or `names`) and returns their catalog rows (imports Keras).

    Raises:
        ValueError: an unknown model name.
    """
    from kerasfer import models

    if names:
        known = set(models.list_models())
        select([{"name": n} for n in known], names)  # the same message for an unknown name
        names = [n.lower() for n in names]
    rows = []
    for row in model_table(names, with_macs=with_macs):
        info = models.get_model_info(row["name"])
        row.update(min_input_size=info.min_input_size, embedding=info.embedding, paper=info.paper)
        rows.append({k: row[k] for k in FIELDS})
    return rows


def write_catalog(rows, path=CATALOG_PATH) -> None:
    """Writes `rows` as the catalog file."""
    text = json.dumps({"models": sorted(rows, key=lambda r: r["name"])}, indent=1) + "\n"
    pathlib.Path(path).write_text(text)


__all__ = [
    "CATALOG_PATH",
    "FIELDS",
    "build_catalog",
    "model_table",
    "packaged_weights_rows",
    "read_catalog",
    "select",
    "write_catalog",
]
