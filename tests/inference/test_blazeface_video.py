"""`FER` with the BlazeFace detector end to end, and the overlapped video loop against the one-thread loop."""

import threading

import cv2
import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.data import align
from kerasfer.inference import FER
from kerasfer.inference import video
from kerasfer.inference.runners import Runner

pytest.importorskip("ai_edge_litert")
skimage_data = pytest.importorskip("skimage.data")

ASTRONAUT_FACE = (178, 66, 90, 100)


def tiny_model(input_shape=(32, 32, 3), num_classes=7):
    inputs = keras.Input(input_shape)
    x = kerasfer.layers.ImageNormalization(mean=0.0, std=1.0)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def fer():
    return FER(tiny_model(), detector="blazeface")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("blazeface_video") / "clip.avi"
    patch = skimage_data.astronaut()[20:240, 120:330]
    video.write_synthetic_clip(path, patch, num_frames=14, fps=25.0, speed=6.0)
    return path


def _decoded_frames(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def _same_frames(a, b):
    assert [f.index for f in a.frames] == [f.index for f in b.frames]
    for fa, fb in zip(a.frames, b.frames):
        assert fa.detected == fb.detected and len(fa.faces) == len(fb.faces)
        for x, y in zip(fa.faces, fb.faces):
            assert x.box == y.box and x.tracked == y.tracked
            np.testing.assert_array_equal(x.landmarks, y.landmarks)
            np.testing.assert_allclose(x.probabilities, y.probabilities, atol=1e-6)


def _no_worker_threads():
    return not [t for t in threading.enumerate() if t.name.startswith("kerasfer-video")]


def test_fer_with_blazeface_end_to_end():
    astronaut = skimage_data.astronaut()
    fer = FER(tiny_model(), detector="blazeface")
    result = fer.predict(astronaut)
    (face,) = result.faces
    x, y, w, h = face.box
    assert abs(x + w / 2 - 223) < 15 and abs(y + h / 2 - 116) < 20
    assert face.landmarks.shape == (5, 2) and abs(face.probabilities.sum() - 1) < 1e-5
    assert FER(tiny_model())._detector_spec == align.DEFAULT_DETECTOR == "blazeface"  # the default


def test_overlapped_loop_equals_frame_by_frame(clip, fer, tmp_path):
    overlapped = fer.analyze_video(clip, progress=False, output=tmp_path / "out.json")
    sequential = fer.analyze_video(clip, progress=False, overlap=False)
    assert overlapped.frames_read == sequential.frames_read == 14 and len(overlapped.frames) == 14
    _same_frames(overlapped, sequential)
    assert all(len(f.faces) == 1 for f in overlapped.frames)
    for frame, fr in zip(_decoded_frames(clip), overlapped.frames):  # the same as predicting each frame alone
        (alone,) = fer.predict(frame, bgr=True).faces
        (face,) = fr.faces
        assert face.box == alone.box
        np.testing.assert_allclose(face.probabilities, alone.probabilities, atol=1e-6)
    assert (tmp_path / "out.json").is_file() and _no_worker_threads()


def test_overlapped_loop_with_tracking(clip, fer):
    overlapped = fer.analyze_video(clip, every_n_frames=3, progress=False)
    sequential = fer.analyze_video(clip, every_n_frames=3, progress=False, overlap=False)
    _same_frames(overlapped, sequential)
    assert [f.index for f in overlapped.frames if f.detected] == [0, 3, 6, 9, 12]
    skipped = fer.analyze_video(clip, every_n_frames=4, track=False, progress=False)
    assert [f.index for f in skipped.frames] == [0, 4, 8, 12] and skipped.frames_read == 14


def test_a_truncated_video_keeps_every_decoded_frame(clip, fer, tmp_path):
    cut = tmp_path / "cut.avi"
    data = clip.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    decoded = len(_decoded_frames(cut))
    assert 0 < decoded < 14
    overlapped = fer.analyze_video(cut, progress=False)
    assert overlapped.frames_read == decoded
    _same_frames(overlapped, fer.analyze_video(cut, progress=False, overlap=False))


def test_errors_in_a_stage_are_raised_and_the_threads_stop(clip, tmp_path):
    calls = []

    def failing_detector(image):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("detector broke on frame 4")
        return [align.Face((200, 120, 90, 90))]

    fer = FER(tiny_model(), detector=failing_detector)
    with pytest.raises(RuntimeError, match="frame 4"):
        fer.analyze_video(clip, progress=False, annotate=tmp_path / "a.avi")
    assert _no_worker_threads()
    assert len(_decoded_frames(tmp_path / "a.avi")) == 4  # the frames before the error are in the video

    class Interrupting(Runner):
        """A runner that stops the loop (as Ctrl-C would) at its fourth call."""

        input_shape, num_classes = (32, 32, 3), 7

        def __init__(self):
            self.calls = 0

        def __call__(self, batch):
            self.calls += 1
            if self.calls == 4:
                raise KeyboardInterrupt
            return np.full((len(batch), 7), 1 / 7, np.float32)

    runner = Interrupting()
    fer = FER(runner, detector=lambda image: [align.Face((200, 120, 90, 90))])
    with pytest.raises(KeyboardInterrupt):
        fer.analyze_video(clip, progress=False, annotate=tmp_path / "b.avi")
    assert _no_worker_threads()
    assert len(_decoded_frames(tmp_path / "b.avi")) == 3
