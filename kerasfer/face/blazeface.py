"""BlazeFace face detection with LiteRT: boxes, scores and five landmarks, a few milliseconds a frame on one core.

The model is MediaPipe's short-range BlazeFace face detector (`face_detection_short_range.tflite`; Bazarevsky,
Kartynnik, Vakunov, Raveendran, Grundmann, "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs",
CVPR Workshop on Computer Vision for AR/VR 2019, arXiv:1907.05047), Apache-2.0, copyright Google LLC; the
`.tflite` file ships inside kerasfer (`kerasfer/face/assets/`, with a NOTICE giving its source, SHA-256 and
licence). It runs on `ai_edge_litert` (through `kerasfer.runtime.runners.make_interpreter`); this module imports
neither TensorFlow nor Keras, so a `FER` with this detector starts without loading MTCNN's TensorFlow graph.

Decoding follows MediaPipe's `face_detection_short_range` graph: SSD anchors of a fixed size
(`SsdAnchorsCalculator`: 4 layers, strides 8, 16, 16, 16, anchor offset 0.5, aspect ratio 1.0 plus the
interpolated scale, so 2 anchors per cell of the stride-8 grid and 6 per cell of the stride-16 grid: 16x16x2 +
8x8x6 = 896 anchors for the 128x128 input), box centre, size and six keypoints as pixel offsets from the anchor
centre (MediaPipe's x/y/w/h scale 128 on a 128 input), a sigmoid score with the raw score clipped to [-100, 100],
a minimum score, and MediaPipe's weighted non-maximum suppression (detections overlapping the best one by more than
IoU 0.3 are averaged, weighted by their scores). Input: RGB scaled to [-1, 1], padded with black.

Scales: the network is fully convolutional, so it also runs on inputs larger than 128x128 (any multiple of 16;
the anchor grids grow with it). It finds faces of about 16 to 110 pixels of its input (faces cut tight, without
hair or shoulders, from about 32), so one pass over the whole image, shrunk to 96 pixels in the 128x128 input (a
face crop filling the image stays in range), finds the large faces, and passes over the image at larger scales
(each twice the next, the largest `MIN_INPUT_FACE / min_face_size`, at most 1 and at most `max_side / longer
side`) find the smaller ones, down to `min_face_size`. A 640x360 frame with `min_face_size=20` costs three passes
(128x128, 256x144 and 512x288 inputs; about 18 ms of one CPU core), with `min_face_size=110` or more one.

Landmarks: BlazeFace gives six keypoints (the subject's right eye, left eye, nose tip, mouth centre, right and left
ear tragion; `KEYPOINT_NAMES`). `Face.landmarks` holds five in the package's order [left eye, right eye, nose,
mouth left, mouth right] (as seen in an upright image: the subject's right eye is the image's left one): the two
eyes and the nose tip as detected, and two mouth corners that are our construction, not the model's: the mouth
centre moved along the eye line by half a mouth width each way, the mouth width being the ArcFace template's
mouth-width / eye-distance ratio (`MOUTH_TO_EYE_RATIO`, 0.828) times the detected eye distance. Alignment then
maps all five onto the ArcFace template like MTCNN's points.
"""

from __future__ import annotations

import collections
import pathlib
import threading

import numpy as np

from kerasfer.face import faces as _faces

MODEL_DIR = pathlib.Path(__file__).resolve().parent / "assets"
MODEL_PATH = MODEL_DIR / "blazeface_short_range.tflite"
MODEL_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion")
INPUT_SIZE = 128  # the model's native input (MediaPipe's whole-image pass)
MIN_INPUT_FACE = 16.0  # the smallest face side (pixels of the model input) it finds reliably
# The whole-image pass shows the image's longer side on this share of the 128 input: a face that fills the image
# (a face crop) then stays under the about 110 px the model finds.
WHOLE_IMAGE_FILL = 0.75
# (stride, anchors per grid cell): the 4 SSD layers of strides 8, 16, 16, 16 with 2 anchors each, merged by stride.
ANCHOR_LAYERS = ((8, 2), (16, 6))

