"""Face-detector reliability: found / missed / false detections per detector on one set of 640x360 images.

The set (made in memory; nothing is written but the optional --json report):

* photos: the faces of `skimage.data.astronaut()`, `skimage.data.camera()` (the cameraman, a face turned
  three-quarters) and matplotlib's `grace_hopper.jpg`, each in its own surroundings, scaled so that the face is
  200, 160, 120, 96, 72, 48, 32 and 24 px wide; rotated in plane by -30, -15, +15 and +30 degrees and mirrored,
  at 96 and 48 px;
* LFW crops: the first `--per-source` faces of `skimage.data.lfw_subset()` (25x25 gray crops, a mix of poses),
  pasted at 96, 48 and 24 px, rotated by +-30 degrees and mirrored at 64 px;
* FER2013 crops: the first `--per-source` images of FER2013's `fer2013.csv` (48x48 gray, read from
  `--fer2013`, by default ../shared/data/fer2013; skipped when absent), as the LFW crops. Nothing from FER2013 is
  written anywhere;
* no face: the backgrounds alone and LFW's non-face crops pasted at 96 px (false detections only).

Each image has one face (the "no face" set none) on one of four backgrounds (smooth noise, `brick`, `coffee`,
`rocket`), at a position drawn from a fixed seed. A face is found when a detection's centre lies inside its box
(expanded by 15 %) and the detection's size (square root of the area) is between 0.5 and 2 times the face's;
every other detection counts as false. Each detector runs with its `FER()` settings (min_face_size 20 unless
--min-face-size says otherwise).

Usage:

    python tools/bench_detectors.py                                   # blazeface, mtcnn, haar
    python tools/bench_detectors.py --detectors blazeface blazeface:min_face_size=12,max_scale=2 mtcnn
    python tools/bench_detectors.py --per-source 100 --json detectors.json
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pathlib
import sys
import tarfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
CANVAS_HW = (360, 640)
# Face boxes (x, y, w, h), brows to chin, in the source images (checked by eye and against MTCNN / Haar).
PHOTO_FACES = {
    "astronaut": (178, 66, 90, 100),
    "camera": (200, 118, 62, 78),
    "grace_hopper": (172, 115, 185, 205),
}
PHOTO_WIDTHS = (200, 160, 120, 96, 72, 48, 32, 24)
CROP_WIDTHS = (96, 48, 24)
ANGLES = (-30, -15, 15, 30)


def _rgb(image):
    from kerasfer.data import align

    return align.to_rgb(image)


def backgrounds():
    import cv2
    import skimage.data

    h, w = CANVAS_HW
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    smooth = cv2.GaussianBlur(cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 2.0)
    out = [("noise", smooth)]
    for name in ("brick", "coffee", "rocket"):
        image = _rgb(getattr(skimage.data, name)())
        scale = max(h / image.shape[0], w / image.shape[1])
        image = cv2.resize(image, (int(np.ceil(image.shape[1] * scale)), int(np.ceil(image.shape[0] * scale))))
        out.append((name, np.ascontiguousarray(image[:h, :w])))
    return out


def photos():
    import matplotlib
    import skimage.data

    from kerasfer.data import align

    grace = pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    images = {"astronaut": skimage.data.astronaut(), "camera": _rgb(skimage.data.camera())}
    if grace.is_file():
        images["grace_hopper"] = align.read_image(grace)
    return [(name, images[name], PHOTO_FACES[name]) for name in PHOTO_FACES if name in images]


def lfw_crops(n):
    import skimage.data

    faces = skimage.data.lfw_subset()  # 100 faces, then 100 non-faces
    to_u8 = lambda a: _rgb(np.round(a * 255).astype(np.uint8))  # noqa: E731
    return [to_u8(a) for a in faces[:n]], [to_u8(a) for a in faces[100 : 100 + n]]


def fer2013_crops(folder, n):
    """The first `n` FER2013 images (48x48 gray -> RGB), streamed from fer2013.tar.gz or fer2013.csv; [] when the
    folder or files are missing."""
    folder = pathlib.Path(folder)
    rows = []

    def read(text_stream):
        for row in csv.DictReader(text_stream):
            pixels = np.array(row["pixels"].split(), dtype=np.uint8)
            if pixels.size == 48 * 48:
                rows.append(_rgb(pixels.reshape(48, 48)))
            if len(rows) >= n:
                break

    if (folder / "fer2013.csv").is_file():
        with open(folder / "fer2013.csv", newline="") as f:
            read(f)
    elif (folder / "fer2013.tar.gz").is_file():
        with tarfile.open(folder / "fer2013.tar.gz", "r:gz") as tar:
            for member in tar:
                if member.name.endswith("fer2013.csv"):
                    read(io.TextIOWrapper(tar.extractfile(member), newline=""))
                    break
    return rows


def place(background, source, face_box, width, angle=0.0, mirror=False, centre=None):
    """`source` drawn over `background` so that its face (`face_box`) is `width` px wide, centred at `centre`,
    rotated by `angle` degrees (counter-clockwise) and optionally mirrored. Returns (canvas, face box in it)."""
    import cv2

    x, y, w, h = face_box
    cx, cy = x + w / 2.0, y + h / 2.0
    scale = width / w
    flip = np.array([[-1.0, 0.0, 2 * cx], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if mirror else np.eye(3)
    rot = np.vstack([cv2.getRotationMatrix2D((cx, cy), angle, scale), [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, centre[0] - cx], [0.0, 1.0, centre[1] - cy], [0.0, 0.0, 1.0]])
    matrix = (shift @ rot @ flip)[:2]
    canvas = background.copy()
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    cv2.warpAffine(source, matrix, canvas.shape[1::-1], dst=canvas, flags=interpolation,
                   borderMode=cv2.BORDER_TRANSPARENT)  # fmt: skip
    fw, fh = width, h * scale
    return canvas, (centre[0] - fw / 2, centre[1] - fh / 2, fw, fh)


def make_cases(per_source, fer2013_dir):
    """[(set, transform, face width, canvas, face box or None)]."""
    rng = np.random.default_rng(1)
    bgs = backgrounds()
    hh, ww = CANVAS_HW
    cases = []

    def centre_for(width, height):
        mx, my = width * 0.6 + 4, height * 0.6 + 4
        return (rng.uniform(mx, ww - mx), rng.uniform(my, hh - my)) if 2 * my < hh else (ww / 2, hh / 2)

    def add(group, transform, source, box, width, angle=0.0, mirror=False):
        bg = bgs[len(cases) % len(bgs)][1]
        height = width * box[3] / box[2]
        canvas, face = place(bg, source, box, width, angle, mirror, centre_for(width, height))
        cases.append((group, transform, width, canvas, face))

    for _name, image, box in photos():
        for width in PHOTO_WIDTHS:
            add("photos", "upright", image, box, width)
        for width in (96, 48):
            for angle in ANGLES:
                add("photos", f"rotated {angle:+d}", image, box, width, angle=angle)
            add("photos", "mirrored", image, box, width, mirror=True)
    faces, non_faces = lfw_crops(per_source)
    sets = [("LFW crops", faces)]
    fer = fer2013_crops(fer2013_dir, per_source) if fer2013_dir else []
    if fer:
        sets.append(("FER2013 crops", fer))
    else:
        print(f"FER2013 not found under {fer2013_dir}: its rows are skipped.", file=sys.stderr)
    for group, crops in sets:
        for crop in crops:
            box = (0, 0, crop.shape[1], crop.shape[0])
            for width in CROP_WIDTHS:
                add(group, "upright", crop, box, width)
            for angle in (-30, 30):
                add(group, f"rotated {angle:+d}", crop, box, 64, angle=angle)
            add(group, "mirrored", crop, box, 64, mirror=True)
    for _, bg in bgs:
        cases.append(("no face", "background", 0, bg, None))
    for crop in non_faces:
        bg = bgs[len(cases) % len(bgs)][1]
        canvas, _ = place(bg, crop, (0, 0, crop.shape[1], crop.shape[0]), 96, centre=(ww / 2, hh / 2))
        cases.append(("no face", "LFW non-face crop", 0, canvas, None))
    return cases


def matches(det_box, face_box) -> bool:
    x, y, w, h = face_box
    dx, dy, dw, dh = det_box
    cx, cy = dx + dw / 2, dy + dh / 2
    inside = (x - 0.15 * w <= cx <= x + 1.15 * w) and (y - 0.15 * h <= cy <= y + 1.15 * h)
    ratio = np.sqrt(dw * dh) / np.sqrt(w * h)
    return bool(inside and 0.5 <= ratio <= 2.0)


def parse_spec(spec):
    """`"blazeface:threshold=0.6,max_scale=2"` -> ("blazeface", {"threshold": 0.6, "max_scale": 2})."""
    name, _, rest = spec.partition(":")
    kwargs = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    return name, kwargs


def run(spec, cases, min_face_size):
    from kerasfer.data import align

    name, kwargs = parse_spec(spec)
    detector = align.get_detector(name, min_face_size=kwargs.pop("min_face_size", min_face_size), **kwargs)
    detector(cases[0][3])  # load / warm up
    rows, seconds = [], 0.0
    for group, transform, width, canvas, face in cases:
        start = time.perf_counter()
        faces = detector(canvas)
        seconds += time.perf_counter() - start
        hit = face is not None and any(matches(f.box, face) for f in faces)
        false = len(faces) - int(hit)  # a second detection of the face counts as false too
        rows.append({"set": group, "transform": transform, "width": width, "found": hit, "false": false})
    return rows, 1000.0 * seconds / len(cases)


def _bucket(row):
    if row["set"] == "no face":
        return (row["set"], row["transform"])
    if row["transform"] == "upright":
        w = row["width"]
        size = "200-96 px" if w >= 96 else ("72-48 px" if w >= 48 else "32-24 px")
        return (row["set"], f"upright {size}" if row["set"] == "photos" else f"upright {w} px")
    kind = "rotated +-15" if row["transform"] in ("rotated -15", "rotated +15") else row["transform"]
    kind = "rotated +-30" if row["transform"] in ("rotated -30", "rotated +30") else kind
    return (row["set"], kind)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", nargs="+", default=["blazeface", "mtcnn", "haar"],
                        help="detector names, with settings if wanted: blazeface:threshold=0.6")  # fmt: skip
    parser.add_argument("--per-source", type=int, default=50, help="LFW / FER2013 crops used (default 50)")
    parser.add_argument("--fer2013", default=str(ROOT.parent / "shared" / "data" / "fer2013"),
                        help="folder with fer2013.tar.gz or fer2013.csv ('' to skip)")  # fmt: skip
    parser.add_argument("--min-face-size", type=int, default=20)
    parser.add_argument("--json", help="also write every row as JSON")
    args = parser.parse_args(argv)

    cases = make_cases(args.per_source, args.fer2013)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{len(cases)} images of 640x360; {os.cpu_count()} CPUs, load average {load:.2f}", file=sys.stderr)
    results, costs = {}, {}
    for spec in args.detectors:
        results[spec], costs[spec] = run(spec, cases, args.min_face_size)
        found = sum(r["found"] for r in results[spec])
        with_face = sum(r["set"] != "no face" for r in results[spec])
        false = sum(r["false"] for r in results[spec])
        print(f"{spec}: {found}/{with_face} found, {false} false, {costs[spec]:.1f} ms/image", file=sys.stderr)
    buckets = []
    for row in results[args.detectors[0]]:
        if _bucket(row) not in buckets:
            buckets.append(_bucket(row))
    print(f"\nFaces found / images (false detections), min_face_size {args.min_face_size}; load average {load:.2f}\n")
    print("| set | faces | " + " | ".join(args.detectors) + " |")
    print("|---|---|" + "---|" * len(args.detectors))
    for bucket in buckets + [("all", "")]:
        cells = []
        for spec in args.detectors:
            rows = [r for r in results[spec] if bucket[0] == "all" or _bucket(r) == bucket]
            false = sum(r["false"] for r in rows)
            if bucket[0] == "no face":
                cells.append(f"{false} false in {len(rows)}")
            else:
                with_face = [r for r in rows if r["set"] != "no face"]
                cells.append(f"{sum(r['found'] for r in with_face)}/{len(with_face)} ({false})")
        print(f"| {bucket[0]} | {bucket[1]} | " + " | ".join(cells) + " |")
    print("| ms per image | | " + " | ".join(f"{costs[s]:.1f}" for s in args.detectors) + " |")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"rows": results, "ms_per_image": costs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
