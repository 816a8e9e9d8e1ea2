"""RoIAlign as two matrix products: a `crop_and_resize` equivalent in `keras.ops`."""

import keras
import numpy as np

from kerasfer.api_export import kerasfer_export


def _pair(value, what):
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, got {value}.")
    return value


def _check_boxes(boxes):
    arr = np.asarray(boxes, dtype="float64")
    if arr.ndim not in (1, 2) or arr.shape[-1] != 4:
        raise ValueError(f"fixed_boxes must be one box [y1, x1, y2, x2] or a list of N boxes, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError("fixed_boxes contains NaN or infinite values.")
    return arr.tolist()


@kerasfer_export("kerasfer.layers.RoIAlign")
class RoIAlign(keras.layers.Layer):
    """Bilinear RoI pooling of normalised boxes, written as matrix products.

    For each box `[y1, x1, y2, x2]` (normalised to [0, 1] of the feature map, as in
    `tf.image.crop_and_resize`), the box is split into `crop_size` bins and the feature
    map is sampled bilinearly once at each bin centre: RoIAlign with `aligned=True` and
    `sampling_ratio=1`. Sample coordinates are clamped to the map (border replication).
    The sampling is separable: for a map `F` (H x W) the crop is `Ay @ F @ Ax^T`, where
    `Ay` (crop_h x H) and `Ax` (crop_w x W) hold the tent weights
    `max(0, 1 - |sample - pixel|)` computed from the boxes. So the layer has no GATHER
    / GATHER_ND, no rank-5 tensor (for a single box) and is differentiable w.r.t. the
    features. TFLite ops (TF backend): for boxes given at run time, elementwise
    SUB/MUL/ADD/ABS/MAXIMUM/MINIMUM, STRIDED_SLICE, RESHAPE, 4-D TRANSPOSE and
    BATCH_MATMUL; for `fixed_boxes` the weights are NumPy constants and each product has
    the features first and a 2-D constant second (RESHAPE, TRANSPOSE and BATCH_MATMUL or
    FULLY_CONNECTED), the form the GPU delegate accepts.

    Box sources (exactly one): the `boxes` call argument, `(B, 4)` or `(B, N, 4)`; or
    `fixed_boxes`, one box or `N` boxes as lists (the same for every image, e.g. the
    regions of an aligned face). `box_index` selects one box out of `N`.

    Args:
        crop_size: output `(height, width)` (an int for a square crop).
        box_index: `None`, or the index of the box to crop from `(B, N, 4)` boxes.
        fixed_boxes: `None`, or constant normalised boxes used instead of the `boxes`
            argument.

    Call arguments:
        features: `(B, H, W, C)`.
        boxes: `(B, 4)` or `(B, N, 4)` normalised `[y1, x1, y2, x2]` (omit with
            `fixed_boxes`).

    Output shape: `(B, crop_h, crop_w, C)` for a single box (`(B, 4)` boxes, a
    `box_index`, or one fixed box); `(B, N, crop_h, crop_w, C)` otherwise.

    Example:
    >>> roi = kerasfer.layers.RoIAlign(crop_size=7, box_index=0)
    >>> roi(np.zeros((2, 28, 28, 16)), np.tile([[[0.1, 0.2, 0.6, 0.9]]], (2, 3, 1))).shape
    (2, 7, 7, 16)

    Reference:
        He et al., "Mask R-CNN", ICCV 2017 (RoIAlign); `tf.image.crop_and_resize`.
    """

    def __init__(self, crop_size=(7, 7), box_index=None, fixed_boxes=None, **kwargs):
        super().__init__(**kwargs)
        self.crop_size = _pair(crop_size, "crop_size")
        self.box_index = None if box_index is None else int(box_index)
        self.fixed_boxes = None if fixed_boxes is None else _check_boxes(fixed_boxes)
        if self.fixed_boxes is not None and self.box_index is not None:
            n = len(self.fixed_boxes) if isinstance(self.fixed_boxes[0], list) else 1
            if not -n <= self.box_index < n:
                raise ValueError(f"box_index {self.box_index} is out of range for {n} fixed boxes.")

    def _box_shape(self, features_shape, boxes_shape):
        """The shape of the boxes that are cropped: `(B, 4)` or `(B, N, 4)`."""
        if self.fixed_boxes is not None:
            if boxes_shape is not None:
                raise ValueError(f"{self.name} has fixed_boxes; do not pass boxes as well.")
            arr = np.asarray(self.fixed_boxes)
            boxes_shape = (features_shape[0],) + arr.shape
        elif boxes_shape is None:
            raise ValueError(f"{self.name} needs boxes (B, 4) or (B, N, 4), or fixed_boxes.")
        boxes_shape = tuple(boxes_shape)
        if len(boxes_shape) not in (2, 3) or boxes_shape[-1] != 4:
            raise ValueError(f"{self.name}: boxes must be (B, 4) or (B, N, 4), got {boxes_shape}.")
        if self.box_index is not None:
            if len(boxes_shape) != 3:
                raise ValueError(f"{self.name}: box_index needs (B, N, 4) boxes, got {boxes_shape}.")
            n = boxes_shape[1]
            if n is not None and not -n <= self.box_index < n:
                raise ValueError(f"{self.name}: box_index {self.box_index} is out of range for {n} boxes.")
            boxes_shape = (boxes_shape[0], 4)
        return boxes_shape

    def build(self, features_shape, boxes_shape=None):
        if len(features_shape) != 4:
            raise ValueError(f"{self.name} expects (B, H, W, C) features, got {features_shape}.")
        if features_shape[1] is None or features_shape[2] is None:
            raise ValueError(f"{self.name} needs a static feature-map size, got {features_shape}.")
        self._box_shape(features_shape, boxes_shape)
        self.built = True

    def _weights(self, starts, ends, size, out_size):
        """Tent weights `(B, out_size, size)` for box edges `starts`, `ends` of shape `(B,)`."""
        centres = (keras.ops.arange(out_size, dtype=self.compute_dtype) + 0.5) / float(out_size)
        coords = starts[:, None] * size + centres[None, :] * ((ends - starts) * size)[:, None] - 0.5
        coords = keras.ops.clip(coords, 0.0, float(size - 1))
        pixels = keras.ops.arange(size, dtype=self.compute_dtype)
        return keras.ops.relu(1.0 - keras.ops.abs(coords[:, :, None] - pixels[None, None, :]))

    def _crop(self, features, boxes):
        """Crops one box per image: features (B, H, W, C), boxes (B, 4) -> (B, ch, cw, C)."""
        _, h, w, c = features.shape
        ch, cw = self.crop_size
        wy = self._weights(boxes[:, 0], boxes[:, 2], h, ch)  # (B, ch, H)
        wx = self._weights(boxes[:, 1], boxes[:, 3], w, cw)  # (B, cw, W)
        x = keras.ops.reshape(features, (-1, h, w * c))
        x = keras.ops.matmul(wy, x)  # (B, ch, W*C)
        x = keras.ops.reshape(x, (-1, ch, w, c))
        x = keras.ops.transpose(x, (0, 2, 1, 3))  # (B, W, ch, C)
        x = keras.ops.reshape(x, (-1, w, ch * c))
        x = keras.ops.matmul(wx, x)  # (B, cw, ch*C)
        x = keras.ops.reshape(x, (-1, cw, ch, c))
        return keras.ops.transpose(x, (0, 2, 1, 3))

    @staticmethod
    def _fixed_weights(start, end, size, out_size):
        """`_weights` for one constant box edge pair, in NumPy: `(out_size, size)` float32."""
        centres = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) / np.float32(out_size)
        coords = np.float32(start) * size + centres * np.float32((end - start) * size) - np.float32(0.5)
        coords = np.clip(coords, 0.0, float(size - 1))
        pixels = np.arange(size, dtype=np.float32)
        return np.maximum(0.0, 1.0 - np.abs(coords[:, None] - pixels[None, :])).astype(np.float32)

    def _crop_fixed(self, features, box):
        """`_crop` for a constant box, with the features as the first matmul operand and a 2-D
        constant second: the GPU delegate runs that BATCH_MATMUL as a 1x1 convolution, while a
        constant *first* operand (what `_crop` gives once the converter folds the weights) is
        rejected."""
        _, h, w, c = features.shape
        ch, cw = self.crop_size
        wy = keras.ops.convert_to_tensor(self._fixed_weights(box[0], box[2], h, ch).T, dtype=self.compute_dtype)
        wx = keras.ops.convert_to_tensor(self._fixed_weights(box[1], box[3], w, cw).T, dtype=self.compute_dtype)
        x = keras.ops.transpose(features, (0, 2, 3, 1))  # (B, W, C, H)
        x = keras.ops.matmul(keras.ops.reshape(x, (-1, w * c, h)), wy)  # (B, W*C, ch)
        x = keras.ops.transpose(keras.ops.reshape(x, (-1, w, c, ch)), (0, 3, 2, 1))  # (B, ch, C, W)
        x = keras.ops.matmul(keras.ops.reshape(x, (-1, ch * c, w)), wx)  # (B, ch*C, cw)
        return keras.ops.transpose(keras.ops.reshape(x, (-1, ch, c, cw)), (0, 1, 3, 2))  # (B, ch, cw, C)

    def call(self, features, boxes=None):
        features = keras.ops.convert_to_tensor(features, dtype=self.compute_dtype)
        if self.fixed_boxes is not None:
            if boxes is not None:
                raise ValueError(f"{self.name} has fixed_boxes; do not pass boxes as well.")
            fixed = np.asarray(self.fixed_boxes, dtype="float32")
            if fixed.ndim == 2 and self.box_index is not None:
                fixed = fixed[self.box_index % fixed.shape[0]]
            if fixed.ndim == 1:
                return self._crop_fixed(features, fixed)
            return keras.ops.stack([self._crop_fixed(features, box) for box in fixed], axis=1)
        elif boxes is None:
            raise ValueError(f"{self.name} needs boxes (B, 4) or (B, N, 4), or fixed_boxes.")
        boxes = keras.ops.cast(boxes, self.compute_dtype)
        if len(boxes.shape) == 3 and self.box_index is not None:
            index = self.box_index % boxes.shape[1]
            boxes = boxes[:, index, :]
        if len(boxes.shape) == 2:
            return self._crop(features, boxes)
        crops = [self._crop(features, boxes[:, i, :]) for i in range(boxes.shape[1])]
        return keras.ops.stack(crops, axis=1)

    def compute_output_shape(self, features_shape, boxes_shape=None):
        boxes_shape = self._box_shape(features_shape, boxes_shape)
        out = (features_shape[0],) + self.crop_size + (features_shape[-1],)
        if len(boxes_shape) == 3:
            out = out[:1] + (boxes_shape[1],) + out[1:]
        return out

    def compute_macs(self, input_shapes, output_shape):
        """Multiply-adds of the two interpolation products (fvcore counts matmuls)."""
        _, h, w, c = input_shapes[0]
        ch, cw = self.crop_size
        boxes = int(np.prod(output_shape[1:-3])) if len(output_shape) == 5 else 1
        return boxes * (ch * h * w * c + cw * w * ch * c)

    def get_config(self):
        config = super().get_config()
        config.update({"crop_size": list(self.crop_size), "box_index": self.box_index, "fixed_boxes": self.fixed_boxes})
        return config
