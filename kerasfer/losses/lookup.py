"""`kerasfer.losses.get`: loss classes by short name (for the training CLI and configs)."""

import keras

from kerasfer.losses.combo import ComboLoss
from kerasfer.losses.cosine_harmony import CosineHarmonyLoss
from kerasfer.losses.cross_entropy import SparseSmoothedCrossentropy
from kerasfer.losses.focal import BinaryFocalLoss
from kerasfer.losses.focal import CategoricalFocalLoss
from kerasfer.losses.label_distribution import LabelDistributionKL
from kerasfer.losses.reconstruction import MarginBCE
from kerasfer.losses.reconstruction import ReconstructionL1
from kerasfer.losses.ro_loss import ROLoss


def _cross_entropy(**kwargs):
    kwargs = {"lambda1": 1.0, "lambda2": 0.0, "name": "ce", **kwargs}
    return ROLoss(**kwargs)


def _cosine_harmony(**kwargs):
    if "centers" not in kwargs:
        raise ValueError(
            "'cosine_harmony' needs learned class centres, which a Loss cannot own: wrap the model with "
            "kerasfer.losses.with_cosine_harmony(model, alpha=..., mode=...) and compile it with "
            "kerasfer.losses.get('ce'); or pass centers=<(C, D) array> for a fixed-centre loss."
        )
    return CosineHarmonyLoss(**kwargs)


LOSSES = {
    "ce": _cross_entropy,
    "ro": ROLoss,
    "combo": ComboLoss,
    "kl": LabelDistributionKL,
    "ldl": LabelDistributionKL,
    "focal": CategoricalFocalLoss,
    "binary_focal": BinaryFocalLoss,
    "cosine_harmony": _cosine_harmony,
    "reconstruction_l1": ReconstructionL1,
    "margin_bce": MarginBCE,
    "sparse_smoothed_ce": SparseSmoothedCrossentropy,
    # "sum": SumLoss, registered by kerasfer.losses.sum_loss (SumLoss looks its terms up here, so it imports this)
}


def get(name, **kwargs):
    """Returns a kerasfer loss by name, built with `kwargs`.

    | name | loss | targets |
    |---|---|---|
    | `"ce"` | `ROLoss(lambda1=1, lambda2=0)`: plain cross-entropy | integer or one-hot |
    | `"ro"` | `ROLoss` (SDNet) | integer or one-hot |
    | `"combo"` | `ComboLoss` (LFER-LDL) | one-hot / distribution (integers one-hot encoded) |
    | `"kl"`, `"ldl"` | `LabelDistributionKL` | distribution / one-hot |
    | `"focal"` | `CategoricalFocalLoss` | one-hot or integer |
    | `"binary_focal"` | `BinaryFocalLoss` (detection) | binary, same shape |
    | `"cosine_harmony"` | `CosineHarmonyLoss(centers=...)` | integer labels, features as `y_pred` |
    | `"reconstruction_l1"` | `ReconstructionL1` | images, reconstructions |
    | `"margin_bce"` | `MarginBCE` | one-hot or integer |
    | `"sparse_smoothed_ce"` | `SparseSmoothedCrossentropy(num_classes, label_smoothing)` | integer |
    | `"sum"` | `SumLoss(losses, weights)`: a weighted sum of losses | those of its terms |

    Cosine-Harmony needs trainable centres, so for training call
    `kerasfer.losses.with_cosine_harmony(model)` and compile it with `get("ce")` (or `"ro"`);
    `get("cosine_harmony")` without `centers` raises a `ValueError` saying so. Names are
    case-insensitive (`-` and `_` alike); a `keras.losses.Loss` instance is returned as is.

    Example:
    >>> loss = kerasfer.losses.get("ro", lambda1=0.9, lambda2=0.1)
    """
    if isinstance(name, keras.losses.Loss):
        if kwargs:
            raise ValueError("kwargs cannot be applied to a Loss instance.")
        return name
    if not isinstance(name, str):
        raise TypeError(f"Loss name must be a string, got {type(name).__name__}.")
    key = name.strip().lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"Unknown loss {name!r}; choose one of {sorted(LOSSES)}.")
    return LOSSES[key](**kwargs)
