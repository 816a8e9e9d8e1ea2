"""Face detection and five-point alignment (`kerasfer.face`) and `kerasfer align`."""

import json
import os

import cv2
import numpy as np
import pytest

from kerasfer import face as align

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()  # 512x512 RGB, one face at about (177, 67, 93, 93)


def _random_similarity(rng, scale_range=(0.6, 2.5)):
    angle = rng.uniform(-0.6, 0.6)
    scale = rng.uniform(*scale_range)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.concatenate([rot, rng.uniform(150, 250, size=(2, 1))], axis=1)


def _reference_face(size=112):
    """A drawn face whose eyes, nose and mouth corners sit on the ArcFace template."""
    img = np.full((size, size, 3), 40, np.uint8)
    s = size / 112
    cv2.ellipse(img, (int(56 * s), int(66 * s)), (int(40 * s), int(52 * s)), 0, 0, 360, (200, 170, 150), -1)
    t = align.ARCFACE_TEMPLATE_112 * s
    for x, y in t[:2]:
        cv2.circle(img, (int(x), int(y)), int(6 * s), (30, 30, 90), -1)
    cv2.circle(img, (int(t[2, 0]), int(t[2, 1])), int(4 * s), (120, 80, 60), -1)
    cv2.line(img, tuple(int(v) for v in t[3]), tuple(int(v) for v in t[4]), (150, 20, 20), max(1, int(3 * s)))
    return img


# ------------------------------------------------------------------------------------------------ conversion
def test_to_rgb_layouts():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = align.to_rgb(gray)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], gray)
    np.testing.assert_array_equal(align.to_rgb(gray[..., None]), out)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 10, 255
    np.testing.assert_array_equal(align.to_rgb(rgba)[..., 0], 10)
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 7  # blue in OpenCV order
    assert align.to_rgb(bgr, bgr=True)[0, 0].tolist() == [0, 0, 7]
    unit = np.full((2, 2, 3), 0.5, np.float32)  # floats in [0, 1] are scaled
    assert align.to_rgb(unit)[0, 0, 0] == 128
    assert align.to_rgb(np.full((2, 2), 200.0))[0, 0, 0] == 200
    assert align.to_rgb(np.full((2, 2), 65535, np.uint16))[0, 0, 0] == 255


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4,), np.uint8), "shape"),
        (np.zeros((4, 4, 2), np.uint8), "channels"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
        (np.zeros((2, 4, 4, 3), np.uint8), "shape"),
        # issue 26, item 9: refused at once instead of a NumPy warning or a black image with 0 faces
        (np.zeros((4, 4, 3), np.complex64), "Unsupported image dtype complex64"),
        (np.full((4, 4), -300, np.int16), r"int16 image values must lie in \[0, 255\].*\[-300, -300\]"),
        (np.full((4, 4), 4095, np.int32), r"\[0, 255\]"),
        (np.full((4, 4), -0.5, np.float32), r"\[0, 1\] for floats"),
    ],
)
def test_to_rgb_rejects_bad_arrays(bad, match):
    with pytest.raises(ValueError, match=match):
        align.to_rgb(bad)


