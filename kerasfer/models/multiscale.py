"""Multi-scale feature-fusion FER network with emotion-region pooling.

Paper: Zhang Ning, Zhang Xiufeng, Fu Xingkui and Qi Guobin, "A Multi-scale Attention-based
Facial Emotion Recognition Method Based on Deep Learning", Instrumentation 9(3), 2022, DOI
10.15878/j.cnki.instrumentation.2022.03.005. Written for Keras/TensorFlow; no public code.
Related work it builds on: the FPN (Lin et al., "Feature Pyramid Networks for Object
Detection", CVPR 2017, arXiv:1612.03144), RetinaNet and its focal loss (Lin, Goyal, Girshick,
He and Dollar, "Focal Loss for Dense Object Detection", ICCV 2017, arXiv:1708.02002; Keras
reference implementation https://github.com/fizyr/keras-retinanet), RoIAlign (He et al.,
"Mask R-CNN", ICCV 2017, arXiv:1703.06870) and a ResNet trunk (He et al., CVPR 2016,
arXiv:1512.03385).

The paper ("a deep multi-scale feature fusion network for emotion detection") builds a
ResNet + RetinaNet-style FPN (P3 from C3, no P2; P6 a 3x3/2 conv, P7 ReLU + 3x3/2 conv on
P6), detects the face and the facial organs, pools them with RoIAlign on P3 (the level
rule `k = 4 + log2(sqrt(wh)/224)` gives P3 for every region) and fuses three scales: organ
regions at 14x14, the face region at 56x56 and the whole P3 map, each through a residual
block and global average pooling; the three vectors are concatenated, then dropout 0.5 and
the classifier. The paper reports 88.23 % overall / 87.63 % mean-class accuracy on its own
5:1 RAF-DB split, and no parameter count. Trained with a focal cross-entropy.

Our reading of what the paper leaves open (documented defaults):

* Trunk: torchvision ResNet-50 (`depth`; RetinaNet's usual backbone; 18 and 34 too),
  FPN with 256 channels and biased convolutions as `fizyr/keras-retinanet`, nearest x2
  upsampling (so H and W must be multiples of 32), ImageNet mean/std input normalisation.
* Regions are a model input: `(B, 1 + num_organs, 4)` normalised `[y1, x1, y2, x2]`
  boxes, the face first, then the organs (default 4: left eye, right eye, nose, mouth,
  from `regions_from_landmarks`). With `region_input=False` the model has the image as
  its only input and uses fixed regions (`default_regions`, by default the regions of
  the standard 5-point template of an aligned 112x112 face, valid for any aligned face
  crop): one input, fixed shapes, exportable to TFLite as a plain classifier.
* Each region: `RoIAlign` (bilinear, matrix products, no GATHER) -> 1x1 conv + BN +
  ReLU to `roi_filters` -> `BasicBlock` -> global average pooling. The organ branch's
  weights are shared by all organs and the organ vectors are concatenated in order
  (the paper does not say how organs are aggregated).
* Emotion loss: categorical focal cross-entropy, gamma 2 (`kerasfer.losses.CategoricalFocalLoss`;
  Keras's `CategoricalFocalCrossentropy` defaults alpha to 0.25: set alpha=1 or a class vector).
* Detection head (optional, `detection_head=True`): RetinaNet-style classification and
  box subnets (`head_convs` 3x3 convs each, shared over P3-P7), 9 anchors per location
  (ratios 1:2, 1:1, 2:1, scales 2^0, 2^(1/3), 2^(2/3)); outputs `"region_logits"`
  `(B, A, num_region_classes)` and `"region_deltas"` `(B, A, 4)`. `generate_anchors`,
  `encode_boxes`, `decode_boxes` and `match_anchors` prepare targets for a sigmoid focal
  loss (`kerasfer.losses.BinaryFocalLoss(gamma=2, from_logits=True)` or Keras's
  `BinaryFocalCrossentropy`) and a
  smooth-L1 loss (`keras.losses.Huber`), lambda = 1 (paper: Fast-R-CNN-style module on
  RoIs; the RetinaNet head is our simplification).

Recommended compile (classifier only):

```python
model = kerasfer.models.MultiScaleFER(num_classes=7)
model.compile(optimizer="adam",
              loss=kerasfer.losses.CategoricalFocalLoss(gamma=2.0),
              metrics=["accuracy"])
boxes = kerasfer.models.multiscale.regions_from_landmarks(landmarks, image_size=224)
model.fit([images, boxes], one_hot_labels, batch_size=32, epochs=50)
```

Blocks: `kerasfer.layers.RoIAlign`, `kerasfer.layers.BasicBlock`,
`kerasfer.layers.NearestUpsampling2D`, `kerasfer.layers.ImageNormalization`; the trunk is
`kerasfer.models.resnet.resnet_stages`. Losses: `kerasfer.losses.CategoricalFocalLoss`,
`kerasfer.losses.BinaryFocalLoss`. Training preset (`kerasfer.training.presets`):
`multiscale_rafdb`. Tests: `tests/models/test_multiscale.py`. Paper-vs-code notes:
`docs/models.md`.
"""

