"""Face detection and five-point alignment for facial-expression recognition.

Detectors:

* `"blazeface"` (default): MediaPipe's short-range BlazeFace model (Bazarevsky et al. 2019, Apache-2.0; the
  `.tflite` ships inside kerasfer) on LiteRT (`ai-edge-litert`, no TensorFlow), searched at a few scales down to
  `min_face_size`; boxes and five landmarks (two mouth corners built from its mouth centre). About 18 ms of one
  CPU core for a 640x360 frame with faces from 20 px; see `kerasfer.data.blazeface`.
* `"mtcnn"`: the `mtcnn` package (MTCNN, Zhang et al. 2016; TensorFlow; the weights ship inside the wheel,
  nothing is downloaded). Boxes and five landmarks; about 10x slower than BlazeFace, and better on small faces
  cut tight without hair or shoulders (under about 32 px), such as FER2013's 48 px crops shown at half size.
* `"haar"`: OpenCV's frontal-face Haar cascade (ships with opencv-python). Fast, boxes only.
* `"none"`: the whole image is one face (for images that are already face crops, e.g. FER2013).
* any callable `detector(image_rgb_uint8) -> list[Face]`, or caller-supplied boxes / landmarks.

Alignment maps the five landmarks [left eye, right eye, nose, left mouth corner, right mouth corner] (left/right as
seen in the image) onto the standard ArcFace/InsightFace 112x112 template with a least-squares similarity transform
(Umeyama), the alignment the LFNSB/LFER-LDL papers use (with RetinaFace's five points). When only a box is known the
face is cut as a square centred on the box, enlarged by `margin` on each side.

Image convention: every function here takes and returns RGB `uint8` arrays of shape (H, W, 3). `to_rgb` converts
grayscale (H, W) / (H, W, 1), RGBA (H, W, 4, alpha dropped), BGR (`bgr=True`, OpenCV order) and float images in
[0, 1] or [0, 255] at the entry points; `read_image` reads any file OpenCV decodes (EXIF orientation applied).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable
from collections.abc import Sequence

import numpy as np

from kerasfer.data.faces import ARCFACE_TEMPLATE_112
from kerasfer.data.faces import LANDMARK_NAMES
from kerasfer.data.faces import Face
from kerasfer.data.faces import check_landmarks
from kerasfer.data.faces import clip_box
from kerasfer.data.faces import sort_faces
from kerasfer.data.faces import to_rgb

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".jp2")
DETECTORS = ("blazeface", "mtcnn", "haar", "none")
DEFAULT_DETECTOR = "blazeface"  # `FER()`'s, `detect_faces`'s and `get_detector`'s; `align_folder` keeps MTCNN

# MTCNN's image pyramid (mtcnn 1.0) crashes when `min_face_size` is much larger than 20: its number of
# pyramid levels ignores the start scale, so the last level can be smaller than PNet's 12x12 window. We
# therefore always run it at min_face_size=20 and shrink the image instead (also much faster).
_MTCNN_NATIVE_MIN_FACE = 20


# ----------------------------------------------------------------------------------------------------------------
# Image reading and conversion
# ----------------------------------------------------------------------------------------------------------------


def read_image(path) -> np.ndarray:
    """Reads an image file as RGB uint8 (H, W, 3) (gray, RGBA, 16-bit files converted; EXIF orientation applied).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot decode the file (not an image, truncated, unsupported format).
    """
    import cv2

    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder, not an image: give its image files (`kerasfer predict FOLDER` searches folders)."
        )
    if not path.is_file():
        raise FileNotFoundError(f"No such image file: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
    if data.size == 0:
        raise ValueError(f"Cannot read image {path}: the file is empty.")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)  # always 8-bit BGR, EXIF orientation applied
    if image is None:
        raise ValueError(f"Cannot read image {path}: not an image OpenCV can decode, or the file is corrupt.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_image(image, bgr: bool = False) -> np.ndarray:
    """A path (str / PathLike) or an array → RGB uint8 (H, W, 3) (see `read_image` and `to_rgb`)."""
    if isinstance(image, str | os.PathLike):
        return read_image(image)
    return to_rgb(image, bgr=bgr)


# ----------------------------------------------------------------------------------------------------------------
# Detectors
# ----------------------------------------------------------------------------------------------------------------


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
    """`kerasfer.data.blazeface.BlazeFaceDetector` (its module is imported on first use)."""
    from kerasfer.data.blazeface import BlazeFaceDetector as detector_class

    return detector_class(**kwargs)


_DETECTOR_CLASSES = {
    "mtcnn": MTCNNDetector,
    "blazeface": BlazeFaceDetector,
    "haar": HaarDetector,
    "none": WholeImageDetector,
}
_DETECTOR_CACHE: dict = {}
# The package each detector runs on, and what to do when it is missing (the detector classes raise it too).
DETECTOR_RUNTIMES = {
    "blazeface": (
        "ai_edge_litert",
        "The blazeface face detector runs on LiteRT: pip install 'kerasfer[tflite]' (ai-edge-litert), or use "
        "--detector mtcnn (pip install 'kerasfer[face]') or --detector haar.",
    ),
    "mtcnn": (
        "mtcnn",
        "The mtcnn face detector needs the mtcnn package: pip install 'kerasfer[face]' (or use --detector haar).",
    ),
}


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


# ----------------------------------------------------------------------------------------------------------------
# Alignment
# ----------------------------------------------------------------------------------------------------------------


def _output_hw(output_size) -> tuple[int, int]:
    if isinstance(output_size, int | np.integer):
        hw = (int(output_size), int(output_size))
    else:
        hw = tuple(int(v) for v in output_size)
        if len(hw) != 2:
            raise ValueError(f"output_size is an int or (height, width); got {output_size!r}.")
    if min(hw) < 8:
        raise ValueError(f"output_size must be at least 8 pixels; got {output_size!r}.")
    return hw


def face_template(output_size=112, margin: float = 0.0) -> np.ndarray:
    """The ArcFace five-point template for an `output_size` crop ((5, 2) float32, x/y in output pixels).

    `margin` adds context: the 112x112 template region covers the central `1 / (1 + 2 * margin)` of the crop, i.e.
    `margin` is the fraction of that region added on each side (0.0 = the standard ArcFace crop). A non-square
    `output_size=(h, w)` scales x by `w / 112` and y by `h / 112`.
    """
    if margin < 0 or not np.isfinite(margin):
        raise ValueError(f"margin must be >= 0, got {margin}.")
    h, w = _output_hw(output_size)
    unit = ARCFACE_TEMPLATE_112 / 112.0
    unit = (unit + margin) / (1.0 + 2.0 * margin)
    return (unit * np.array([w, h], dtype=np.float32)).astype(np.float32)


def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991) mapping `src` to
    `dst` ((N, 2) points each). Returns the 2x3 matrix for `cv2.warpAffine`."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"Need two (N>=2, 2) point sets of the same shape; got {src.shape} and {dst.shape}.")
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var < 1e-12:
        raise ValueError("The landmarks are all at the same point; cannot align.")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_face(
    image,
    landmarks=None,
    box=None,
    output_size=112,
    margin: float = 0.0,
    border_value: int = 0,
) -> np.ndarray:
    """Cuts one face out of an image as an aligned `output_size` RGB uint8 crop.

    With `landmarks` ((5, 2) [left eye, right eye, nose, mouth left, mouth right], image pixels), a similarity
    transform maps them onto `face_template(output_size, margin)` (the ArcFace 112x112 template). With only a
    `box` `(x, y, w, h)`, the crop is the square of side `max(w, h) * (1 + 2 * margin)` centred on the box. Parts
    outside the image are filled with `border_value`. Shrinking is anti-aliased (warp at an integer multiple of the
    output size, then area-resize), so small models see what a bilinear antialiased resize would give.

    Args:
        image: a path or an image array (converted with `to_rgb`).
        landmarks: five landmarks, or None.
        box: `(x, y, w, h)`, used when `landmarks` is None.
        output_size: an int or `(height, width)`.
        margin: extra context on each side, as a fraction of the face region (see `face_template`).
        border_value: the fill value outside the image.

    Returns:
        `(height, width, 3)` uint8 RGB.
    """
    import cv2

    image = load_image(image)
    out_h, out_w = _output_hw(output_size)
    if landmarks is not None:
        points = check_landmarks(landmarks)
        matrix = similarity_transform(points, face_template((out_h, out_w), margin))
        # Landmarks and the template are in pixel-index coordinates (as in InsightFace); go to pixel-edge
        # coordinates (index + 0.5) like the box branch, so both share the code below.
        matrix[:, 2] = matrix[:, 2] + 0.5 - matrix[:, :2] @ np.array([0.5, 0.5])
    elif box is not None:
        if margin < 0 or not np.isfinite(margin):
            raise ValueError(f"margin must be >= 0, got {margin}.")
        x, y, bw, bh = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1)[:4])
        if not (bw > 0 and bh > 0) or len(np.asarray(box).reshape(-1)) != 4:
            raise ValueError(f"A face box is (x, y, w, h) with positive w and h; got {box!r}.")
        side = max(bw, bh) * (1.0 + 2.0 * margin)
        cx, cy = x + bw / 2.0, y + bh / 2.0
        # Map the square [cx - side/2, cx + side/2] onto [0, out_w] (pixel-edge convention, like a resize).
        sx, sy = out_w / side, out_h / side
        matrix = np.array([[sx, 0.0, -(cx - side / 2.0) * sx], [0.0, sy, -(cy - side / 2.0) * sy]])
    else:
        raise ValueError("align_face needs landmarks or a box.")
    # `matrix` maps pixel-edge coordinates (pixel i spans [i, i + 1]); warpAffine maps pixel indices, so shift by
    # half a pixel on both sides. For strong shrinking, warp at `factor` times the size and area-resize down.
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("Degenerate face geometry (zero-size transform); check the landmarks or box.")
    pre = min(1.0, 8.0 * scale, 32000.0 / max(image.shape[:2]))  # OpenCV's warp needs sides < 32767
    if pre < 1.0:  # shrinking by more than 8x (or a giant image): area-resize the image first
        small = cv2.resize(
            image,
            (max(1, round(image.shape[1] * pre)), max(1, round(image.shape[0] * pre))),
            interpolation=cv2.INTER_AREA,
        )
        fx, fy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        matrix = matrix @ np.array([[1.0 / fx, 0.0, 0.0], [0.0, 1.0 / fy, 0.0], [0.0, 0.0, 1.0]])
        image = small
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = min(8, max(1, int(np.floor(1.0 / scale + 1e-6))))
    big = matrix * factor
    half = np.array([0.5, 0.5])
    big[:, 2] = big[:, 2] + big[:, :2] @ half - half
    crop = cv2.warpAffine(
        image,
        big,
        (out_w * factor, out_h * factor),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value,) * 3,
    )
    if factor > 1:
        crop = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)
    return crop


def align_faces(image, faces: Sequence[Face], output_size=112, margin: float = 0.0) -> np.ndarray:
    """Aligns several faces of one image → `(N, H, W, 3)` uint8 (landmarks when a face has them, else its box)."""
    image = load_image(image)
    h, w = _output_hw(output_size)
    crops = [align_face(image, landmarks=f.landmarks, box=f.box, output_size=(h, w), margin=margin) for f in faces]
    return np.stack(crops) if crops else np.zeros((0, h, w, 3), np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# Folders
# ----------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class AlignSummary:
    """What `align_folder` did (also written as JSON). Inputs are relative to `input_dir`, outputs to `output_dir`,
    both '/'-separated.

    Attributes:
        aligned: inputs whose face(s) are in the output folder (written by this run or kept from an earlier one).
        faces_written: face files this run wrote.
        skipped_existing: face files kept because they existed before this run (`overwrite=False`).
        outputs: `{input: [output file, ...]}` for every aligned input (largest face first).
        renamed: inputs whose output name carries their source extension (`face.jpg` -> `face_jpg.png`) because
            another input of the same folder would have had the same output name.
        no_face: inputs where the detector found no face.
        unreadable: `[input, error message]` for the inputs that could not be read (or whose face could not be
            aligned).
        several_faces: `[input, number of faces]` for the inputs with more than one face.
        settings: the alignment settings; a later run into the same output folder must use the same ones.
        complete: False while the run is going (the summary is first written before the work starts).
        seconds: how long the run took.
    """

    input_dir: str
    output_dir: str
    aligned: int = 0
    faces_written: int = 0
    skipped_existing: int = 0
    outputs: dict = dataclasses.field(default_factory=dict)
    renamed: list = dataclasses.field(default_factory=list)
    no_face: list = dataclasses.field(default_factory=list)
    unreadable: list = dataclasses.field(default_factory=list)  # [path, error message]
    several_faces: list = dataclasses.field(default_factory=list)  # [path, count]
    settings: dict = dataclasses.field(default_factory=dict)
    complete: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def list_images(folder) -> list[pathlib.Path]:
    """The image files (by extension, case-insensitive) under `folder`, recursively, sorted."""
    folder = pathlib.Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


class Progress:
    """A minimal progress line on stderr (no dependency; stdout stays free for results)."""

    def __init__(self, total, desc="", enabled=True, stream=None):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream or sys.stderr
        self.count, self.start, self._last = 0, time.perf_counter(), 0.0

    def update(self, n=1):
        self.count += n
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.5 or self.count == self.total):
            self._last = now
            rate = self.count / max(now - self.start, 1e-9)
            if self.total:
                width = 30
                done = int(width * self.count / self.total)
                bar = "#" * done + "-" * (width - done)
                msg = f"\r{self.desc} [{bar}] {self.count}/{self.total} {rate:.1f}/s"
            else:
                msg = f"\r{self.desc} {self.count} {rate:.1f}/s"
            self.stream.write(msg)
            self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# Formats OpenCV writes as one gray channel only.
_GRAY_FORMATS = (".pgm",)


def _encode_image(image_rgb: np.ndarray, ext: str) -> np.ndarray | None:
    """The encoded bytes of an RGB image as `ext` (gray for `_GRAY_FORMATS`), or None when OpenCV cannot write it."""
    import cv2

    code = cv2.COLOR_RGB2GRAY if ext.lower() in _GRAY_FORMATS else cv2.COLOR_RGB2BGR
    try:
        ok, encoded = cv2.imencode(ext, cv2.cvtColor(image_rgb, code))
    except cv2.error:
        return None
    return encoded if ok else None


def _write_file(path: pathlib.Path, data) -> None:
    """Writes `data` (encoded image bytes, or text) to a temporary file then renames it: a crash or a full disk
    never leaves a half-written file under the real name (which a later run would keep as done)."""
    from kerasfer.paths import replaced_when_done

    with replaced_when_done(path) as tmp:
        if isinstance(data, str):
            pathlib.Path(tmp).write_text(data)
        else:
            data.tofile(tmp)


def _check_formats(files, image_format, hw) -> None:
    """Raises ValueError, before any work, when OpenCV cannot write an output format at the output size."""
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    level = logging.getLogLevel() if logging else None
    if logging:  # OpenCV logs its own error lines for the formats it cannot write
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        exts = {image_format} if image_format else {p.suffix for p in files}
        probe = np.zeros((*hw, 3), np.uint8)
        bad = sorted(ext for ext in exts if _encode_image(probe, ext) is None)
    finally:
        if logging:
            logging.setLogLevel(level)
    if not bad:
        return
    size = f"{hw[1]}x{hw[0]} pixels"
    if image_format:
        raise ValueError(
            f"OpenCV cannot write {image_format!r} images of {size}; choose another image_format (--format)."
        )
    examples = [str(p) for p in files if p.suffix in bad][:3]
    raise ValueError(
        f"OpenCV cannot write {', '.join(repr(e) for e in bad)} images of {size}, which image_format=None (same as "
        f"the input) would need for {', '.join(examples)}{' ...' if len(examples) == 3 else ''}; "
        "choose an image_format (--format) such as '.png'."
    )


def _output_names(files, image_format) -> dict:
    """`{input path: (output stem, extension, renamed)}`: the output name is the input's stem and `image_format`
    (None: the input's extension), except for inputs of one folder that would get the same name (compared without
    case, for case-insensitive file systems): those carry their source extension (`face.jpg` -> `face_jpg`,
    `face.png` -> `face_png`; `_2`, `_3`, ... if that is taken too). With every name distinct, the `<stem>_<i>`
    names of `all_faces` are distinct too (the face index follows the last underscore)."""
    folders: dict = {}
    for path in files:
        folders.setdefault(path.parent, []).append(path)
    names = {}
    for paths in folders.values():
        natural = {p: (p.stem, image_format or p.suffix) for p in paths}
        counts = collections.Counter((stem.lower(), ext.lower()) for stem, ext in natural.values())
        taken = {key for key, n in counts.items() if n == 1}
        for p in sorted(paths):
            stem, ext = natural[p]
            if counts[stem.lower(), ext.lower()] == 1:
                names[p] = (stem, ext, False)
                continue
            base = candidate = f"{stem}_{p.suffix[1:]}"
            n = 1
            while (candidate.lower(), ext.lower()) in taken:
                n += 1
                candidate = f"{base}_{n}"
            taken.add((candidate.lower(), ext.lower()))
            names[p] = (candidate, ext, True)
    return names


def _previous_summary(path: pathlib.Path) -> dict:
    """The summary of an earlier run, or {} (none, or not a summary)."""
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}


def _check_same_settings(previous: dict, settings: dict, output_dir, summary_name) -> None:
    old = previous.get("settings")
    if not isinstance(old, dict):
        return
    changed = [f"{k} was {old[k]}, now {v}" for k, v in settings.items() if k in old and old[k] != v]
    if changed:
        raise ValueError(
            f"{output_dir} holds faces aligned with other settings ({'; '.join(changed)}; see its {summary_name}): "
            "the files kept from that run would be mixed with the new ones. Use another output folder, or pass "
            "overwrite=True (--overwrite) to replace them."
        )


def align_folder(
    input_dir,
    output_dir,
    detector="mtcnn",
    output_size=112,
    margin: float = 0.0,
    min_face_size: int = 20,
    all_faces: bool = False,
    overwrite: bool = False,
    image_format: str | None = ".png",
    progress: bool = True,
    summary_name: str = "align_summary.json",
) -> AlignSummary:
    """Detects and aligns the faces of every image under `input_dir` into `output_dir`, keeping the folder tree.

    The detector defaults to MTCNN here (not `DEFAULT_DETECTOR`): datasets are aligned once, offline, and their
    images are often small tight crops, which MTCNN finds more often than BlazeFace.

    The largest face of each image is written to the same relative path (extension `image_format`, default
    `.png`; None keeps the original); with `all_faces=True` every face is written as `<stem>_<i><ext>`, largest
    first. Inputs of one folder that would get the same output name (`face.jpg` and `face.png`) carry their source
    extension in it instead (`face_jpg.png`, `face_png.png`); the summary maps every input to its output files.

    Inputs are never overwritten: `output_dir` may not be `input_dir`, lie inside it, or contain it. Outputs that
    exist before the run are kept unless `overwrite=True` (or the earlier run's summary says another input wrote
    them); a run into an output folder aligned with other settings (size, margin, detector, `all_faces`, format) is
    refused unless `overwrite=True`, so that kept and new files are never mixed. Every argument (and whether OpenCV
    can write `image_format`) is checked before any work.

    Images with no face or that cannot be read are listed in `output_dir/summary_name` (JSON) and in the returned
    `AlignSummary`; the caller decides whether unreadable inputs are a failure.

    Raises:
        FileNotFoundError: `input_dir` does not exist.
        NotADirectoryError: `output_dir` is a file.
        ValueError: `output_dir` overlaps `input_dir`, no images, a bad size, margin or format, other settings
            than the earlier run into `output_dir`.
    """
    input_dir = pathlib.Path(input_dir).resolve()
    output_dir = pathlib.Path(output_dir).resolve()
    if not input_dir.is_dir():
        raise FileNotFoundError(f"Input folder not found: {input_dir}")
    if output_dir == input_dir or input_dir in output_dir.parents or output_dir in input_dir.parents:
        raise ValueError(
            f"The output folder {output_dir} must not be the input folder {input_dir}, lie inside it or contain it "
            "(inputs are never overwritten)."
        )
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(f"The output folder {output_dir} is a file.")
    hw = _output_hw(output_size)
    face_template(hw, margin)  # checks the margin
    if image_format is not None:
        image_format = image_format if image_format.startswith(".") else "." + image_format
        if image_format.lower() not in IMAGE_EXTENSIONS:
            raise ValueError(f"image_format (--format) must be one of {IMAGE_EXTENSIONS}; got {image_format!r}.")
    files = list_images(input_dir)
    if not files:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) under {input_dir}.")
    _check_formats(files, image_format, hw)
    det = get_detector(detector, min_face_size=min_face_size) if not callable(detector) else detector
    detector_name = getattr(det, "name", None) or getattr(det, "__name__", None) or type(det).__name__
    settings = {
        "detector": detector_name,
        "size": hw[0] if hw[0] == hw[1] else list(hw),
        "margin": float(margin),
        "min_face_size": None if detector_name == "none" else int(min_face_size),
        "all_faces": bool(all_faces),
        "format": image_format or "same",
    }
    summary_path = output_dir / summary_name if summary_name else None
    previous = _previous_summary(summary_path) if summary_path else {}
    if not overwrite:
        _check_same_settings(previous, settings, output_dir, summary_name)
    earlier_several = {}  # faces counted by the earlier run, for the inputs whose output is kept without detection
    for item in previous.get("several_faces") or []:
        if isinstance(item, list) and len(item) == 2:
            earlier_several[str(item[0])] = item[1]
    earlier_source = {}  # output file -> the input the earlier run wrote it for
    if isinstance(previous.get("outputs"), dict):
        for source, outs in previous["outputs"].items():
            for out in outs if isinstance(outs, list) else []:
                earlier_source[str(out)] = source

    def keep(out: pathlib.Path, name: str) -> bool:
        """An existing output is kept (without `overwrite`) unless the earlier run wrote it for another input."""
        return (
            not overwrite and out.exists() and earlier_source.get(out.relative_to(output_dir).as_posix(), name) == name
        )

    names = _output_names(files, image_format)
    summary = AlignSummary(input_dir=str(input_dir), output_dir=str(output_dir), settings=settings)
    start = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    if summary_path:  # written now too: a later run into this folder knows its settings even if this one stops
        _write_file(summary_path, json.dumps(summary.to_dict(), indent=2))
    bar = Progress(len(files), desc="align", enabled=progress)
    try:
        for path in files:
            rel = path.relative_to(input_dir)
            name = rel.as_posix()
            stem, ext, renamed = names[path]
            if renamed:
                summary.renamed.append(name)
            target = output_dir / rel.parent / f"{stem}{ext}"
            if not all_faces and keep(target, name):  # kept from an earlier run: not even read
                bar.update()
                summary.skipped_existing += 1
                summary.aligned += 1
                summary.outputs[name] = [target.relative_to(output_dir).as_posix()]
                if name in earlier_several:
                    summary.several_faces.append([name, earlier_several[name]])
                continue
            try:
                image = read_image(path)
                faces = sort_faces(det(image))
            except (OSError, ValueError) as e:
                summary.unreadable.append([name, str(e)])
                continue
            finally:
                bar.update()
            if not faces:
                summary.no_face.append(name)
                continue
            if len(faces) > 1:
                summary.several_faces.append([name, len(faces)])
            chosen = faces if all_faces else faces[:1]
            outs = [target.with_name(f"{stem}_{i}{ext}") for i in range(len(chosen))] if all_faces else [target]
            todo = [(out, face) for out, face in zip(outs, chosen) if not keep(out, name)]
            try:  # every crop before any file, so that an input is either done or listed as failed
                crops = [
                    align_face(image, landmarks=face.landmarks, box=face.box, output_size=hw, margin=margin)
                    for _, face in todo
                ]
            except ValueError as e:  # degenerate geometry from the detector
                summary.unreadable.append([name, f"Cannot align a face of {name}: {e}"])
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            for (out, _), crop in zip(todo, crops):
                encoded = _encode_image(crop, ext)
                if encoded is None:
                    raise RuntimeError(f"OpenCV could not encode the face of {name} as {ext!r}.")
                _write_file(out, encoded)
            summary.faces_written += len(todo)
            summary.skipped_existing += len(outs) - len(todo)
            summary.outputs[name] = [out.relative_to(output_dir).as_posix() for out in outs]
            summary.aligned += 1
    except BaseException:
        bar.close()
        if summary_path:  # what was done so far (complete: False); the error that stopped the run goes on
            with contextlib.suppress(OSError):
                _write_file(summary_path, json.dumps(summary.to_dict(), indent=2))
        raise
    bar.close()
    summary.seconds = round(time.perf_counter() - start, 3)
    summary.complete = True
    if summary_path:
        _write_file(summary_path, json.dumps(summary.to_dict(), indent=2))
    return summary
