"""Residual Masking Network (RMN) and the Residual Masking Reconstruction Network.

Papers and reference code:

* RMN: L. Pham, T. H. Vu and T. A. Tran, "Facial Expression Recognition Using Residual Masking
  Network", 25th International Conference on Pattern Recognition (ICPR 2020, held 2021),
  pp. 4513-4519, DOI 10.1109/ICPR48806.2021.9411919. Code:
  https://github.com/phamquiluan/ResidualMaskingNetwork (`models/resmasking.py`,
  `models/masking.py`; the model is `resmasking_dropout1`).
* Reconstruction network: Jianing Shen and Hongmei Li, "Facial Expression Recognition Method
  Based on Residual Masking Reconstruction Network", Journal of Information Processing
  Systems 19(3), pp. 323-333, 2023; DOI not given in the paper. No public code.
* Trunk: He, Zhang, Ren and Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
  arXiv:1512.03385 (torchvision layout, `kerasfer.models.resnet`).

RMN: a torchvision ResNet-34 whose stage outputs are each multiplied
by `1 + M`, `M` the output of a U-Net-like `MaskingBlock` of depth 4/3/2/1 after stages
1/2/3/4, then global average pooling, Dropout(0.4) and a linear classifier.

Counts at 224x224x3 with 7 classes (`kerasfer.utils.count_params`):
ResNet-34 with all four masks 137,796,423 parameters (the reference's count: masks
32.37M + 31.89M + 29.97M + 22.29M, trunk + FC 21.29M) and 21.93 GMACs (fvcore).
The masks are five times the trunk: `mask_width` scales their internal widths (0.25
gives about a sixteenth of the mask parameters) and `mask_depths` can drop masks (0).

Input: the reference uses no mean/std normalisation (`ToTensor` only), so the first
layer is `ImageNormalization(mean=0, std=1)` (x / 255). conv1 takes exactly 3 channels
(the reference stacks FER2013's gray images to 3 channels; grayscale users replicate
the channel: `np.repeat(gray[..., None], 3, -1)`). Height and width must be multiples
of 32 (the masks' pooling and upsampling must line up at every stage).

Reconstruction network (Shen and Li, JIPS 2023): the paper adds `L_rec = |p - p'|_1`,
`p'` an image "reconstructed by upsampling the mask image", and a binary cross-entropy
`L_margin`; it leaves the decoder, the mask used and the loss weights unspecified. Our
reading (documented, not the paper's code, which is not public): the masked stage-1
features (`x * (1 + M1)`, stride 4) go through a 1x1 conv to 3 channels, a bilinear x4
upsampling and a sigmoid, giving an image in [0, 1] compared with the input / 255
(the network's own normalised input); `L_margin` is a BCE of the softmax outputs
against the one-hot labels. Recommended compile (weights are ours):

```python
model = kerasfer.models.ResMaskingReconstructionNet(num_classes=7)
model.compile(
    optimizer=keras.optimizers.Adam(1e-4),
    loss={
        "predictions": kerasfer.losses.MarginBCE(),  # or keras.losses.CategoricalCrossentropy()
        "reconstruction": kerasfer.losses.ReconstructionL1(),  # or keras.losses.MeanAbsoluteError()
    },
    loss_weights={"predictions": 1.0, "reconstruction": 0.1},
)
model.fit(images, {"predictions": one_hot, "reconstruction": images / 255.0})
```

Blocks: `kerasfer.layers.MaskingBlock` (with its `kerasfer.layers.BasicBlock`),
`kerasfer.layers.ImageNormalization`; the trunk is `kerasfer.models.resnet.resnet_stages`.
Losses: `kerasfer.losses.ReconstructionL1`, `kerasfer.losses.MarginBCE`. Training preset
(`kerasfer.training.presets`): `rmn_fer2013` (the reference's FER2013 recipe). Tests:
`tests/models/test_resmasking.py`. Paper-vs-code notes: `docs/models.md`.
"""

import keras

from kerasfer.layers.masking_block import MaskingBlock
from kerasfer.models import _builder
from kerasfer.models.registry import register_model
from kerasfer.models.resnet import resnet_stages
from kerasfer.models.resnet import stage_channels

PAPER_RMN = "Pham, Vu and Tran, FER Using Residual Masking Network, ICPR 2020, DOI 10.1109/ICPR48806.2021.9411919"
PAPER_RECON = "Shen and Li, FER Method Based on Residual Masking Reconstruction Network, JIPS 2023 (decoder ours)"
DEFAULT_MASK_DEPTHS = (4, 3, 2, 1)


def _check_mask_args(depth, mask_depths, mask_width, mask_activation):
    if depth not in (18, 34):
        raise ValueError(f"ResMaskingNet supports depth 18 or 34 (BasicBlock ResNets), got {depth}.")
    mask_depths = tuple(int(d) for d in mask_depths)
    if len(mask_depths) != 4 or any(d not in (0, 1, 2, 3, 4) for d in mask_depths):
        raise ValueError(f"mask_depths must be four ints in 0..4 (0 = no mask), got {mask_depths}.")
    if not float(mask_width) > 0:
        raise ValueError(f"mask_width must be > 0, got {mask_width}.")
    if mask_activation not in ("softmax", "sigmoid"):
        raise ValueError(f"mask_activation must be 'softmax' or 'sigmoid', got {mask_activation!r}.")
    return mask_depths