import math

import keras
import numpy as np

from kerasfer.layers.batch_norm import BatchNormalization
from kerasfer.layers.image_normalization import IMAGENET_MEAN
from kerasfer.layers.image_normalization import IMAGENET_STD
from kerasfer.layers.masking_block import BN_EPSILON
from kerasfer.layers.masking_block import BN_MOMENTUM
from kerasfer.layers.masking_block import BasicBlock
from kerasfer.layers.roi_align import RoIAlign
from kerasfer.layers.upsampling import NearestUpsampling2D
from kerasfer.models import _builder
from kerasfer.models.registry import register_model
from kerasfer.models.resnet import resnet_stages

PAPER = (
    "Zhang et al., Multi-scale Attention-based Facial Emotion Recognition, Instrumentation 2022, "
    "DOI 10.15878/j.cnki.instrumentation.2022.03.005"
)

# The standard 5-point template of an aligned 112x112 face (x, y): left eye, right eye,
# nose tip, left mouth corner, right mouth corner.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype="float32",
)
REGION_NAMES = ("face", "left_eye", "right_eye", "nose", "mouth")
REGION_CLASS_NAMES = ("face", "eye", "nose", "mouth")
NUM_REGION_CLASSES = len(REGION_CLASS_NAMES)


def regions_from_landmarks(landmarks, image_size):
    """Face and organ boxes from 5 facial landmarks, by a fixed geometric rule.

    Landmarks are pixel `(x, y)` in the order of the usual detectors (RetinaFace, MTCNN,
    the 112x112 alignment template): left eye, right eye, nose tip, left mouth corner,
    right mouth corner ("left" = image left). With `le, re, n, lm, rm` these points,
    `e = (le + re) / 2`, `m = (lm + rm) / 2` and the scale
    `s = max(|re - le|, 0.8 |m - e|)` (robust to profile faces), the boxes are
    axis-aligned:

    * face: centre x `(e.x + m.x) / 2`, width `2.4 s`; top `e.y - 1.0 s`, bottom `m.y + 0.7 s`;
    * each eye: centred on the eye, `0.8 s` wide, `0.6 s` high;
    * nose: centred on `(n.x, n.y - 0.2 s)`, `0.7 s` wide, `0.8 s` high;
    * mouth: centred on `m`, `|rm - lm| + 0.4 s` wide, `0.6 s` high.

    Boxes are normalised by the image size and clipped to [0, 1]. On the 112x112
    template this gives face (y 0.15-1.0, x 0.12-0.88), eyes about 28x21 px, nose
    28x25 px over the nose bridge, mouth 43x21 px.

    Args:
        landmarks: `(5, 2)` or `(..., 5, 2)` array of pixel coordinates.
        image_size: `size` or `(height, width)` of the image the landmarks refer to.

    Returns:
        float32 array `(..., 5, 4)` of normalised `[y1, x1, y2, x2]` boxes in the order
        face, left eye, right eye, nose, mouth (`REGION_NAMES`).
    """
    pts = np.asarray(landmarks, dtype="float64")
    if pts.ndim < 2 or pts.shape[-2:] != (5, 2):
        raise ValueError(f"landmarks must have shape (..., 5, 2) (five (x, y) points), got {pts.shape}.")
    if not np.all(np.isfinite(pts)):
        raise ValueError("landmarks contain NaN or infinite values.")
    if np.isscalar(image_size) or np.ndim(image_size) == 0:
        height = width = float(image_size)
    else:
        if len(image_size) != 2:
            raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}.")
        height, width = (float(v) for v in image_size)
    if height <= 0 or width <= 0:
        raise ValueError(f"image_size must be positive, got {image_size!r}.")
    le, re_, nose, lm, rm = (pts[..., i, :] for i in range(5))
    eye = (le + re_) / 2.0
    mouth = (lm + rm) / 2.0
    inter_ocular = np.linalg.norm(re_ - le, axis=-1)
    eye_mouth = np.linalg.norm(mouth - eye, axis=-1)
    s = np.maximum(np.maximum(inter_ocular, 0.8 * eye_mouth), 1e-6)

    def box(cx, cy, w, h):
        return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)

    face_cx = (eye[..., 0] + mouth[..., 0]) / 2.0
    face = np.stack([eye[..., 1] - s, face_cx - 1.2 * s, mouth[..., 1] + 0.7 * s, face_cx + 1.2 * s], axis=-1)
    left_eye = box(le[..., 0], le[..., 1], 0.8 * s, 0.6 * s)
    right_eye = box(re_[..., 0], re_[..., 1], 0.8 * s, 0.6 * s)
    nose_box = box(nose[..., 0], nose[..., 1] - 0.2 * s, 0.7 * s, 0.8 * s)
    mouth_w = np.linalg.norm(rm - lm, axis=-1) + 0.4 * s
    mouth_box = box(mouth[..., 0], mouth[..., 1], mouth_w, 0.6 * s)
    boxes = np.stack([face, left_eye, right_eye, nose_box, mouth_box], axis=-2)
    boxes = boxes / np.array([height, width, height, width])
    return np.clip(boxes, 0.0, 1.0).astype("float32")


