"""The LFNSB family: LFNSB, its LFN backbone, MFN (MixedFeatureNet) and MobileFaceNet.

Papers and reference code:

* LFNSB and LFN: Xuefeng Chen and Liangyu Huang, "A Lightweight Model Enhancing Facial
  Expression Recognition with Spatial Bias and Cosine-Harmony Loss", Computation 12(10), 201,
  2024, DOI 10.3390/computation12100201 (preprint: Preprints.org 202408.1304, August 2024).
  Code: https://github.com/1chenchen22/LFNSB (`LFN.py`, `LFNSB2.py`).
* MFN: Saining Zhang, Yuhang Zhang, Ye Zhang, Yufei Wang and Zhigang Song, "A Dual-Direction
  Attention Mixed Feature Network for Facial Expression Recognition" (DDAMFN), Electronics
  12(17), 3595, 2023, DOI 10.3390/electronics12173595. Code:
  https://github.com/SainingZhang/DDAMFN (`networks/MixedFeatureNet.py`).
* MobileFaceNet: Sheng Chen, Yang Liu, Xiang Gao and Zhen Han, "MobileFaceNets: Efficient CNNs
  for Accurate Real-Time Face Verification on Mobile Devices", CCBR 2018, pp. 428-438,
  arXiv:1804.07573. Layout as https://github.com/TreB1eN/InsightFace_Pytorch (`model.py`).

Where the LFNSB paper and its released code disagree, this module follows the code, because
only the code reproduces the paper's own 2.676M parameters: the bottleneck expansions are the
code's 96, 96, 192, 192, 768, 342 (the paper's Table 1 lists MFN's expansion factors), and the
head is the code's RepVGGDW -> SpatialBias -> flatten -> Dense (the paper describes upsampling
the spatial-bias map and concatenating it with the features; that reading is
`LFNSB(sb_mode="concat")`, a variant). The full list is in `docs/models.md`.

Blocks: `kerasfer.layers.Conv2dBN`, `kerasfer.layers.MixBottleneck` (with
`kerasfer.layers.MixConv` and `kerasfer.layers.CoordinateAttention`), `kerasfer.layers.RepVGGDW`,
`kerasfer.layers.SpatialBias`, `kerasfer.layers.GDConv`, `kerasfer.layers.ImageNormalization`.
Loss: `kerasfer.losses.CosineHarmonyLoss` (train with `kerasfer.losses.with_cosine_harmony`).
Training presets (`kerasfer.training.presets`): `lfnsb_rafdb`, `lfnsb_affectnet`,
`lfnsb_fer2013`, `lfnsb_ferplus`. Tests: `tests/models/test_lfnsb.py`.

All four take raw `[0, 255]` RGB pixels (ImageNet normalisation inside the model) at 112x112 by
default. Measured here at 112x112: parameters with `kerasfer.utils.count_params` (trainable
only), MACs with `kerasfer.utils.count_macs(convention="conv")` (convolutions and dense layers only) and, in the
last column, the same plus what fvcore also counts (2 per BatchNorm element, 1 per input element
of adaptive average pooling), which is the convention of the reference figures:

| model | params | MACs (`convention="conv"`) | MACs (fvcore convention, `count_macs` default) | paper (Table 2) |
|---|---:|---:|---:|---|
| `lfnsb` (7 classes) | 2,676,147 | 387.24M | 397.18M | 2.676M / 397.35M |
| `lfn` (embedding 256) | 2,736,372 | 386.48M | 396.41M | - |
| `mfn` (embedding 256) | 4,164,264 | 539.16M | 551.50M | 3.973M / 550.74M (not reproduced) |
| `mobilefacenet` (embedding 512) | 1,200,512 | 221.16M | 227.57M | 1.148M / 230.34M (not reproduced) |
"""

import keras

from kerasfer.layers.conv2d_bn import Conv2dBN
from kerasfer.layers.gdconv import GDConv
from kerasfer.layers.image_normalization import IMAGENET_MEAN
from kerasfer.layers.image_normalization import IMAGENET_STD
from kerasfer.layers.mix_bottleneck import MixBottleneck
from kerasfer.layers.mix_bottleneck import prelu
from kerasfer.layers.repvgg_dw import RepVGGDW
from kerasfer.layers.spatial_bias import SpatialBias
from kerasfer.models import _builder
from kerasfer.models.registry import register_model

