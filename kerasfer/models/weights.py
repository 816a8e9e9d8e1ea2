"""Resolving and loading model weights: local files or weights packaged with kerasfer.

kerasfer never downloads anything. `weights` is either `None`, a path to a `.weights.h5` /
`.keras` file, or the name of trained weights shipped inside the package
(`kerasfer/weights/<model>_<name>.weights.h5`, e.g. `LFNSB(weights="fer2013")`).
"""

import os
import pathlib

PACKAGED_DIR = pathlib.Path(__file__).resolve().parent.parent / "weights"
_SUFFIXES = (".weights.h5", ".keras")


def packaged_weights(model_name=None) -> dict:
    """Returns `{(model, name): path}` of the weights shipped in the package."""
    found = {}
    for path in sorted(PACKAGED_DIR.glob("*.weights.h5")):
        stem = path.name[: -len(".weights.h5")]
        model, _, name = stem.rpartition("_")
        if model and (model_name is None or model == model_name):
            found[(model, name)] = str(path)
    return found


def _is_name(weights: str) -> bool:
    return os.sep not in weights and "/" not in weights and "." not in weights


def resolve_weights(weights, model_name=None):
    """Checks `weights` before a model is built and returns a file path (or None).

    Args:
        weights: None, a path to a `.weights.h5` / `.keras` file, or a packaged weights name.
        model_name: the registry key, used to look up packaged weights by name.

    Raises:
        ValueError: for a file of another kind or an unknown packaged name (listing the known ones).
        FileNotFoundError: for a path that does not exist.
    """
    if weights is None:
        return None
    path = os.fspath(weights)
    if _is_name(path):
        available = packaged_weights(model_name)
        key = (model_name, path)
        if key in available:
            return available[key]
        names = ", ".join(f"{m}/{n}" for m, n in available) or "none"
        raise ValueError(
            f"No packaged weights named {path!r} for model {model_name!r} (packaged weights: {names}). "
            "kerasfer never downloads weights: pass a path to a .weights.h5 or .keras file."
        )
    if not path.endswith(_SUFFIXES):
        raise ValueError(
            "weights must be None or a path to a .weights.h5 or .keras file (or a packaged weights name), "
            f"got {path!r}."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file not found: {path!r} (kerasfer never downloads weights).")
    return path


def load_weights(model, weights, model_name=None):
    """Loads `weights` (see `resolve_weights`) into `model` and returns it."""
    path = resolve_weights(weights, model_name or model.name)
    if path is not None:
        model.load_weights(path)
    return model
