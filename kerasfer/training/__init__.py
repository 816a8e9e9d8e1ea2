"""kerasfer.training: training, evaluation, cross-validation and label-distribution learning.

`train(TrainConfig(...))` runs one training (`kerasfer train`), `evaluate.evaluate(...)` writes a metrics
report (`kerasfer evaluate`), `cv.cross_validate` runs k-fold CV (`kerasfer cv`), `ldl.run_ldl`
trains teacher -> distributions -> student (`kerasfer ldl`); `get_preset` gives the papers'
recipes; `recalibrate_batchnorm` recomputes a trained model's BatchNorm statistics (precise BatchNorm).
Importing this package loads no TensorFlow (the data pipeline imports it on use).
"""

from kerasfer._lazy import lazy_attributes
from kerasfer.training.class_weights import adaptive_class_weights
from kerasfer.training.class_weights import class_counts
from kerasfer.training.class_weights import class_weight_dict
from kerasfer.training.class_weights import effective_number_weights
from kerasfer.training.class_weights import inverse_frequency_weights
from kerasfer.training.class_weights import sample_weights
from kerasfer.training.config import TrainConfig
from kerasfer.training.distillation import teacher_targets
from kerasfer.training.distillation import with_teacher_targets
from kerasfer.training.presets import get_preset
from kerasfer.training.presets import list_presets
from kerasfer.training.sampling import class_balanced_dataset

# keras (and with it TensorFlow on that backend) loads with the trainer, on first use
_LAZY_ATTRS = {
    "train": "kerasfer.training.trainer",
    "TrainingDivergedError": "kerasfer.training.trainer",
    "recalibrate_batchnorm": "kerasfer.training.batchnorm",
}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY_ATTRS, globals())
