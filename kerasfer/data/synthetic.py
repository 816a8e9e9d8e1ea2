"""`synthetic_faces`: procedurally drawn faces whose expression is the label (numpy + OpenCV only).

A download-free stand-in for a FER dataset, used by the demo, the tutorials and the tests.
Each image is a cartoon face drawn with OpenCV. The expression (the 7 basic classes in
canonical order: angry, disgust, fear, happy, sad, surprise, neutral) sets the brows
(height, inner/outer slant), the eyes (openness) and the mouth (corner curvature, opening,
width, asymmetry, disgust's nose wrinkle), each drawn from a class-specific distribution
with per-image jitter and a random *intensity* that blends the expression towards neutral,
so neighbouring classes overlap. Nuisances: face size, position, in-plane rotation, a yaw
that shifts the features sideways, skin and hair colour, background colour and clutter,
glasses, a directional lighting gradient, contrast/gamma, blur, Gaussian noise and random
occluders (a bar or blob over part of the face). The task is learnable (a small CNN gets
far above chance within a few epochs) but not trivial.

Generation is deterministic: example `i` of `generate(n, seed)` depends only on `(seed, i)`
(so `generate(10, s)[:5]` equals `generate(5, s)`), and labels are balanced in blocks of 7.
"""

import math

import numpy as np

from kerasfer.data.labels import BASIC7

NUM_CLASSES = 7
CLASS_NAMES = BASIC7

# Split sizes and seeds used by the TFDS builder and `kerasfer.data.load_numpy`.
SPLITS = {"train": (4200, 1), "validation": (700, 2), "test": (700, 3)}
IMAGE_SIZE = 64

# Expression parameters per class (face coordinates: face half-height 1, y down):
#   brow_y: brow height offset (negative = raised), brow_slant: inner end minus outer end
#   (positive = inner end lower, the angry "V"), eye_open: eye half-height scale,
#   mouth_curve: corner lift (positive = smile), mouth_open: lip gap, mouth_w: half width,
#   mouth_asym: lifts one corner (disgust sneer), wrinkle: nose wrinkle lines.
_NEUTRAL = dict(
    brow_y=0.0, brow_slant=0.0, eye_open=1.0, mouth_curve=0.0, mouth_open=0.0, mouth_w=0.24, mouth_asym=0.0, wrinkle=0.0
)
_EXPRESSIONS = {
    "angry": dict(brow_y=0.06, brow_slant=0.13, eye_open=0.7, mouth_curve=-0.04, mouth_open=0.02, mouth_w=0.2),
    "disgust": dict(
        brow_y=0.04,
        brow_slant=0.06,
        eye_open=0.55,
        mouth_curve=-0.07,
        mouth_open=0.04,
        mouth_w=0.22,
        mouth_asym=0.09,
        wrinkle=1.0,
    ),
    "fear": dict(brow_y=-0.08, brow_slant=-0.1, eye_open=1.55, mouth_curve=-0.05, mouth_open=0.1, mouth_w=0.3),
    "happy": dict(brow_y=-0.02, brow_slant=0.0, eye_open=0.75, mouth_curve=0.12, mouth_open=0.07, mouth_w=0.31),
    "sad": dict(brow_y=-0.02, brow_slant=-0.12, eye_open=0.8, mouth_curve=-0.11, mouth_open=0.0, mouth_w=0.22),
    "surprise": dict(brow_y=-0.14, brow_slant=0.0, eye_open=1.7, mouth_curve=0.0, mouth_open=0.24, mouth_w=0.14),
    "neutral": {},
}
# Per-image jitter (standard deviation) of each parameter.
_JITTER = dict(
    brow_y=0.03,
    brow_slant=0.035,
    eye_open=0.18,
    mouth_curve=0.03,
    mouth_open=0.025,
    mouth_w=0.03,
    mouth_asym=0.02,
    wrinkle=0.0,
)

