"""Writes the tiny fake files in `tfds_builders/<name>/dummy_data/` that the builder tests read.

Every image is random noise or a flat colour drawn here (never a real face), a few pixels
wide, so the whole dummy tree stays a few tens of kilobytes. Deterministic: running it twice
gives the same bytes (fixed seeds; tar/gzip timestamps pinned). Each dataset also gets one
deliberately corrupt image (or CSV row) so the tests check that bad images are skipped and
counted.

    python tools/make_dummy_data.py            # all datasets
    python tools/make_dummy_data.py fer2013    # only some
"""

import argparse
import csv
import gzip
import io
import pathlib
import shutil
import sys
import tarfile

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tfds_builders"
CORRUPT = b"\xff\xd8\xff\xe0 this is not really a JPEG"


def _rng(name):
    return np.random.default_rng(sum(map(ord, name)))


def _img(rng, h=8, w=8, c=3):
    return rng.integers(0, 256, (h, w, c), dtype=np.uint8)


def _write_img(path, rng, h=8, w=8, c=3, ext=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = ext or path.suffix
    params = [cv2.IMWRITE_JPEG_QUALITY, 80] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, _img(rng, h, w, c), params)
    assert ok
    path.write_bytes(buf.tobytes())


def _write_bytes(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _fresh(name):
    d = ROOT / name / "dummy_data"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def _pixels(rng):
    return " ".join(str(v) for v in rng.integers(0, 256, 48 * 48))


# FER2013 rows: (emotion, usage); the row with emotion None has corrupt pixels.
FER2013_ROWS = [
    (0, "Training"),
    (3, "Training"),
    (None, "Training"),
    (6, "Training"),
    (1, "Training"),
    (5, "PublicTest"),
    (3, "PublicTest"),
    (2, "PublicTest"),
    (4, "PrivateTest"),
    (6, "PrivateTest"),
]
# FER+ votes per row: neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF; "" = empty name.
FERPLUS_VOTES = [
    (0, 0, 0, 0, 7, 1, 1, 0, 1, 0),  # Training: strict majority anger
    (2, 5, 2, 0, 0, 0, 0, 0, 1, 0),  # Training: happiness 5/10, plurality only
    None,  # Training: the corrupt-pixel row (votes ok, image skipped)
    (0, 0, 0, 0, 0, 0, 0, 0, 1, 9),  # Training: not a face -> dropped
    (4, 4, 0, 0, 0, 0, 0, 2, 0, 0),  # Training: tie neutral/happiness (first wins), no majority
    (0, 0, 8, 0, 0, 0, 1, 0, 1, 0),  # PublicTest: surprise majority
    "",  # PublicTest: empty FER+ name -> no votes, dropped
    (1, 0, 0, 0, 0, 0, 6, 0, 3, 0),  # PublicTest: fear majority
    (0, 0, 0, 0, 0, 0, 0, 3, 7, 0),  # PrivateTest: unknown -> dropped
    (1, 0, 0, 7, 0, 0, 0, 2, 0, 0),  # PrivateTest: sadness majority
]


def _fer2013_csv_bytes():
    rng = _rng("fer2013")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["emotion", "pixels", "Usage"])
    for emotion, usage in FER2013_ROWS:
        if emotion is None:
            w.writerow([3, "12 34 not-a-number 56", usage])
        else:
            w.writerow([emotion, _pixels(rng), usage])
    return out.getvalue().encode()


def _targz(members):
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def make_fer2013():
    d = _fresh("fer2013")
    _write_bytes(d / "fer2013.tar.gz", _targz([("fer2013/fer2013.csv", _fer2013_csv_bytes())]))
    rng = _rng("fer2013_folder")
    # folder config: 4 train, 3 test images (+1 corrupt in train)
    for split, classes in (("train", ["angry", "happy", "neutral", "surprise"]), ("test", ["sad", "fear", "happy"])):
        for i, cls in enumerate(classes):
            _write_img(d / "folder" / split / cls / f"im{i}.jpg", rng, 48, 48, 1)
    _write_bytes(d / "folder" / "train" / "disgust" / "im9.jpg", CORRUPT)


def make_ferplus():
    d = _fresh("ferplus")
    _write_bytes(d / "fer2013.csv", _fer2013_csv_bytes())
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
        + ["unknown", "NF"]
    )
    for i, ((_, usage), votes) in enumerate(zip(FER2013_ROWS, FERPLUS_VOTES)):
        if votes is None:
            votes = (0, 10, 0, 0, 0, 0, 0, 0, 0, 0)
        if votes == "":
            w.writerow([usage, ""] + [0] * 10)
        else:
            w.writerow([usage, f"fer{i:07d}.png", *votes])
    _write_bytes(d / "fer2013new.csv", out.getvalue().encode())


