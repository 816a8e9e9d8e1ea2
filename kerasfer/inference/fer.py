"""`FER`: facial-expression recognition on images, batches and videos.

The pipeline is detect (MTCNN by default, Haar, none, or the caller's boxes/landmarks) → align (five-point
similarity transform to the ArcFace template, or a square box crop, at the model's input size) → classify (a Keras
model or a `.tflite` file, one batched call for all faces of all images). Images may be paths or arrays in any of
the layouts `kerasfer.data.align.to_rgb` accepts; arrays are taken as RGB (pass `bgr=True` for OpenCV frames).

Example:
>>> fer = kerasfer.FER("lfnsb", weights="lfnsb_rafdb.weights.h5", detector="haar")
>>> result = fer.predict("photo.jpg")
>>> [(f.box, f.label, f.probabilities.max()) for f in result.faces]
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from kerasfer.data import align as _align
from kerasfer.inference import runners as _runners

# tf.image.rgb_to_grayscale's weights, as used by kerasfer.data.pipeline.prepare_images.
_GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)

# The model `FER(model=None)` loads: the first of these packaged weights that the installed package ships
# (LFNSB's FER2013 weights once trained; until then the small ShuffleNetV2 0.5x FER2013 weights).
DEFAULT_CANDIDATES = (("lfnsb", "fer2013"), ("shufflenet_v2_x0_5", "fer2013"))
DEFAULT_MODEL, DEFAULT_WEIGHTS = DEFAULT_CANDIDATES[0]


def default_weights() -> tuple[str, str] | None:
    """The `(model, weights name)` that `FER()` and `kerasfer predict` use by default, or None when the
    installed package ships none of `DEFAULT_CANDIDATES`."""
    from kerasfer.models.weights import packaged_weights

    available = packaged_weights()
    return next((c for c in DEFAULT_CANDIDATES if c in available), None)


def canonical_labels(num_classes: int) -> tuple[str, ...]:
    """`kerasfer.data.labels.CANONICAL_LABELS[:num_classes]` (FER2013 order + contempt; `class_<i>` beyond 8)."""
    from kerasfer.data.labels import CANONICAL_LABELS

    if num_classes <= len(CANONICAL_LABELS):
        return tuple(CANONICAL_LABELS[:num_classes])
    return tuple(CANONICAL_LABELS) + tuple(f"class_{i}" for i in range(len(CANONICAL_LABELS), num_classes))


def find_labels(path) -> tuple[str, ...] | None:
    """Label names stored next to a model file: `<stem>.labels.txt`, `labels.txt` (one per line, as
    `kerasfer export` writes) or a model card `<stem>.card.json` / `<stem>.json` with a `"labels"` or
    `"class_names"` list. None when there is none."""
    if path is None:
        return None
    path = pathlib.Path(path)
    stem = path.name
    for suffix in (".weights.h5", ".keras", ".tflite", ".h5"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for candidate in (path.with_name(f"{stem}.labels.txt"), path.with_name("labels.txt")):
        if candidate.is_file():
            names = [line.strip() for line in candidate.read_text().splitlines() if line.strip()]
            if names:
                return tuple(names)
    for card in (path.with_name(f"{stem}.card.json"), path.with_name(f"{stem}.json")):
        if not card.is_file():
            continue
        try:
            data = json.loads(card.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"The model card {card} is not valid JSON: {e}") from e
        for key in ("labels", "class_names"):
            if isinstance(data, dict) and isinstance(data.get(key), list):
                return tuple(str(v) for v in data[key])
    return None


@dataclasses.dataclass
class FaceResult:
    """One face: where it is and what expression.

    Attributes:
        box: `(x, y, w, h)` in image pixels.
        landmarks: `(5, 2)` float32 or None (Haar, caller boxes).
        score: the detector's confidence (1.0 for caller-supplied faces).
        probabilities: `(num_classes,)` float32, unrounded, in `labels` order.
        labels: the class names.
        tracked: True when the box was carried over by the video tracker instead of detected in this frame.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray | None
    score: float
    probabilities: np.ndarray
    labels: tuple[str, ...]
    tracked: bool = False

    @property
    def label_index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def label(self) -> str:
        return self.labels[self.label_index]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.label_index])

    def to_dict(self) -> dict:
        return {
            "box": [int(v) for v in self.box],
            "landmarks": None if self.landmarks is None else np.asarray(self.landmarks, float).tolist(),
            "score": float(self.score),
            "label": self.label,
            "probabilities": {name: float(p) for name, p in zip(self.labels, self.probabilities)},
            "tracked": bool(self.tracked),
        }


