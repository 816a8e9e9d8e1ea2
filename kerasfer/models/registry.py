"""The model registry: `register_model`, `list_models`, `create_model`, `get_model_info`.

Every public model builder is registered under a lowercase key together with the facts
that the rest of the package needs without building the model: its default input
shape, the preprocessing it was designed for, and the source paper.
"""

import dataclasses
import functools
from collections.abc import Callable

_REGISTRY: dict[str, "ModelInfo"] = {}


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model.

    Attributes:
        name: registry key (lowercase), also the default `keras.Model.name`.
        builder: the function that builds the model (`builder(**kwargs) -> keras.Model`).
        input_shape: the default `(height, width, channels)`.
        family: the model family, e.g. `"lfnsb"`.
        paper: a short citation of the source paper.
        min_input_size: the smallest square input side the architecture accepts.
        embedding: True when the model is an embedding network (no classifier by default).
    """

    name: str
    builder: Callable
    input_shape: tuple
    family: str
    paper: str = ""
    min_input_size: int = 32
    embedding: bool = False


def register_model(name, *, input_shape, family, paper="", min_input_size=32, embedding=False):
    """Decorator registering a model builder under `name`."""

    def decorator(fn):
        if name in _REGISTRY and getattr(_REGISTRY[name].builder, "__wrapped__", None) is not fn:
            raise ValueError(f"A model named {name!r} is already registered.")

        @functools.wraps(fn)
        def builder(*args, **kwargs):
            from kerasfer.models.weights import apply_packaged_defaults

            args, kwargs = apply_packaged_defaults(fn, name, args, kwargs)
            return fn(*args, **kwargs)

        _REGISTRY[name] = ModelInfo(
            name=name,
            builder=builder,
            input_shape=tuple(input_shape),
            family=family,
            paper=paper,
            min_input_size=min_input_size,
            embedding=embedding,
        )
        return builder

    return decorator


def list_models(family=None):
    """Returns the sorted registry keys, optionally only those of one `family`."""
    return sorted(k for k, v in _REGISTRY.items() if family is None or v.family == family)


def get_model_info(name) -> ModelInfo:
    """Returns the `ModelInfo` of a registered model, with a clear error for unknown names."""
    key = name.lower()
    if key not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}. Registered models: {', '.join(list_models())}.")
    return _REGISTRY[key]


def create_model(name, **kwargs):
    """Builds a registered model by name: `create_model("lfnsb", num_classes=8)`."""
    return get_model_info(name).builder(**kwargs)