DEFAULT_REGIONS_112 = regions_from_landmarks(TEMPLATE_112, 112)


# ---------------------------------------------------------------- anchors and boxes
def feature_sizes(input_size, levels=(3, 4, 5, 6, 7)):
    """Side of each pyramid level for an input side (a multiple of 32): P_l = ceil(side / 2**l)."""
    return [int(math.ceil(input_size / 2**level)) for level in levels]


def generate_anchors(
    input_shape,
    levels=(3, 4, 5, 6, 7),
    sizes=(32, 64, 128, 256, 512),
    ratios=(0.5, 1.0, 2.0),
    scales=(1.0, 2 ** (1 / 3), 2 ** (2 / 3)),
):
    """RetinaNet anchors in the order of the detection head's outputs.

    Order: level, then row, column, then ratio (h/w) and scale (scale fastest). Centres
    are at `(i + 0.5) * stride`.

    Args:
        input_shape: `(H, W, ...)` of the model input.
        levels, sizes, ratios, scales: RetinaNet's defaults (9 anchors per location).

    Returns:
        float32 `(A, 4)` normalised `[y1, x1, y2, x2]` (not clipped).
    """
    h, w = int(input_shape[0]), int(input_shape[1])
    out = []
    for level, size in zip(levels, sizes):
        stride = 2**level
        fh, fw = int(math.ceil(h / stride)), int(math.ceil(w / stride))
        shapes = []
        for ratio in ratios:
            for scale in scales:
                area = (size * scale) ** 2
                aw = math.sqrt(area / ratio)
                shapes.append((aw * ratio, aw))
        shapes = np.array(shapes)  # (9, 2) heights, widths
        cy = (np.arange(fh) + 0.5) * stride
        cx = (np.arange(fw) + 0.5) * stride
        cy, cx = np.meshgrid(cy, cx, indexing="ij")
        centres = np.stack([cy, cx], -1).reshape(-1, 1, 2)
        half = shapes[None] / 2.0
        boxes = np.concatenate([centres - half, centres + half], -1).reshape(-1, 4)
        out.append(boxes)
    anchors = np.concatenate(out, 0) / np.array([h, w, h, w])
    return anchors.astype("float32")


def encode_boxes(anchors, boxes, variances=(0.1, 0.1, 0.2, 0.2)):
    """Box regression targets `(dy, dx, dh, dw)` of `boxes` w.r.t. `anchors` (both `[y1, x1, y2, x2]`)."""
    anchors = np.asarray(anchors, dtype="float64")
    boxes = np.asarray(boxes, dtype="float64")
    ah, aw = anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]
    bh, bw = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    if np.any(ah <= 0) or np.any(aw <= 0) or np.any(bh <= 0) or np.any(bw <= 0):
        raise ValueError("encode_boxes needs boxes with y2 > y1 and x2 > x1.")
    dy = ((boxes[..., 0] + bh / 2) - (anchors[..., 0] + ah / 2)) / ah / variances[0]
    dx = ((boxes[..., 1] + bw / 2) - (anchors[..., 1] + aw / 2)) / aw / variances[1]
    dh = np.log(bh / ah) / variances[2]
    dw = np.log(bw / aw) / variances[3]
    return np.stack([dy, dx, dh, dw], -1).astype("float32")


