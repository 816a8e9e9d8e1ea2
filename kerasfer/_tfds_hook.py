"""Registers kerasfer's TFDS builders with `tensorflow_datasets` without importing it.

Importing TFDS costs seconds, so `import kerasfer` must not do it. Instead, when TFDS is
already imported the builders are registered at once; otherwise they are registered right
after `tensorflow_datasets` gets imported (`kerasfer._import_hooks.after_import`), by importing
`kerasfer.tfds_builders`, whose modules register their `Builder` classes.
"""

import importlib

from kerasfer._import_hooks import after_import

_TARGET = "tensorflow_datasets"


def _register():
    try:
        importlib.import_module("kerasfer.tfds_builders")
    except ImportError:  # TFDS present but broken: the loaders raise their own clear errors later
        pass


def install():
    """Registers the builders now if TFDS is loaded, else when it gets imported."""
    after_import(_TARGET, _register)