def _create(*, depth, mask_depths, mask_width, mask_activation, dropout, reconstruction=False, **shared):
    """The family's builder: RMN (see `ResMaskingNet`), with the image decoder when `reconstruction`."""
    skeleton = _builder.Skeleton(**shared)
    mask_depths = _check_mask_args(depth, mask_depths, mask_width, mask_activation)
    inputs, x = skeleton.image_input(
        (0.0, 1.0),  # x / 255, the reference's ToTensor
        min_size=32,
        multiple=32,
        channels=3,
        why="ResNet conv1 takes 3 channels and the masks need every stage size divisible by its pooling; "
        "replicate gray images to 3 channels",
    )
    channels = stage_channels(depth)
    masked = {}

    def apply_mask(y, stage):
        d = mask_depths[stage - 1]
        if d:
            y = MaskingBlock(
                channels[stage - 1], d, width_multiplier=mask_width, activation=mask_activation, name=f"mask{stage}"
            )(y)
        masked[stage] = y
        return y

    x = resnet_stages(x, depth, after_stage=apply_mask)[-1]
    outputs = skeleton.top(keras.layers.Identity(name="features")(x), dropout=dropout)
    if reconstruction:
        r = keras.layers.Conv2D(3, 1, name="reconstruction_conv")(masked[1])
        r = keras.layers.UpSampling2D(4, interpolation="bilinear", name="reconstruction_upsample")(r)
        r = keras.layers.Activation("sigmoid", name="reconstruction")(r)
        outputs = [outputs, r]
    return skeleton.finish(inputs, outputs)


@register_model("resmaskingnet", input_shape=(224, 224, 3), family="resmasking", paper=PAPER_RMN, min_input_size=32)
@_builder.shared_args(
    normalization="mean 0, std 1, i.e. x / 255 as the reference's `ToTensor`",
    input_shape="`(H, W, 3)` of raw `[0, 255]` pixels, H and W multiples of 32 (at least 32).",
    include_top='add global average pooling, dropout and the Dense `"predictions"`; otherwise the output is '
    'the masked stage-4 `"features"` map.',
)
@_builder.variant(_create)
def ResMaskingNet(
    num_classes=7,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    depth=34,
    mask_depths=DEFAULT_MASK_DEPTHS,
    mask_width=1.0,
    mask_activation="softmax",
    dropout=0.4,
    name="resmaskingnet",
):
    """Residual Masking Network (RMN, `resmasking_dropout1` of the reference code).

    ResNet-18/34 trunk; after stage k a `MaskingBlock` of depth `mask_depths[k]` maps the
    stage output `x` to `x * (1 + M)`; then global average pooling, dropout and the
    `"predictions"` Dense. With the defaults at 224x224 and 7 classes: 137,796,423
    parameters (the reference's count, asserted in the tests) and 21.93 GMACs; the paper
    (ICPR 2020) reports 74.14 % on FER2013 (ImageNet-pretrained trunk).

    Args:
        {args}
        depth: 34 (reference) or 18.
        mask_depths: masking-block depth after each stage, 0 = no mask (default 4, 3, 2, 1).
        mask_width: width multiplier of the masks' internal layers (1.0 = reference).
        mask_activation: `"softmax"` over channels (reference) or `"sigmoid"`.
        dropout: dropout rate before the classifier (0.4 in the reference).
        name: model name.

    Returns:
        A `keras.Model` mapping `(B, H, W, 3)` raw pixels to `(B, num_classes)`.
    """


@register_model("resmaskingnet18", input_shape=(224, 224, 3), family="resmasking", paper=PAPER_RMN, min_input_size=32)
@_builder.variant(ResMaskingNet, depth=18)
def ResMaskingNet18(
    num_classes=7,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    mask_depths=DEFAULT_MASK_DEPTHS,
    mask_width=1.0,
    mask_activation="softmax",
    dropout=0.4,
    name="resmaskingnet18",
):
    """`ResMaskingNet` on a ResNet-18 trunk (the reference's `resmasking18`-style variant).

    127,688,263 parameters at 224x224 with 7 classes (masks as in `ResMaskingNet`, trunk
    ResNet-18). Arguments as `ResMaskingNet` without `depth`.
    """


@register_model(
    "resmasking_reconstruction", input_shape=(224, 224, 3), family="resmasking", paper=PAPER_RECON, min_input_size=32
)
@_builder.variant(_create, reconstruction=True)
def ResMaskingReconstructionNet(
    num_classes=7,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    depth=34,
    mask_depths=DEFAULT_MASK_DEPTHS,
    mask_width=1.0,
    mask_activation="softmax",
    dropout=0.4,
    name="resmasking_reconstruction",
):
    """Residual Masking Reconstruction Network (Shen and Li, JIPS 2023): RMN + an image decoder.

    Two outputs: `"predictions"` `(B, num_classes)` (as `ResMaskingNet`) and
    `"reconstruction"` `(B, H, W, 3)` in [0, 1], decoded from the masked stage-1 features
    by a 1x1 conv to 3 channels, a bilinear x4 upsampling and a sigmoid (our reading of
    "reconstructed by upsampling the mask image"; the paper does not specify the
    decoder). Train it with an L1 loss between `"reconstruction"` and `images / 255`
    (`kerasfer.losses.ReconstructionL1` or `keras.losses.MeanAbsoluteError`) and the
    margin loss (`kerasfer.losses.MarginBCE`, a BCE on one-hot labels) or a cross-entropy
    on `"predictions"`; the loss weights
    are not given by the paper (we suggest 0.1 for the reconstruction). The decoder
    adds 195 parameters (64 x 3 + 3). The paper reports 75.98 % "precision" on FER2013
    and no parameter count. With `include_top=False` the first output is the
    `"features"` map.

    Arguments as `ResMaskingNet`.

    Returns:
        A `keras.Model` with outputs `[predictions, reconstruction]`.
    """
