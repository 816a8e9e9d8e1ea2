"""`after_import(name, callback)`: run a callback once a module has been imported, without importing it.

kerasfer uses it so that `import kerasfer` costs nothing: the TFDS builders register themselves
when `tensorflow_datasets` gets imported, and the Keras layers, losses and models register
their serializable classes when `keras` gets imported. When the module is already imported the
callback runs at once; otherwise a one-shot finder on `sys.meta_path` wraps the module's loader
and calls the callback right after the module has executed.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable

_PENDING: dict[str, list[Callable]] = {}


class _Loader(importlib.abc.Loader):
    def __init__(self, wrapped, name):
        self._wrapped = wrapped
        self._name = name

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        # Put the real loader back first: packages find their own files through the module's loader
        # (importlib.resources), which this wrapper does not provide.
        module.__spec__.loader = self._wrapped
        module.__loader__ = self._wrapped
        self._wrapped.exec_module(module)
        for callback in _PENDING.pop(self._name, []):
            callback()


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, name):
        self.name = name

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # one shot; let the real finders locate the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader, fullname)
        return spec


def after_import(name: str, callback: Callable[[], None]) -> None:
    """Calls `callback()` now if the top-level module `name` is imported, else right after it is imported.

    Nothing happens when the module is not installed.
    """
    if name in sys.modules:
        callback()
        return
    try:
        if importlib.util.find_spec(name) is None:
            return
    except (ImportError, ValueError):  # a finder that refuses the module (e.g. a machine where it is blocked)
        return
    _PENDING.setdefault(name, []).append(callback)
    if not any(isinstance(f, _Finder) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(name))
