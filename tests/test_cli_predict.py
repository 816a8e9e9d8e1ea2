"""`kerasfer predict`: images, folders and videos to JSON / CSV."""

import csv
import json

import cv2
import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.cli import main

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    inputs = keras.Input((32, 32, 1))
    x = kerasfer.layers.ImageNormalization()(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv")(x)
    x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    keras.Model(inputs, outputs).save(root / "model.keras")
    astronaut = skimage_data.astronaut()
    images = root / "images" / "sub"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "astronaut.jpg"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(images / "blank.png"), np.full((80, 80), 128, np.uint8))
    (images / "broken.png").write_bytes(b"not an image")
    from kerasfer.inference.video import write_synthetic_clip

    write_synthetic_clip(root / "clip.avi", astronaut[20:240, 120:330], num_frames=6, fps=10.0)
    return root


def test_predict_images_and_video_to_json(workspace, capsys):
    out = workspace / "out.json"
    args = [str(workspace / "images"), str(workspace / "clip.avi"), "--model", str(workspace / "model.keras")]
    args += ["--detector", "haar", "--min-face-size", "60", "--labels", "calm,happy,sad", "-o", str(out)]
    args += ["--every-n-frames", "3", "--annotate", str(workspace / "annotated.mp4"), "--quiet"]
    code = main(["predict", *args])
    assert code == 1  # broken.png could not be read; everything else was written
    data = json.loads(out.read_text())
    assert data["labels"] == ["calm", "happy", "sad"]
    by_name = {r["source"].rsplit("/", 1)[-1]: r for r in data["images"]}
    assert len(by_name["astronaut.jpg"]["faces"]) == 1
    face = by_name["astronaut.jpg"]["faces"][0]
    assert set(face["probabilities"]) == {"calm", "happy", "sad"} and face["label"] in face["probabilities"]
    assert by_name["blank.png"]["faces"] == [] and by_name["blank.png"]["error"] is None
    assert "corrupt" in by_name["broken.png"]["error"]
    (vid,) = data["videos"]
    assert vid["frames_read"] == 6 and len(vid["frames"]) == 6
    assert [f["detected"] for f in vid["frames"]] == [True, False, False, True, False, False]
    assert (workspace / "annotated.mp4").stat().st_size > 0


