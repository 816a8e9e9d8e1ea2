"""Label-distribution learning loss (LFER-LDL): KL(teacher distribution || student prediction).

Reference:
    Liu Jin, Luo Xiaoshu and Xu Zhaoxing, "Lightweight Facial Expression Recognition Based
    on Label Distribution Learning" (LFER-LDL), ChinaXiv 202204.00070, 2022, section 1.3;
    DOI not given in the paper. The closest public code is EfficientFace (Zhao, Liu and
    Zhou, AAAI 2021, DOI 10.1609/aaai.v35i4.16465), https://github.com/zengqunzhao/EfficientFace
    `main.py` (ResNet-50 teacher). Targets from a trained teacher:
    `kerasfer.training.distillation.teacher_targets`.
"""

import keras
from keras import ops

from kerasfer.api_export import kerasfer_export
from kerasfer.losses._utils import check_choice
from kerasfer.losses._utils import check_finite
from kerasfer.losses._utils import dense_targets
from kerasfer.losses._utils import log_probs
from kerasfer.losses._utils import nan_where_invalid

MODES = ("kl", "cross_entropy", "efficientface")


@kerasfer_export("kerasfer.losses.label_distribution_kl")
def label_distribution_kl(y_true, y_pred, from_logits=False, mode="kl"):
    """Per-sample `KL(P || Q) = sum_c P_c (log P_c - log Q_c)` (P: teacher, Q: student).

    `mode="kl"` (paper) is the KL divergence (terms with `P_c = 0` contribute 0);
    `mode="cross_entropy"` drops the teacher entropy, `-sum_c P_c log Q_c` (same
    gradients w.r.t. the student); `mode="efficientface"` is the public analogue's
    `mean_c(-P_c log Q_c)`, i.e. cross-entropy / C.

    Args:
        y_true: teacher distributions `(B, C)` (one-hot works; integer labels are one-hot encoded).
        y_pred: student probabilities (or logits with `from_logits=True`) `(B, C)`.
        from_logits: whether `y_pred` holds logits.
        mode: `"kl"`, `"cross_entropy"` or `"efficientface"`.
    """
    check_choice(mode, MODES, "mode")
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    check_finite(y_pred, "y_pred")
    targets, valid = dense_targets(ops.convert_to_tensor(y_true), y_pred)
    log_q = log_probs(y_pred, from_logits)
    cross = -ops.sum(targets * log_q, axis=-1)
    if mode == "kl":
        eps = keras.config.epsilon()
        log_p = ops.log(ops.clip(targets, eps, 1.0))
        values = cross + ops.sum(ops.where(targets > 0, targets * log_p, 0.0), axis=-1)
    elif mode == "cross_entropy":
        values = cross
    else:
        values = cross / y_pred.shape[-1]
    return nan_where_invalid(values, valid)


@kerasfer_export("kerasfer.losses.LabelDistributionKL")
class LabelDistributionKL(keras.losses.Loss):
    """KL divergence from a teacher's label distribution to the student's prediction.

    LFER-LDL trains the student with `KL(P_teacher || Q_student)` where `P_teacher` is
    the softmax output of a ResNet-50 teacher fine-tuned on the same data (used only
    in training). The public analogue (EfficientFace) uses `mean(-P log Q)` over B x C
    elements instead (`mode="efficientface"`); it differs from KL only by the teacher
    entropy and a 1/C scale. Targets: distributions or one-hot `(B, C)`; build them with
    `kerasfer.training.distillation.teacher_targets`. Returns per-sample values.

    Args:
        from_logits: whether predictions are logits.
        mode: `"kl"` (paper), `"cross_entropy"` or `"efficientface"`.

    Example:
    >>> loss = kerasfer.losses.LabelDistributionKL()
    >>> round(float(loss(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]]))), 6)
    0.0
    """

    def __init__(self, from_logits=False, mode="kl", reduction="sum_over_batch_size", name="ldl_kl", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        check_choice(mode, MODES, "mode")
        self.from_logits = bool(from_logits)
        self.mode = mode

    def call(self, y_true, y_pred):
        return label_distribution_kl(y_true, y_pred, self.from_logits, self.mode)

    def get_config(self):
        config = keras.losses.Loss.get_config(self)
        config.update({"from_logits": self.from_logits, "mode": self.mode})
        return config
