"""kerasfer losses: the source papers' losses as `keras.losses.Loss` classes and functions."""

import kerasfer as _kerasfer
from kerasfer.losses.combo import ComboLoss
from kerasfer.losses.combo import combo_loss
from kerasfer.losses.cosine_harmony import CosineHarmonyLoss
from kerasfer.losses.cosine_harmony import CosineHarmonyModel
from kerasfer.losses.cosine_harmony import cosine_harmony
from kerasfer.losses.cosine_harmony import with_cosine_harmony
from kerasfer.losses.cross_entropy import SparseSmoothedCrossentropy
from kerasfer.losses.focal import BinaryFocalLoss
from kerasfer.losses.focal import CategoricalFocalLoss
from kerasfer.losses.focal import binary_focal_loss
from kerasfer.losses.focal import categorical_focal_loss
from kerasfer.losses.label_distribution import LabelDistributionKL
from kerasfer.losses.label_distribution import label_distribution_kl
from kerasfer.losses.lookup import get
from kerasfer.losses.reconstruction import MarginBCE
from kerasfer.losses.reconstruction import ReconstructionL1
from kerasfer.losses.reconstruction import margin_bce
from kerasfer.losses.reconstruction import reconstruction_l1
from kerasfer.losses.ro_loss import ROLoss
from kerasfer.losses.ro_loss import ro_loss
from kerasfer.losses.sum_loss import SumLoss

_kerasfer.register_keras_objects()  # importing one part registers all serializable classes