LFNSB_PAPER = "Chen and Huang, LFNSB (Spatial Bias + Cosine-Harmony), Computation 2024, DOI 10.3390/computation12100201"
MFN_PAPER = "Zhang et al., DDAMFN (MixedFeatureNet backbone), Electronics 2023, DOI 10.3390/electronics12173595"
MOBILEFACENET_PAPER = "Chen et al., MobileFaceNets, CCBR 2018, arXiv:1804.07573"

# Architecture as data. Each stage: (name, filters, expansion, kernel_sizes, splits, strides, repeats).
# A stage with strides 2 is one transition block without shortcut; a stage with strides 1 is
# `repeats` residual blocks.
MODEL_CONFIGS = {
    "lfn": {
        "stem": "conv_bn",  # Conv2d_BN, no activation (LFN.py)
        "stages": [
            ("conv_23", 64, 96, [3, 5], [64, 32], 2, 1),
            ("conv_3", 64, 96, [3], [96], 1, 9),
            ("conv_34", 128, 192, [3, 5], [128, 64], 2, 1),
            ("conv_4", 128, 192, [3], [192], 1, 16),
            ("conv_45", 256, 768, [3, 5, 7], [256, 256, 256], 2, 1),
            ("conv_5", 256, 342, [3, 5], [172, 170], 1, 6),
        ],
        "block": "mix",
        "last": "repvgg_dw",  # conv6_sep = RepVGGDW(256)
    },
    "mfn": {
        "stem": "conv_block",  # Conv_block: conv + BN + PReLU
        "stages": [
            ("conv_23", 64, 128, [3, 5, 7], [64, 32, 32], 2, 1),
            ("conv_3", 64, 128, [3, 5], [96, 32], 1, 9),
            ("conv_34", 128, 256, [3, 5, 7], [128, 64, 64], 2, 1),
            ("conv_4", 128, 256, [3, 5], [192, 64], 1, 16),
            ("conv_45", 256, 1024, [3, 5, 7, 9], [256, 256, 256, 256], 2, 1),
            ("conv_5", 256, 512, [3, 5, 7], [172, 170, 170], 1, 6),
        ],
        "block": "mix",
        "last": ("conv_block", 512),  # conv_6_sep = Conv_block 1x1 256 -> 512
    },
    "mobilefacenet": {
        "stem": "conv_block",
        "stages": [
            ("conv_23", 64, 128, [3], None, 2, 1),
            ("conv_3", 64, 128, [3], None, 1, 4),
            ("conv_34", 128, 256, [3], None, 2, 1),
            ("conv_4", 128, 256, [3], None, 1, 6),
            ("conv_45", 128, 512, [3], None, 2, 1),
            ("conv_5", 128, 256, [3], None, 1, 2),
        ],
        "block": "depth_wise",
        "last": ("conv_block", 512),
    },
}

_MIN_INPUT = 32


def _conv_block(x, filters, kernel_size, strides, groups, name, inference_mode):
    """MobileFaceNet `Conv_block`: conv (no bias) + BN + PReLU(C)."""
    x = Conv2dBN(filters, kernel_size, strides=strides, groups=groups, inference_mode=inference_mode, name=name)(x)
    return prelu(f"{name}_prelu")(x)


def _depth_wise(x, filters, expansion, strides, residual, name, inference_mode):
    """MobileFaceNet `Depth_Wise`: 1x1 Conv_block -> dw 3x3 Conv_block -> 1x1 Linear_block (+ shortcut)."""
    shortcut = x
    y = _conv_block(x, expansion, 1, 1, 1, f"{name}_conv", inference_mode)
    y = _conv_block(y, expansion, 3, strides, expansion, f"{name}_conv_dw", inference_mode)
    y = Conv2dBN(filters, 1, inference_mode=inference_mode, name=f"{name}_project")(y)
    if residual:
        y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return y