@dataclasses.dataclass
class ImageResult:
    """The faces of one image (empty when none was found), or the error that stopped it (`on_error="record"`)."""

    faces: list[FaceResult]
    image_size: tuple[int, int] | None = None  # (height, width)
    source: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "image_size": None if self.image_size is None else list(self.image_size),
            "faces": [f.to_dict() for f in self.faces],
            "error": self.error,
        }


class FER:
    """Facial-expression recognition: face detection, alignment and a kerasfer classifier.

    Args:
        model: a `keras.Model`, a registered model name (with `weights=`), a `.keras` / `.tflite` path, a runner,
            or None for the packaged default model (the first of `DEFAULT_CANDIDATES` that is packaged; a clear
            error says what to pass when the package ships no trained weights).
        weights: a `.weights.h5` / `.keras` path for `model` (a name or a `keras.Model`).
        tflite: a `.tflite` path (alternative to `model`).
        labels: class names; default: a `labels.txt` / model card next to the weights, else
            `CANONICAL_LABELS[:num_classes]`.
        detector: `"mtcnn"` (default; five landmarks), `"haar"` (fast, boxes only), `"none"` (the whole image is
            the face) or a callable returning `kerasfer.data.align.Face`s.
        min_face_size: the smallest face side in pixels the detector looks for.
        margin: context around the aligned face (see `kerasfer.data.align.face_template`); 0 = ArcFace crop;
            None (default) = the crop packaged weights were trained on (their card's `align_margin`), else 0.
        max_faces: keep only the largest faces per image (None: all).
        batch_size: the most faces per model call.
        output: `"auto"`, `"probabilities"` or `"logits"` (see `kerasfer.inference.runners`).
        detector_kwargs: extra detector settings (`max_side`, `threshold`, `min_neighbors`, ...).
        **model_kwargs: builder arguments for a registered name (`num_classes`, `input_shape`, ...).
    """

    def __init__(
        self,
        model=None,
        weights=None,
        *,
        tflite=None,
        labels: Sequence[str] | None = None,
        detector="mtcnn",
        min_face_size: int = 20,
        margin: float | None = None,
        max_faces: int | None = None,
        batch_size: int = 32,
        output: str = "auto",
        detector_kwargs: dict | None = None,
        **model_kwargs,
    ):
        card = None
        if model is None and tflite is None:
            self.runner, card = _default_runner(weights, batch_size, output, **model_kwargs)
        else:
            self.runner = _runners.load_runner(
                model, weights, tflite=tflite, batch_size=batch_size, output=output, **model_kwargs
            )
        self.input_shape = tuple(self.runner.input_shape)
        if self.input_shape[-1] not in (1, 3):
            raise ValueError(f"The model must take 1- or 3-channel images; its input is {self.input_shape}.")
        if card is None and isinstance(model, str) and isinstance(weights, str):
            from kerasfer.models.weights import packaged_card

            card = packaged_card(model, weights)
        if labels is None and card is not None:
            labels = card.get("labels")
        if labels is None:
            labels = find_labels(weights or tflite or (model if isinstance(model, str | os.PathLike) else None))
        if labels is None:
            labels = canonical_labels(self.runner.num_classes)
        labels = tuple(str(v) for v in labels)
        if len(labels) != self.runner.num_classes:
            raise ValueError(f"{len(labels)} labels {labels} for a model with {self.runner.num_classes} classes.")
        self.labels = labels
        if margin is None:  # the crop the packaged weights were trained on, else the ArcFace crop
            margin = float((card or {}).get("preprocessing", {}).get("align_margin", 0.0))
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}.")
        self.margin = float(margin)
        if max_faces is not None and int(max_faces) < 1:
            raise ValueError(f"max_faces must be None or >= 1, got {max_faces}.")
        self.max_faces = max_faces
        self.min_face_size = int(min_face_size)
        self._detector_spec = detector
        self._detector_kwargs = dict(detector_kwargs or {})
        self._detector = None

    # ---------------------------------------------------------------------------------------------- parts
    @property
    def detector(self):
        """The face detector (built on first use: MTCNN loads TensorFlow)."""
        if self._detector is None:
            self._detector = _align.get_detector(
                self._detector_spec, **({} if callable(self._detector_spec) else self._kwargs_for_detector())
            )
        return self._detector

    def _kwargs_for_detector(self):
        return {"min_face_size": self.min_face_size, **self._detector_kwargs}

    def detect(self, image) -> list[_align.Face]:
        """The faces of one image (RGB uint8 array or path), largest first, at most `max_faces`."""
        faces = _align._sort_faces(list(self.detector(_align.load_image(image))))
        return faces[: self.max_faces] if self.max_faces else faces

    def align(self, image, faces: Sequence[_align.Face]) -> np.ndarray:
        """Aligned crops `(N, H, W, 3)` uint8 at the model's input size."""
        return _align.align_faces(image, faces, output_size=self.input_shape[:2], margin=self.margin)

    def to_model_input(self, crops) -> np.ndarray:
        """Face crops → the model's float32 `(N, H, W, C)` raw-pixel input, as
        `kerasfer.data.pipeline.prepare_images` defines it (bilinear resize, antialiased when shrinking,
        gray <-> RGB with the `tf.image.rgb_to_grayscale` weights). Crops from `align` are already at the model
        size; for those only the channels change, computed in NumPy (no TensorFlow call per video frame)."""
        crops = np.asarray(crops)
        if crops.ndim != 4:
            raise ValueError(f"Expected a batch of crops (N, H, W, C); got {crops.shape}.")
        h, w, c = self.input_shape
        if crops.shape[1:3] == (h, w) and crops.shape[-1] in (1, 3):
            x = crops.astype(np.float32)
            if x.shape[-1] != c:
                x = np.repeat(x, 3, axis=-1) if c == 3 else (x @ _GRAY_WEIGHTS)[..., None]
            return np.clip(x, 0.0, 255.0)
        from kerasfer.data.pipeline import prepare_images

        return np.asarray(prepare_images(crops, self.input_shape), dtype=np.float32)

    def classify(self, faces) -> np.ndarray:
        """Class probabilities `(N, num_classes)` for face crops, without detection or alignment.

        `faces`: a list of crops (each (H, W) or (H, W, C)), a batch array (N, H, W, C), or one crop (H, W, C) with
        C in 1, 3, 4 (a 3-D array with another last size is read as an (N, H, W) grayscale batch). Crops of any
        size go through `prepare_images` (resized to the model's input).
        """
        if isinstance(faces, np.ndarray):
            if faces.ndim == 2 or (faces.ndim == 3 and faces.shape[-1] in (1, 3, 4)):
                faces = [faces]
            elif faces.ndim not in (3, 4):
                raise ValueError(f"Expected face crops (N, H, W[, C]) or one crop; got shape {faces.shape}.")
        batch = [self.to_model_input(_align.to_rgb(face)[None]) for face in faces]
        if not batch:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.runner(np.concatenate(batch))

    # ---------------------------------------------------------------------------------------------- images
    def predict(self, image, face_boxes=None, landmarks=None, *, bgr: bool = False) -> ImageResult:
        """Detects, aligns and classifies the faces of one image.

        Args:
            image: a path or an array (gray, RGB, RGBA; BGR with `bgr=True`).
            face_boxes: the caller's faces as `(x, y, w, h)` boxes (no detection).
            landmarks: the caller's faces as `(5, 2)` landmark sets (no detection); with `face_boxes`, one per box.
            bgr: the array is in OpenCV's BGR order.

        Returns:
            An `ImageResult`; `faces` is empty when no face was found.

        Raises:
            FileNotFoundError / ValueError: unreadable file, bad array, bad boxes or landmarks.
        """
        return self.predict_batch(
            [image],
            None if face_boxes is None else [face_boxes],
            None if landmarks is None else [landmarks],
            bgr=bgr,
        )[0]

    def predict_batch(
        self, images, face_boxes=None, landmarks=None, *, bgr: bool = False, on_error: str = "raise"
    ) -> list[ImageResult]:
        """`predict` for a list of images: detection per image, then one batched classifier call for all faces.

        `face_boxes` / `landmarks`: None, or one entry per image (a list of boxes / landmark sets, or None for
        "detect"). `on_error="record"` returns an `ImageResult` with `error` set for unreadable images instead of
        raising.
        """
        if on_error not in ("raise", "record"):
            raise ValueError(f"on_error must be 'raise' or 'record'; got {on_error!r}.")
        if isinstance(images, np.ndarray):
            if images.ndim != 4:
                raise ValueError(
                    f"predict_batch takes a list of images or an (N, H, W, C) array; got shape {images.shape} "
                    "(use predict for one image)."
                )
            images = list(images)
        elif isinstance(images, str | os.PathLike):
            raise ValueError("predict_batch takes a list of images (use predict for one image).")
        images = list(images)
        face_boxes = _per_image(face_boxes, len(images), "face_boxes")
        landmarks = _per_image(landmarks, len(images), "landmarks")
        results, all_faces, owners = [], [], []
        crops = []
        for i, image in enumerate(images):
            source = str(image) if isinstance(image, str | os.PathLike) else None
            try:
                rgb = _align.load_image(image, bgr=bgr)
                faces = self._faces_for(rgb, face_boxes[i], landmarks[i])
                if faces:
                    crops.append(self.align(rgb, faces))
            except (OSError, ValueError) as e:
                if on_error == "raise":
                    raise
                results.append(ImageResult(faces=[], source=source, error=f"{type(e).__name__}: {e}"))
                continue
            results.append(ImageResult(faces=[], image_size=tuple(rgb.shape[:2]), source=source))
            all_faces.extend(faces)
            owners.extend([len(results) - 1] * len(faces))
        if all_faces:
            probs = self.runner(self.to_model_input(np.concatenate(crops)))
            for face, owner, p in zip(all_faces, owners, probs):
                results[owner].faces.append(
                    FaceResult(face.box, face.landmarks, face.score, p.astype(np.float32), self.labels)
                )
        return results

    def _faces_for(self, rgb, boxes, points) -> list[_align.Face]:
        if boxes is None and points is None:
            return self.detect(rgb)
        h, w = rgb.shape[:2]
        points = None if points is None else list(points)
        boxes = None if boxes is None else [tuple(np.asarray(b, dtype=np.float64).reshape(-1)) for b in boxes]
        if boxes is not None and points is not None and len(boxes) != len(points):
            raise ValueError(f"Got {len(boxes)} face boxes but {len(points)} landmark sets; give one per face.")
        faces = []
        for j in range(len(boxes) if boxes is not None else len(points)):
            lm = None if points is None else _align._check_landmarks(points[j])
            if boxes is not None:
                box = boxes[j]
                if len(box) != 4 or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
                    raise ValueError(f"Face box {j} must be (x, y, w, h) with positive w, h; got {boxes[j]}.")
            else:
                box = _box_from_landmarks(lm)
            clipped = _align._clip_box(box, (h, w))
            if clipped is None:
                raise ValueError(f"Face {j} ({box}) lies outside the {w}x{h} image.")
            faces.append(_align.Face(box=clipped, landmarks=lm, score=1.0))
        return faces

    # ---------------------------------------------------------------------------------------------- video
    def analyze_video(self, source, **kwargs):
        """Runs the pipeline over a video file or camera index; see `kerasfer.inference.video.analyze_video`."""
        from kerasfer.inference.video import analyze_video

        return analyze_video(self, source, **kwargs)


