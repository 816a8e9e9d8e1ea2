"""Measures how FER2013 frames its faces, as an alignment `margin` (see `kerasfer.data.align.face_template`).

    python tools/fer2013_crop_margin.py --manual-dir DIR [--num 300] [--split validation]

FER2013's 48x48 faces are loose crops, wider than the ArcFace five-point crop that `kerasfer.FER`
aligns to by default. A model trained on FER2013 sees faces best framed the way FER2013 frames
them. This script runs MTCNN on FER2013 images (upscaled 4x for the detector), fits the similarity
transform from the ArcFace template to the detected five points in each image, and reports the
margin `m` whose template `(unit + m) / (1 + 2 m)` has the same scale (median over images), and
where the face centre sits. The packaged FER2013 weights record it as `align_margin` in their card.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    import cv2
    import numpy as np

    from kerasfer.data import align
    from kerasfer.export.evaluate import load_eval_data

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=300)
    p.add_argument("--split", default="validation", help="TFDS split (validation = FER2013 PublicTest)")
    p.add_argument("--manual-dir", required=True, help="folder holding fer2013.tar.gz or fer2013.csv")
    p.add_argument("--data-dir", help="TFDS data directory")
    args = p.parse_args(argv)

    images, _ = load_eval_data(
        f"fer2013:{args.split}", (48, 48, 1), args.num, manual_dir=args.manual_dir, data_dir=args.data_dir
    )
    images = images.astype(np.uint8)
    detector = align.get_detector("mtcnn")
    unit = align.ARCFACE_TEMPLATE_112 / 112.0
    scales, centres, found = [], [], 0
    for img in images:
        big = cv2.resize(img[..., 0], (192, 192), interpolation=cv2.INTER_CUBIC)
        faces = detector(np.repeat(big[..., None], 3, axis=-1))
        if not faces or faces[0].landmarks is None:
            continue
        found += 1
        points = np.asarray(faces[0].landmarks, dtype=np.float64) / 192.0  # in units of the crop side
        m = align.similarity_transform(unit, points)
        scales.append(float(np.hypot(m[0, 0], m[1, 0])))
        centres.append(points.mean(0))
    if not scales:
        print("MTCNN found no faces", file=sys.stderr)
        return 1
    a = float(np.median(scales))
    margin = (1.0 / a - 1.0) / 2.0
    c = np.median(np.asarray(centres), axis=0)
    template_centre = (unit.mean(0) + margin) / (1 + 2 * margin)
    print(f"{found}/{len(images)} {args.split} images with five landmarks")
    print(f"median template scale {a:.3f} (IQR {np.percentile(scales, 25):.3f}-{np.percentile(scales, 75):.3f})")
    print(f"=> align margin {margin:.3f}")
    print(f"landmark centre (x, y) in the crop: FER2013 {c[0]:.3f}, {c[1]:.3f}; "
          f"aligned at that margin {template_centre[0]:.3f}, {template_centre[1]:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
