"""kerasfer.data: labels, the synthetic_faces generator, dataset loading and the input pipeline.

Importing this package imports no TensorFlow; the names below load their modules on first use.

- `CANONICAL_LABELS`, `DATASET_LABELS`, `label_names` (`kerasfer.data.labels`)
- `generate` (`kerasfer.data.synthetic`): procedurally drawn faces, numpy + OpenCV
- `load`, `load_numpy`, `num_examples`, `class_names` (`kerasfer.data.datasets`, TFDS)
- `prepare_images`, `make_pipeline`, `AUGMENTATIONS` (`kerasfer.data.pipeline`, tf.data)
"""

from kerasfer._lazy import lazy_attributes
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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRS, globals())
