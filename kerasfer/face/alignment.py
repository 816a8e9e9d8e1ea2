"""Five-point face alignment.

Alignment maps the five landmarks [left eye, right eye, nose, left mouth corner, right mouth corner] (left/right as
seen in the image) onto the standard ArcFace/InsightFace 112x112 template with a least-squares similarity transform
(Umeyama), the alignment the LFNSB/LFER-LDL papers use (with RetinaFace's five points). When only a box is known the
face is cut as a square centred on the box, enlarged by `margin` on each side. Images are RGB `uint8` (H, W, 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kerasfer.face.faces import ARCFACE_TEMPLATE_112
from kerasfer.face.faces import Face
from kerasfer.face.faces import check_landmarks
from kerasfer.face.images import load_image


def _output_hw(output_size) -> tuple[int, int]:
    if isinstance(output_size, int | np.integer):
        hw = (int(output_size), int(output_size))
    else:
        hw = tuple(int(v) for v in output_size)
        if len(hw) != 2:
            raise ValueError(f"output_size is an int or (height, width); got {output_size!r}.")
    if min(hw) < 8:
        raise ValueError(f"output_size must be at least 8 pixels; got {output_size!r}.")
    return hw


def face_template(output_size=112, margin: float = 0.0) -> np.ndarray:
    """The ArcFace five-point template for an `output_size` crop ((5, 2) float32, x/y in output pixels).

    `margin` adds context: the 112x112 template region covers the central `1 / (1 + 2 * margin)` of the crop, i.e.
    `margin` is the fraction of that region added on each side (0.0 = the standard ArcFace crop). A non-square
    `output_size=(h, w)` scales x by `w / 112` and y by `h / 112`.
    """
    if margin < 0 or not np.isfinite(margin):
        raise ValueError(f"margin must be >= 0, got {margin}.")
    h, w = _output_hw(output_size)
    unit = ARCFACE_TEMPLATE_112 / 112.0
    unit = (unit + margin) / (1.0 + 2.0 * margin)
    return (unit * np.array([w, h], dtype=np.float32)).astype(np.float32)


def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation; Umeyama 1991) mapping `src` to
    `dst` ((N, 2) points each). Returns the 2x3 matrix for `cv2.warpAffine`."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"Need two (N>=2, 2) point sets of the same shape; got {src.shape} and {dst.shape}.")
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var < 1e-12:
        raise ValueError("The landmarks are all at the same point; cannot align.")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_face(
    image,
    landmarks=None,
    box=None,
    output_size=112,
    margin: float = 0.0,
    border_value: int = 0,
) -> np.ndarray:
    """Cuts one face out of an image as an aligned `output_size` RGB uint8 crop.

    With `landmarks` ((5, 2) [left eye, right eye, nose, mouth left, mouth right], image pixels), a similarity
    transform maps them onto `face_template(output_size, margin)` (the ArcFace 112x112 template). With only a
    `box` `(x, y, w, h)`, the crop is the square of side `max(w, h) * (1 + 2 * margin)` centred on the box. Parts
    outside the image are filled with `border_value`. Shrinking is anti-aliased (warp at an integer multiple of the
    output size, then area-resize), so small models see what a bilinear antialiased resize would give.

    Args:
        image: a path or an image array (converted with `to_rgb`).
        landmarks: five landmarks, or None.
        box: `(x, y, w, h)`, used when `landmarks` is None.
        output_size: an int or `(height, width)`.
        margin: extra context on each side, as a fraction of the face region (see `face_template`).
        border_value: the fill value outside the image.

    Returns:
        `(height, width, 3)` uint8 RGB.
    """
    import cv2

    image = load_image(image)
    out_h, out_w = _output_hw(output_size)
    if landmarks is not None:
        points = check_landmarks(landmarks)
        matrix = similarity_transform(points, face_template((out_h, out_w), margin))
        # Landmarks and the template are in pixel-index coordinates (as in InsightFace); go to pixel-edge
        # coordinates (index + 0.5) like the box branch, so both share the code below.
        matrix[:, 2] = matrix[:, 2] + 0.5 - matrix[:, :2] @ np.array([0.5, 0.5])
    elif box is not None:
        if margin < 0 or not np.isfinite(margin):
            raise ValueError(f"margin must be >= 0, got {margin}.")
        x, y, bw, bh = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1)[:4])
        if not (bw > 0 and bh > 0) or len(np.asarray(box).reshape(-1)) != 4:
            raise ValueError(f"A face box is (x, y, w, h) with positive w and h; got {box!r}.")
        side = max(bw, bh) * (1.0 + 2.0 * margin)
        cx, cy = x + bw / 2.0, y + bh / 2.0
        # Map the square [cx - side/2, cx + side/2] onto [0, out_w] (pixel-edge convention, like a resize).
        sx, sy = out_w / side, out_h / side
        matrix = np.array([[sx, 0.0, -(cx - side / 2.0) * sx], [0.0, sy, -(cy - side / 2.0) * sy]])
    else:
        raise ValueError("align_face needs landmarks or a box.")
    # `matrix` maps pixel-edge coordinates (pixel i spans [i, i + 1]); warpAffine maps pixel indices, so shift by
    # half a pixel on both sides. For strong shrinking, warp at `factor` times the size and area-resize down.
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("Degenerate face geometry (zero-size transform); check the landmarks or box.")
    pre = min(1.0, 8.0 * scale, 32000.0 / max(image.shape[:2]))  # OpenCV's warp needs sides < 32767
    if pre < 1.0:  # shrinking by more than 8x (or a giant image): area-resize the image first
        small = cv2.resize(
            image,
            (max(1, round(image.shape[1] * pre)), max(1, round(image.shape[0] * pre))),
            interpolation=cv2.INTER_AREA,
        )
        fx, fy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        matrix = matrix @ np.array([[1.0 / fx, 0.0, 0.0], [0.0, 1.0 / fy, 0.0], [0.0, 0.0, 1.0]])
        image = small
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = min(8, max(1, int(np.floor(1.0 / scale + 1e-6))))
    big = matrix * factor
    half = np.array([0.5, 0.5])
    big[:, 2] = big[:, 2] + big[:, :2] @ half - half
    crop = cv2.warpAffine(
        image,
        big,
        (out_w * factor, out_h * factor),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value,) * 3,
    )
    if factor > 1:
        crop = cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)
    return crop


def align_faces(image, faces: Sequence[Face], output_size=112, margin: float = 0.0) -> np.ndarray:
    """Aligns several faces of one image → `(N, H, W, 3)` uint8 (landmarks when a face has them, else its box)."""
    image = load_image(image)
    h, w = _output_hw(output_size)
    crops = [align_face(image, landmarks=f.landmarks, box=f.box, output_size=(h, w), margin=margin) for f in faces]
    return np.stack(crops) if crops else np.zeros((0, h, w, 3), np.uint8)
