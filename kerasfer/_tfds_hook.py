"""Registers kerasfer's TFDS builders with `tensorflow_datasets` without importing it.

Importing TFDS costs seconds, so `import kerasfer` must not do it. Instead, when TFDS is
already imported the builders are registered at once; otherwise a one-shot import hook
waits for `tensorflow_datasets` to be imported and then imports
`kerasfer.tfds_builders`, whose modules register their `Builder` classes.
"""

import importlib.abc
import importlib.util
import sys

_TARGET = "tensorflow_datasets"


def _register():
    importlib.import_module("kerasfer.tfds_builders")


class _Loader(importlib.abc.Loader):
    def __init__(self, wrapped):
        self._wrapped = wrapped

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        # Put the real loader back first: TFDS finds its own files through the module's
        # loader (importlib.resources), which this wrapper does not provide.
        module.__spec__.loader = self._wrapped
        module.__loader__ = self._wrapped
        self._wrapped.exec_module(module)
        _register()


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)  # one shot; let the real finders locate TFDS
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


def install():
    """Registers the builders now if TFDS is loaded, else when it gets imported."""
    if _TARGET in sys.modules:
        try:
            _register()
        except ImportError:
            pass
        return
    if importlib.util.find_spec(_TARGET) is None:
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
