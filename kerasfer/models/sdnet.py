"""SDNet-like: separable convolutions + residuals (Xception) + dense blocks (DenseNet) + CBAM.

Paper: Lifang Zhou, Siqin Li, Yi Wang and Junlin Liu, "SDNet: Lightweight Facial Expression
Recognition for Sample Disequilibrium", IEEE International Conference on Acoustics, Speech
and Signal Processing (ICASSP) 2022; DOI not given in the paper. No public code. The blocks
it names: Xception (Chollet, "Xception: Deep Learning with Depthwise Separable
Convolutions", CVPR 2017, arXiv:1610.02357), DenseNet (Huang et al., "Densely Connected
Convolutional Networks", CVPR 2017, arXiv:1608.06993) and CBAM (Woo et al., ECCV 2018,
arXiv:1807.06521).

SDNet combines Xception-style depthwise-separable convolutions
with residual connections, DenseNet-style dense blocks and CBAM, takes 68x68 inputs and
has 2.17M parameters. The paper's layer figure is not available and no code is public,
so the exact layout below is **our design** ("SDNet-like"), tuned to 2.17M parameters:

```
input 68x68xC (raw [0, 255]) -> ImageNormalization (x / 255; the paper uses none)
stem:    Conv 3x3/1 32  -> BN -> ReLU                                 68x68x32
         Conv 3x3/2 64  -> BN -> ReLU                                 34x34x64
entry:   2 Xception residual blocks (128, 256):                      17x17x128, 9x9x256
           [ReLU ->] SepConv 3x3 f -> BN -> ReLU -> SepConv 3x3 f -> BN -> MaxPool 3x3/2
           + shortcut Conv 1x1/2 f -> BN
dense 1: 6 dense layers, growth 48, at 9x9 (256 -> 544 channels) -> CBAM
           dense layer = BN -> ReLU -> Conv 1x1 (4 x growth) -> BN -> ReLU -> SepConv 3x3 (growth)
transition: BN -> ReLU -> Conv 1x1 (x 0.5 = 272) -> AvgPool 2x2/2     5x5x272
dense 2: 6 dense layers, growth 48, at 5x5 (272 -> 560) -> CBAM
exit:    BN -> ReLU -> SepConv 3x3 1280 -> BN -> ReLU  (layer "features")  5x5x1280
head:    global average pooling -> dropout -> Dense(num_classes, softmax) "predictions"
```

All convolutions are bias-free and followed by BatchNorm (Keras defaults: epsilon 1e-3,
momentum 0.99, since the paper was written in Keras; `config={"bn_epsilon": 1e-5,
"bn_momentum": 0.9}` gives the PyTorch values); pooling uses `"same"` padding so
any side >= 32 works (48x48 FER2013 images included). CBAM (`kerasfer.layers.CBAM`,
reduction 16, 7x7 spatial kernel) follows each dense block.

Trainable parameters with 7 classes: 2,181,236 for 68x68x1 (the default: FER2013, CK+
and Oulu-CASIA, three of the paper's four datasets, are grayscale) and 2,181,812 for
68x68x3, i.e. 0.5% over the paper's 2.17M. MACs (`kerasfer.utils.count_macs(convention="conv")`): 171.0M at
68x68x1, 173.7M at 68x68x3, 78.0M at 48x48x1. The paper's FLOPs column (5.38M) is not
plausible as real FLOPs at 68x68 (it is about 2.5x the parameter count).

The paper's other two contributions are training-side: its adaptive class weights
(equations 1-3) are `kerasfer.training.adaptive_class_weights` and its RO loss (equations
4-6) is `kerasfer.losses.ROLoss`. Blocks: `kerasfer.layers.CBAM`,
`kerasfer.layers.ImageNormalization` (the rest are plain Keras layers). Training preset
(`kerasfer.training.presets`): `sdnet`. Tests: `tests/models/test_sdnet.py`. Paper-vs-code
notes: `docs/models.md`.
"""

import keras

from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.cbam import CBAM
from kerasfer.models import _builder
from kerasfer.models.registry import register_model

PAPER_SDNET = "Zhou, Li, Wang, Liu, SDNet: Lightweight FER for Sample Disequilibrium, ICASSP 2022 (layout ours)"

# The architecture as data.
SDNET_CONFIG = {
    "stem": ({"filters": 32, "strides": 1}, {"filters": 64, "strides": 2}),
    "entry_blocks": (128, 256),
    "dense_blocks": ({"num_layers": 6, "growth_rate": 48}, {"num_layers": 6, "growth_rate": 48}),
    "bottleneck_factor": 4,
    "compression": 0.5,
    "cbam_reduction_ratio": 16,
    "exit_filters": 1280,
    # Keras defaults (the paper was written in Keras; there are no PyTorch weights to match).
    "bn_epsilon": 1e-3,
    "bn_momentum": 0.99,
}

MIN_INPUT_SIZE = 32


def _bn(x, name, cfg):
    return BatchNormalization(epsilon=cfg["bn_epsilon"], momentum=cfg["bn_momentum"], name=name)(x)