def _trunk(x, config, inference_mode):
    """conv1 .. the last 7x7 (at 112 px) feature map, returned through a layer named `features`."""
    if config["stem"] == "conv_bn":
        x = Conv2dBN(64, 3, strides=2, inference_mode=inference_mode, name="conv1")(x)
        x = Conv2dBN(64, 3, groups=64, inference_mode=inference_mode, name="conv2_dw")(x)
    else:
        x = _conv_block(x, 64, 3, 2, 1, "conv1", inference_mode)
        x = _conv_block(x, 64, 3, 1, 64, "conv2_dw", inference_mode)
    for stage_name, filters, expansion, kernels, splits, strides, repeats in config["stages"]:
        residual = strides == 1
        for i in range(repeats):
            block_name = f"{stage_name}_{i}" if residual else stage_name
            if config["block"] == "mix":
                x = MixBottleneck(
                    filters,
                    expansion,
                    kernel_sizes=kernels,
                    splits=splits,
                    strides=strides,
                    residual=residual,
                    inference_mode=inference_mode,
                    name=block_name,
                )(x)
            else:
                x = _depth_wise(x, filters, expansion, strides, residual, block_name, inference_mode)
    last = config["last"]
    if last == "repvgg_dw":
        x = RepVGGDW(inference_mode=inference_mode, name="conv6_sep")(x)
    else:
        x = _conv_block(x, last[1], 1, 1, 1, "conv6_sep", inference_mode)
    return keras.layers.Identity(name="features")(x)


# Why each head needs the input size it does, quoted in the input-shape errors.
_HEAD_REASONS = {
    "spatial_bias": "the Spatial Bias head pools the final map to 2x2",
    "gdconv": "the GDConv head needs a static final map",
}


def _spatial_bias_head(features, sb_mode, inference_mode):
    """LFNSB's head on the `"features"` map: the 256-wide SpatialBias vector (see `LFNSB`)."""
    if sb_mode == "reference":
        return SpatialBias(66, pool_size=2, kernel_size=3, mode="reference", name="spatial_bias")(features)
    x = SpatialBias(66, pool_size=2, kernel_size=3, mode="concat", name="spatial_bias")(features)
    x = Conv2dBN(256, 1, inference_mode=inference_mode, name="sb_fusion")(x)
    x = prelu("sb_fusion_prelu")(x)
    h, w = x.shape[1], x.shape[2]
    x = Conv2dBN(256, (h, w), padding=0, groups=256, inference_mode=inference_mode, name="sb_gdconv")(x)
    return keras.layers.Flatten(name="sb_flatten")(x)


def _create(trunk, head, *, inference_mode, sb_mode="reference", embedding_size=None, **shared):
    """The family's builder: the `MODEL_CONFIGS[trunk]` trunk, then the `"spatial_bias"` head
    (LFNSB) or the `"gdconv"` embedding head, then the Dense `"predictions"` on that vector."""
    if sb_mode not in ("reference", "concat"):
        raise ValueError(f"sb_mode must be 'reference' or 'concat', got {sb_mode!r}.")
    skeleton = _builder.Skeleton(**shared, named_errors=True)
    inputs, x = skeleton.image_input(
        (IMAGENET_MEAN, IMAGENET_STD),
        min_size=_MIN_INPUT,
        channels=(1, 3),
        why=f"the network downsamples by 16 and {_HEAD_REASONS[head]}",
    )
    x = _trunk(x, MODEL_CONFIGS[trunk], inference_mode)
    if head == "spatial_bias":
        x = _spatial_bias_head(x, sb_mode, inference_mode)
    else:
        # GDConv's depthwise kernel is the whole final map: 7x7 at 112 px (the reference), 4x4 at 64, 3x3 at 48.
        x = GDConv(embedding_size, kernel_size=None, normalize=True, inference_mode=inference_mode, name="embedding")(x)
    return skeleton.classifier(inputs, x, pooling=None)