_SKIN = np.array(
    [[224, 196, 170], [198, 160, 128], [160, 118, 90], [110, 76, 56], [236, 208, 186], [180, 140, 110]], np.float32
)


def _params(label, rng):
    base = dict(_NEUTRAL)
    base.update(_EXPRESSIONS[CLASS_NAMES[label]])
    intensity = 1.0 if label == 6 else rng.uniform(0.7, 1.2)
    out = {}
    for k, neutral in _NEUTRAL.items():
        v = neutral + intensity * (base[k] - neutral)
        out[k] = v + rng.normal(0.0, 0.8 * _JITTER[k])
    out["eye_open"] = max(out["eye_open"], 0.15)
    out["mouth_open"] = max(out["mouth_open"], 0.0)
    out["mouth_w"] = max(out["mouth_w"], 0.1)
    out["mouth_asym"] *= rng.choice([-1.0, 1.0])
    return out


_GRIDS = {}


def _grid(s):
    if s not in _GRIDS:
        _GRIDS[s] = tuple(np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5)
    return _GRIDS[s]


def _label_for(index, seed):
    block, pos = divmod(index, NUM_CLASSES)
    perm = np.random.default_rng([seed, block, 7]).permutation(NUM_CLASSES)
    return int(perm[pos])


def _draw_face(label, rng, size):
    import cv2

    s = 2 * size  # draw at 2x, then downsample (anti-aliasing)
    shift = 4  # sub-pixel precision bits for cv2 drawing
    mult = 1 << shift

    # Background: a colour plus clutter.
    bg = rng.uniform(20, 235, size=3)
    img = np.empty((s, s, 3), np.float32)
    img[:] = bg
    for _ in range(rng.integers(0, 3)):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        c = tuple(int(v) for v in rng.integers(0, s, 2))
        axes = tuple(int(v) for v in rng.integers(s // 16, s // 3, 2))
        cv2.ellipse(img, c, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)

    # Pose: scale, centre, roll, yaw.
    face_h = rng.uniform(0.34, 0.46) * s  # half height of the face ellipse in pixels
    cx = s / 2 + rng.uniform(-0.08, 0.08) * s
    cy = s / 2 + rng.uniform(-0.06, 0.06) * s
    roll = math.radians(rng.uniform(-15, 15))
    yaw = rng.uniform(-0.3, 0.3)
    pitch = rng.uniform(-0.08, 0.08)
    cr, sr = math.cos(roll), math.sin(roll)

    def tx(pts):
        pts = np.asarray(pts, np.float32).reshape(-1, 2)
        x = pts[:, 0] * (1 - 0.35 * abs(yaw)) + 0.32 * yaw
        y = pts[:, 1] + pitch
        xr = (cr * x - sr * y) * face_h + cx
        yr = (sr * x + cr * y) * face_h + cy
        return np.round(np.stack([xr, yr], -1) * mult).astype(np.int32)

    def ellipse_pts(x0, y0, ax, ay, n=28, t0=0.0, t1=2 * math.pi):
        t = np.linspace(t0, t1, n)
        return np.stack([x0 + ax * np.cos(t), y0 + ay * np.sin(t)], -1)

    skin = _SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 12, 3)
    skin = tuple(float(c) for c in np.clip(skin, 0, 255))
    dark = tuple(float(c) for c in rng.uniform(0, 45, 3))
    lw = max(1, int(round(face_h * rng.uniform(0.06, 0.08))))

    # Hair behind/above the face, then the face (outline drawn in face coordinates, so
    # yaw/roll apply; the outline is not shifted by yaw).
    if rng.random() < 0.7:
        hair = tuple(float(c) for c in rng.uniform(5, 120, 3))
        hp = ellipse_pts(0, -0.25, 0.95, 0.95, 40, math.pi, 2 * math.pi)
        pts = np.stack(
            [(cr * hp[:, 0] - sr * hp[:, 1]) * face_h + cx, (sr * hp[:, 0] + cr * hp[:, 1]) * face_h + cy], -1
        )
        cv2.fillPoly(img, [np.round(pts * mult).astype(np.int32)], hair, cv2.LINE_AA, shift)
    fp = ellipse_pts(0, 0, 0.78, 1.0, 48)
    pts = np.stack([(cr * fp[:, 0] - sr * fp[:, 1]) * face_h + cx, (sr * fp[:, 0] + cr * fp[:, 1]) * face_h + cy], -1)
    cv2.fillPoly(img, [np.round(pts * mult).astype(np.int32)], skin, cv2.LINE_AA, shift)

    p = _params(label, rng)

    # Eyes.
    eye_hw, eye_hh = 0.17, 0.1
    pupil = tuple(float(c) for c in rng.uniform(10, 90, 3))
    for side in (-1, 1):
        ex, ey = side * 0.32, -0.18
        hh = eye_hh * p["eye_open"] * rng.uniform(0.92, 1.08)
        e = tx(ellipse_pts(ex, ey, eye_hw, hh, 24))
        cv2.fillPoly(img, [e], (245.0, 245.0, 245.0), cv2.LINE_AA, shift)
        pr = min(0.065, hh * 0.95)
        gaze = rng.uniform(-0.04, 0.04)
        cv2.fillPoly(img, [tx(ellipse_pts(ex + gaze, ey, pr, pr, 16))], pupil, cv2.LINE_AA, shift)
        cv2.polylines(img, [e], True, dark, lw, cv2.LINE_AA, shift)
        # Brows: inner end at |x|=0.14, outer at |x|=0.5; slant > 0 lowers the inner end.
        by = -0.42 + p["brow_y"]
        inner = (side * 0.13, by + p["brow_slant"] / 2)
        mid = (side * 0.31, by - 0.03 - (0.04 if p["brow_y"] < -0.09 else 0.0))
        outer = (side * 0.5, by - p["brow_slant"] / 2 + 0.02)
        cv2.polylines(img, [tx([inner, mid, outer])], False, dark, 2 * lw + 1, cv2.LINE_AA, shift)

    # Nose (and disgust's wrinkles).
    cv2.polylines(img, [tx([(0.0, -0.05), (-0.06, 0.2), (0.05, 0.22)])], False, dark, lw, cv2.LINE_AA, shift)
    if p["wrinkle"] > 0.5:
        for side in (-1, 1):
            w = [(side * 0.08, -0.02), (side * 0.14, 0.05), (side * 0.12, 0.12)]
            cv2.polylines(img, [tx(w)], False, dark, lw, cv2.LINE_AA, shift)

    # Mouth: corners at (+-w, y0 - curve -+ asym); upper/lower lips are parabolas.
    y0, w = 0.52, 1.25 * p["mouth_w"]
    xs = np.linspace(-1, 1, 21)
    corner = y0 - 1.4 * p["mouth_curve"] - p["mouth_asym"] * xs
    up = (y0 - p["mouth_open"] / 2) * (1 - xs**2) + corner * xs**2
    lo = (y0 + p["mouth_open"] / 2) * (1 - xs**2) + corner * xs**2
    if p["mouth_open"] > 0.03:
        poly = np.concatenate([np.stack([xs * w, up], -1), np.stack([xs[::-1] * w, lo[::-1]], -1)])
        cv2.fillPoly(img, [tx(poly)], (60.0, 20.0, 30.0), cv2.LINE_AA, shift)
        cv2.polylines(img, [tx(poly)], True, dark, lw, cv2.LINE_AA, shift)
    else:
        cv2.polylines(img, [tx(np.stack([xs * w, (up + lo) / 2], -1))], False, dark, lw + 1, cv2.LINE_AA, shift)

    # Glasses.
    if rng.random() < 0.15:
        frame = tuple(float(c) for c in rng.uniform(0, 80, 3))
        for side in (-1, 1):
            cv2.polylines(img, [tx(ellipse_pts(side * 0.32, -0.18, 0.21, 0.15))], True, frame, lw, cv2.LINE_AA, shift)

    # Occluders: a bar or a blob over a random part of the face.
    if rng.random() < 0.2:
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        ox, oy = rng.uniform(-0.7, 0.7), rng.uniform(-0.6, 0.8)
        if rng.random() < 0.5:
            ow, oh = rng.uniform(0.15, 0.5), rng.uniform(0.08, 0.25)
            rect = [(ox - ow, oy - oh), (ox + ow, oy - oh), (ox + ow, oy + oh), (ox - ow, oy + oh)]
            cv2.fillPoly(img, [tx(rect)], color, cv2.LINE_AA, shift)
        else:
            r = rng.uniform(0.12, 0.3)
            cv2.fillPoly(img, [tx(ellipse_pts(ox, oy, r, r * rng.uniform(0.6, 1.4), 20))], color, cv2.LINE_AA, shift)

    # Photometric nuisances: directional lighting, contrast, gamma, blur, noise.
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = _grid(s)
    light = 1.0 + rng.uniform(0.0, 0.6) * (math.cos(ang) * xx + math.sin(ang) * yy) * 2
    img *= light[..., None] * rng.uniform(0.6, 1.25)
    img = np.clip(img, 0, 255)
    img = 255.0 * (img / 255.0) ** rng.uniform(0.7, 1.4)
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3:
        k = float(rng.uniform(0.4, 1.0)) * size / 64
        img = cv2.GaussianBlur(img, (0, 0), k)
    img = img + rng.normal(0, rng.uniform(1.0, 8.0), img.shape).astype(np.float32)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def generate_example(index: int, seed: int = 0, image_size: int = IMAGE_SIZE, channels: int = 3):
    """Returns example `index` of the stream `seed`: `(uint8 image (S, S, C), int label)`."""
    import cv2

    label = _label_for(index, seed)
    rng = np.random.default_rng([seed, index, 1])
    img = _draw_face(label, rng, image_size)
    if channels == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
    return img, label


def generate(
    num_examples: int, seed: int = 0, image_size: int = 64, channels: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Generates `num_examples` synthetic face images with their expression labels.

    Args:
        num_examples: number of images (>= 0).
        seed: stream seed; the same `(seed, index)` always gives the same image.
        image_size: side of the square images (>= 16).
        channels: 3 (RGB) or 1 (grayscale).

    Returns:
        `(images, labels)`: uint8 `(N, S, S, C)` and int64 `(N,)` in `0..6` (canonical order:
        angry, disgust, fear, happy, sad, surprise, neutral).

    Example:
        >>> x, y = generate(14, seed=0, image_size=32)
        >>> x.shape, x.dtype, sorted(set(y.tolist()))
        ((14, 32, 32, 3), dtype('uint8'), [0, 1, 2, 3, 4, 5, 6])
    """
    if int(num_examples) != num_examples or num_examples < 0:
        raise ValueError(f"num_examples must be a non-negative integer, got {num_examples!r}.")
    if int(image_size) != image_size or image_size < 16:
        raise ValueError(f"image_size must be an integer >= 16 (faces are unreadable below), got {image_size!r}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
    num_examples, image_size = int(num_examples), int(image_size)
    images = np.empty((num_examples, image_size, image_size, channels), np.uint8)
    labels = np.empty((num_examples,), np.int64)
    for i in range(num_examples):
        images[i], labels[i] = generate_example(i, seed, image_size, channels)
    return images, labels


def generate_split(split: str, image_size: int = IMAGE_SIZE, channels: int = 3):
    """The images and labels of the `synthetic_faces` split `split` ("train", "validation", "test")."""
    if split not in SPLITS:
        raise ValueError(f"Unknown synthetic_faces split {split!r}; expected one of {sorted(SPLITS)}.")
    n, seed = SPLITS[split]
    return generate(n, seed=seed, image_size=image_size, channels=channels)
