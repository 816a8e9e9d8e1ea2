"""ShuffleNetV2 (torchvision layout) and LFER-LDL (ShuffleNetV2 + PDWRes + Mish output module).

Papers and reference code:

* ShuffleNetV2: Ningning Ma, Xiangyu Zhang, Hai-Tao Zheng and Jian Sun, "ShuffleNet V2:
  Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018, arXiv:1807.11164.
  Reference code: torchvision `torchvision/models/shufflenetv2.py`
  (https://github.com/pytorch/vision).
* LFER-LDL: Liu Jin, Luo Xiaoshu and Xu Zhaoxing, "Lightweight Facial Expression Recognition
  Based on Label Distribution Learning" (postprint), ChinaXiv chinaxiv-202204.00070, 2022;
  DOI not given in the paper. No public code; the closest public analogue (same channel
  list, a four-quadrant depthwise local branch, a ResNet-50 label-distribution teacher) is
  EfficientFace: Zengqun Zhao, Qingshan Liu and Feng Zhou, "Robust Lightweight Facial
  Expression Recognition Network with Label Distribution Training", AAAI 2021, DOI
  10.1609/aaai.v35i4.16465, code https://github.com/zengqunzhao/EfficientFace.

ShuffleNetV2 follows torchvision's `shufflenetv2.py` exactly (same channel tables,
repeats `[4, 8, 4]`, bias-free convolutions, no activation after depthwise
convolutions), so the trainable-parameter counts match PyTorch: 0.5x 348,967 and
1.0x 1,260,779 at 224x224 with 7 classes. Stride-2 convolutions and the stem max
pooling pad one pixel on every side like PyTorch (`ZeroPadding2D(1)` + `"valid"`; zero
padding before the max pooling equals PyTorch's -inf padding because its input is
post-ReLU). BatchNorm uses PyTorch's eps 1e-5 / momentum 0.1 (Keras momentum 0.9).

The channel shuffle is `kerasfer.layers.ChannelShuffle`, which keeps every tensor at
rank <= 4 and emits no GATHER, so the whole network converts to TFLite builtin ops that
the GPU delegate accepts.

LFER-LDL (Liu, Luo, Xu 2022) is ShuffleNetV2 with the channel list
`[29, 116, 232, 464, 1024]` (29 = 116 / 4, as in EfficientFace), a PDWRes branch
(`kerasfer.layers.PDWRes`) from the stem output added to Stage 2's output, and a new
output module (`kerasfer.layers.MishHead`, layout unknown in the paper, see that layer)
instead of the FC layer. With the FC head it has 1,271,767 parameters at 224x224 and 7
classes (measured from the EfficientFace analogue without its Modulator); the paper
quotes 1.26M, which is the plain 1.0x network's figure, and +0.01M / +0.02M for PDWRes
and the output module.

Blocks: `kerasfer.layers.ChannelShuffle`, `kerasfer.layers.PDWRes`, `kerasfer.layers.MishHead`,
`kerasfer.layers.ImageNormalization`. LFER-LDL's label-distribution learning is a training
recipe, not part of the model: the teacher is `kerasfer.models.ResNet50Teacher`, the losses
`kerasfer.losses.LabelDistributionKL` and `kerasfer.losses.ComboLoss`, and
`kerasfer.training.ldl` runs both stages. Training presets (`kerasfer.training.presets`):
`lfer_ldl` (the student; `get_ldl_preset("lfer_ldl")` gives teacher and student) and
`shufflenet_fer2013` (ours, for the packaged ShuffleNetV2 0.5x weights). Tests:
`tests/models/test_shufflenet.py`. Paper-vs-code notes: `docs/models.md`.
"""

import functools

import keras

from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.channel_shuffle import ChannelShuffle
from kerasfer.layers.image_normalization import IMAGENET_MEAN
from kerasfer.layers.image_normalization import IMAGENET_STD
from kerasfer.layers.image_normalization import channel_stats
from kerasfer.layers.mish_head import MishHead
from kerasfer.layers.pdwres import PDWRes
from kerasfer.models import _builder
from kerasfer.models.registry import register_model

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