def _relu(x, name):
    return keras.layers.ReLU(name=name)(x)


def _sepconv(x, filters, name):
    return keras.layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, name=name)(x)


def _xception_block(x, filters, name, pre_activation, cfg):
    shortcut = keras.layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False, name=f"{name}_shortcut")(x)
    shortcut = _bn(shortcut, f"{name}_shortcut_bn", cfg)
    if pre_activation:
        x = _relu(x, f"{name}_pre_relu")
    x = _bn(_sepconv(x, filters, f"{name}_sepconv1"), f"{name}_sepconv1_bn", cfg)
    x = _relu(x, f"{name}_sepconv1_relu")
    x = _bn(_sepconv(x, filters, f"{name}_sepconv2"), f"{name}_sepconv2_bn", cfg)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
    return keras.layers.Add(name=f"{name}_add")([x, shortcut])


def _dense_layer(x, growth_rate, name, cfg):
    y = _relu(_bn(x, f"{name}_bn1", cfg), f"{name}_relu1")
    y = keras.layers.Conv2D(cfg["bottleneck_factor"] * growth_rate, 1, use_bias=False, name=f"{name}_conv1")(y)
    y = _relu(_bn(y, f"{name}_bn2", cfg), f"{name}_relu2")
    y = _sepconv(y, growth_rate, f"{name}_sepconv")
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([x, y])


def _transition(x, name, cfg):
    filters = int(x.shape[-1] * cfg["compression"])
    x = _relu(_bn(x, f"{name}_bn", cfg), f"{name}_relu")
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.AveragePooling2D(2, strides=2, padding="same", name=f"{name}_pool")(x)


def _create(*, dropout_rate, config, **shared):
    """The family's builder (see `SDNet` and the module docstring)."""
    skeleton = _builder.Skeleton(**shared)
    inputs, x = skeleton.image_input(
        (0.0, 1.0), min_size=MIN_INPUT_SIZE, why="SDNet downsamples by 16 and its second dense block needs a 2x2 map"
    )
    cfg = dict(SDNET_CONFIG)
    if config:
        unknown = set(config) - set(cfg)
        if unknown:
            raise ValueError(f"Unknown SDNet config keys: {sorted(unknown)}; known: {sorted(cfg)}.")
        cfg.update(config)
    for i, stem in enumerate(cfg["stem"], start=1):
        x = keras.layers.Conv2D(
            stem["filters"], 3, strides=stem["strides"], padding="same", use_bias=False, name=f"stem_conv{i}"
        )(x)
        x = _relu(_bn(x, f"stem_conv{i}_bn", cfg), f"stem_conv{i}_relu")
    for i, filters in enumerate(cfg["entry_blocks"], start=1):
        x = _xception_block(x, filters, f"entry_block{i}", pre_activation=i > 1, cfg=cfg)
    blocks = cfg["dense_blocks"]
    for b, block in enumerate(blocks, start=1):
        for j in range(block["num_layers"]):
            x = _dense_layer(x, block["growth_rate"], f"dense{b}_layer{j + 1}", cfg)
        x = CBAM(reduction_ratio=cfg["cbam_reduction_ratio"], name=f"dense{b}_cbam")(x)
        if b < len(blocks):
            x = _transition(x, f"transition{b}", cfg)
    x = _relu(_bn(x, "exit_bn", cfg), "exit_relu")
    x = _bn(_sepconv(x, cfg["exit_filters"], "exit_sepconv"), "exit_sepconv_bn", cfg)
    x = _relu(x, "exit_sepconv_relu")
    return skeleton.classifier(inputs, keras.layers.Identity(name="features")(x), dropout=dropout_rate)


@register_model("sdnet", input_shape=(68, 68, 1), family="sdnet", paper=PAPER_SDNET, min_input_size=MIN_INPUT_SIZE)
@_builder.shared_args(
    normalization="x / 255",
    input_shape="`(H, W, C)` of raw `[0, 255]` pixels, H and W >= 32.",
    include_top='add global average pooling, optional dropout and the Dense `"predictions"`; otherwise the '
    'model outputs the final feature map (layer `"features"`).',
)
@_builder.variant(_create)
def SDNet(
    num_classes=7,
    input_shape=(68, 68, 1),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    name="sdnet",
    dropout_rate=0.0,
    config=None,
):
    """SDNet-like network: Xception residual blocks, dense blocks with CBAM, 68x68 input.

    See the module docstring for the layout (our design: the paper's figure is not
    published). 2,181,236 trainable parameters at 68x68x1 with 7 classes (2,181,812 at
    68x68x3; 171.0M MACs at 68x68x1); the paper gives 2.17M. Grayscale and RGB inputs both work; the default is
    grayscale because FER2013, CK+ and Oulu-CASIA are grayscale.

    Args:
        {args}
        name: model name (default the registry key `"sdnet"`).
        dropout_rate: dropout before the classifier.
        config: optional dict overriding keys of `SDNET_CONFIG` (widths, depths).

    Returns:
        A `keras.Model`.
    """
