"""The results of `kerasfer.FER` and how they are written: `FaceResult`, `ImageResult`, `FrameResult`,
`VideoResult`, one flat row per face (`face_row`) and the CSV writer (`write_csv`).

This module imports only NumPy and the standard library; `kerasfer.inference.fer` (images) and
`kerasfer.inference.video` (videos) both build on it, and neither imports the other at module level.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib

import numpy as np


@dataclasses.dataclass
class FaceResult:
    """One face: where it is and what expression.

    Attributes:
        box: `(x, y, w, h)` in image pixels.
        landmarks: `(5, 2)` float32 or None (Haar, caller boxes).
        score: the detector's confidence (1.0 for caller-supplied faces).
        probabilities: `(num_classes,)` float32, unrounded, in `labels` order.
        labels: the class names.
        tracked: True when the box was carried over by the video tracker instead of detected in this frame.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray | None
    score: float
    probabilities: np.ndarray
    labels: tuple[str, ...]
    tracked: bool = False

    @property
    def label_index(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def label(self) -> str:
        return self.labels[self.label_index]

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.label_index])

    def to_dict(self) -> dict:
        return {
            "box": [int(v) for v in self.box],
            "landmarks": None if self.landmarks is None else np.asarray(self.landmarks, float).tolist(),
            "score": float(self.score),
            "label": self.label,
            "probabilities": {name: float(p) for name, p in zip(self.labels, self.probabilities)},
            "tracked": bool(self.tracked),
        }


@dataclasses.dataclass
class ImageResult:
    """The faces of one image (empty when none was found), or the error that stopped it (`on_error="record"`)."""

    faces: list[FaceResult]
    image_size: tuple[int, int] | None = None  # (height, width)
    source: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "image_size": None if self.image_size is None else list(self.image_size),
            "faces": [f.to_dict() for f in self.faces],
            "error": self.error,
        }


@dataclasses.dataclass
class FrameResult:
    index: int
    time_s: float
    faces: list[FaceResult]
    detected: bool  # the detector ran on this frame

    def to_dict(self) -> dict:
        return {
            "frame": self.index,
            "time_s": self.time_s,
            "detected": self.detected,
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclasses.dataclass
class VideoResult:
    """The per-frame results of a video and how long each part took."""

    source: str
    fps: float
    frame_size: tuple[int, int]  # (height, width)
    frames_read: int
    frames: list[FrameResult]
    labels: tuple[str, ...]
    seconds: float = 0.0
    detect_seconds: float = 0.0
    classify_seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C: `frames` are those processed until then

    @property
    def processing_fps(self) -> float:
        return self.frames_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "fps": self.fps,
            "frame_size": list(self.frame_size),
            "frames_read": self.frames_read,
            "labels": list(self.labels),
            "seconds": self.seconds,
            "processing_fps": self.processing_fps,
            **({"interrupted": True} if self.interrupted else {}),
            "frames": [f.to_dict() for f in self.frames],
        }

    def rows(self) -> list[dict]:
        """One flat row per face per frame (frames without faces give one row with empty face fields)."""
        rows = []
        for fr in self.frames:
            base = {"source": self.source, "frame": fr.index, "time_s": round(fr.time_s, 6)}
            if not fr.faces:
                rows.append({**base, "face": ""})
            for i, face in enumerate(fr.faces):
                rows.append({**base, **face_row(face, i)})
        return rows

    def to_json(self, path):
        pathlib.Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    def to_csv(self, path):
        write_csv(path, self.rows(), self.labels)


def face_row(face: FaceResult, index: int) -> dict:
    x, y, w, h = face.box
    row = {
        "face": index,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "score": float(face.score),
        "tracked": int(face.tracked),
        "label": face.label,
    }
    row.update({f"p_{name}": float(p) for name, p in zip(face.labels, face.probabilities)})
    return row


CSV_BASE_COLUMNS = ["source", "frame", "time_s", "face", "x", "y", "w", "h", "score", "tracked", "label"]


def write_csv(path, rows, labels, extra_columns=()):
    columns = CSV_BASE_COLUMNS + [f"p_{n}" for n in labels] + list(extra_columns)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", restval="")
        writer.writeheader()
        writer.writerows(rows)


def image_rows(result: ImageResult) -> list[dict]:
    """The flat CSV rows of one image: one per face, one empty row for no face or an error."""
    base = {"source": result.source, "frame": "", "time_s": ""}
    if result.error:
        return [{**base, "face": "", "error": result.error}]
    if not result.faces:
        return [{**base, "face": "", "error": ""}]
    return [{**base, **face_row(face, i), "error": ""} for i, face in enumerate(result.faces)]


__all__ = [
    "CSV_BASE_COLUMNS",
    "FaceResult",
    "FrameResult",
    "ImageResult",
    "VideoResult",
    "face_row",
    "image_rows",
    "write_csv",
]
