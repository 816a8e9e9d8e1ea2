"""ResNet-18/34/50 in the torchvision layout, as trunks with stage outputs, and the ResNet-50 LDL teacher.

Torchvision layout: convolutions without bias, BatchNorm epsilon 1e-5, the stride of a
Bottleneck on its 3x3 conv ("ResNet v1.5"), symmetric padding (`ZeroPadding2D` +
`"valid"`) so stride-2 layers match PyTorch exactly, and layers named after the
torchvision modules (`conv1`, `bn1`, `layer1_0_conv1`, `layer1_0_downsample_conv`, ...)
so PyTorch weights map onto them by name.

`ResNet50Teacher` is the teacher of label-distribution learning in LFER-LDL (Liu, Luo and
Xu, "Lightweight Facial Expression Recognition Based on Label Distribution Learning",
ChinaXiv 202204.00070, 2022; see `kerasfer.models.shufflenet`), laid out as EfficientFace's
`resnet50` with a 7-class FC (https://github.com/zengqunzhao/EfficientFace): 23,522,375
parameters and 4.11 GMACs at 224x224 with 7 classes, as torchvision builds it. Use its
softmax outputs as the soft targets of a student (`keras.losses.KLDivergence`, or a
categorical cross-entropy with the teacher's distribution as `y_true`); the teacher is used
only during training.

`ResNet18Small` (registry key `resnet18_small`) is not a paper's network: the ResNet-18 block
layout at half width with a small-input stem, for 48x48 faces (see its docstring).

Reference:
    Kaiming He, Xiangyu Zhang, Shaoqing Ren and Jian Sun, "Deep Residual Learning for Image
    Recognition", CVPR 2016, arXiv:1512.03385. Layout and layer names follow torchvision's
    `torchvision/models/resnet.py` (https://github.com/pytorch/vision).

The trunk functions (`resnet_stages`, `stage_channels`) are shared with
`kerasfer.models.resmasking` and `kerasfer.models.multiscale`; the BatchNorm constants and
the convolution initialiser come from `kerasfer.layers.masking_block`. Training presets
(`kerasfer.training.presets`): the `lfer_ldl` teacher stage (`get_ldl_preset("lfer_ldl")`)
and `resnet18_fer2013`. Tests: `tests/models/test_resnet.py`.
"""

import keras

from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.image_normalization import IMAGENET_MEAN
from kerasfer.layers.image_normalization import IMAGENET_STD
from kerasfer.layers.masking_block import BN_EPSILON
from kerasfer.layers.masking_block import BN_MOMENTUM
from kerasfer.layers.masking_block import conv_initializer
from kerasfer.models import _builder
from kerasfer.models.registry import register_model

# Architecture as data: block type and blocks per stage.
RESNET_CONFIGS = {
    18: {"block": "basic", "layers": (2, 2, 2, 2)},
    34: {"block": "basic", "layers": (3, 4, 6, 3)},
    50: {"block": "bottleneck", "layers": (3, 4, 6, 3)},
}
EXPANSION = {"basic": 1, "bottleneck": 4}


STEMS = ("imagenet", "small")


def stage_filters(base_width=64):
    """The four stages' base widths: `base_width` doubled per stage (64, 128, 256, 512 in torchvision)."""
    if int(base_width) != base_width or base_width < 1:
        raise ValueError(f"base_width must be a positive int, got {base_width!r}.")
    return tuple(int(base_width) * 2**i for i in range(4))


def stage_channels(depth, base_width=64):
    """Output channels of the four stages of a ResNet of this depth (e.g. 64..512 or 256..2048)."""
    config = _config(depth)
    return tuple(f * EXPANSION[config["block"]] for f in stage_filters(base_width))


def _config(depth):
    if depth not in RESNET_CONFIGS:
        raise ValueError(f"depth must be one of {sorted(RESNET_CONFIGS)}, got {depth}.")
    return RESNET_CONFIGS[depth]


def conv_bn(x, filters, kernel_size, strides=1, name="conv", bn_name=None, gamma_zero=False):
    """Conv (no bias, symmetric padding) + BatchNorm (eps 1e-5), the torchvision way."""
    if kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, use_bias=False, kernel_initializer=conv_initializer(), name=name
    )(x)
    return BatchNormalization(
        epsilon=BN_EPSILON,
        momentum=BN_MOMENTUM,
        gamma_initializer="zeros" if gamma_zero else "ones",
        name=bn_name or f"{name}_bn",
    )(x)


