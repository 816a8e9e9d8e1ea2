"""BlazeFace: the vendored model, MediaPipe's decoding, the scales, and the detector through `detect_faces` / `FER`."""

import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from kerasfer import face as align
from kerasfer.paths import file_sha256

pytest.importorskip("ai_edge_litert")
skimage_data = pytest.importorskip("skimage.data")

from kerasfer.face import blazeface  # noqa: E402

# The astronaut's face (brows to chin) in skimage.data.astronaut(), x, y, w, h.
ASTRONAUT_FACE = (178, 66, 90, 100)


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def detector():
    return blazeface.BlazeFaceDetector()


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def _inside(points, box, slack=0.0):
    x, y, w, h = box
    return np.all((points[:, 0] >= x - slack) & (points[:, 0] <= x + w + slack)) and np.all(
        (points[:, 1] >= y - slack) & (points[:, 1] <= y + h + slack)
    )


def test_vendored_model_matches_its_notice():
    notice = (blazeface.MODEL_DIR / "NOTICE.md").read_text()
    (listed,) = re.findall(r"SHA-256 \| `([0-9a-f]{64})`", notice)
    assert file_sha256(blazeface.MODEL_PATH) == listed == blazeface.MODEL_SHA256
    assert f"{blazeface.MODEL_PATH.stat().st_size:,} bytes" in notice
    assert "Apache" in notice and "arXiv:1907.05047" in notice and "mediapipe-0.10.14" in notice
    assert "Apache License" in (blazeface.MODEL_DIR / "LICENSE.txt").read_text()


def test_anchors_are_mediapipes():
    anchors = blazeface.anchor_centres(128, 128)
    assert anchors.shape == (896, 2)  # 16x16x2 + 8x8x6
    np.testing.assert_allclose(anchors[:2], [[4, 4], [4, 4]])  # stride 8, offset 0.5, two per cell
    np.testing.assert_allclose(anchors[2], [12, 4])
    np.testing.assert_allclose(anchors[512:518], [[8, 8]] * 6)  # stride 16, six per cell
    np.testing.assert_allclose(anchors[-1], [120, 120])
    assert len(blazeface.anchor_centres(144, 256)) == 18 * 32 * 2 + 9 * 16 * 6


