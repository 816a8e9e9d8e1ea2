"""Face detectors: each a callable `detector(image_rgb_uint8) -> list[Face]`, by name or your own.

* `"blazeface"` (default): MediaPipe's short-range BlazeFace model (Bazarevsky et al. 2019, Apache-2.0; the
  `.tflite` ships inside kerasfer) on LiteRT (`ai-edge-litert`, no TensorFlow), searched at a few scales down to
  `min_face_size`; boxes and five landmarks (two mouth corners built from its mouth centre). About 18 ms of one
  CPU core for a 640x360 frame with faces from 20 px; see `kerasfer.face.blazeface`.
* `"mtcnn"`: the `mtcnn` package (MTCNN, Zhang et al. 2016; TensorFlow; the weights ship inside the wheel,
  nothing is downloaded). Boxes and five landmarks; about 10x slower than BlazeFace, and better on small faces
  cut tight without hair or shoulders (under about 32 px), such as FER2013's 48 px crops shown at half size.
* `"haar"`: OpenCV's frontal-face Haar cascade (ships with opencv-python). Fast, boxes only.
* `"none"`: the whole image is one face (for images that are already face crops, e.g. FER2013).
* any callable `detector(image_rgb_uint8) -> list[Face]`, or caller-supplied boxes / landmarks.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from kerasfer.face.faces import LANDMARK_NAMES
from kerasfer.face.faces import Face
from kerasfer.face.faces import clip_box
from kerasfer.face.faces import sort_faces
from kerasfer.face.images import load_image
from kerasfer.face.runtimes import DETECTOR_RUNTIMES

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".jp2")
DETECTORS = ("blazeface", "mtcnn", "haar", "none")
DEFAULT_DETECTOR = "blazeface"  # `FER()`'s, `detect_faces`'s and `get_detector`'s; `align_folder` keeps MTCNN

# MTCNN's image pyramid (mtcnn 1.0) crashes when `min_face_size` is much larger than 20: its number of
# pyramid levels ignores the start scale, so the last level can be smaller than PNet's 12x12 window. We
# therefore always run it at min_face_size=20 and shrink the image instead (also much faster).
_MTCNN_NATIVE_MIN_FACE = 20


class MTCNNDetector:
    """MTCNN (the `mtcnn` 1.0 package, TensorFlow): boxes, scores and five landmarks.

    Args:
        min_face_size: the smallest face side in pixels to find. Faces larger than 20 px are searched on a
            shrunk copy of the image (factor `20 / min_face_size`), which is faster and avoids an mtcnn 1.0 crash.
        max_side: the image is shrunk so that its longer side is at most this many pixels before detection
            (None: never). Huge images then cost no more than this.
        threshold: ONet confidence threshold (mtcnn default 0.8); lower values find more (and wrong) faces.
    """

    name = "mtcnn"

    def __init__(self, min_face_size: int = 20, max_side: int | None = 1280, threshold: float = 0.8):
        if min_face_size < 8:
            raise ValueError(f"min_face_size must be >= 8 pixels, got {min_face_size}.")
        self.min_face_size = int(min_face_size)
        self.max_side = max_side
        self.threshold = float(threshold)
        try:
            from mtcnn import MTCNN
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError(DETECTOR_RUNTIMES["mtcnn"][1]) from e
        self._mtcnn = MTCNN()

    def __call__(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = min(1.0, _MTCNN_NATIVE_MIN_FACE / self.min_face_size)
        if self.max_side:
            scale = min(scale, self.max_side / max(h, w))
        small = _resize(image, scale) if scale < 1.0 else image
        if min(small.shape[:2]) < 12:  # smaller than PNet's window: no face can be found
            return []
        raw = self._mtcnn.detect_faces(
            small, min_face_size=min(self.min_face_size, _MTCNN_NATIVE_MIN_FACE), threshold_onet=self.threshold
        )
        sy, sx = h / small.shape[0], w / small.shape[1]
        faces = []
        for r in raw:
            x, y, bw, bh = (float(v) for v in r["box"])
            kp = r.get("keypoints") or {}
            landmarks = None
            if all(k in kp for k in LANDMARK_NAMES):
                landmarks = np.array([kp[k] for k in LANDMARK_NAMES], dtype=np.float32) * np.array([sx, sy], np.float32)
            box = clip_box((x * sx, y * sy, bw * sx, bh * sy), (h, w))
            if box is None or min(box[2], box[3]) < self.min_face_size * 0.5:
                continue
            faces.append(Face(box=box, landmarks=landmarks, score=float(r.get("confidence", 1.0))))
        return sort_faces(faces)


class HaarDetector:
    """OpenCV's Haar cascade (`haarcascade_frontalface_default.xml`): fast, boxes only (no landmarks).

    Args:
        min_face_size: the smallest face side in pixels to find.
        max_side: the image is shrunk so that its longer side is at most this many pixels before detection.
        scale_factor, min_neighbors: `cv2.CascadeClassifier.detectMultiScale` settings.
        cascade: another cascade XML file.
    """

    name = "haar"

    def __init__(
        self,
        min_face_size: int = 20,
        max_side: int | None = 640,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        cascade: str | None = None,
    ):
        import cv2

        if min_face_size < 8:
            raise ValueError(f"min_face_size must be >= 8 pixels, got {min_face_size}.")
        self.min_face_size = int(min_face_size)
        self.max_side = max_side
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        path = cascade or os.path.join(getattr(cv2, "data", None).haarcascades, "haarcascade_frontalface_default.xml")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Haar cascade file not found: {path}")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise ValueError(f"OpenCV could not load the Haar cascade {path}.")

    def __call__(self, image: np.ndarray) -> list[Face]:
        import cv2

        h, w = image.shape[:2]
        # Faces of min_face_size still cover the cascade's 24x24 window after this shrink (faster for large
        # min_face_size); max_side caps the cost of huge images (their smallest faces may then be missed).
        scale = min(1.0, 24.0 / self.min_face_size)
        if self.max_side:
            scale = min(scale, self.max_side / max(h, w))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        min_side = max(24, int(self.min_face_size * scale))
        if min(gray.shape) < min_side:
            return []
        gray = cv2.equalizeHist(gray)
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        faces = []
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        for i, (x, y, bw, bh) in enumerate(np.asarray(boxes).reshape(-1, 4)):
            box = clip_box((x / scale, y / scale, bw / scale, bh / scale), (h, w))
            if box is not None:
                # detectMultiScale3's level weight is an unbounded margin; squash it to (0, 1) as a score.
                score = 1.0 / (1.0 + np.exp(-weights[i])) if i < len(weights) else 1.0
                faces.append(Face(box=box, landmarks=None, score=float(score)))
        return sort_faces(faces)


class WholeImageDetector:
    """Treats the whole image as one face (for images that are already face crops)."""

    name = "none"

    def __init__(self, min_face_size: int = 1, **unused):
        self.min_face_size = min_face_size

    def __call__(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        return [Face(box=(0, 0, w, h), landmarks=None, score=1.0)]


def BlazeFaceDetector(**kwargs):
    """`kerasfer.face.blazeface.BlazeFaceDetector` (its module is imported on first use)."""
    from kerasfer.face.blazeface import BlazeFaceDetector as detector_class

    return detector_class(**kwargs)


_DETECTOR_CLASSES = {
    "mtcnn": MTCNNDetector,
    "blazeface": BlazeFaceDetector,
    "haar": HaarDetector,
    "none": WholeImageDetector,
}
_DETECTOR_CACHE: dict = {}


def check_detector(detector):
    """Checks a detector choice at once, before any model is loaded: a callable, or one of `DETECTORS` whose
    package is installed. Returns it (a name in lower case); a `ValueError` listing the accepted names, or an
    `ImportError` with the install line."""
    import importlib.util

    if callable(detector):
        return detector
    if not isinstance(detector, str) or detector.lower() not in _DETECTOR_CLASSES:
        raise ValueError(f"Unknown face detector {detector!r}; use one of {', '.join(DETECTORS)} (or a callable).")
    name = detector.lower()
    module, message = DETECTOR_RUNTIMES.get(name, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise ImportError(message)
    return name


def get_detector(detector=DEFAULT_DETECTOR, **kwargs) -> Callable[[np.ndarray], list[Face]]:
    """Returns a detector: one of `DETECTORS` (cached per settings), or `detector` itself if callable."""
    if callable(detector):
        return detector
    check_detector(detector)
    key = (detector.lower(), tuple(sorted(kwargs.items())))
    if key not in _DETECTOR_CACHE:
        _DETECTOR_CACHE[key] = _DETECTOR_CLASSES[detector.lower()](**kwargs)
    return _DETECTOR_CACHE[key]


def detect_faces(
    image, detector=DEFAULT_DETECTOR, min_face_size: int = 20, max_faces: int | None = None, **kwargs
) -> list[Face]:
    """Finds the faces in one image.

    Args:
        image: a path or an image array (gray, RGB, RGBA; see `to_rgb`).
        detector: `"blazeface"` (default) or `"mtcnn"` (boxes + five landmarks), `"haar"` (boxes only), `"none"`
            (whole image) or a callable `detector(rgb_uint8_image) -> list[Face]`.
        min_face_size: the smallest face side in pixels.
        max_faces: keep only the largest `max_faces` faces.
        **kwargs: detector settings (e.g. `max_side`, `threshold` for BlazeFace and MTCNN, `min_neighbors` for
            Haar).

    Returns:
        A list of `Face`, largest first.
    """
    image = load_image(image)
    if callable(detector):
        faces = list(detector(image))
    else:
        faces = get_detector(detector, min_face_size=min_face_size, **kwargs)(image)
    faces = sort_faces(faces)
    return faces[:max_faces] if max_faces else faces


def _resize(image, scale):
    import cv2

    h, w = image.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
