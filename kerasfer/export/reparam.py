"""Structural re-parameterization: fold multi-branch / conv+BN training layers into single convs.

`reparameterize(model)` returns a new model in which every re-parameterizable layer runs its
fused inference form, with identical outputs in inference mode (up to float rounding); the
original model is left untouched (timm's `reparameterize_model(..., inplace=False)`).

The contract a layer follows to take part (kerasfer's `Conv2dBN`, `RepVGGDW`; any other):
* its `get_config()` has a boolean `inference_mode` key, and building it with
  `inference_mode=True` creates the fused form;
* the training form has `get_fused_weights()`, returning the fused form's weights in the
  order of its `get_weights()` (usually `(kernel, bias)`), or the fused layer has
  `set_fused_weights(*weights)` to take them;
* a container layer that holds re-parameterizable sublayers has an `inference_mode` init
  argument too and passes it on (like `MixBottleneck`, `GDConv`); a container that does not
  simply keeps its sublayers unfused, with their weights copied.
Sublayers must be named deterministically (from the parent's name), so the rebuilt model's
layers can be paired with the original ones by name.
"""

import copy

import keras
import numpy as np


def _set_inference_mode(obj):
    """Sets every `inference_mode` key of every nested layer config to True (in place)."""
    if isinstance(obj, dict):
        cfg = obj.get("config")
        if isinstance(cfg, dict) and "inference_mode" in cfg and "class_name" in obj:
            cfg["inference_mode"] = True
        for value in obj.values():
            _set_inference_mode(value)
    elif isinstance(obj, list):
        for value in obj:
            _set_inference_mode(value)
    return obj


def _children(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def is_fusable(layer) -> bool:
    """Whether `layer` is a re-parameterizable block still in its training-time (unfused) form."""
    if not callable(getattr(layer, "get_fused_weights", None)):
        return False
    try:
        return layer.get_config().get("inference_mode") is False
    except NotImplementedError:
        return False


def _own_variables(layer, children):
    child_ids = {id(v) for c in children for v in c.weights}
    return [v for v in layer.weights if id(v) not in child_ids]


def _assign(dst_vars, values, where, assigned):
    if len(dst_vars) != len(values):
        raise ValueError(f"{where}: {len(values)} weights to copy into {len(dst_vars)} variables.")
    for var, value in zip(dst_vars, values):
        value = np.asarray(value)
        if tuple(var.shape) != value.shape:
            raise ValueError(f"{where}: weight {var.path} has shape {tuple(var.shape)}, got {value.shape}.")
        var.assign(value.astype(var.dtype))
        assigned.add(id(var))


def _pair_children(src, dst, src_children, dst_children):
    dst_by_name = {c.name: c for c in dst_children}
    if len(dst_by_name) == len(dst_children) and all(c.name in dst_by_name for c in src_children):
        return [(c, dst_by_name[c.name]) for c in src_children]
    if len(src_children) == len(dst_children) and all(type(a) is type(b) for a, b in zip(src_children, dst_children)):
        return list(zip(src_children, dst_children))
    raise ValueError(
        f"Cannot pair the sublayers of {src.name!r} with the rebuilt layer's: "
        f"{[c.name for c in src_children]} vs {[c.name for c in dst_children]}. "
        "Re-parameterization needs deterministic sublayer names."
    )


def _copy(src, dst, assigned):
    if is_fusable(src) and dst.get_config().get("inference_mode") is True:
        fused = [np.asarray(w) for w in src.get_fused_weights()]
        setter = getattr(dst, "set_fused_weights", None)
        if callable(setter):
            setter(*fused)
            assigned.update(id(v) for v in dst.weights)
        else:
            _assign(dst.weights, fused, f"fused layer {dst.name!r}", assigned)
        return
    src_children, dst_children = _children(src), _children(dst)
    _assign(
        _own_variables(dst, dst_children),
        [keras.ops.convert_to_numpy(v) for v in _own_variables(src, src_children)],
        f"layer {src.name!r}",
        assigned,
    )
    for a, b in _pair_children(src, dst, src_children, dst_children):
        _copy(a, b, assigned)


def needs_reparameterization(model) -> bool:
    """Whether any layer of `model` (nested ones included) is an unfused re-parameterizable block."""
    return any(is_fusable(layer) for layer in model._flatten_layers(include_self=False, recursive=True))


def reparameterize(model):
    """Returns a copy of `model` with every re-parameterizable layer fused; `model` is unchanged.

    The model's serialized config is rewritten with `inference_mode=True` in every layer
    config that has that key (nested ones included), rebuilt, and the weights are copied
    layer by layer, paired by name: fused `(kernel, bias)` from `get_fused_weights()` for
    re-parameterizable layers, the weights as they are for every other layer. Works for
    functional and sequential models and for model subclasses with a `get_config` /
    `from_config`. In inference mode (`training=False`) the result computes the same function.

    Args:
        model: a built `keras.Model`.

    Returns:
        A new `keras.Model` (same class, name, inputs and outputs).

    Example:
    >>> model = kerasfer.models.LFNSB()
    >>> fused = kerasfer.export.reparameterize(model)
    >>> fused.get_layer("conv1").get_config()["inference_mode"]
    True
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"reparameterize expects a keras.Model, got {type(model).__name__}.")
    if not model.built:
        raise ValueError(f"{model.name!r} is not built: call it on an input or build it first.")
    try:
        serialized = keras.saving.serialize_keras_object(model)
    except NotImplementedError as e:
        raise ValueError(
            f"{model.name!r} ({type(model).__name__}) has no config; reparameterize needs a functional or "
            "sequential model, or a subclass implementing get_config/from_config."
        ) from e
    serialized = copy.deepcopy(serialized)
    serialized.pop("compile_config", None)
    _set_inference_mode(serialized)
    fused = keras.saving.deserialize_keras_object(serialized)
    if not fused.built:
        fused.build(model.input_shape)
    assigned = set()
    _copy(model, fused, assigned)
    missing = [v.path for v in fused.weights if id(v) not in assigned]
    if missing:
        raise RuntimeError(f"reparameterize left weights of the rebuilt model unset: {missing[:10]}")
    return fused