_SHARED_ARGS = {
    "num_classes": 'number of classes of the Dense `"predictions"` (`include_top=True`).',
    "input_shape": "`(H, W, C)` of raw `[0, 255]` pixels, C = 3 (RGB) or 1 (grey: the mean ImageNet statistics "
    "are used); at least 32x32 and static. 112x112 is the reference size.",
    "include_top": 'add the classifier, a Dense `"predictions"` on the vector the model outputs otherwise.',
    "name": "model name (the registry key by default).",
    "inference_mode": "build the re-parameterized (fused) graph directly; equivalent to "
    "`kerasfer.export.reparameterize(model)` of the training form.",
}


@register_model("lfnsb", input_shape=(112, 112, 3), family="lfnsb", paper=LFNSB_PAPER, min_input_size=_MIN_INPUT)
@_builder.shared_args(**_SHARED_ARGS)
@_builder.variant(_create, "lfn", "spatial_bias")
def LFNSB(
    num_classes=7,
    input_shape=(112, 112, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    name="lfnsb",
    sb_mode="reference",
    inference_mode=False,
):
    """LFNSB: the LFN backbone with the Spatial Bias head, as `LFNSB2.py` builds it.

    Graph: ImageNormalization -> LFN trunk (Conv2dBN stem, MixConv bottlenecks with
    coordinate attention, `conv6_sep` RepVGGDW; output layer `"features"`, 256 channels,
    7x7 at 112 px) -> `SpatialBias` (1x1 conv 256 -> 66, BN, ReLU, adaptive pool to 2x2,
    Conv1d over the channel axis -> 64 x 2 x 2, flattened in PyTorch order) -> `Dense`
    `"predictions"`. No GDConv and no embedding, exactly as the reference code; the
    reference's `BatchNorm1d(num_class)` is built but never used and is left out.

    Counts at 112x112, 7 classes: **2,676,147** trainable parameters (the paper's 2.676M;
    the PyTorch reference reports 2,676,161 because of the dead 14-parameter BatchNorm1d)
    and 387.24M MACs by `kerasfer.utils.count_macs(convention="conv")` (convolutions and dense layers), i.e.
    **397.18M** when BatchNorm and pooling are counted as fvcore does (the reference figure;
    paper 397.35M).

    Input sizes: anything from 32x32 works (static size). The final map is
    `ceil(H / 16)`: 7x7 at 112, 4x4 at 64, 3x3 at 48; the SB head's adaptive 2x2 pooling
    becomes pool 4/stride 3, 2/2 and 2/1 respectively (identical bins to PyTorch's
    `AdaptiveAvgPool2d(2)`), so the head keeps 256 features and the same weight shapes at
    every size, and 112-px weights load at 48 or 64 px.

    `include_top=False` returns the 256-wide SpatialBias vector (the classifier's input).
    `sb_mode="concat"` is the paper's description instead of the code: the 2x2 bias map is
    bilinearly upsampled and concatenated to the 256-channel map (320 channels), fused by a
    1x1 Conv2dBN + PReLU back to 256 and reduced by a global depthwise Conv2dBN, then
    flattened into the classifier. It is a variant, not the paper's measured model.

    Args:
        {args}
        sb_mode: `"reference"` (code head, default) or `"concat"` (paper text).

    Returns:
        A `keras.Model` with `(B, num_classes)` output, or `(B, 256)` without the top.

    Example:
    >>> model = kerasfer.models.LFNSB(num_classes=7)
    >>> kerasfer.utils.count_params(model)
    2676147
    """


@register_model(
    "lfn", input_shape=(112, 112, 3), family="lfnsb", paper=LFNSB_PAPER, min_input_size=_MIN_INPUT, embedding=True
)
@_builder.shared_args(**_SHARED_ARGS)
@_builder.variant(_create, "lfn", "gdconv")
def LFN(
    num_classes=7,
    input_shape=(112, 112, 3),
    weights=None,
    include_top=False,
    include_preprocessing=True,
    classifier_activation="softmax",
    name="lfn",
    embedding_size=256,
    inference_mode=False,
):
    """LFN: LFNSB's backbone as an embedding network (`LFN.py` class `LFN`).

    The LFN trunk (see `LFNSB`) followed by the MobileFaceNet head: `GDConv` (depthwise
    conv over the whole final map + BN, bias-free linear 256 -> `embedding_size`,
    BatchNorm1d, L2 normalisation), output layer `"embedding"`. `include_top=True` adds a
    `Dense` classifier `"predictions"` on the L2-normalised embedding.

    Counts at 112x112 (no classifier): **2,736,372** trainable parameters (= the PyTorch
    reference), 386.48M MACs (`count_macs(convention="conv")`; 396.41M with the default fvcore
    convention). The GDConv kernel follows the final map (7x7 at 112, 4x4 at 64, 3x3 at 48), so any static input from
    32x32 works, but weights only transfer between sizes with the same final map.

    Args:
        {args}
        embedding_size: width of the embedding (256).

    Returns:
        A `keras.Model` with `(B, embedding_size)` L2-normalised output, or `(B, num_classes)`
        with `include_top=True`.
    """


@register_model(
    "mfn", input_shape=(112, 112, 3), family="lfnsb", paper=MFN_PAPER, min_input_size=_MIN_INPUT, embedding=True
)
@_builder.shared_args(**_SHARED_ARGS)
@_builder.variant(_create, "mfn", "gdconv")
def MFN(
    num_classes=7,
    input_shape=(112, 112, 3),
    weights=None,
    include_top=False,
    include_preprocessing=True,
    classifier_activation="softmax",
    name="mfn",
    embedding_size=256,
    inference_mode=False,
):
    """MFN: MixedFeatureNet, the embedding network of DDAMFN that LFN is derived from.

    Conv_block stem (conv + BN + PReLU), MixConv bottlenecks with larger expansions and
    kernels up to 9x9, a 1x1 Conv_block 256 -> 512 (`conv6_sep`, output layer
    `"features"`), then `GDConv` (7x7 at 112 px) to a 256-wide L2-normalised embedding.

    Counts at 112x112 (no classifier): **4,164,264** trainable parameters, 539.16M MACs
    (`count_macs(convention="conv")`; 551.50M with the default fvcore convention).
    The PyTorch reference counts 4,193,448 because its `MDConv` builds a BatchNorm and a
    PReLU that `forward` never uses (29,184 dead parameters); they are left out here. The
    LFNSB paper's Table 2 figure (3.973M) is not reproduced by any public code.

    Args:
        {args}
        embedding_size: width of the embedding (256).

    Returns:
        A `keras.Model` with `(B, embedding_size)` L2-normalised output, or `(B, num_classes)`
        with `include_top=True`.
    """


@register_model(
    "mobilefacenet",
    input_shape=(112, 112, 3),
    family="lfnsb",
    paper=MOBILEFACENET_PAPER,
    min_input_size=_MIN_INPUT,
    embedding=True,
)
@_builder.shared_args(**_SHARED_ARGS)
@_builder.variant(_create, "mobilefacenet", "gdconv")
def MobileFaceNet(
    num_classes=7,
    input_shape=(112, 112, 3),
    weights=None,
    include_top=False,
    include_preprocessing=True,
    classifier_activation="softmax",
    name="mobilefacenet",
    embedding_size=512,
    inference_mode=False,
):
    """MobileFaceNet (TreB1eN/InsightFace_Pytorch `model.py`), an embedding network.

    Conv_block stem, `Depth_Wise` bottlenecks (1x1 Conv_block -> depthwise 3x3 Conv_block
    -> linear 1x1, shortcut in the repeated blocks), 1x1 Conv_block 128 -> 512
    (`"features"`), `GDConv` (7x7 at 112 px) to an L2-normalised embedding.

    Counts at 112x112 (embedding 512, no classifier): **1,200,512** trainable parameters,
    221.16M MACs (`count_macs(convention="conv")`; 227.57M with the default fvcore convention; 1,068,928 parameters with
    `embedding_size=256`). The LFNSB paper's Table 2 figure
    (1.148M / 230.34M) is not reproduced by any public code.

    Args:
        {args}
        embedding_size: width of the embedding (512).

    Returns:
        A `keras.Model` with `(B, embedding_size)` L2-normalised output, or `(B, num_classes)`
        with `include_top=True`.
    """