STAGE_REPEATS = (4, 8, 4)

# torchvision channel tables: [conv1, stage2, stage3, stage4, conv5].
WIDTH_CHANNELS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
LFER_LDL_CHANNELS = (29, 116, 232, 464, 1024)

# Normalisation presets: ImageNet (torchvision / MS-Celeb pre-training) and the RAF-DB
# statistics used by EfficientFace.
NORMALIZATIONS = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "rafdb": ((0.5754, 0.4493, 0.4008), (0.2074, 0.1898, 0.1813)),
}

PAPER_SHUFFLENET = "Ma et al., ShuffleNet V2, ECCV 2018, arXiv:1807.11164 (torchvision layout)"
PAPER_LFER_LDL = "Liu, Luo, Xu, Lightweight FER Based on Label Distribution Learning, ChinaXiv 202204.00070, 2022"


def _normalization_stats(normalization, channels):
    if isinstance(normalization, str):
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {sorted(NORMALIZATIONS)} or a (mean, std) pair, got {normalization!r}."
            )
        mean, std = NORMALIZATIONS[normalization]
    else:
        try:
            mean, std = normalization
        except (TypeError, ValueError):
            raise ValueError(
                f"normalization must be a preset name or a (mean, std) pair, got {normalization!r}."
            ) from None
    return channel_stats(mean, std, channels)


def _stride2(size):
    """Output side of a 3x3 stride-2 conv/pool with symmetric padding 1 (PyTorch)."""
    return (size - 1) // 2 + 1


def _check_pdwres_alignment(input_shape):
    h, w = int(input_shape[0]), int(input_shape[1])
    sh, sw = _stride2(_stride2(h)), _stride2(_stride2(w))
    if sh % 4 or sw % 4:
        raise ValueError(
            f"input_shape {tuple(input_shape)}: PDWRes needs the stem output ({sh}x{sw} here) to be a multiple "
            "of 4 on each side, so that its four stride-2 quadrants line up with Stage 2's output; use a height "
            "and width that are multiples of 16 (e.g. 224, 112, 64, 48)."
        )


def _conv_bn(x, filters, kernel_size, strides, name, relu=True):
    if strides > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def _dw_bn(x, strides, name):
    if strides > 1:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.DepthwiseConv2D(3, strides=strides, padding=padding, use_bias=False, name=name)(x)
    return BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)


def _inverted_residual(x, out_channels, strides, name, shuffle_method):
    """torchvision's ShuffleNetV2 `InvertedResidual` unit."""
    branch_channels = out_channels // 2
    if strides == 1:
        in_channels = x.shape[-1]
        if in_channels != out_channels:
            raise ValueError(f"{name}: a stride-1 unit needs in == out channels, got {in_channels} -> {out_channels}.")
        left = x[..., :branch_channels]
        right = x[..., branch_channels:]
    else:
        left = _dw_bn(x, strides, f"{name}_branch1_dw")
        left = _conv_bn(left, branch_channels, 1, 1, f"{name}_branch1_pw")
        right = x
    right = _conv_bn(right, branch_channels, 1, 1, f"{name}_branch2_pw1")
    right = _dw_bn(right, strides, f"{name}_branch2_dw")
    right = _conv_bn(right, branch_channels, 1, 1, f"{name}_branch2_pw2")
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([left, right])
    return ChannelShuffle(groups=2, method=shuffle_method, name=f"{name}_shuffle")(x)


