"""The source papers' training recipes as named presets: plain dicts of `TrainConfig` fields.

`get_preset("lfnsb_rafdb")` returns a `TrainConfig`; keyword overrides replace fields
(`get_preset("lfnsb_rafdb", epochs=2, dataset="synthetic_faces")`). Where a paper and its
reference code disagree, the value used is commented with its source (the papers and the
reference code are cited in each model module and in `docs/models.md`). `lfer_ldl` is a
two-stage recipe (teacher, then student) and is run by `kerasfer.training.ldl`;
`get_preset("lfer_ldl")` returns its student stage and `get_ldl_preset("lfer_ldl")` both
stages.
"""

from __future__ import annotations

import copy

from kerasfer.training.config import TrainConfig

PRESETS: dict[str, dict] = {
    # LFNSB (Chen and Huang, Computation 2024) on RAF-DB, as the released code's main.py runs it
    # (github.com/1chenchen22/LFNSB); where the paper gives another value, the code's is used.
    "lfnsb_rafdb": {
        "model": "lfnsb",
        "dataset": "raf_db",
        "input_shape": (112, 112, 3),
        "epochs": 40,
        "batch_size": 128,  # code; the paper says 256
        "optimizer": "sgd",
        "learning_rate": 0.01,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "schedule": "cosine",  # CosineAnnealingLR(T_max=epochs, eta_min=4e-3), stepped per epoch
        "min_lr": 4e-3,
        "loss": "ce+cosine_harmony",  # CE + Cosine-Harmony (weight 1, alpha 0.1)
        "augment": "lfnsb",  # flip, p=0.2 (rotate 5 deg + pad-8 crop), random erasing (0.02, 0.25)
        "class_weights": "none",
        "monitor": "val_accuracy",
    },
    # LFNSB on AffectNet (the released code's affectnet.py). SAM is not in Keras: plain Adam at the same rate.
    "lfnsb_affectnet": {
        "model": "lfnsb",
        "dataset": "affectnet/expr7",
        "input_shape": (112, 112, 3),
        "epochs": 40,
        "batch_size": 256,
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "schedule": "exponential",  # ExponentialLR(gamma=0.98)
        "gamma": 0.98,
        "loss": "ce+cosine_harmony",
        "augment": "lfnsb_affectnet",  # flip, p=0.7 affine(20 deg, scale 0.8-1, translate 0.2), erasing
        "class_weights": "balanced",  # ImbalancedDatasetSampler
        "monitor": "val_accuracy",
    },
    # SDNet (Zhou et al., ICASSP 2022): 68x68, adaptive class weights (eqs 1-3), RO loss (eqs 4-6).
    "sdnet": {
        "model": "sdnet",
        "dataset": "fer2013",
        "input_shape": (68, 68, 1),
        "epochs": 100,  # not given in the paper
        "batch_size": 16,
        "optimizer": "adam",  # "lr 0.001", optimizer not named
        "learning_rate": 1e-3,
        "weight_decay": 4e-4,
        "schedule": "constant",
        "loss": "ro",
        "loss_kwargs": {"ro": {"lambda1": 0.9, "lambda2": 0.1}},  # lambdas not given; = label smoothing 0.1
        "class_weights": "adaptive",
        "augment": "flip",
        "monitor": "val_accuracy",
    },
    # LFER-LDL (Liu, Luo and Xu, ChinaXiv 202204.00070, 2022): the student stage; the teacher stage is in
    # LDL_PRESETS below.
    "lfer_ldl": {
        "model": "lfer_ldl",
        "dataset": "raf_db",
        "input_shape": (224, 224, 3),
        "epochs": 120,
        "batch_size": 32,  # RAF-DB
        "optimizer": "sgd",
        "learning_rate": 0.01,
        "momentum": 0.9,
        "weight_decay": 1e-4,  # value missing in the paper text; EfficientFace's 1e-4
        "schedule": "step",  # x0.1 every 30 epochs
        "gamma": 0.1,
        "step_size": 30,
        "loss": "kl+combo",  # KL(teacher || student) + Combo (alpha 0.5, beta 0.2 on RAF-DB); sum assumed
        "loss_kwargs": {"combo": {"alpha": 0.5, "beta": 0.2}},
        "augment": "lfer_ldl",  # horizontal flip only
        "monitor": "val_accuracy",
    },
    # Residual Masking Network (Pham et al., ICPR 2020) on FER2013, as the reference code's
    # configs/fer2013_config.json (github.com/phamquiluan/ResidualMaskingNetwork). RAdam is not in Keras: Adam.
    "rmn_fer2013": {
        "model": "resmaskingnet",
        "dataset": "fer2013",
        "input_shape": (224, 224, 3),
        "epochs": 50,
        "batch_size": 48,
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "weight_decay": 1e-3,
        "schedule": "plateau",  # ReduceLROnPlateau(patience 2, min_lr 1e-6) on validation accuracy
        "gamma": 0.1,
        "plateau_patience": 2,
        "min_lr": 1e-6,
        "early_stopping_patience": 8,
        "loss": "ce",
        "augment": "rmn",  # flip + rotate 30 deg; no mean/std normalisation (mean 0, std 1 in the model)
        "monitor": "val_accuracy",
    },
    # Multi-scale attention FER (Zhang et al., Instrumentation 2022): Adam, batch 32, 50 epochs, focal
    # classification loss.
    "multiscale_rafdb": {
        "model": "multiscale_fer",
        "dataset": "raf_db",
        "input_shape": (224, 224, 3),
        "epochs": 50,
        "batch_size": 32,
        "optimizer": "adam",
        "learning_rate": 1e-3,  # Keras default; not given in the paper
        "schedule": "constant",
        "loss": "focal",
        "loss_kwargs": {"focal": {"gamma": 2.0, "alpha": 1.0}},
        "augment": "flip",
        "monitor": "val_accuracy",
    },
    # The packaged weights (issue #8). FER2013 faces are 48x48 grayscale; Training only, PublicTest for model
    # selection. These recipes are ours, not a paper's: the small model is sized to train on a 2-core CPU
    # (about 2 minutes an epoch), the LFNSB ones follow lfnsb_rafdb at 112 px for a GPU run.
    "shufflenet_fer2013": {
        "model": "shufflenet_v2_x0_5",
        "dataset": "fer2013",
        "input_shape": (64, 64, 1),  # 48 px upsampled: keeps a 4x4 map at stage 3 of the stride-32 backbone
        "epochs": 24,
        "batch_size": 64,
        # Adam converges in the few epochs a CPU allows; SGD 0.05 with the heavier lfnsb_affectnet
        # augmentation reached only 35.4% PublicTest after 4 of 30 epochs (its training accuracy, 29.5%,
        # stayed below validation: more augmentation than this small model can use in this budget).
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "weight_decay": 1e-4,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "loss": "ce",
        "label_smoothing": 0.1,
        "augment": "lfnsb",  # flip, p=0.2 (rotate 5 deg + pad-8 crop), random erasing
        "class_weights": "none",
        "jit_compile": False,
        "monitor": "val_accuracy",
    },
    # The packaged default: dense 3x3 convolutions train many times faster per accuracy point on a CPU than the
    # depthwise families (a 3x3 depthwise conv's backward pass runs at about 3 GMAC/s on a 2-core CPU, dense
    # convs at about 50). resnet18_small trains at about 240 images/s there (48 px, batch 64), about 135 s an
    # epoch with validation. With --time-budget-min the cosine anneals over the epochs that fit. What it buys:
    # one 130-minute run from scratch (49 epochs, --mixup 0.2) reached 64.8% PublicTest; the packaged weights
    # took 108 epochs in three runs (67.1%), then precise BatchNorm (69.7%); their card lists the commands.
    "resnet18_fer2013": {
        "model": "resnet18_small",
        "dataset": "fer2013",
        "input_shape": (48, 48, 1),  # FER2013's own size: no upsampling
        "epochs": 60,
        "batch_size": 64,
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "momentum": 0.9,
        # Keras applies weight decay decoupled (w -= lr * wd * w per step); with momentum 0.9 this equals
        # PyTorch's coupled SGD weight_decay=5e-4, the usual value for ResNets on FER2013 / CIFAR.
        "weight_decay": 5e-3,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "loss": "ce",
        "label_smoothing": 0.1,
        "augment": "fer2013",  # flip, rotate 10 deg, zoom 10%, shift 10% (reflect), random erasing
        "class_weights": "none",
        "jit_compile": False,
        "monitor": "val_accuracy",
    },
    "lfnsb_fer2013": {
        "model": "lfnsb",
        "dataset": "fer2013",
        "input_shape": (112, 112, 3),
        "epochs": 40,
        "batch_size": 128,
        "optimizer": "sgd",
        "learning_rate": 0.05,  # from scratch (no MS-Celeb-1M initialisation), so higher than lfnsb_rafdb's 0.01
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "warmup_epochs": 2,
        "loss": "ce+cosine_harmony",
        "label_smoothing": 0.1,
        "augment": "lfnsb_affectnet",
        "class_weights": "none",
        "monitor": "val_accuracy",
    },
}
# FER+ (majority label, unknown/not-a-face dropped, 8 classes): the FER2013 recipe on FER+'s labels.
PRESETS["lfnsb_ferplus"] = {**PRESETS["lfnsb_fer2013"], "dataset": "ferplus/majority", "num_classes": 8}

