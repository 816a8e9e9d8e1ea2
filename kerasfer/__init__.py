"""kerasfer: lightweight facial-expression-recognition models for Keras 3.

`import kerasfer` loads the backend-agnostic parts (layers, models, losses, utils),
which need only Keras, so they run on the TensorFlow and JAX backends alike. The parts
that need TensorFlow (data, training, export, inference) load on first use.
"""

import importlib

from kerasfer import layers
from kerasfer import losses
from kerasfer import models
from kerasfer import utils
from kerasfer.version import __version__

_LAZY = {
    "data": "kerasfer.data",
    "training": "kerasfer.training",
    "export": "kerasfer.export",
    "inference": "kerasfer.inference",
    "testing": "kerasfer.testing",
}
_LAZY_ATTRS = {"FER": ("kerasfer.inference", "FER")}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        globals()[name] = module
        return module
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kerasfer' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_ATTRS))


try:  # make the TFDS builders visible to tfds.load without importing TFDS here
    from kerasfer import _tfds_hook

    _tfds_hook.install()
except ImportError:  # pragma: no cover - the hook module ships with the package
    pass