def _create(
    channels,
    *,
    normalization,
    shuffle_method,
    stem_pool=True,
    use_pdwres=False,
    pdwres_activation="relu6",
    head="fc",
    head_hidden_units=None,
    head_dropout_rate=0.0,
    **shared,
):
    """The family's builder: ShuffleNetV2 with the `channels` table, PDWRes and the head of LFER-LDL optional."""
    skeleton = _builder.Skeleton(**shared)
    if use_pdwres and not stem_pool:
        raise ValueError("stem_pool=False is not supported with PDWRes (it is sized for the pooled stem).")
    if head not in ("fc", "mish"):
        raise ValueError(f"head must be 'fc' or 'mish', got {head!r}.")
    inputs, x = skeleton.image_input(
        functools.partial(_normalization_stats, normalization),
        min_size=32,
        why="the network downsamples by 32: stem conv, max pooling and three stride-2 stages",
    )
    if use_pdwres:
        _check_pdwres_alignment(skeleton.input_shape)
    x = _conv_bn(x, channels[0], 3, 2, "conv1")
    if stem_pool:
        x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="maxpool")(x)
    stem = x
    for stage, (repeats, out_channels) in enumerate(zip(STAGE_REPEATS, channels[1:4], strict=True), start=2):
        for i in range(repeats):
            x = _inverted_residual(x, out_channels, 2 if i == 0 else 1, f"stage{stage}_unit{i + 1}", shuffle_method)
        if stage == 2 and use_pdwres:
            local = PDWRes(depth_multiplier=channels[1] // channels[0], activation=pdwres_activation, name="pdwres")(
                stem
            )
            x = keras.layers.Add(name="stage2_pdwres_add")([x, local])
    x = _conv_bn(x, channels[4], 1, 1, "conv5")
    x = keras.layers.Identity(name="features")(x)
    if head == "mish" and skeleton.include_top:
        x = MishHead(hidden_units=head_hidden_units, dropout_rate=head_dropout_rate, name="mish_head")(x)
    return skeleton.classifier(inputs, x, pooling=None if head == "mish" else "avg")


def _width_key(width):
    return f"shufflenet_v2_x{str(float(width)).replace('.', '_')}"


def _shufflenet_v2(width, *, name, **kwargs):
    """`ShuffleNetV2`'s builder: the channel table of `width`, the registry key as the default name."""
    if width not in WIDTH_CHANNELS:
        raise ValueError(f"width must be one of {sorted(WIDTH_CHANNELS)}, got {width!r}.")
    return _create(WIDTH_CHANNELS[width], name=name or _width_key(width), **kwargs)


@_builder.shared_args(
    normalization="the `normalization` statistics, their channel averages for grayscale input",
    input_shape="`(H, W, C)` of raw `[0, 255]` pixels, at least 32x32.",
    include_top='add global average pooling and the Dense `"predictions"`; otherwise the model outputs the '
    'conv5 feature map (layer `"features"`).',
)
@_builder.variant(_shufflenet_v2)
def ShuffleNetV2(
    width=1.0,
    num_classes=7,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    name=None,
    normalization="imagenet",
    shuffle_method="concat",
    stem_pool=True,
):
    """ShuffleNetV2 at width 0.5, 1.0, 1.5 or 2.0 (torchvision layout and channel tables).

    Trainable parameters at 224x224x3, 7 classes: 0.5x 348,967; 1.0x 1,260,779;
    1.5x 2,485,799; 2.0x 5,359,339 (torchvision's counts with a 7-way classifier).
    MACs by `kerasfer.utils.count_macs(convention="conv")` (convolutions and dense layers only) at 224:
    0.5x 39.5M, 1.0x 143.9M (fvcore, which also counts BatchNorm and pooling, gives
    41.5M / 147.8M for the PyTorch models).
    Any side >= 32 px works (e.g. 48x48x1 for FER2013; grayscale inputs use the
    channel-averaged normalisation statistics).

    Args:
        width: 0.5, 1.0, 1.5 or 2.0.
        {args}
        name: model name; default the registry key, e.g. `"shufflenet_v2_x1_0"`.
        normalization: `"imagenet"` (default), `"rafdb"` or a `(mean, std)` pair.
        shuffle_method: `"concat"` (default; also runs on the OpenGL fallback) or
            `"transpose"` (see `kerasfer.layers.ChannelShuffle`).
        stem_pool: keep the stem's 3x3 stride-2 max pooling (default, as in the paper).
            `False` drops it (total stride 16 instead of 32), for small faces: at 48x48 the
            last stage then sees a 3x3 map instead of 2x2 (at 64x64), for about 2x the MACs.

    Returns:
        A `keras.Model`.
    """


