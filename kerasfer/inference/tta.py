"""Test-time augmentation: average a classifier's probabilities over a few views of each face.

Modes (`TTA_MODES`):

- `"none"`: the image as it is (one model call per image).
- `"flip"`: the image and its mirror image (2 views; costs 2x).
- `"crops"`: ten crops, the usual FER2013 recipe: the four corner crops and the centre crop,
  each `crop_fraction` (0.9) of the side and resized back to the model's input, and the
  mirror image of each (10 views; costs 10x). The crops zoom in by 1/0.9, like the random
  shifts and zooms the packaged models are trained with.

Views are averaged as probabilities, so `predict` must return probabilities (kerasfer's
runners and models do). Used by `kerasfer evaluate --tta` and `kerasfer.FER(tta=...)`; works
on NumPy batches with any backend (resizing goes through `kerasfer.data.pipeline.prepare_images`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

TTA_MODES = ("none", "flip", "crops")
CROP_FRACTION = 0.9


def check_mode(mode: str) -> str:
    if mode not in TTA_MODES:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {mode!r}.")
    return mode


def num_views(mode: str) -> int:
    """How many model inputs one image costs under `mode`."""
    return {"none": 1, "flip": 2, "crops": 10}[check_mode(mode)]


def views(batch: np.ndarray, mode: str, crop_fraction: float = CROP_FRACTION) -> list[np.ndarray]:
    """The augmented copies of a `(N, H, W, C)` batch, each `(N, H, W, C)` float32."""
    check_mode(mode)
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim != 4:
        raise ValueError(f"TTA takes a batch (N, H, W, C); got shape {batch.shape}.")
    if mode == "none":
        return [batch]
    if mode == "flip":
        return [batch, batch[:, :, ::-1]]
    if not 0.5 <= crop_fraction < 1.0:
        raise ValueError(f"crop_fraction must be in [0.5, 1), got {crop_fraction}.")
    from kerasfer.data.pipeline import prepare_images

    n, h, w, c = batch.shape
    ch, cw = max(1, round(h * crop_fraction)), max(1, round(w * crop_fraction))
    offsets = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
    out = []
    for y, x in offsets:
        crop = batch[:, y : y + ch, x : x + cw]
        resized = np.asarray(prepare_images(crop, (h, w, c)), dtype=np.float32) if n else batch
        out += [resized, resized[:, :, ::-1]]
    return out


def predict_tta(predict: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, mode: str = "none") -> np.ndarray:
    """The mean of `predict(view)` over the `mode` views of `batch`: `(N, num_classes)` float32.

    All views go through `predict` in one call (N * views images), so a runner batches them.
    """
    parts = views(batch, mode)
    if len(parts) == 1:
        return np.asarray(predict(parts[0]), dtype=np.float32)
    n = len(parts[0])
    out = np.asarray(predict(np.concatenate(parts)), dtype=np.float32)
    return out.reshape(len(parts), n, -1).mean(axis=0)


__all__ = ["CROP_FRACTION", "TTA_MODES", "check_mode", "num_views", "predict_tta", "views"]
