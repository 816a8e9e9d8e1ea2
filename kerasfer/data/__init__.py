"""kerasfer.data: labels, the synthetic_faces generator, dataset loading and the input pipeline.

Importing this package imports no TensorFlow; the names below load their modules on first use.

- `CANONICAL_LABELS`, `DATASET_LABELS`, `label_names` (`kerasfer.data.labels`)
- `generate` (`kerasfer.data.synthetic`): procedurally drawn faces, numpy + OpenCV
- `load`, `load_numpy`, `num_examples`, `class_names` (`kerasfer.data.datasets`, TFDS)
- `prepare_images`, `make_pipeline`, `AUGMENTATIONS` (`kerasfer.data.pipeline`, tf.data)
"""

import importlib

from kerasfer.data.labels import CANONICAL_LABELS
from kerasfer.data.labels import DATASET_LABELS
from kerasfer.data.labels import label_names

_LAZY_ATTRS = {
    "generate": "kerasfer.data.synthetic",
    "load": "kerasfer.data.datasets",
    "load_numpy": "kerasfer.data.datasets",
    "num_examples": "kerasfer.data.datasets",
    "class_names": "kerasfer.data.datasets",
    "prepare_images": "kerasfer.data.pipeline",
    "make_pipeline": "kerasfer.data.pipeline",
    "AUGMENTATIONS": "kerasfer.data.augment",
}


def __getattr__(name):
    if name in _LAZY_ATTRS:
        value = getattr(importlib.import_module(_LAZY_ATTRS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kerasfer.data' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_ATTRS))