def test_predict_csv_and_stdout(workspace, capsys):
    out = workspace / "out.csv"
    model = str(workspace / "model.keras")
    code = main(["predict", str(workspace / "images" / "sub" / "astronaut.jpg"), "--model", model, "--detector", "haar"]
                + ["-o", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and rows[0]["label"] in ("angry", "disgust", "fear")  # canonical labels[:3]
    assert abs(sum(float(rows[0][f"p_{n}"]) for n in ("angry", "disgust", "fear")) - 1) < 1e-5
    capsys.readouterr()
    code = main(["predict", str(workspace / "images" / "sub" / "blank.png"), "--model", model, "--quiet"]
                + ["--detector", "none"])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)  # JSON on stdout
    assert len(data["images"][0]["faces"]) == 1  # detector "none": the whole image


def test_predict_errors(workspace, capsys):
    model = str(workspace / "model.keras")
    assert main(["predict", str(workspace / "missing.jpg"), "--model", model]) == 2
    assert "No such file" in capsys.readouterr().err
    assert main(["predict", str(workspace / "clip.avi"), "--model", "lfnsb"]) == 2
    assert "untrained model" in capsys.readouterr().err
    assert main(["predict", str(workspace / "clip.avi"), "--model", model, "-o", "x.txt"]) == 2
    assert main(["predict", str(workspace / "clip.avi"), "--model", model, "--every-n-frames", "0"]) == 2
    assert "--every-n-frames must be >= 1" in capsys.readouterr().err
    assert main(["predict", str(workspace / "clip.avi"), "--model", model, "--tflite", "m.tflite"]) == 2
    empty = workspace / "empty"
    empty.mkdir(exist_ok=True)
    assert main(["predict", str(empty), "--model", model]) == 2
    assert "No images or videos" in capsys.readouterr().err


def test_bad_output_paths_are_refused_before_any_work(workspace, capsys, monkeypatch):
    """A bad --output or --annotate is an error before a single frame is read, with --quiet too."""
    import kerasfer.inference.fer as fer_module

    def no_work(*args, **kwargs):
        raise AssertionError("FER was built although an output path is bad")

    monkeypatch.setattr(fer_module, "FER", no_work)
    model = str(workspace / "model.keras")
    clip = str(workspace / "clip.avi")
    (workspace / "a_file").write_text("x")
    cases = [
        (["-o", str(workspace / "a_file" / "out.json")], "--output"),
        (["-o", str(workspace / "out.txt")], "--output must end in .json or .csv"),
        (["-o", str(workspace)], "is a folder"),
        (["--annotate", str(workspace / "out.txt")], "--annotate must end in .mp4 or .avi"),
        (["--annotate", str(workspace / "a_file" / "x.mp4")], "--annotate"),
    ]
    for extra, message in cases:
        assert main(["predict", clip, "--model", model, "--quiet", *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kerasfer predict: error:") and message in err[0], err
    images = str(workspace / "images" / "sub" / "astronaut.jpg")
    assert main(["predict", images, "--model", model, "--annotate", str(workspace / "a.mp4")]) == 2
    assert "no video among the inputs" in capsys.readouterr().err


def test_results_are_rescued_when_the_output_cannot_be_written(workspace, capsys, monkeypatch):
    """If writing the results fails after the work (a full disk, a folder removed meanwhile), they go to a
    rescue file whose path is printed, and the exit status is 1."""
    import pathlib

    out = workspace / "gone" / "out.json"
    real_write = pathlib.Path.write_text

    def failing_write(self, *args, **kwargs):
        if self == out:
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", failing_write)
    model = str(workspace / "model.keras")
    image = str(workspace / "images" / "sub" / "blank.png")
    code = main(["predict", image, "--model", model, "--detector", "none", "-o", str(out), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "they are in " in err
    rescue = pathlib.Path(err.split("they are in ")[1].split()[0])
    data = json.loads(rescue.read_text())
    assert len(data["images"][0]["faces"]) == 1
    rescue.unlink()


def test_predict_with_tta(workspace, capsys):
    model = str(workspace / "model.keras")
    image = str(workspace / "images" / "sub" / "blank.png")
    for mode in ("flip", "crops"):
        assert main(["predict", image, "--model", model, "--detector", "none", "--tta", mode, "--quiet"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["tta"] == mode and len(data["images"][0]["faces"]) == 1


def test_interrupted_video_keeps_the_frames_done(workspace, capsys, monkeypatch):
    """Issue 26, item 4: Ctrl-C in the middle of a video writes the results so far and names both files."""
    import kerasfer.inference.video as video

    real_draw, drawn = video._draw, []

    def draw_then_interrupt(frame, faces):
        if len(drawn) == 3:
            raise KeyboardInterrupt
        drawn.append(1)
        return real_draw(frame, faces)

    monkeypatch.setattr(video, "_draw", draw_then_interrupt)
    out, annotated = workspace / "interrupted.json", workspace / "interrupted.mp4"
    clip, image = str(workspace / "clip.avi"), str(workspace / "images" / "sub" / "blank.png")
    args = [image, clip, "--model", str(workspace / "model.keras"), "--detector", "none", "--quiet"]
    assert main(["predict", *args, "-o", str(out), "--annotate", str(annotated)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"kerasfer predict: interrupted at frame 3 of {clip}; the results so far are in {out}; "
        f"the annotated video of the frames done: {annotated}"
    ]
    data = json.loads(out.read_text())
    assert len(data["images"]) == 1 and len(data["images"][0]["faces"]) == 1
    (vid,) = data["videos"]
    assert vid["interrupted"] is True and vid["frames_read"] == 3 and [f["frame"] for f in vid["frames"]] == [0, 1, 2]
    assert cv2.VideoCapture(str(annotated)).get(cv2.CAP_PROP_FRAME_COUNT) == 3


def test_outputs_no_write_can_reach_are_refused_before_any_work(workspace, capsys, monkeypatch):
    """Issue 26, item 6: a real write probe up front (as root, /proc passes the permission check but takes no
    file), and a failure found later is printed with its cause rather than only counted."""
    import kerasfer.inference.fer as fer_module
    import kerasfer.inference.video as video

    model, clip = str(workspace / "model.keras"), str(workspace / "clip.avi")
    with monkeypatch.context() as m:
        m.setattr(fer_module, "FER", lambda *a, **k: pytest.fail("FER was built although an output path is bad"))
        for flag, path in (("--annotate", "/proc/kerasfer_ann.mp4"), ("--output", "/proc/kerasfer_v.json")):
            assert main(["predict", clip, "--model", model, "--quiet", flag, path]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and err[0].startswith(f"kerasfer predict: error: {flag} {path}"), err

    def no_writer(path, fps, size):
        raise ValueError(f"OpenCV cannot write the video {path} (codec mp4v).")

    monkeypatch.setattr(video, "open_writer", no_writer)
    annotated = workspace / "never.mp4"
    assert main(["predict", clip, "--model", model, "--detector", "none", "--annotate", str(annotated)]) == 1
    err = capsys.readouterr().err
    assert f"kerasfer predict: {clip}: ValueError: OpenCV cannot write the video {annotated}" in err
    assert "1 inputs could not be processed" in err
