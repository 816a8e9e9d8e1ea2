"""`FER`: facial-expression recognition on images, batches and videos.

The pipeline is detect (BlazeFace by default, MTCNN, Haar, none, or the caller's boxes/landmarks) → align (five-point
similarity transform to the ArcFace template, or a square box crop, at the model's input size) → classify (a Keras
model or a `.tflite` file, one batched call for all faces of all images). Images may be paths or arrays in any of
the layouts `kerasfer.face.to_rgb` accepts; arrays are taken as RGB (pass `bgr=True` for OpenCV frames).

Example:
>>> fer = kerasfer.FER("lfnsb", weights="lfnsb_rafdb.weights.h5")
>>> result = fer.predict("photo.jpg")
>>> [(f.box, f.label, f.probabilities.max()) for f in result.faces]
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from kerasfer import face as _face
from kerasfer.inference import runners as _runners
from kerasfer.inference.results import FaceResult
from kerasfer.inference.results import ImageResult
from kerasfer.models.loading import canonical_labels


def default_weights() -> tuple[str, str] | None:
    """The `(model, weights name)` that `FER()` and `kerasfer predict` use by default: the packaged weights whose
    card gives the highest FER2013 accuracy (`kerasfer.pretrained.default_pretrained`), or None when the
    installed package ships none."""
    from kerasfer.pretrained import default_pretrained

    entry = default_pretrained()
    return None if entry is None else (entry.model, entry.name)


class FER:
    """Facial-expression recognition: face detection, alignment and a kerasfer classifier.

    Args:
        model: anything `kerasfer.models.load_trained` takes (a run directory, a `.keras` / `.weights.h5` file,
            a packaged name such as `"resnet18_small/fer2013"`, a registered name with `weights=`), a
            `keras.Model`, a `.tflite` path, a runner, or None for the packaged default model (`default_weights`:
            the most accurate FER2013 card; a clear error says what to pass when none is packaged).
        weights: a run directory, a `.weights.h5` / `.keras` file or a packaged name for `model` (a name or a
            `keras.Model`).
        tflite: a `.tflite` path (alternative to `model`).
        labels: class names; default: the packaged card's, a `.tflite`'s own metadata, a labels file or model
            card next to the file, the run's `labels.txt`, else `CANONICAL_LABELS[:num_classes]`.
        detector: `"blazeface"` (default: BlazeFace on LiteRT, five landmarks, about 18 ms of one core for a
            640x360 frame), `"mtcnn"` (five landmarks, about 10x slower; better on small tight crops under about
            32 px), `"haar"` (boxes only), `"none"` (the whole image is the face) or a callable returning
            `kerasfer.face.Face`s. See `kerasfer.face`.
        min_face_size: the smallest face side in pixels the detector looks for.
        margin: context around the aligned face (see `kerasfer.face.face_template`); 0 = ArcFace crop;
            None (default) = the crop packaged weights were trained on (their card's `align_margin`), else 0.
        max_faces: keep only the largest faces per image (None: all).
        batch_size: the most faces per model call.
        output: `"auto"`, `"probabilities"` or `"logits"` (see `kerasfer.inference.runners`).
        tta: test-time augmentation, `"none"` (default), `"flip"` (2x the classifier cost) or `"crops"`
            (ten crops, 10x); see `kerasfer.inference.tta`.
        detector_kwargs: extra detector settings (`max_side`, `threshold`, `min_neighbors`, ...).
        num_classes, input_shape: build arguments for a `.weights.h5` file of a registered model.
    """

    def __init__(
        self,
        model=None,
        weights=None,
        *,
        tflite=None,
        labels: Sequence[str] | None = None,
        detector=_face.DEFAULT_DETECTOR,
        min_face_size: int = 20,
        margin: float | None = None,
        max_faces: int | None = None,
        batch_size: int = 32,
        output: str = "auto",
        tta: str = "none",
        detector_kwargs: dict | None = None,
        num_classes: int | None = None,
        input_shape=None,
    ):
        from kerasfer.inference.tta import check_mode

        self.tta = check_mode(tta)
        detector = _face.check_detector(detector)  # an unknown name or a missing package fails before the model loads
        default = model is None and tflite is None and weights is None
        if default:
            model = _default_model()
        try:
            self.runner = _runners.load_runner(
                model,
                weights,
                tflite=tflite,
                batch_size=batch_size,
                output=output,
                labels=labels,
                num_classes=num_classes,
                input_shape=input_shape,
            )
        except Exception as e:
            if not default:
                raise
            raise ValueError(  # a damaged install, or build arguments the packaged weights cannot take
                f"The packaged default model {model} could not be built ({type(e).__name__}: {e}). Pass a model: "
                "FER(model='path/to/run_dir'), FER(model='path/to/model.keras') or FER(tflite='path/to/model.tflite')."
            ) from e
        self.input_shape = tuple(self.runner.input_shape)
        if self.input_shape[-1] not in (1, 3):
            raise ValueError(f"The model must take 1- or 3-channel images; its input is {self.input_shape}.")
        self.labels = tuple(self.runner.labels or canonical_labels(self.runner.num_classes))
        if margin is None:  # the crop the weights were trained on, else the ArcFace crop
            margin = self.runner.align_margin or 0.0
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
        """The face detector (built on first use: MTCNN loads TensorFlow, BlazeFace only LiteRT)."""
        if self._detector is None:
            self._detector = _face.get_detector(
                self._detector_spec, **({} if callable(self._detector_spec) else self._kwargs_for_detector())
            )
        return self._detector

    def _kwargs_for_detector(self):
        return {"min_face_size": self.min_face_size, **self._detector_kwargs}

    def detect(self, image) -> list[_face.Face]:
        """The faces of one image (RGB uint8 array or path), largest first, at most `max_faces`."""
        faces = _face.sort_faces(list(self.detector(_face.load_image(image))))
        return faces[: self.max_faces] if self.max_faces else faces

    def align(self, image, faces: Sequence[_face.Face]) -> np.ndarray:
        """Aligned crops `(N, H, W, 3)` uint8 at the model's input size."""
        return _face.align_faces(image, faces, output_size=self.input_shape[:2], margin=self.margin)

    def to_model_input(self, crops) -> np.ndarray:
        """Face crops `(N, H, W, C)` → the model's float32 raw-pixel input, through
        `kerasfer.data.pipeline.prepare_images` (the one resize / channel definition of the package)."""
        from kerasfer.data.pipeline import prepare_images

        crops = np.asarray(crops)
        if crops.ndim != 4:
            raise ValueError(f"Expected a batch of crops (N, H, W, C); got {crops.shape}.")
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
        batch = [self.to_model_input(_face.to_rgb(face)[None]) for face in faces]
        if not batch:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.classify_inputs(np.concatenate(batch))

    def classify_inputs(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a batch already at the model's input (`to_model_input`), with `tta` applied."""
        from kerasfer.inference.tta import predict_tta

        return predict_tta(self.runner, batch, self.tta)

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
                rgb = _face.load_image(image, bgr=bgr)
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
            probs = self.classify_inputs(self.to_model_input(np.concatenate(crops)))
            for face, owner, p in zip(all_faces, owners, probs):
                results[owner].faces.append(
                    FaceResult(face.box, face.landmarks, face.score, p.astype(np.float32), self.labels)
                )
        return results

    def _faces_for(self, rgb, boxes, points) -> list[_face.Face]:
        if boxes is None and points is None:
            return self.detect(rgb)
        h, w = rgb.shape[:2]
        points = None if points is None else list(points)
        boxes = None if boxes is None else [tuple(np.asarray(b, dtype=np.float64).reshape(-1)) for b in boxes]
        if boxes is not None and points is not None and len(boxes) != len(points):
            raise ValueError(f"Got {len(boxes)} face boxes but {len(points)} landmark sets; give one per face.")
        faces = []
        for j in range(len(boxes) if boxes is not None else len(points)):
            lm = None if points is None else _face.check_landmarks(points[j])
            if boxes is not None:
                box = boxes[j]
                if len(box) != 4 or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
                    raise ValueError(f"Face box {j} must be (x, y, w, h) with positive w, h; got {boxes[j]}.")
            else:
                box = _box_from_landmarks(lm)
            clipped = _face.clip_box(box, (h, w))
            if clipped is None:
                raise ValueError(f"Face {j} ({box}) lies outside the {w}x{h} image.")
            faces.append(_face.Face(box=clipped, landmarks=lm, score=1.0))
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
    matrix = _face.similarity_transform(_face.ARCFACE_TEMPLATE_112, points)
    corners = np.array([[8.0, 8.0], [104.0, 8.0], [8.0, 120.0], [104.0, 120.0]])  # forehead to chin
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    x0, y0 = mapped.min(0)
    x1, y1 = mapped.max(0)
    return (x0, y0, x1 - x0, y1 - y0)


def _default_model() -> str:
    """The packaged default model as a `load_trained` name (`"model/weights"`), or a clear error."""
    choice = default_weights()
    if choice is None:
        raise ValueError(
            "No packaged default model is available (no packaged weights trained on FER2013 with a measured "
            "accuracy in their card are installed in kerasfer/weights). "
            "Pass a model: FER(model='path/to/run_dir'), FER(model='path/to/model.keras'), "
            "FER(model='<name>', weights='path/to/model.weights.h5') or FER(tflite='path/to/model.tflite')."
        )
    return f"{choice[0]}/{choice[1]}"