def basic_block(x, filters, strides, name, zero_init_residual=False):
    """Functional torchvision `BasicBlock` (same maths as `kerasfer.layers.BasicBlock`)."""
    shortcut = x
    y = conv_bn(x, filters, 3, strides, name=f"{name}_conv1", bn_name=f"{name}_bn1")
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv_bn(y, filters, 3, 1, name=f"{name}_conv2", bn_name=f"{name}_bn2", gamma_zero=zero_init_residual)
    if strides != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, strides, name=f"{name}_downsample_conv", bn_name=f"{name}_downsample_bn")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def bottleneck_block(x, filters, strides, name, zero_init_residual=False):
    """Functional torchvision `Bottleneck` (v1.5: stride on the 3x3), expansion 4."""
    out_filters = filters * 4
    shortcut = x
    y = conv_bn(x, filters, 1, 1, name=f"{name}_conv1", bn_name=f"{name}_bn1")
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = conv_bn(y, filters, 3, strides, name=f"{name}_conv2", bn_name=f"{name}_bn2")
    y = keras.layers.ReLU(name=f"{name}_relu2")(y)
    y = conv_bn(y, out_filters, 1, 1, name=f"{name}_conv3", bn_name=f"{name}_bn3", gamma_zero=zero_init_residual)
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = conv_bn(x, out_filters, 1, strides, name=f"{name}_downsample_conv", bn_name=f"{name}_downsample_bn")
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet_stem(x, prefix="", stem="imagenet", width=64):
    """The stem, stride 4 or 2.

    `"imagenet"` (torchvision): conv1 7x7/2 + bn1 + ReLU + maxpool 3x3/2 (zero padding is
    exact after the ReLU). `"small"` (for 48-64 px faces): conv1 3x3/1 + bn1 + ReLU, then
    conv2 3x3/2 + bn2 + ReLU, no max-pool, so a 48 px face reaches stage 1 at 24x24 rather
    than 12x12.
    """
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {STEMS}, got {stem!r}.")
    if stem == "small":
        x = conv_bn(x, width, 3, 1, name=f"{prefix}conv1", bn_name=f"{prefix}bn1")
        x = keras.layers.ReLU(name=f"{prefix}relu")(x)
        x = conv_bn(x, width, 3, 2, name=f"{prefix}conv2", bn_name=f"{prefix}bn2")
        return keras.layers.ReLU(name=f"{prefix}relu2")(x)
    x = conv_bn(x, width, 7, 2, name=f"{prefix}conv1", bn_name=f"{prefix}bn1")
    x = keras.layers.ReLU(name=f"{prefix}relu")(x)
    x = keras.layers.ZeroPadding2D(1, name=f"{prefix}maxpool_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name=f"{prefix}maxpool")(x)


def resnet_stage(x, depth, stage, prefix="", zero_init_residual=False, base_width=64):
    """Runs stage `stage` (1-4, torchvision `layer1`..`layer4`) of a ResNet of `depth`."""
    config = _config(depth)
    block_fn = basic_block if config["block"] == "basic" else bottleneck_block
    filters = stage_filters(base_width)[stage - 1]
    for i in range(config["layers"][stage - 1]):
        strides = 2 if (i == 0 and stage > 1) else 1
        x = block_fn(x, filters, strides, name=f"{prefix}layer{stage}_{i}", zero_init_residual=zero_init_residual)
    return x


def resnet_stages(x, depth=50, prefix="", zero_init_residual=False, after_stage=None, base_width=64, stem="imagenet"):
    """Builds stem + four stages on `x`; returns the stage outputs `[C2, C3, C4, C5]`.

    Args:
        x: a `(B, H, W, 3)` tensor (already normalised).
        depth: 18, 34 or 50.
        prefix: prepended to every layer name.
        zero_init_residual: start the last BN gamma of each block at zero.
        after_stage: optional `fn(x, stage) -> x` applied to each stage output before the
            next stage (how `ResMaskingNet` inserts its masks).
        base_width: stage-1 width (64 in torchvision); each later stage doubles it.
        stem: `"imagenet"` (7x7/2 + max-pool) or `"small"` (two 3x3 convs, stride 2).

    Returns:
        The four stage outputs, strides 4, 8, 16, 32 (2, 4, 8, 16 with the small stem).
    """
    x = resnet_stem(x, prefix, stem, base_width)
    outputs = []
    for stage in range(1, 5):
        x = resnet_stage(x, depth, stage, prefix, zero_init_residual, base_width)
        if after_stage is not None:
            x = after_stage(x, stage)
        outputs.append(x)
    return outputs


def _create(depth, *, name, dropout, zero_init_residual, base_width, stem, **shared):
    """The family's builder (see `ResNet`)."""
    _config(depth)
    skeleton = _builder.Skeleton(name=name or f"resnet{depth}", **shared)
    min_size, why = (16, "four stride-2 stages") if stem == "small" else (32, "five stride-2 stages")
    inputs, x = skeleton.image_input((IMAGENET_MEAN, IMAGENET_STD), min_size=min_size, why=why)
    x = resnet_stages(x, depth, zero_init_residual=zero_init_residual, base_width=base_width, stem=stem)[-1]
    return skeleton.classifier(inputs, keras.layers.Identity(name="features")(x), dropout=dropout)


@_builder.shared_args(
    input_shape="`(H, W, C)` of raw `[0, 255]` pixels, at least 32x32 (16x16 with the small stem).",
    include_top='add global average pooling, optional dropout and the Dense `"predictions"`; otherwise the '
    'output is the `"features"` map (stride 32, 16 with the small stem).',
)
@_builder.variant(_create)
def ResNet(
    depth=50,
    num_classes=1000,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    dropout=0.0,
    zero_init_residual=False,
    base_width=64,
    stem="imagenet",
    name=None,
):
    """Builds a torchvision-layout ResNet-18/34/50 classifier or trunk.

    Args:
        depth: 18, 34 or 50.
        {args}
        dropout: dropout rate before the classifier (0 = none, as torchvision).
        zero_init_residual: start each block's last BN gamma at zero.
        base_width: stage-1 width (64 in torchvision; 32 is the half-width network).
        stem: `"imagenet"` (torchvision: 7x7/2 conv + max-pool, total stride 32) or
            `"small"` (3x3/1 + 3x3/2 convs, total stride 16, for 48-64 px faces).
        name: model name (default `f"resnet{depth}"`).

    Returns:
        A `keras.Model`.
    """


@_builder.variant(ResNet, 18)
def ResNet18(num_classes=1000, input_shape=(224, 224, 3), weights=None, include_top=True, **kwargs):
    """torchvision ResNet-18 (11,689,512 parameters with 1000 classes). See `ResNet`."""


@_builder.variant(ResNet, 34)
def ResNet34(num_classes=1000, input_shape=(224, 224, 3), weights=None, include_top=True, **kwargs):
    """torchvision ResNet-34 (21,797,672 parameters with 1000 classes). See `ResNet`."""


@_builder.variant(ResNet, 50)
def ResNet50(num_classes=1000, input_shape=(224, 224, 3), weights=None, include_top=True, **kwargs):
    """torchvision ResNet-50 v1.5 (25,557,032 parameters with 1000 classes). See `ResNet`."""


@register_model(
    "resnet50_teacher",
    input_shape=(224, 224, 3),
    family="resnet",
    paper="He et al., ResNet-50, CVPR 2016, arXiv:1512.03385 (the LFER-LDL label-distribution teacher)",
    min_input_size=32,
)
@_builder.shared_args(
    num_classes='classes of the FC `"predictions"` (7 by default).',
    input_shape="`(H, W, C)` of raw `[0, 255]` pixels, at least 32x32 (224x224 in the paper).",
    include_top='add global average pooling and the Dense `"predictions"`; otherwise the output is the '
    '`"features"` map.',
    classifier_activation='activation of the Dense `"predictions"`, the model\'s output: `"softmax"` (the '
    "teacher distribution) or `None` (logits, e.g. to apply a temperature).",
)
@_builder.variant(ResNet, 50)
def ResNet50Teacher(
    num_classes=7,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    name="resnet50_teacher",
):
    """The ResNet-50 teacher of label-distribution learning (LFER-LDL).

    torchvision ResNet-50 with a `num_classes` FC: 23,522,375 parameters and 4.11 GMACs
    at 224x224 with 7 classes (the reference count). The paper pre-trains it on
    MS-Celeb-1M and fine-tunes it on the FER dataset; we ship no weights (`weights` is a
    local file). Its softmax output is the target distribution for the student:

    ```python
    teacher = kerasfer.models.ResNet50Teacher(weights="teacher.weights.h5")
    teacher.trainable = False
    soft = teacher(images, training=False)          # (B, 7) distribution
    student.compile(optimizer="adam", loss=keras.losses.KLDivergence())
    student.fit(images, soft, ...)
    ```
    EfficientFace's code uses `mean(-p_teacher * log q_student)` over B x C elements,
    which has the KL gradients scaled by 1/C.

    Args:
        {args}
        name: model name.

    Returns:
        A `keras.Model`.
    """


@register_model(
    "resnet18_small",
    input_shape=(48, 48, 1),
    family="resnet",
    paper="ResNet-18 (He et al. CVPR 2016) at half width with a small-input stem, sized for 48 px faces (ours)",
    min_input_size=16,
)
@_builder.shared_args(
    input_shape="`(H, W, C)` of raw `[0, 255]` pixels, at least 16x16; `(48, 48, 1)` by default (FER2013 faces).",
    include_top='add global average pooling, optional dropout and the Dense `"predictions"`; otherwise the '
    'output is the `"features"` map (stride 16).',
)
@_builder.variant(ResNet, 18, base_width=32, stem="small")
def ResNet18Small(
    num_classes=7,
    input_shape=(48, 48, 1),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    dropout=0.0,
    name="resnet18_small",
):
    """ResNet-18 at half width (32-64-128-256) with a small-input stem, for 48x48 faces.

    Not a paper's network: the torchvision ResNet-18 block layout (two BasicBlocks per stage)
    with every width halved and the 7x7/2 conv + max-pool stem replaced by two 3x3 convs
    (strides 1 and 2, 32 channels), as CIFAR-style ResNets do for small images. A 48 px
    FER2013 face reaches stage 1 at 24x24 and stage 4 at 3x3. Dense 3x3 convolutions rather
    than depthwise ones: on CPUs and in TFLite a dense conv runs at many times the MACs per
    second of a depthwise one, so this network trains several times faster per accuracy
    point than the depthwise families at this size. 2,805,543 parameters and 84.3M MACs
    (fvcore convention) at 48x48x1 with 7 classes.

    Args:
        {args}
        dropout: dropout rate before the classifier.
        name: model name.

    Returns:
        A `keras.Model`.
    """
