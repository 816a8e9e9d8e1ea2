"""kerasfer: lightweight facial-expression-recognition models for Keras 3.

`import kerasfer` is cheap: it imports neither Keras nor TensorFlow. The subpackages load on
first use (`kerasfer.layers`, `kerasfer.models`, `kerasfer.losses`, `kerasfer.utils` need only
Keras and run on the TensorFlow and JAX backends alike; `data`, `training`, `export` and
`inference` need TensorFlow for some of their parts). The Keras-serializable classes (layers,
losses, models) register themselves as soon as Keras is imported, so
`import kerasfer; keras.saving.load_model("model.keras")` finds them, and the TFDS builders as
soon as `tensorflow_datasets` is.
"""

import importlib
import sys

from kerasfer._lazy import lazy_attributes
from kerasfer.version import __version__

_SUBPACKAGES = ("layers", "losses", "models", "utils", "data", "training", "export", "inference", "testing")
_LAZY = {name: (f"kerasfer.{name}", None) for name in _SUBPACKAGES}
_LAZY["FER"] = ("kerasfer.inference.fer", "FER")
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
# The subpackages that define Keras-serializable classes, in dependency order.
_KERAS_PARTS = ("kerasfer.layers", "kerasfer.losses", "kerasfer.models")


def register_keras_objects():
    """Imports the layers, losses and models, registering their serializable classes with Keras (idempotent).

    Called when Keras is imported, and at the end of each of those subpackages, so that importing any
    one of them registers all three.
    """
    for name in _KERAS_PARTS:
        importlib.import_module(name)


def _on_keras_import():
    # When a kerasfer part is itself importing Keras, that part registers everything when it finishes.
    if not any(name in sys.modules for name in _KERAS_PARTS):
        register_keras_objects()


from kerasfer import _import_hooks  # noqa: E402
from kerasfer import _tfds_hook  # noqa: E402

_import_hooks.after_import("keras", _on_keras_import)
_tfds_hook.install()