def make_raf_db():
    d = _fresh("raf_db") / "basic"
    rng = _rng("raf_db")
    # train_00003 has no image file, train_00004 is corrupt: both skipped and counted.
    entries = [("train_00001.jpg", 5), ("train_00002.jpg", 4), ("train_00003.jpg", 1), ("train_00004.jpg", 2)]
    entries += [("train_00005.jpg", 7), ("test_0001.jpg", 1), ("test_0002.jpg", 6)]
    lines = [f"{n} {lab}" for n, lab in entries]
    _write_bytes(d / "EmoLabel" / "list_patition_label.txt", ("\n".join(lines) + "\n").encode())
    for name, _ in entries:
        if name == "train_00003.jpg":
            continue
        for sub, fname in (("aligned", name.replace(".jpg", "_aligned.jpg")), ("original", name)):
            if name == "train_00004.jpg":
                _write_bytes(d / "Image" / sub / fname, CORRUPT)
            else:
                _write_img(d / "Image" / sub / fname, rng, 8, 8, 3)


def make_affectnet():
    d = _fresh("affectnet")
    rng = _rng("affectnet")
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    for split, exprs in (("training", [0, 1, 7, 6, 2, 8, 10]), ("validation", [3, 7])):
        lines = [header]
        for i, e in enumerate(exprs):
            name = f"{i + 1}/{split}_{i}.jpg"
            lm = ";".join(f"{v:.2f}" for v in rng.uniform(0, 8, 136))
            lines.append(f'{name},1,1,6,6,"{lm}",{e},{rng.uniform(-1, 1):.3f},{rng.uniform(-1, 1):.3f}')
            if split == "training" and e == 2:
                _write_bytes(d / "Manually_Annotated_Images" / name, CORRUPT)
            else:
                _write_img(d / "Manually_Annotated_Images" / name, rng, 8, 8, 3)
        _write_bytes(d / "Manually_Annotated_file_lists" / f"{split}.csv", ("\n".join(lines) + "\n").encode())


def make_jaffe():
    d = _fresh("jaffe") / "jaffe"
    rng = _rng("jaffe")
    codes = ["AN", "DI", "FE", "HA", "NE", "SA", "SU", "AN", "HA", "SU", "NE"]
    for i, code in enumerate(codes):
        _write_img(d / f"P{i:02d}.{code}1.{i + 1}.tiff", rng, 8, 8, 1)
    _write_bytes(d / "P03.SA2.99.tiff", CORRUPT)


def make_sfew():
    d = _fresh("sfew")
    rng = _rng("sfew")
    for folder, classes in (
        ("Train_Aligned_Faces", ["Angry", "Happy", "Surprise"]),
        ("Val_Aligned_Faces", ["Sad", "Neutral"]),
    ):
        for i, cls in enumerate(classes):
            _write_img(d / folder / cls / f"frame_{i}.png", rng, 8, 8, 3)
    _write_bytes(d / "Train_Aligned_Faces" / "Fear" / "frame_9.png", CORRUPT)


def make_ck_plus():
    d = _fresh("ck_plus")
    rng = _rng("ck_plus")
    for i in range(10):
        subject = f"S{i + 1:03d}"
        for f in range(1, 6):
            path = d / "cohn-kanade-images" / subject / "001" / f"{subject}_001_{f:08d}.png"
            if subject == "S003" and f == 5:
                _write_bytes(path, CORRUPT)
            else:
                _write_img(path, rng, 8, 8, 1)
        code = 1 + i % 7
        _write_bytes(
            d / "Emotion" / subject / "001" / f"{subject}_001_00000005_emotion.txt", f"   {code:.7e}\n".encode()
        )
    for f in range(1, 3):  # an unlabelled sequence: ignored
        _write_img(d / "cohn-kanade-images" / "S001" / "002" / f"S001_002_{f:08d}.png", rng, 8, 8, 1)


def make_oulu_casia():
    d = _fresh("oulu_casia") / "OriginalImg" / "VL" / "Strong"
    rng = _rng("oulu_casia")
    emotions = ["Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"]
    for i in range(10):
        subject = f"P{i + 1:03d}"
        for f in range(4):
            path = d / subject / emotions[i % 6] / f"{f:03d}.jpeg"
            if subject == "P005" and f == 3:
                _write_bytes(path, CORRUPT)
            else:
                _write_img(path, rng, 8, 8, 3, ext=".jpg")


MAKERS = {
    "oulu_casia": make_oulu_casia,
    "ck_plus": make_ck_plus,
    "sfew": make_sfew,
    "fer2013": make_fer2013,
    "ferplus": make_ferplus,
    "raf_db": make_raf_db,
    "affectnet": make_affectnet,
    "jaffe": make_jaffe,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", help=f"subset of {sorted(MAKERS)} (default all)")
    args = parser.parse_args(argv)
    names = args.datasets or sorted(MAKERS)
    unknown = sorted(set(names) - set(MAKERS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {sorted(MAKERS)}")
    for name in names:
        MAKERS[name]()
        size = sum(p.stat().st_size for p in (ROOT / name / "dummy_data").rglob("*") if p.is_file())
        print(f"{name}: dummy_data written ({size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