def decode_boxes(anchors, deltas, variances=(0.1, 0.1, 0.2, 0.2)):
    """Inverse of `encode_boxes` in `keras.ops` (works on model outputs)."""
    anchors = keras.ops.convert_to_tensor(anchors, dtype="float32")
    deltas = keras.ops.convert_to_tensor(deltas, dtype="float32")
    ah, aw = anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]
    cy = anchors[..., 0] + ah / 2 + deltas[..., 0] * variances[0] * ah
    cx = anchors[..., 1] + aw / 2 + deltas[..., 1] * variances[1] * aw
    h = ah * keras.ops.exp(deltas[..., 2] * variances[2])
    w = aw * keras.ops.exp(deltas[..., 3] * variances[3])
    return keras.ops.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], axis=-1)


def _iou(a, b):
    """IoU matrix of boxes a (A, 4) and b (G, 4)."""
    y1 = np.maximum(a[:, None, 0], b[None, :, 0])
    x1 = np.maximum(a[:, None, 1], b[None, :, 1])
    y2 = np.minimum(a[:, None, 2], b[None, :, 2])
    x2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def match_anchors(anchors, gt_boxes, gt_classes, num_classes=NUM_REGION_CLASSES, pos_iou=0.5, neg_iou=0.4):
    """Detection-head targets for one image (RetinaNet assignment).

    An anchor is positive when its best IoU with a ground-truth box is >= `pos_iou`,
    negative below `neg_iou`, ignored in between; each ground truth also claims its best
    anchor. Weights are scaled so that Keras's default `"sum_over_batch_size"`
    reduction gives the paper's `(1 / N_pos) * sum` per image, averaged over the batch.

    Args:
        anchors: `(A, 4)` from `generate_anchors`.
        gt_boxes: `(G, 4)` normalised `[y1, x1, y2, x2]`.
        gt_classes: `(G,)` ints in `[0, num_classes)` (`REGION_CLASS_NAMES` by default).
        num_classes: number of region classes.

    Returns:
        `(cls_targets (A, K) one-hot, box_targets (A, 4), cls_weights (A,), box_weights (A,))`.
    """
    anchors = np.asarray(anchors, dtype="float64")
    gt_boxes = np.asarray(gt_boxes, dtype="float64").reshape(-1, 4)
    gt_classes = np.asarray(gt_classes).reshape(-1)
    if len(gt_boxes) != len(gt_classes):
        raise ValueError(f"{len(gt_boxes)} boxes but {len(gt_classes)} classes.")
    if len(gt_classes) and (gt_classes.min() < 0 or gt_classes.max() >= num_classes):
        raise ValueError(f"gt_classes must be in [0, {num_classes}), got {gt_classes.tolist()}.")
    n = len(anchors)
    cls_t = np.zeros((n, num_classes), "float32")
    box_t = np.zeros((n, 4), "float32")
    if len(gt_boxes) == 0:
        return cls_t, box_t, np.ones(n, "float32") * n, np.zeros(n, "float32")
    iou = _iou(anchors, gt_boxes)
    best = iou.argmax(1)
    best_iou = iou.max(1)
    positive = best_iou >= pos_iou
    positive[iou.argmax(0)] = True
    best[iou.argmax(0)] = np.arange(len(gt_boxes))
    valid = positive | (best_iou < neg_iou)
    cls_t[positive, gt_classes[best[positive]].astype(int)] = 1.0
    box_t[positive] = encode_boxes(anchors[positive], gt_boxes[best[positive]])
    scale = n / max(1, int(positive.sum()))
    return cls_t, box_t, valid.astype("float32") * scale, positive.astype("float32") * scale