def _per_image(values, n, name):
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{name} needs one entry per image ({n}); got {len(values)}.")
    return values


def _box_from_landmarks(points: np.ndarray):
    """A face box around five landmarks (the ArcFace template's face box scaled to the landmarks)."""
    matrix = _align.similarity_transform(_align.ARCFACE_TEMPLATE_112, points)
    corners = np.array([[8.0, 8.0], [104.0, 8.0], [8.0, 120.0], [104.0, 120.0]])  # forehead to chin
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    x0, y0 = mapped.min(0)
    x1, y1 = mapped.max(0)
    return (x0, y0, x1 - x0, y1 - y0)


def _default_runner(weights, batch_size, output, **model_kwargs):
    """The packaged default model's runner and its model card."""
    if weights is not None:
        raise ValueError(
            "weights= needs a model: FER(model='<registered name>', weights=...); see kerasfer.models.list_models()."
        )
    from kerasfer import models
    from kerasfer.models.weights import packaged_card

    choice = default_weights()
    wanted = ", ".join(f"{m}/{w}" for m, w in DEFAULT_CANDIDATES)
    if choice is None:
        raise ValueError(
            f"No packaged default model is available (none of {wanted} is installed in kerasfer/weights). "
            "Pass a model: FER(model='<name>', weights='path/to/model.weights.h5'), "
            "FER(model='path/to/model.keras') or FER(tflite='path/to/model.tflite')."
        )
    name, weights_name = choice
    try:
        built = models.create_model(name, weights=weights_name, **model_kwargs)
    except Exception as e:  # a damaged install, or model_kwargs the weights cannot take
        raise ValueError(
            f"The packaged default model {name}/{weights_name} could not be built ({type(e).__name__}: {e}). "
            "Pass a model: FER(model='<name>', weights='path/to/model.weights.h5'), "
            "FER(model='path/to/model.keras') or FER(tflite='path/to/model.tflite')."
        ) from e
    runner = _runners.KerasRunner(built, batch_size, output, source=f"{name}:{weights_name}")
    return runner, packaged_card(name, weights_name)