# The ArcFace template's mouth width over its eye distance (about 0.828): the mouth corners we put on either side
# of BlazeFace's mouth centre, along the eye line.
_T = _faces.ARCFACE_TEMPLATE_112.astype(np.float64)
MOUTH_TO_EYE_RATIO = float(np.linalg.norm(_T[4] - _T[3]) / np.linalg.norm(_T[1] - _T[0]))
_RAW_SCORE_CLIP = 100.0
_INTERPRETER_CACHE_SIZE = 12  # input shapes kept allocated per detector (one video needs two or three)


def anchor_centres(height: int, width: int) -> np.ndarray:
    """The anchor centres `(N, 2)` (x, y in input pixels) of an input of `height x width` (multiples of 16), in
    the model's output order: MediaPipe's `SsdAnchorsCalculator` with a fixed anchor size and offset 0.5."""
    centres = []
    for stride, per_cell in ANCHOR_LAYERS:
        rows, cols = int(np.ceil(height / stride)), int(np.ceil(width / stride))
        ys, xs = np.mgrid[0:rows, 0:cols]
        grid = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


def decode(raw_boxes, raw_scores, anchors, threshold: float = 0.5):
    """The detections above `threshold` of one model output.

    Args:
        raw_boxes: `(N, 16)` regressors: box centre x, y, width, height, then six keypoints (x, y), in input
            pixels relative to the anchor centre.
        raw_scores: `(N,)` or `(N, 1)` logits.
        anchors: `(N, 2)` anchor centres in input pixels (`anchor_centres`).
        threshold: the minimum score (after the sigmoid).

    Returns:
        `boxes (M, 4)` [x0, y0, x1, y1] and `keypoints (M, 6, 2)` in input pixels, and `scores (M,)`.
    """
    anchors = np.asarray(anchors, np.float32)
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(len(anchors), -1)
    logits = np.clip(np.asarray(raw_scores, np.float32).reshape(-1), -_RAW_SCORE_CLIP, _RAW_SCORE_CLIP)
    threshold = min(max(float(threshold), 1e-6), 1.0 - 1e-6)
    keep = np.flatnonzero(logits > np.log(threshold / (1.0 - threshold)))
    if keep.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0, 6, 2), np.float32), np.zeros((0,), np.float32)
    scores = (1.0 / (1.0 + np.exp(-logits[keep].astype(np.float64)))).astype(np.float32)
    raw, centre = raw_boxes[keep], anchors[keep]
    cxy = centre + raw[:, 0:2]
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([cxy - half, cxy + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centre[:, None, :]
    return boxes.astype(np.float32), keypoints.astype(np.float32), scores


def _iou(box, boxes):
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(boxes, keypoints, scores, iou_threshold: float = 0.3):
    """MediaPipe's `WEIGHTED` non-maximum suppression: the best remaining detection and every one that overlaps it
    by more than `iou_threshold` (IoU) become one detection whose box and keypoints are their score-weighted mean,
    with the best one's score. Returns `(boxes, keypoints, scores)`, best first."""
    boxes, keypoints, scores = (np.asarray(a, np.float32) for a in (boxes, keypoints, scores))
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    out_b, out_k, out_s = [], [], []
    remaining = np.arange(len(scores))
    while remaining.size:
        top = remaining[0]
        overlap = _iou(boxes[top], boxes[remaining]) > iou_threshold
        overlap[0] = True
        group = remaining[overlap]
        weights = scores[group].astype(np.float64)
        weights = weights / weights.sum()
        out_b.append((boxes[group] * weights[:, None]).sum(0))
        out_k.append((keypoints[group] * weights[:, None, None]).sum(0))
        out_s.append(scores[top])
        remaining = remaining[~overlap]
    if not out_s:
        return boxes[:0], keypoints[:0], scores[:0]
    return np.stack(out_b).astype(np.float32), np.stack(out_k).astype(np.float32), np.array(out_s, np.float32)


def five_landmarks(keypoints: np.ndarray) -> np.ndarray:
    """BlazeFace's six keypoints `(6, 2)` -> the package's five `(5, 2)` [left eye, right eye, nose, mouth left,
    mouth right]: the subject's right eye (the image's left), left eye, nose tip, and two mouth corners built from
    the mouth centre along the eye line, `MOUTH_TO_EYE_RATIO` times the eye distance apart (our construction)."""
    kp = np.asarray(keypoints, np.float32)
    eye_l, eye_r, mouth = kp[0], kp[1], kp[3]
    half = 0.5 * MOUTH_TO_EYE_RATIO * (eye_r - eye_l)
    return np.stack([eye_l, eye_r, kp[2], mouth - half, mouth + half]).astype(np.float32)


def pyramid_scales(image_hw, min_face_size: float, max_side: int | None = 1280, max_scale: float = 1.0):
    """The scales at which the image is searched, smallest first: the whole image in `WHOLE_IMAGE_FILL *
    INPUT_SIZE` pixels (96, in a 128x128 input), then, when that misses faces of `min_face_size`, the finest scale
    needed (`MIN_INPUT_FACE / min_face_size`, at most `max_scale` and `max_side / longer side`) and its halves
    down to within 3x of the whole-image scale (the model's range of face sizes is wider than 3x)."""
    h, w = (int(v) for v in image_hw)
    longest = max(h, w)
    coarse = WHOLE_IMAGE_FILL * INPUT_SIZE / longest
    fine = min(MIN_INPUT_FACE / max(float(min_face_size), 1.0), float(max_scale))
    if max_side:
        fine = min(fine, max_side / longest)
    scales = []
    scale = fine
    while scale > coarse * 1.2:  # else the whole-image pass finds the faces this level would (within 1.2x)
        scales.append(scale)
        if scale <= coarse * 3.0:  # faces between this level and the whole image are in range of one of them
            break
        scale /= 2.0
    return [coarse] + scales[::-1]


class BlazeFaceDetector:
    """BlazeFace (MediaPipe's short-range model on LiteRT): boxes, scores and five landmarks (see the module
    docstring for the decoding, the scales and the landmarks).

    Args:
        min_face_size: the smallest face side in pixels to find (more scales are searched for smaller faces;
            faces under 16 pixels are not found reliably whatever its value). Boxes under half of it are dropped.
        threshold: the minimum score. 0.7 rather than MediaPipe's 0.5: at the larger scales 0.5 lets through
            textures that are not faces, and 0.7 loses few faces.
        iou_threshold: the weighted non-maximum suppression's overlap (MediaPipe's 0.3).
        max_side: the largest scale keeps the image's longer side at most this many pixels (like MTCNN's), so
            huge images cost no more than that (None: no limit).
        max_scale: the largest scale (1.0: the image is never enlarged beyond the whole-image pass).
        num_threads: LiteRT threads (default 1: the video loop runs detection and classification side by side).
    """

    name = "blazeface"

    def __init__(
        self,
        min_face_size: int = 20,
        threshold: float = 0.7,
        iou_threshold: float = 0.3,
        max_side: int | None = 1280,
        max_scale: float = 1.0,
        num_threads: int | None = 1,
    ):
        if min_face_size < 8:
            raise ValueError(f"min_face_size must be >= 8 pixels, got {min_face_size}.")
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}.")
        if not 0.0 <= float(iou_threshold) < 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1), got {iou_threshold}.")
        if max_side is not None and max_side < INPUT_SIZE:
            raise ValueError(f"max_side must be None or >= {INPUT_SIZE}, got {max_side}.")
        if not float(max_scale) > 0:
            raise ValueError(f"max_scale must be > 0, got {max_scale}.")
        if not MODEL_PATH.is_file():
            raise FileNotFoundError(f"The BlazeFace model {MODEL_PATH} is missing from this kerasfer install.")
        self.min_face_size = int(min_face_size)
        self.threshold = float(threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_side = max_side
        self.max_scale = float(max_scale)
        self.num_threads = num_threads
        self._interpreters: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        try:
            self._interpreter(INPUT_SIZE, INPUT_SIZE)  # loads the model now: a missing runtime fails here, clearly
        except ImportError as e:
            from kerasfer.face.runtimes import DETECTOR_RUNTIMES

            raise ImportError(DETECTOR_RUNTIMES["blazeface"][1]) from e

    def _interpreter(self, height: int, width: int):
        """(interpreter, input index, boxes index, scores index, anchors, input buffer) for one input size."""
        key = (height, width)
        if key in self._interpreters:
            self._interpreters.move_to_end(key)
            return self._interpreters[key]
        from kerasfer.runtime.runners import make_interpreter

        interpreter = make_interpreter(MODEL_PATH, num_threads=self.num_threads)
        (inp,) = interpreter.get_input_details()
        if key != (INPUT_SIZE, INPUT_SIZE):
            interpreter.resize_tensor_input(inp["index"], [1, height, width, 3], strict=False)
        interpreter.allocate_tensors()
        outputs = interpreter.get_output_details()
        boxes = next(o["index"] for o in outputs if o["shape"][-1] == 16)
        scores = next(o["index"] for o in outputs if o["shape"][-1] == 1)
        anchors = anchor_centres(height, width)
        buffer = np.full((1, height, width, 3), -1.0, np.float32)
        self._interpreters[key] = entry = (interpreter, inp["index"], boxes, scores, anchors, buffer)
        while len(self._interpreters) > _INTERPRETER_CACHE_SIZE:
            self._interpreters.popitem(last=False)
        return entry

    def _run(self, image: np.ndarray, scale: float):
        """One pass over `image` (already resized to `scale` of the original, padded here with black to a
        multiple of 16, at least 128): boxes, keypoints and scores above the threshold, in the pixels of the image
        before the resize."""
        nh, nw = image.shape[:2]
        pw = max(INPUT_SIZE, -(-nw // 16) * 16)
        ph = max(INPUT_SIZE, -(-nh // 16) * 16)
        interpreter, i_in, i_boxes, i_scores, anchors, buffer = self._interpreter(ph, pw)
        x0, y0 = (pw - nw) // 2, (ph - nh) // 2  # centred, like MediaPipe's letterbox
        if (nw, nh) != (pw, ph):
            buffer.fill(-1.0)
        region = buffer[0, y0 : y0 + nh, x0 : x0 + nw]
        np.multiply(image, 1.0 / 127.5, out=region, casting="unsafe")
        region -= 1.0
        interpreter.set_tensor(i_in, buffer)
        interpreter.invoke()
        boxes, keypoints, scores = decode(
            interpreter.get_tensor(i_boxes)[0], interpreter.get_tensor(i_scores)[0], anchors, self.threshold
        )
        offset = np.array([x0, y0], np.float32)
        boxes = ((boxes.reshape(-1, 2, 2) - offset) / scale).reshape(-1, 4)
        keypoints = (keypoints - offset) / scale
        return boxes, keypoints, scores

    def scales(self, image_hw) -> list[float]:
        """The scales `detect_keypoints` searches an image of `image_hw` at (see `pyramid_scales`)."""
        return pyramid_scales(image_hw, self.min_face_size, self.max_side, self.max_scale)

    def detect_keypoints(self, image):
        """BlazeFace's own output for one image, after the weighted non-maximum suppression, best first:
        `boxes (M, 4)` [x0, y0, x1, y1], `keypoints (M, 6, 2)` (in `KEYPOINT_NAMES` order), both in image pixels,
        and `scores (M,)`.

        Raises:
            ValueError: not an image (see `kerasfer.face.to_rgb`).
        """
        import cv2

        image = _faces.to_rgb(image)
        h, w = image.shape[:2]
        found = []
        level, level_scale = image, 1.0
        with self._lock:  # the interpreters are not thread-safe: one call at a time
            for scale in self.scales((h, w))[::-1]:  # largest first: each level is resized from the one before
                size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
                if size != level.shape[1::-1]:
                    shrink = scale < level_scale
                    level = cv2.resize(level, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
                    level_scale = scale
                found.append(self._run(level, np.array([size[0] / w, size[1] / h], np.float32)))
        boxes, keypoints, scores = (np.concatenate(parts) for parts in zip(*found))
        if len(scores) == 0:
            return boxes, keypoints, scores
        return weighted_nms(boxes, keypoints, scores, self.iou_threshold)

    def __call__(self, image) -> list[_faces.Face]:
        image = _faces.to_rgb(image)
        h, w = image.shape[:2]
        faces = []
        for box, kp, score in zip(*self.detect_keypoints(image)):
            clipped = _faces.clip_box((box[0], box[1], box[2] - box[0], box[3] - box[1]), (h, w))
            if clipped is None or min(clipped[2], clipped[3]) < self.min_face_size * 0.5:
                continue
            faces.append(_faces.Face(box=clipped, landmarks=five_landmarks(kp), score=float(score)))
        return _faces.sort_faces(faces)