# ---------------------------------------------------------------- model
def _fpn(c3, c4, c5, filters, with_upper_levels):
    """RetinaNet FPN (fizyr/keras-retinanet layout); returns [P3] or [P3, ..., P7]."""
    c5r = keras.layers.Conv2D(filters, 1, name="fpn_c5_reduced")(c5)
    c4r = keras.layers.Conv2D(filters, 1, name="fpn_c4_reduced")(c4)
    c3r = keras.layers.Conv2D(filters, 1, name="fpn_c3_reduced")(c3)
    p4 = keras.layers.Add(name="fpn_p4_merged")([NearestUpsampling2D(2, name="fpn_p5_upsampled")(c5r), c4r])
    p3 = keras.layers.Add(name="fpn_p3_merged")([NearestUpsampling2D(2, name="fpn_p4_upsampled")(p4), c3r])
    p3 = keras.layers.Conv2D(filters, 3, padding="same", name="fpn_p3")(p3)
    if not with_upper_levels:
        return [p3]
    p4 = keras.layers.Conv2D(filters, 3, padding="same", name="fpn_p4")(p4)
    p5 = keras.layers.Conv2D(filters, 3, padding="same", name="fpn_p5")(c5r)
    p6 = keras.layers.ZeroPadding2D(1, name="fpn_p6_pad")(c5)
    p6 = keras.layers.Conv2D(filters, 3, strides=2, name="fpn_p6")(p6)
    p7 = keras.layers.ReLU(name="fpn_p7_relu")(p6)
    p7 = keras.layers.ZeroPadding2D(1, name="fpn_p7_pad")(p7)
    p7 = keras.layers.Conv2D(filters, 3, strides=2, name="fpn_p7")(p7)
    return [p3, p4, p5, p6, p7]


def _detection_head(levels, filters, num_anchors, num_classes, head_convs):
    """Shared RetinaNet subnets over the pyramid; returns (logits (B, A, K), deltas (B, A, 4))."""
    prior = -math.log((1 - 0.01) / 0.01)
    cls_convs = [
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"region_cls_conv{i}")
        for i in range(head_convs)
    ]
    box_convs = [
        keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"region_box_conv{i}")
        for i in range(head_convs)
    ]
    cls_out = keras.layers.Conv2D(
        num_anchors * num_classes,
        3,
        padding="same",
        bias_initializer=keras.initializers.Constant(prior),
        name="region_cls_out",
    )
    box_out = keras.layers.Conv2D(num_anchors * 4, 3, padding="same", name="region_box_out")
    logits, deltas = [], []
    for i, p in enumerate(levels):
        c, b = p, p
        for conv in cls_convs:
            c = conv(c)
        for conv in box_convs:
            b = conv(b)
        logits.append(keras.layers.Reshape((-1, num_classes), name=f"region_cls_reshape_p{i + 3}")(cls_out(c)))
        deltas.append(keras.layers.Reshape((-1, 4), name=f"region_box_reshape_p{i + 3}")(box_out(b)))
    logits = keras.layers.Concatenate(axis=1, name="region_logits")(logits)
    deltas = keras.layers.Concatenate(axis=1, name="region_deltas")(deltas)
    return logits, deltas


def _create(
    *,
    depth,
    fpn_filters,
    roi_filters,
    num_organs,
    organ_size,
    face_size,
    dropout,
    region_input,
    default_regions,
    detection_head,
    num_region_classes,
    head_convs,
    **shared,
):
    """The family's builder (see `MultiScaleFER`)."""
    skeleton = _builder.Skeleton(**shared)
    if depth not in (18, 34, 50):
        raise ValueError(f"depth must be 18, 34 or 50, got {depth}.")
    image, x = skeleton.image_input(
        (IMAGENET_MEAN, IMAGENET_STD),
        min_size=64,
        multiple=32,
        why="the FPN upsamples C5 to C4 and C3 by exact factors of 2",
    )
    if int(num_organs) < 0:
        raise ValueError(f"num_organs must be >= 0, got {num_organs}.")
    num_regions = 1 + int(num_organs)
    if not region_input:
        regions = DEFAULT_REGIONS_112 if default_regions is None else np.asarray(default_regions, dtype="float32")
        if regions.shape != (num_regions, 4):
            raise ValueError(
                f"default_regions must be (1 + num_organs, 4) = ({num_regions}, 4) boxes, got {regions.shape}."
            )
        if not np.all(np.isfinite(regions)):
            raise ValueError("default_regions contains NaN or infinite values.")
        regions = regions.tolist()
    else:
        regions = None

    inputs = image
    boxes = None
    if region_input:
        boxes = keras.Input(shape=(num_regions, 4), name="regions")
        inputs = [image, boxes]
    _, c3, c4, c5 = resnet_stages(x, depth)
    pyramid = _fpn(c3, c4, c5, fpn_filters, detection_head)
    p3 = keras.layers.Identity(name="features")(pyramid[0])

    def roi(size, index, layer_name):
        layer = RoIAlign(size, box_index=index, fixed_boxes=regions, name=layer_name)
        return layer(p3) if boxes is None else layer(p3, boxes)

    def branch(prefix):
        return (
            keras.layers.Conv2D(roi_filters, 1, use_bias=False, name=f"{prefix}_conv"),
            BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{prefix}_bn"),
            BasicBlock(roi_filters, name=f"{prefix}_block"),
            keras.layers.GlobalAveragePooling2D(name=f"{prefix}_pool"),
        )

    def run_branch(layers, y, tag):
        conv, bn, block, pool = layers
        y = keras.layers.ReLU(name=f"{tag}_relu")(bn(conv(y)))
        return pool(block(y))

    face_layers = branch("face")
    vectors = [run_branch(face_layers, roi(face_size, 0, "face_roi"), "face")]
    organ_layers = branch("organ")
    for k in range(1, num_regions):
        vectors.append(run_branch(organ_layers, roi(organ_size, k, f"organ{k}_roi"), f"organ{k}"))
    g = BasicBlock(roi_filters, name="global_block")(p3)
    vectors.append(keras.layers.GlobalAveragePooling2D(name="global_pool")(g))
    outputs = skeleton.top(keras.layers.Concatenate(name="fusion")(vectors), pooling=None, dropout=dropout)
    if detection_head:
        logits, deltas = _detection_head(pyramid, fpn_filters, 9, int(num_region_classes), int(head_convs))
        outputs = [outputs, logits, deltas]
    return skeleton.finish(inputs, outputs)