def test_decode_and_weighted_nms():
    anchors = np.array([[10.0, 20.0], [50.0, 50.0]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [2.0, -4.0, 8.0, 6.0]  # centre offset, width, height (input pixels)
    raw[0, 4:6] = [1.0, 1.0]
    scores = np.array([3.0, -3.0], np.float32)  # sigmoid 0.95 and 0.05
    boxes, keypoints, kept = blazeface.decode(raw, scores, anchors, threshold=0.5)
    np.testing.assert_allclose(boxes, [[8.0, 13.0, 16.0, 19.0]])
    np.testing.assert_allclose(keypoints[0, 0], [11.0, 21.0])
    np.testing.assert_allclose(kept, [1 / (1 + np.exp(-3.0))], rtol=1e-6)
    assert len(blazeface.decode(raw, np.array([500.0, -500.0]), anchors)[2]) == 1  # clipped, no overflow
    # two overlapping detections average (weights 0.9 and 0.3); a separate one stays
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    keypoints = np.repeat(boxes[:, None, :2], 6, axis=1)
    out_b, out_k, out_s = blazeface.weighted_nms(boxes, keypoints, np.array([0.9, 0.3, 0.8], np.float32))
    np.testing.assert_allclose(out_b[0], [0.5, 0, 10.5, 10], atol=1e-5)
    np.testing.assert_allclose(out_k[0, 0], [0.5, 0], atol=1e-5)
    np.testing.assert_allclose(out_s, [0.9, 0.8])
    np.testing.assert_allclose(out_b[1], boxes[2])


def test_five_landmarks_put_the_mouth_corners_on_the_eye_line():
    kp = np.array([[40, 50], [80, 50], [60, 70], [60, 90], [20, 55], [100, 55]], np.float32)
    points = blazeface.five_landmarks(kp)
    ratio = blazeface.MOUTH_TO_EYE_RATIO
    assert 0.8 < ratio < 0.85
    np.testing.assert_allclose(points[:3], kp[:3])
    np.testing.assert_allclose(points[3:], [[60 - 20 * ratio, 90], [60 + 20 * ratio, 90]], rtol=1e-6)


def test_scales():
    assert blazeface.pyramid_scales((360, 640), 20) == pytest.approx([0.15, 0.4, 0.8])
    assert blazeface.pyramid_scales((360, 640), 200) == pytest.approx([0.15])
    assert blazeface.pyramid_scales((48, 48), 20) == pytest.approx([2.0])  # a face crop: one enlarged pass
    assert max(blazeface.pyramid_scales((3000, 4000), 20)) == pytest.approx(1280 / 4000)  # max_side


def test_astronaut(astronaut, detector):
    boxes, keypoints, scores = detector.detect_keypoints(astronaut)
    assert len(scores) == 1 and scores[0] > 0.9 and keypoints.shape == (1, 6, 2)
    kp = keypoints[0]
    right_eye, left_eye, nose, mouth, right_ear, left_ear = kp  # the subject's right eye is the image's left one
    assert right_ear[0] < right_eye[0] < nose[0] < left_eye[0] < left_ear[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    (face,) = detector(astronaut)
    assert _iou(face.box, ASTRONAUT_FACE) > 0.5
    assert face.landmarks.shape == (5, 2) and _inside(face.landmarks, face.box)
    eye_l, eye_r, nose, mouth_l, mouth_r = face.landmarks
    assert eye_l[0] < nose[0] < eye_r[0] and mouth_l[0] < nose[0] < mouth_r[0]
    assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
    # alignment puts the eyes on the template's
    crop = align.align_face(astronaut, landmarks=face.landmarks, output_size=112)
    assert crop.shape == (112, 112, 3)


def test_small_rotated_and_mirrored_faces(astronaut, detector):
    canvas = np.full((360, 640, 3), 100, np.uint8)
    small = cv2.resize(astronaut, None, fx=24 / 90, fy=24 / 90, interpolation=cv2.INTER_AREA)  # a 24 px face
    canvas[100 : 100 + small.shape[0], 300 : 300 + small.shape[1]] = small
    expected = (300 + ASTRONAUT_FACE[0] * 24 / 90, 100 + ASTRONAUT_FACE[1] * 24 / 90, 24, 100 * 24 / 90)
    faces = detector(canvas)
    assert len(faces) == 1 and _iou(faces[0].box, expected) > 0.3
    for angle in (-30, 30):
        rotated = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((223, 116), angle, 1.0), (512, 512))
        (face,) = detector(rotated)
        assert _iou(face.box, ASTRONAUT_FACE) > 0.4
    (face,) = detector(astronaut[:, ::-1])
    x, y, w, h = ASTRONAUT_FACE
    assert _iou(face.box, (512 - x - w, y, w, h)) > 0.5
    assert face.landmarks[0, 0] < face.landmarks[1, 0]  # still the image's left eye first


def test_a_face_crop_filling_the_image(astronaut, detector):
    x, y, w, h = ASTRONAUT_FACE
    crop = cv2.resize(astronaut[y : y + h, x : x + w], (48, 48), interpolation=cv2.INTER_AREA)
    (face,) = detector(crop)
    assert _iou(face.box, (0, 0, 48, 48)) > 0.5


def test_no_face(detector):
    assert detector(np.zeros((360, 640, 3), np.uint8)) == []
    assert detector(np.full((100, 120, 3), 255, np.uint8)) == []
    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (360, 640, 3)).astype(np.uint8), (0, 0), 3)
    assert detector(smooth) == []


def test_gray_rgba_and_bad_inputs(astronaut, detector):
    (rgb,) = detector(astronaut)
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    for image in (gray, gray[..., None], np.dstack([astronaut, np.full(gray.shape, 255, np.uint8)])):
        (face,) = detector(image)
        assert _iou(face.box, rgb.box) > 0.8
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        detector(np.zeros((64, 64, 2), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(H, W\)"):
        detector(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        detector(np.zeros((0, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="min_face_size"):
        blazeface.BlazeFaceDetector(min_face_size=4)
    with pytest.raises(ValueError, match="threshold"):
        blazeface.BlazeFaceDetector(threshold=1.5)


def test_through_detect_faces_and_get_detector(astronaut):
    assert align.DEFAULT_DETECTOR == "blazeface" and align.DETECTORS[0] == "blazeface"
    faces = align.detect_faces(astronaut, detector="blazeface")
    assert len(faces) == 1 and _iou(faces[0].box, ASTRONAUT_FACE) > 0.5
    assert align.detect_faces(astronaut)[0].box == faces[0].box  # the default
    det = align.get_detector("blazeface", min_face_size=40, threshold=0.8)
    assert det is align.get_detector("blazeface", min_face_size=40, threshold=0.8)  # cached
    assert isinstance(det, blazeface.BlazeFaceDetector) and det.name == "blazeface" and det.threshold == 0.8


def test_imports_no_tensorflow():
    code = (
        "import sys, numpy as np\n"
        "from kerasfer import face as align\n"
        "faces = align.detect_faces(np.zeros((64, 64, 3), np.uint8), detector='blazeface')\n"
        "assert faces == [] and 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)\n"
        "print('OK')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("OK"), out.stderr[-2000:]
