"""`lazy_attributes`: a package's names that import their modules on first use (PEP 562).

kerasfer's packages keep their imports cheap this way: `import kerasfer.data` costs nothing until
`kerasfer.data.make_pipeline` (and with it TensorFlow) is used.
"""

from __future__ import annotations

import importlib


def lazy_attributes(package: str, attrs: dict, namespace: dict):
    """`(__getattr__, __dir__)` for `package`, whose `attrs` load on first use.

    Args:
        package: the package's `__name__` (for the error message).
        attrs: `{name: module}` (the attribute of the same name in `module`), `{name: (module, attribute)}`,
            or `{name: (module, None)}` for the module itself.
        namespace: the package's `globals()`; a loaded value is cached there, so it loads once.
    """

    def __getattr__(name):
        target = attrs.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = target if isinstance(target, tuple) else (target, name)
        value = importlib.import_module(module)
        if attr is not None:
            value = getattr(value, attr)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(attrs))

    return __getattr__, __dir__