@register_model("multiscale_fer", input_shape=(224, 224, 3), family="multiscale", paper=PAPER, min_input_size=64)
@_builder.shared_args(
    num_classes='emotion classes, the units of the Dense `"predictions"` (an int >= 1).',
    input_shape="`(H, W, 3)` of raw `[0, 255]` pixels, H and W multiples of 32, at least 64.",
    include_top='add dropout and the Dense `"predictions"`; otherwise the output is the fused '
    '`(B, (2 + num_organs) * roi_filters)` vector `"fusion"`.',
)
@_builder.variant(_create)
def MultiScaleFER(
    num_classes=7,
    input_shape=(224, 224, 3),
    weights=None,
    include_top=True,
    include_preprocessing=True,
    classifier_activation="softmax",
    depth=50,
    fpn_filters=256,
    roi_filters=256,
    num_organs=4,
    organ_size=14,
    face_size=56,
    dropout=0.5,
    region_input=True,
    default_regions=None,
    detection_head=False,
    num_region_classes=NUM_REGION_CLASSES,
    head_convs=2,
    name="multiscale_fer",
):
    """Multi-scale feature-fusion FER network (Zhang et al., 2022) with RoIAlign region pooling.

    ResNet + FPN; the face box (56x56 RoIAlign on P3), the organ boxes (14x14 each) and the
    whole P3 map each go through a residual block and global average pooling; the three
    scales are concatenated (`"fusion"`), then dropout and `"predictions"`. See the module
    docstring for what is ours where the paper is silent. Parameter count at 224x224 with
    7 classes (ResNet-50, 256-channel FPN and branches): 28,701,255 (the paper gives none).

    Args:
        {args}
        depth: ResNet trunk depth (18, 34, 50).
        fpn_filters: FPN channels (256 in RetinaNet).
        roi_filters: channels of the region branches.
        num_organs: organ boxes after the face box (4: eyes, nose, mouth).
        organ_size: RoIAlign size of organs (14 in the paper).
        face_size: RoIAlign size of the face (56 in the paper).
        dropout: dropout before the classifier (0.5 in the paper).
        region_input: `True`: inputs `[image, regions]` with regions `(B, 1 + num_organs, 4)`
            (`"regions"` input); `False`: image only, fixed `default_regions`.
        default_regions: `(1 + num_organs, 4)` normalised boxes for `region_input=False`
            (default: `DEFAULT_REGIONS_112`, the aligned-face template's regions).
        detection_head: also output `"region_logits"` and `"region_deltas"` of a
            RetinaNet-style head on P3-P7 (anchors from `generate_anchors(input_shape)`).
        num_region_classes: detection classes (face, eye, nose, mouth).
        head_convs: 3x3 convs per detection subnet (RetinaNet uses 4).
        name: model name.

    Returns:
        A `keras.Model`; outputs `predictions` (or `fusion`), plus `region_logits`,
        `region_deltas` with `detection_head=True`.
    """