def _variant(width):
    def builder(**kwargs):
        return ShuffleNetV2(width=width, **kwargs)

    builder.__name__ = f"ShuffleNetV2x{str(float(width)).replace('.', '_')}"
    builder.__qualname__ = builder.__name__
    builder.__doc__ = f"ShuffleNetV2 {width}x (registry key `{_width_key(width)}`); see `ShuffleNetV2`."
    return register_model(
        _width_key(width), input_shape=(224, 224, 3), family="shufflenet_v2", paper=PAPER_SHUFFLENET, min_input_size=32
    )(builder)


ShuffleNetV2x0_5 = _variant(0.5)
ShuffleNetV2x1_0 = _variant(1.0)
ShuffleNetV2x1_5 = _variant(1.5)
ShuffleNetV2x2_0 = _variant(2.0)


@register_model("lfer_ldl", input_shape=(224, 224, 3), family="lfer_ldl", paper=PAPER_LFER_LDL, min_input_size=32)
@_builder.shared_args(
    normalization="the `normalization` statistics, their channel averages for grayscale input",
    input_shape="`(H, W, C)` of raw `[0, 255]` pixels; H and W multiples of 16 and >= 32 (PDWRes alignment).",
    include_top='add the head (`head`) and the Dense `"predictions"`; otherwise the model outputs the conv5 '
    'feature map (layer `"features"`).',
)
@_builder.variant(_create, LFER_LDL_CHANNELS)
def LFERLDL(
    num_classes=7,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    name="lfer_ldl",
    head="mish",
    head_hidden_units=None,
    head_dropout_rate=0.0,
    use_pdwres=True,
    pdwres_activation="relu6",
    normalization="imagenet",
    shuffle_method="concat",
):
    """LFER-LDL: ShuffleNetV2 [29, 116, 232, 464, 1024] + PDWRes + Mish output module.

    Layout: stem (conv 3x3/2 to 29 channels, BN, ReLU, max pool 3x3/2) -> Stage 2
    (116) + PDWRes(stem) -> Stage 3 (232) -> Stage 4 (464) -> conv5 1x1 (1024, layer
    `"features"`) -> head -> Dense `"predictions"`. The label-distribution learning part
    of the paper (a ResNet-50 teacher's softmax as the target, KL loss) is a training
    recipe, not part of this model.

    Trainable parameters at 224x224x3, 7 classes: with `head="fc"` 1,271,767 (exactly
    the EfficientFace analogue without its Modulator); with the default `head="mish"`
    1,274,839 (+3,072: the head's depthwise 1x1 conv and BatchNorm). Without PDWRes and
    with the FC head: 1,261,559. The paper quotes 1.26M params and 294.60M FLOPs, which
    are the plain ShuffleNetV2 1.0x figures (1,260,779; 2 x 147.8M fvcore MACs). MACs
    by `kerasfer.utils.count_macs(convention="conv")` at 224: 148.4M (FC head; PDWRes adds 1.64M).

    The paper's output module is not published beyond "depthwise separable
    convolutions with Mish instead of ReLU, +0.02M params, +0.03M FLOPs"; see
    `kerasfer.layers.MishHead` for the layout chosen here (pooled map -> depthwise 1x1 ->
    BN -> Mish [-> pointwise to `head_hidden_units` -> BN -> Mish] -> classifier).

    Args:
        {args}
        name: model name (default the registry key `"lfer_ldl"`).
        head: `"mish"` (the paper's output module, our layout) or `"fc"` (pooling + Dense).
        head_hidden_units: optional pointwise width inside the Mish head.
        head_dropout_rate: dropout before the classifier in the Mish head.
        use_pdwres: add the PDWRes branch (False gives ShuffleNetV2 with conv1 = 29).
        pdwres_activation: PDWRes activation (paper: `"relu6"`; EfficientFace: `"relu"`).
        normalization: `"imagenet"` (default), `"rafdb"` or a `(mean, std)` pair.
        shuffle_method: `"concat"` (default; also runs on the OpenGL fallback) or
            `"transpose"` (see `kerasfer.layers.ChannelShuffle`).

    Returns:
        A `keras.Model`.
    """
