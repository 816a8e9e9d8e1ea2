"""Resolving and loading model weights: local files or weights packaged with kerasfer.

kerasfer never downloads anything. `weights` is either `None`, a path to a `.weights.h5` /
`.keras` file, or the name of trained weights shipped inside the package
(`kerasfer/weights/<model>_<name>.weights.h5`, e.g. `LFNSB(weights="fer2013")`).

Each packaged file has a model card beside it (`kerasfer.pretrained`: the index of the packaged weights, built
from their cards, and the cards' one reader and writer): the build arguments the weights need, label order,
preprocessing, training command, measured results. A registered builder called with a packaged name takes its
`num_classes` and `input_shape` from the card unless the caller gives them.
"""

import inspect
import os

from kerasfer import pretrained
from kerasfer.paths import replaced_when_done

PACKAGED_DIR = pretrained.WEIGHTS_DIR  # the package's weights folder (`kerasfer.pretrained.WEIGHTS_DIR`)
_SUFFIXES = (".weights.h5", ".keras")


def packaged_weights(model_name=None) -> dict:
    """Returns `{(model, name): path}` of the weights shipped in the package (from `kerasfer.pretrained.index`)."""
    return {
        (e.model, e.name): str(e.path)
        for e in pretrained.index().values()
        if model_name is None or e.model == model_name
    }


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
    if path is None:
        return model
    card = packaged_card(model_name or model.name, weights)
    if card is not None and "input_shape" in card.get("build", {}):
        want = tuple(card["build"]["input_shape"])
        have = tuple(model.inputs[0].shape[1:]) if model.inputs else None
        if have is not None and have[-1] != want[-1]:
            raise ValueError(
                f"Packaged weights {card.get('model')}/{weights} were trained at input_shape={want}; this model "
                f"takes {have}. Build it with input_shape={want} (the registered builders fill this in when "
                "input_shape is left out)."
            )
    model.load_weights(path)
    return model


def packaged_card(model_name, weights) -> dict | None:
    """The JSON model card of packaged weights `weights` of `model_name`, or None when `weights` is
    not a packaged name (a path, None) or the card is missing."""
    if not isinstance(weights, str) or not _is_name(weights):
        return None
    return pretrained.packaged_card(model_name, weights)


def apply_packaged_defaults(builder, model_name, args, kwargs):
    """Fills the build arguments packaged weights need (`num_classes`, `input_shape` from the card)
    into a builder call, unless the caller gave them; checks that what was given can load them.

    Returns the new `(args, kwargs)`.

    Raises:
        ValueError: when the caller's `num_classes` or input channels differ from the weights'.
    """
    signature = inspect.signature(builder)
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return args, kwargs  # let the builder raise its own error
    given = dict(bound.arguments)
    var_kw = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    for name in var_kw:  # thin wrappers `builder(**kwargs)`: look inside
        given.update(given.pop(name, {}))
    card = packaged_card(model_name, given.get("weights"))
    if card is None:
        return args, kwargs
    build = pretrained.build_arguments(card)
    weights = given["weights"]
    if "num_classes" in given and "num_classes" in build and int(given["num_classes"]) != build["num_classes"]:
        raise ValueError(
            f"Packaged weights {model_name}/{weights} have {build['num_classes']} classes "
            f"({', '.join(card.get('labels', []))}), but num_classes={given['num_classes']} was asked for. "
            "Leave num_classes out, or fine-tune from them with weights=None and load_weights(skip_mismatch=True)."
        )
    if given.get("input_shape") is not None and "input_shape" in build:
        shape = tuple(given["input_shape"])
        if len(shape) != 3 or shape[-1] != build["input_shape"][-1]:
            raise ValueError(
                f"Packaged weights {model_name}/{weights} take {build['input_shape'][-1]}-channel input "
                f"(trained at {build['input_shape']}), but input_shape={shape} was asked for."
            )
    for key, value in build.items():
        if (key in signature.parameters or var_kw) and key not in given:
            kwargs[key] = value
    return args, kwargs


def top_level_groups(path) -> set:
    """The names of the top-level groups of a `.weights.h5` file: `{"layers", "vars"}` for a functional model's
    weights (and `"optimizer"` when it was compiled); a training wrapper's file also holds its inner model under
    the attribute's name."""
    import h5py

    with h5py.File(os.fspath(path), "r") as f:
        return {name for name, item in f.items() if isinstance(item, h5py.Group)}


def to_half_precision(path) -> int:
    """Rewrites every float32 array of a `.weights.h5` file as float16 (halves its size; Keras casts
    the values back to each variable's dtype when loading). The file is rewritten into a new file
    and then moved over the old one (`kerasfer.paths.replaced_when_done`), so an error leaves the
    original intact. Returns the number of arrays converted."""
    import h5py
    import numpy as np

    path = os.fspath(path)
    converted = 0

    def copy(src, dst):
        nonlocal converted
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for name, item in src.items():
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(name))
                continue
            data = item[()]
            if item.dtype == np.float32:
                data = data.astype(np.float16)
                converted += 1
            new = dst.create_dataset(name, data=data)
            for k, v in item.attrs.items():
                new.attrs[k] = v

    with replaced_when_done(path) as tmp, h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        copy(src, dst)
    return converted
