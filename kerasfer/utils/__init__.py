"""Utilities: parameter and MAC counting, model tables.

The names load their modules on first use: `kerasfer.utils.tables` (the formatters) imports no Keras.
"""

from kerasfer._lazy import lazy_attributes

_LAZY_ATTRS = {
    "count_macs": "kerasfer.utils.params",
    "count_params": "kerasfer.utils.params",
    "model_table": "kerasfer.model_catalog",  # builds registered models: it lives above them
    "format_count": "kerasfer.utils.tables",
    "markdown_table": "kerasfer.utils.tables",
}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRS, globals())
__all__ = sorted(_LAZY_ATTRS)
