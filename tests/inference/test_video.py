"""Video analysis: frame skipping, optical-flow tracking, CSV/JSON output and annotated videos."""

import csv
import json

import cv2
import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.data import align
from kerasfer.inference import FER
from kerasfer.inference import video

skimage_data = pytest.importorskip("skimage.data")

SPEED = 4.0
# The astronaut's face inside the patch astronaut[20:240, 120:330] (Haar box about (177, 67, 93, 93)).
FACE_IN_PATCH = (57, 47, 93, 93)


def tiny_model(input_shape=(32, 32, 3), num_classes=7):
    inputs = keras.Input(input_shape)
    x = kerasfer.layers.ImageNormalization(mean=0.0, std=1.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.avi"
    patch = skimage_data.astronaut()[20:240, 120:330]
    positions = video.write_synthetic_clip(path, patch, num_frames=12, fps=25.0, speed=SPEED)
    return path, positions


@pytest.fixture(scope="module")
def fer():
    return FER(tiny_model(), detector="haar", min_face_size=60)


def _centre(box):
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


def test_tracking_between_detections(clip, fer, tmp_path):
    path, positions = clip
    out_csv, annotated = tmp_path / "out.csv", tmp_path / "annotated.avi"
    result = fer.analyze_video(path, every_n_frames=4, track=True, annotate=annotated, output=out_csv, progress=False)
    assert result.frames_read == 12 and len(result.frames) == 12 and result.frame_size == (360, 640)
    assert [f.index for f in result.frames if f.detected] == [0, 4, 8]
    assert result.fps == pytest.approx(25.0)
    assert result.frames[5].time_s == pytest.approx(5 / 25.0)
    first = result.frames[0].faces[0]
    offset = _centre(first.box) - np.array(positions[0])  # where the detector put the face in the patch
    for fr in result.frames:
        assert len(fr.faces) == 1
        face = fr.faces[0]
        assert face.tracked == (not fr.detected)
        assert abs(face.probabilities.sum() - 1) < 1e-5
        if fr.index < 4:  # tracked boxes follow the patch (same detection, so no detector jitter)
            np.testing.assert_allclose(_centre(face.box), np.array(positions[fr.index]) + offset, atol=3.0)
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 12 and rows[0]["label"] in fer.labels and "p_happy" in rows[0]
    assert [int(r["tracked"]) for r in rows[:5]] == [0, 1, 1, 1, 0]
    cap = cv2.VideoCapture(str(annotated))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 12 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 640
    cap.release()


def test_frame_skipping_without_tracking(clip, fer, tmp_path):
    path, _ = clip
    out_json = tmp_path / "out.json"
    result = fer.analyze_video(path, every_n_frames=5, track=False, output=out_json, progress=False)
    assert [f.index for f in result.frames] == [0, 5, 10] and result.frames_read == 12
    assert all(len(f.faces) == 1 and not f.faces[0].tracked for f in result.frames)
    data = json.loads(out_json.read_text())
    assert [f["frame"] for f in data["frames"]] == [0, 5, 10]
    assert set(data["frames"][0]["faces"][0]["probabilities"]) == set(fer.labels)
    limited = fer.analyze_video(path, max_frames=3, progress=False)
    assert limited.frames_read == 3 and len(limited.frames) == 3


def test_flow_tracker_follows_a_shift():
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, size=(240, 320)).astype(np.uint8), (0, 0), 1.5)
    moved = np.roll(texture, shift=(3, 5), axis=(0, 1))  # down 3, right 5
    points = np.array([[100, 100], [140, 100], [120, 120], [105, 140], [135, 140]], np.float32)
    tracker = video.FlowTracker()
    tracker.reset(texture, [align.Face((80, 70, 80, 100), landmarks=points)])
    faces = tracker.update(moved)
    assert len(faces) == 1
    assert abs(faces[0].box[0] - 85) <= 1 and abs(faces[0].box[1] - 73) <= 1
    np.testing.assert_allclose(faces[0].landmarks, points + [5, 3], atol=0.5)
    box_only = video.FlowTracker()
    box_only.reset(texture, [align.Face((80, 70, 80, 100))])
    assert abs(box_only.update(moved)[0].box[0] - 85) <= 1


def test_video_errors(tmp_path, fer):
    with pytest.raises(FileNotFoundError, match="No such video"):
        fer.analyze_video(tmp_path / "missing.mp4", progress=False)
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"this is not a video")
    with pytest.raises(ValueError, match="cannot open|No frame"):
        fer.analyze_video(fake, progress=False)
    with pytest.raises(ValueError, match="every_n_frames"):
        fer.analyze_video(fake, every_n_frames=0, progress=False)
    with pytest.raises(ValueError, match=".json or .csv"):
        fer.analyze_video(fake, output=tmp_path / "out.txt", progress=False)
    with pytest.raises(ValueError, match=".mp4 or .avi"):
        video.open_writer(tmp_path / "x.gif", 25, (10, 10))
