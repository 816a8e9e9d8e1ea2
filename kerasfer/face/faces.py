"""The face vocabulary every detector shares: `Face`, the ArcFace five-point template, image conversion to RGB.

`kerasfer.face`'s detectors (`kerasfer.face.detectors`, `kerasfer.face.blazeface`), alignment and folder job import
these; `kerasfer.face` and `kerasfer.data.align` re-export them, so `kerasfer.data.align.Face` stays a public name.
NumPy only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# The five-point template of ArcFace/InsightFace for a 112x112 crop (x, y), in the order
# left eye, right eye, nose tip, left mouth corner, right mouth corner (as seen in the image).
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclasses.dataclass
class Face:
    """One detected face.

    Attributes:
        box: `(x, y, w, h)` ints in image pixels (top-left corner, width, height), clipped to the image.
        landmarks: `(5, 2)` float32 `(x, y)` points [left eye, right eye, nose, mouth left, mouth right], or None
            when the detector gives boxes only.
        score: the detector's confidence (1.0 for caller-supplied faces).
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray | None = None
    score: float = 1.0

    def __post_init__(self):
        box = tuple(int(round(float(v))) for v in np.asarray(self.box, dtype=np.float64).reshape(-1))
        if len(box) != 4:
            raise ValueError(f"A face box is (x, y, w, h); got {self.box!r}.")
        if box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"A face box needs a positive width and height; got {box}.")
        self.box = box
        if self.landmarks is not None:
            self.landmarks = check_landmarks(self.landmarks)
        self.score = float(self.score)

    @property
    def area(self) -> int:
        return self.box[2] * self.box[3]

    def to_dict(self) -> dict:
        return {
            "box": list(self.box),
            "landmarks": None if self.landmarks is None else self.landmarks.astype(float).tolist(),
            "score": self.score,
        }


def check_landmarks(landmarks) -> np.ndarray:
    """Five `(x, y)` landmarks as float32 `(5, 2)`; a ValueError naming the problem otherwise."""
    points = np.asarray(landmarks, dtype=np.float32)
    if points.shape != (5, 2):
        raise ValueError(
            f"Landmarks must have shape (5, 2) [left eye, right eye, nose, mouth left, mouth right]; "
            f"got {points.shape}."
        )
    if not np.all(np.isfinite(points)):
        raise ValueError(f"Landmarks contain NaN or inf: {points.tolist()}.")
    return points


def to_rgb(image, bgr: bool = False) -> np.ndarray:
    """Converts an image array to RGB uint8 (H, W, 3).

    Accepts (H, W) or (H, W, 1) grayscale, (H, W, 3) RGB (or BGR with `bgr=True`), (H, W, 4) RGBA/BGRA (alpha is
    dropped), uint8, uint16 (scaled down), other integers in [0, 255], or float (in [0, 1] when the maximum is
    <= 1, else [0, 255]).

    Raises:
        ValueError: wrong rank or channel count, an empty image, NaN/inf values, a complex dtype, values outside
            [0, 255] (negative int16 values, say: refused rather than clipped to black).
    """
    array = np.asarray(image)
    if array.dtype == object or array.ndim not in (2, 3):
        raise ValueError(
            f"An image must be an array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {_shape(array)}."
        )
    if array.ndim == 3 and array.shape[-1] not in (1, 3, 4):
        raise ValueError(f"An image must have 1, 3 or 4 channels (channels last); got shape {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"The image is empty (shape {array.shape}).")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
            raise ValueError(f"Unsupported image dtype {array.dtype}: pass uint8, uint16, integer or float pixels.")
        dtype, is_float = array.dtype, np.issubdtype(array.dtype, np.floating)
        array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ValueError("The image contains NaN or inf values.")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 255:  # not pixels: clipping would hide it (a black image finds no face)
            raise ValueError(
                f"{dtype} image values must lie in [0, 255] (or [0, 1] for floats); they span [{low:g}, "
                f"{high:g}]: scale them to pixels first."
            )
        if is_float and high <= 1.0:
            array = array * 255.0
        array = np.rint(array).astype(np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    channels = array.shape[-1]
    if channels == 1:
        return np.ascontiguousarray(np.repeat(array, 3, axis=-1))
    if channels == 4:
        array = array[..., :3]
    if bgr:
        array = array[..., ::-1]
    return np.ascontiguousarray(array)


def _shape(array):
    return getattr(array, "shape", type(array).__name__)


def sort_faces(faces):
    """Faces largest first (ties: the more confident first), the order every detector returns."""
    return sorted(faces, key=lambda f: (-f.area, -f.score))


def clip_box(box, image_hw):
    """`(x, y, w, h)` clipped to an image of `(height, width)` as ints, or None when under one pixel is left."""
    h, w = image_hw
    x, y, bw, bh = box
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(w), x + bw), min(float(h), y + bh)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return (int(round(x0)), int(round(y0)), max(1, int(round(x1 - x0))), max(1, int(round(y1 - y0))))