# Two-stage label-distribution-learning recipes: {"teacher": {...}, "student": <preset name>}.
LDL_PRESETS: dict[str, dict] = {
    "lfer_ldl": {
        # The paper's teacher is a ResNet-50 pre-trained on MS-Celeb-1M and fine-tuned on the FER data;
        # no MS-Celeb weights ship here, so the teacher is trained on the FER data only (any registered
        # model can replace it, e.g. a trained LFNSB).
        "teacher": {
            "model": "resnet50_teacher",
            "input_shape": (224, 224, 3),
            "epochs": 40,
            "batch_size": 32,
            "optimizer": "sgd",
            "learning_rate": 0.01,
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "schedule": "cosine",
            "loss": "ce",
            "augment": "flip",
            "monitor": "val_accuracy",
        },
        "student": "lfer_ldl",
        "temperature": 1.0,
    }
}


def list_presets() -> list[str]:
    return sorted(PRESETS)


def preset_dict(name: str) -> dict:
    """A copy of the preset's plain dict (raises a clear error for an unknown name)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Available presets: {', '.join(list_presets())}.")
    return copy.deepcopy(PRESETS[name])


def get_preset(name: str, **overrides) -> TrainConfig:
    """The preset as a `TrainConfig`, with `overrides` (None values ignored) applied."""
    d = preset_dict(name)
    d.update({k: v for k, v in overrides.items() if v is not None})
    d["preset"] = name
    return TrainConfig.from_dict(d)


def get_ldl_preset(name: str, **overrides) -> tuple[TrainConfig, TrainConfig, float]:
    """`(teacher_config, student_config, temperature)` for a two-stage LDL recipe.

    `overrides` apply to both stages (e.g. `dataset`, `epochs`, `output_dir` is split into
    `<output_dir>/teacher` and `<output_dir>/student`).
    """
    if name not in LDL_PRESETS:
        raise ValueError(f"Unknown LDL preset {name!r}. Available: {', '.join(sorted(LDL_PRESETS))}.")
    spec = copy.deepcopy(LDL_PRESETS[name])
    student = preset_dict(spec["student"])
    teacher = spec["teacher"]
    teacher.setdefault("dataset", student["dataset"])
    for d in (teacher, student):
        d.update({k: v for k, v in overrides.items() if v is not None})
        d["preset"] = name
    return TrainConfig.from_dict(teacher), TrainConfig.from_dict(student), float(spec.get("temperature", 1.0))