def test_read_image_formats_and_errors(tmp_path):
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    rgba = np.zeros((5, 6, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 255, 128  # red in BGRA
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    out = align.read_image(tmp_path / "gray.png")
    assert out.shape == (8, 25, 3)
    np.testing.assert_array_equal(out[..., 1], gray)
    assert align.read_image(str(tmp_path / "rgba.png"))[0, 0].tolist() == [255, 0, 0]
    with pytest.raises(FileNotFoundError, match="missing.png"):
        align.read_image(tmp_path / "missing.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ValueError, match="corrupt"):
        align.read_image(tmp_path / "corrupt.jpg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        align.read_image(tmp_path / "empty.png")


# ------------------------------------------------------------------------------------------------ geometry
def test_face_template_scaling():
    np.testing.assert_allclose(align.face_template(112), align.ARCFACE_TEMPLATE_112)
    np.testing.assert_allclose(align.face_template(224), align.ARCFACE_TEMPLATE_112 * 2, rtol=1e-6)
    np.testing.assert_allclose(align.face_template((56, 112))[:, 1], align.ARCFACE_TEMPLATE_112[:, 1] / 2, rtol=1e-6)
    wide = align.face_template(112, margin=0.5)  # the template region shrinks to the central half
    np.testing.assert_allclose(wide, (align.ARCFACE_TEMPLATE_112 + 56) / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="margin"):
        align.face_template(112, margin=-0.1)
    with pytest.raises(ValueError, match="output_size"):
        align.face_template(4)


def test_similarity_transform_recovers_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    true = _random_similarity(rng)
    dst = src @ true[:, :2].T + true[:, 2]
    np.testing.assert_allclose(align.similarity_transform(src, dst), true, atol=1e-9)
    with pytest.raises(ValueError, match="same point"):
        align.similarity_transform(np.ones((5, 2)), dst)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_align_face_undoes_a_similarity_warp(seed):
    """Warp a template-aligned face into a bigger image; aligning its moved landmarks gives it back."""
    rng = np.random.default_rng(seed)
    ref = _reference_face(112)
    matrix = _random_similarity(rng)
    scene = cv2.warpAffine(ref, matrix, (600, 600), flags=cv2.INTER_LINEAR)
    points = align.ARCFACE_TEMPLATE_112 @ matrix[:, :2].T + matrix[:, 2]
    out = align.align_face(scene, landmarks=points, output_size=112)
    assert out.shape == (112, 112, 3) and out.dtype == np.uint8
    inner = (slice(8, 104), slice(8, 104))
    diff = np.abs(out[inner].astype(int) - ref[inner].astype(int))
    assert diff.mean() < 6.0, diff.mean()
    # other output sizes and margins land the landmarks on the scaled template
    small = align.align_face(scene, landmarks=points, output_size=56, margin=0.25)
    expected = cv2.resize(
        align.align_face(scene, landmarks=points, output_size=224, margin=0.25), (56, 56), interpolation=cv2.INTER_AREA
    )
    assert np.abs(small.astype(int) - expected.astype(int)).mean() < 4.0


def test_align_face_box_crop_and_padding():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:60, 50:90] = 255  # a 40x40 white square
    crop = align.align_face(image, box=(50, 20, 40, 40), output_size=40)
    assert crop.min() == 255  # exactly the square
    wide = align.align_face(image, box=(50, 20, 40, 40), output_size=80, margin=0.5)
    assert wide[20:60, 20:60].min() == 255 and wide[:15].max() == 0 and wide[:, :15].max() == 0
    corner = align.align_face(image, box=(-20, -20, 40, 40), output_size=40)  # mostly outside: black fill
    assert corner[:20, :20].max() == 0 and corner.shape == (40, 40, 3)
    rect = align.align_face(image, box=(50, 20, 40, 10), output_size=(20, 20))  # square around a wide box
    assert rect.shape == (20, 20, 3)


def test_align_face_antialiases_when_shrinking():
    stripes = np.zeros((400, 400, 3), np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes average to mid grey
    out = align.align_face(stripes, box=(0, 0, 400, 400), output_size=40)
    assert abs(float(out.mean()) - 127.5) < 3 and out.std() < 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "landmarks or a box"),
        ({"landmarks": np.zeros((4, 2))}, "5, 2"),
        ({"landmarks": np.full((5, 2), np.nan)}, "NaN"),
        ({"box": (0, 0, 0, 10)}, "positive"),
        ({"box": (0, 0, 10, 10), "margin": -1}, "margin"),
    ],
)
def test_align_face_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        align.align_face(np.zeros((50, 50, 3), np.uint8), **kwargs)


def test_face_dataclass_validation():
    face = align.Face(box=(1.6, 2.2, 10, 12), landmarks=np.zeros((5, 2)), score=0.5)
    assert face.box == (2, 2, 10, 12) and face.landmarks.dtype == np.float32 and face.area == 120
    assert json.loads(json.dumps(face.to_dict()))["box"] == [2, 2, 10, 12]
    with pytest.raises(ValueError, match="positive"):
        align.Face(box=(0, 0, -1, 5))
    with pytest.raises(ValueError, match=r"\(x, y, w, h\)"):
        align.Face(box=(0, 0, 5))


# ------------------------------------------------------------------------------------------------ detectors
def test_haar_finds_the_astronaut(astronaut):
    faces = align.detect_faces(astronaut, detector="haar")
    assert len(faces) >= 1
    x, y, w, h = faces[0].box
    assert faces[0].landmarks is None and 0 < faces[0].score <= 1
    cx, cy = x + w / 2, y + h / 2
    assert 200 < cx < 250 and 90 < cy < 140 and 60 < w < 140  # the face centre is about (224, 113)


def test_detectors_on_edge_cases(astronaut):
    assert align.detect_faces(np.zeros((6, 6, 3), np.uint8), detector="haar") == []
    assert align.detect_faces(np.zeros((120, 160), np.uint8), detector="haar") == []  # gray, no face
    whole = align.detect_faces(np.zeros((30, 40, 4), np.uint8), detector="none")
    assert len(whole) == 1 and whole[0].box == (0, 0, 40, 30)
    # a huge image is shrunk to max_side for detection; boxes come back in full-resolution pixels
    huge = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    faces = align.detect_faces(huge, detector="haar", max_side=512)
    assert faces and 800 < faces[0].box[0] + faces[0].box[2] / 2 < 1000
    with pytest.raises(ValueError, match="Unknown face detector"):
        align.detect_faces(astronaut, detector="retinaface")
    custom = align.detect_faces(astronaut, detector=lambda img: [align.Face((1, 2, 3, 4)), align.Face((0, 0, 9, 9))])
    assert [f.box for f in custom] == [(0, 0, 9, 9), (1, 2, 3, 4)]  # largest first


def test_mtcnn_landmarks_on_the_astronaut(astronaut):
    pytest.importorskip("mtcnn")
    faces = align.detect_faces(astronaut, detector="mtcnn", min_face_size=40)
    assert len(faces) == 1 and faces[0].score > 0.9
    lm = faces[0].landmarks
    assert lm.shape == (5, 2)
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # left/right as seen in the image
    assert lm[0, 1] < lm[2, 1] < lm[3, 1]  # eyes above nose above mouth
    crop = align.align_face(astronaut, landmarks=lm)
    # the aligned eyes are dark-ish regions where the template puts them
    assert crop.shape == (112, 112, 3)
    eye_band = crop[45:58, 30:82].mean()
    cheek = crop[70:85, 20:35].mean()
    assert eye_band < cheek


# ------------------------------------------------------------------------------------------------ folders
def _make_tree(root, astronaut):
    (root / "happy" / "deep").mkdir(parents=True)
    (root / "sad").mkdir()
    bgr = cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(root / "happy" / "a.jpg"), bgr)
    cv2.imwrite(str(root / "happy" / "deep" / "b.PNG"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    cv2.imwrite(str(root / "sad" / "blank.png"), np.full((64, 64, 3), 128, np.uint8))
    (root / "sad" / "broken.jpg").write_bytes(b"garbage")
    (root / "notes.txt").write_text("not an image")


def test_align_folder_keeps_structure(tmp_path, astronaut):
    src, dst = tmp_path / "in", tmp_path / "out"
    _make_tree(src, astronaut)
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    summary = align.align_folder(src, dst, detector="haar", output_size=48, progress=False)
    assert summary.aligned == 2 and summary.faces_written == 2
    assert summary.no_face == ["sad/blank.png"]
    assert [u[0] for u in summary.unreadable] == ["sad/broken.jpg"]
    out_a = align.read_image(dst / "happy" / "a.png")
    assert out_a.shape == (48, 48, 3)
    assert (dst / "happy" / "deep" / "b.png").is_file()
    written = json.loads((dst / "align_summary.json").read_text())
    assert written["no_face"] == ["sad/blank.png"] and written["aligned"] == 2
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # inputs untouched
    again = align.align_folder(src, dst, detector="haar", output_size=48, progress=False)
    assert again.skipped_existing == 2 and again.faces_written == 0
    with pytest.raises(ValueError, match="never overwritten"):
        align.align_folder(src, src / "aligned", detector="haar", progress=False)
    with pytest.raises(ValueError, match="never overwritten"):
        align.align_folder(src, src, detector="haar", progress=False)
    with pytest.raises(FileNotFoundError):
        align.align_folder(tmp_path / "nope", dst, detector="haar", progress=False)


def test_align_cli(tmp_path, astronaut, capsys):
    from kerasfer.cli import main

    src, dst = tmp_path / "in", tmp_path / "out"
    _make_tree(src, astronaut)
    code = main(["align", str(src), str(dst), "--detector", "haar", "--size", "64", "--all-faces", "--quiet"])
    assert code == 1  # sad/broken.jpg cannot be read; everything else is written
    out = capsys.readouterr().out
    assert "no face: 1" in out and "unreadable: 1" in out
    assert align.read_image(dst / "happy" / "a_0.png").shape == (64, 64, 3)
    assert main(["align", str(src), str(src / "x"), "--detector", "haar", "--quiet"]) == 2
    assert "never overwritten" in capsys.readouterr().err


def _solid(path, rgb, size=24):
    """A `size`x`size` image of one RGB colour (a stand-in face for detector="none")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size, size, 3), rgb[::-1], np.uint8))


def _two_faces(image):
    h, w = image.shape[:2]
    return [align.Face((0, 0, w, h)), align.Face((0, 0, w // 2, h // 2))]


def test_align_folder_keeps_every_input_when_names_collide(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    colours = {"face.jpg": (200, 0, 0), "face.png": (0, 200, 0), "other.png": (0, 0, 200), "sub/face.png": (90, 90, 0)}
    for name, rgb in colours.items():
        _solid(src / name, rgb)
    summary = align.align_folder(src, dst, detector="none", output_size=16, progress=False)
    # face.jpg and face.png would both be face.png: each keeps its source extension in its name; the others keep theirs
    assert summary.outputs == {
        "face.jpg": ["face_jpg.png"],
        "face.png": ["face_png.png"],
        "other.png": ["other.png"],
        "sub/face.png": ["sub/face.png"],
    }
    assert sorted(summary.renamed) == ["face.jpg", "face.png"]
    assert summary.faces_written == 4 and summary.aligned == 4 and summary.skipped_existing == 0
    assert not (dst / "face.png").exists()
    for name, (out,) in summary.outputs.items():
        np.testing.assert_allclose(align.read_image(dst / out)[8, 8], colours[name], atol=4)  # each input's own face
    assert json.loads((dst / "align_summary.json").read_text())["outputs"] == summary.outputs
    again = align.align_folder(src, dst, detector="none", output_size=16, progress=False)
    assert again.skipped_existing == 4 and again.faces_written == 0 and again.outputs == summary.outputs
    # face.jpg goes, so face.png gets the plain name face.png; an earlier run wrote a face.png for face.jpg (says
    # its summary): that file is replaced, not kept as face.png's face
    (src / "face.jpg").unlink()
    (dst / "face.png").write_bytes((dst / "face_jpg.png").read_bytes())
    summary = json.loads((dst / "align_summary.json").read_text())
    summary["outputs"]["face.jpg"] = ["face.png"]
    (dst / "align_summary.json").write_text(json.dumps(summary))
    third = align.align_folder(src, dst, detector="none", output_size=16, progress=False)
    assert third.outputs["face.png"] == ["face.png"] and third.faces_written == 1 and third.skipped_existing == 2
    np.testing.assert_allclose(align.read_image(dst / "face.png")[8, 8], colours["face.png"], atol=4)


def test_align_folder_all_faces_names_never_collide(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    for i, name in enumerate(["face.jpg", "face.png", "face_0.png", "Solo.PNG", "solo.png"]):
        _solid(src / name, (40 * i, 0, 0))
    summary = align.align_folder(src, dst, detector=_two_faces, output_size=16, all_faces=True, progress=False)
    files = sorted(p.name for p in dst.glob("*.png"))
    assert summary.faces_written == len(files) == 10 and summary.skipped_existing == 0
    assert len({f.lower() for f in files}) == 10  # distinct on case-insensitive file systems too
    assert summary.outputs["face.jpg"] == ["face_jpg_0.png", "face_jpg_1.png"]
    assert summary.outputs["face_0.png"] == ["face_0_0.png", "face_0_1.png"]  # no clash with face.jpg's faces
    assert sorted(f for outs in summary.outputs.values() for f in outs) == files
    assert summary.several_faces == [[name, 2] for name in sorted(summary.outputs)]


def test_align_folder_refuses_to_mix_settings_in_one_output_folder(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    _solid(src / "a.png", (10, 200, 10))
    _solid(src / "a_0.png", (200, 10, 10))
    align.align_folder(src, dst, detector="none", output_size=16, progress=False)
    # kept files of the first run would be mixed with new ones (a_0.png is a_0's crop, not a's first face)
    with pytest.raises(ValueError, match=r"all_faces was False, now True.*overwrite"):
        align.align_folder(src, dst, detector="none", output_size=16, all_faces=True, progress=False)
    with pytest.raises(ValueError, match=r"size was 16, now 24"):
        align.align_folder(src, dst, detector="none", output_size=24, progress=False)
    assert align.read_image(dst / "a_0.png").shape == (16, 16, 3)  # nothing touched
    again = align.align_folder(
        src, dst, detector="none", output_size=16, all_faces=True, overwrite=True, progress=False
    )
    assert again.faces_written == 2 and again.skipped_existing == 0
    np.testing.assert_allclose(align.read_image(dst / "a_0.png")[8, 8], (10, 200, 10), atol=4)


def test_align_folder_checks_its_arguments_before_any_work(tmp_path, monkeypatch):
    src, dst = tmp_path / "in", tmp_path / "out"
    _solid(src / "a.png", (10, 20, 30))
    _solid(src / "b.webp", (10, 20, 30))
    calls = []

    def detector(image):
        calls.append(image.shape)
        return []

    with pytest.raises(ValueError, match="output_size"):
        align.align_folder(src, dst, detector=detector, output_size=4, progress=False)
    with pytest.raises(ValueError, match="margin"):
        align.align_folder(src, dst, detector=detector, margin=-0.5, progress=False)
    with pytest.raises(ValueError, match="image_format"):
        align.align_folder(src, dst, detector=detector, image_format=".gif", progress=False)
    real_imencode = cv2.imencode
    monkeypatch.setattr(
        cv2, "imencode", lambda ext, *a, **k: (False, None) if ext == ".webp" else real_imencode(ext, *a, **k)
    )
    with pytest.raises(ValueError, match=r"cannot write '\.webp'"):
        align.align_folder(src, dst, detector=detector, image_format="webp", progress=False)
    with pytest.raises(ValueError, match=r"cannot write '\.webp'.*b\.webp"):  # "same" format: b.webp would stay .webp
        align.align_folder(src, dst, detector=detector, image_format=None, progress=False)
    assert calls == [] and not dst.exists()


def test_align_folder_writes_pgm_as_gray(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    _solid(src / "a.png", (100, 100, 100))
    summary = align.align_folder(src, dst, detector="none", output_size=16, image_format=".pgm", progress=False)
    assert summary.outputs == {"a.png": ["a.pgm"]}
    assert (dst / "a.pgm").read_bytes()[:2] == b"P5"
    assert align.read_image(dst / "a.pgm")[8, 8].tolist() == [100, 100, 100]


def test_align_folder_never_leaves_a_half_written_output(tmp_path, monkeypatch):
    src, dst = tmp_path / "in", tmp_path / "out"
    _solid(src / "a.png", (100, 100, 100))
    real_replace = os.replace

    def full_disk(a, b):
        if str(b).endswith(".png"):
            raise OSError(28, "No space left on device")
        return real_replace(a, b)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        align.align_folder(src, dst, detector="none", output_size=16, progress=False)
    monkeypatch.undo()
    assert sorted(p.name for p in dst.iterdir()) == ["align_summary.json"]  # a rerun will not keep a broken file
    assert json.loads((dst / "align_summary.json").read_text())["complete"] is False
    assert align.align_folder(src, dst, detector="none", output_size=16, progress=False).faces_written == 1


def test_align_folder_lists_a_face_it_cannot_align(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    _solid(src / "a.png", (100, 100, 100))

    def detector(image):  # b's landmarks all at one point: no similarity transform
        points = np.full((5, 2), 5.0) if image[0, 0, 0] == 50 else align.ARCFACE_TEMPLATE_112 / 8
        return [align.Face((0, 0, 20, 20), landmarks=points)]

    _solid(src / "b.png", (50, 50, 50))
    summary = align.align_folder(src, dst, detector=detector, output_size=16, progress=False)
    assert [u[0] for u in summary.unreadable] == ["b.png"] and "same point" in summary.unreadable[0][1]
    assert summary.outputs == {"a.png": ["a.png"]} and not (dst / "b.png").exists()


def test_align_cli_exit_status(tmp_path, capsys):
    from kerasfer.cli import main

    src = tmp_path / "in"
    _solid(src / "a.png", (100, 100, 100))
    cv2.imwrite(str(src / "blank.png"), np.zeros((24, 24, 3), np.uint8))
    args = ["--detector", "none", "--size", "16", "--quiet"]
    assert main(["align", str(src), str(tmp_path / "ok"), *args]) == 0  # images with no face are not failures
    (src / "broken.jpg").write_bytes(b"garbage")
    assert main(["align", str(src), str(tmp_path / "some"), *args]) == 1  # some inputs unreadable
    captured = capsys.readouterr()
    assert "unreadable: 1" in captured.out and "error:" not in captured.err
    written = json.loads((tmp_path / "some" / "align_summary.json").read_text())
    assert [u[0] for u in written["unreadable"]] == ["broken.jpg"] and (tmp_path / "some" / "a.png").is_file()
    for argv, message in [
        ([str(tmp_path / "missing"), str(tmp_path / "x"), *args], "missing"),
        ([str(src), str(tmp_path / "x"), *args, "--size", "4"], "output_size"),
        ([str(src), str(tmp_path / "x"), *args, "--format", ".gif"], "image_format"),
        ([str(src), str(src / "x"), *args], "never overwritten"),
    ]:
        assert main(["align", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kerasfer align: error: ") and message in err[0], err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(["align", "--help"])
    assert "Exit status: 0" in " ".join(capsys.readouterr().out.split())


def test_the_old_names_are_the_face_packages():
    """Issue 27: face processing moved to `kerasfer.face`; `kerasfer.data.align`, `.faces` and `.blazeface` stay."""
    import kerasfer.data.align
    import kerasfer.data.blazeface
    import kerasfer.data.faces
    import kerasfer.face.blazeface
    import kerasfer.face.faces

    assert kerasfer.data.faces is kerasfer.face.faces and kerasfer.data.blazeface is kerasfer.face.blazeface
    for name in kerasfer.data.align.__all__:
        assert getattr(kerasfer.data.align, name) is getattr(align, name), name
    assert set(kerasfer.data.align.__all__) <= set(dir(align))
