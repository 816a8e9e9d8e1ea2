"""Video analysis: detection every N frames, optical-flow box tracking in between, batched classification.

For each processed frame the faces are aligned and classified in one model call. With `every_n_frames=N`, the
detector runs on frames 0, N, 2N, ...; in between:

* `track=True` (default): each face is followed with pyramidal Lucas-Kanade optical flow (its five landmarks,
  or corner features inside the box for box-only detectors) and a RANSAC similarity fit, and classified again,
  so every frame gets a result (`FaceResult.tracked=True`). A face whose points are lost is dropped until the
  next detection.
* `track=False`: the frames in between are skipped (no result; an annotated video shows the last result).

Results go to a `VideoResult` (`to_dict`, `to_json`, `to_csv`); `annotate="out.mp4"` (mp4v) or `"out.avi"` (MJPG)
writes the video with boxes, landmarks and labels drawn.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

from kerasfer.data import align as _align
from kerasfer.inference.results import FaceResult
from kerasfer.inference.results import FrameResult
from kerasfer.inference.results import VideoResult

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


class FlowTracker:
    """Carries faces from frame to frame with Lucas-Kanade optical flow (OpenCV).

    Each face is followed through its landmarks (plus up to 20 corner features inside its box); a RANSAC
    similarity transform fitted to the points that were found again moves the box and the landmarks.
    """

    def __init__(self, max_features: int = 20):
        self.max_features = max_features
        self._gray = None
        self._tracks = []  # [face, points (N, 1, 2) float32]

    def reset(self, gray, faces):
        self._gray = gray
        self._tracks = [(face, self._points(gray, face)) for face in faces]

    def _points(self, gray, face):
        import cv2

        x, y, w, h = face.box
        mask = np.zeros_like(gray)
        mask[y : y + h, x : x + w] = 255
        features = cv2.goodFeaturesToTrack(gray, self.max_features, 0.01, max(2.0, min(w, h) / 10), mask=mask)
        pts = [] if features is None else [features.reshape(-1, 2)]
        if face.landmarks is not None:
            pts.append(face.landmarks)
        if not pts:
            pts.append(np.array([[x + w / 2, y + h / 2]], np.float32))
        return np.concatenate(pts).astype(np.float32).reshape(-1, 1, 2)

    def update(self, gray) -> list[_align.Face]:
        import cv2

        h_img, w_img = gray.shape[:2]
        tracks, faces = [], []
        for face, pts in self._tracks:
            new, status, _ = cv2.calcOpticalFlowPyrLK(
                self._gray, gray, pts, None, winSize=(21, 21), maxLevel=3,
                criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03),
            )  # fmt: skip
            if new is None:
                continue
            ok = status.reshape(-1).astype(bool)
            src, dst = pts.reshape(-1, 2)[ok], new.reshape(-1, 2)[ok]
            if len(src) == 0:
                continue
            if len(src) >= 3:
                matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
            else:
                matrix = None
            if matrix is None:
                shift = np.median(dst - src, axis=0)
                matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]])
            x, y, w, h = face.box
            centre = np.array([x + w / 2.0, y + h / 2.0]) @ matrix[:, :2].T + matrix[:, 2]
            scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
            nw, nh = w * scale, h * scale
            box = _align.clip_box((centre[0] - nw / 2, centre[1] - nh / 2, nw, nh), (h_img, w_img))
            if box is None or box[2] * box[3] < 0.25 * w * h:  # left the frame
                continue
            landmarks = None
            if face.landmarks is not None:
                landmarks = (face.landmarks @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
            moved = _align.Face(box=box, landmarks=landmarks, score=face.score)
            faces.append(moved)
            keep = dst.reshape(-1, 1, 2).astype(np.float32)
            if len(keep) < max(3, len(pts) // 2):
                keep = self._points(gray, moved)
            tracks.append((moved, keep))
        self._gray, self._tracks = gray, tracks
        return faces


def _draw(frame_bgr, faces: list[FaceResult]):
    import cv2

    for face in faces:
        x, y, w, h = face.box
        colour = (0, 200, 255) if face.tracked else (0, 255, 0)
        cv2.rectangle(frame_bgr, (x, y), (x + w, y + h), colour, 2)
        if face.landmarks is not None:
            for px, py in face.landmarks:
                cv2.circle(frame_bgr, (int(px), int(py)), 2, (255, 0, 0), -1)
        text = f"{face.label} {face.confidence:.2f}"
        cv2.putText(frame_bgr, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return frame_bgr


def open_writer(path, fps, frame_size_hw):
    """A `cv2.VideoWriter` for `.mp4` (mp4v) or `.avi` (MJPG); clear error if OpenCV cannot write it."""
    import cv2

    path = pathlib.Path(path)
    codec = {".avi": "MJPG", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"Annotated videos are written as .mp4 or .avi; got {path}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frame_size_hw
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), float(fps or 25.0), (w, h))
    if not writer.isOpened():
        raise ValueError(f"OpenCV cannot write the video {path} (codec {codec}).")
    return writer


def analyze_video(
    fer,
    source,
    *,
    every_n_frames: int = 1,
    track: bool = True,
    annotate=None,
    output=None,
    progress: bool = True,
    max_frames: int | None = None,
) -> VideoResult:
    """Runs detection, alignment and classification over a video.

    Args:
        fer: a `kerasfer.inference.FER`.
        source: a video file or a camera index (int).
        every_n_frames: run the detector on every N-th frame (1 = every frame).
        track: between detections, track faces with optical flow (True) or skip those frames (False).
        annotate: write an annotated copy (`.mp4` or `.avi`).
        output: also write the results to a `.json` or `.csv` file.
        progress: show a progress bar on stderr.
        max_frames: stop after this many frames.

    Returns:
        A `VideoResult`.
    """
    import cv2

    if int(every_n_frames) < 1:
        raise ValueError(f"every_n_frames must be >= 1, got {every_n_frames}.")
    every_n_frames = int(every_n_frames)
    if output is not None and pathlib.Path(output).suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"output must be a .json or .csv path; got {output}.")
    if isinstance(source, int):
        cap = cv2.VideoCapture(source)
        name = f"camera:{source}"
    else:
        path = pathlib.Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"No such video file: {path}")
        cap = cv2.VideoCapture(str(path))
        name = str(path)
    if not cap.isOpened():
        raise ValueError(f"OpenCV cannot open the video {name} (not a video, or an unsupported codec).")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if max_frames:
        total = min(total, max_frames) if total > 0 else max_frames
    bar = _align.Progress(total if total > 0 else None, desc="video", enabled=progress)
    tracker = FlowTracker() if track else None
    writer = None
    frames, last = [], []
    t_detect = t_classify = 0.0
    start = time.perf_counter()
    index = 0
    size = None
    try:
        while max_frames is None or index < max_frames:
            ok, frame_bgr = cap.read()
            if not ok or frame_bgr is None:
                break
            if size is None:
                size = frame_bgr.shape[:2]
                if annotate is not None:
                    writer = open_writer(annotate, fps, size)
            rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB) if frame_bgr.ndim == 3 else _align.to_rgb(frame_bgr)
            timestamp = index / fps if fps > 0 else float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
            detect_now = index % every_n_frames == 0
            faces = None
            if detect_now:
                t0 = time.perf_counter()
                faces = fer.detect(rgb)
                t_detect += time.perf_counter() - t0
                if tracker is not None:
                    tracker.reset(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY), faces)
            elif tracker is not None:
                t0 = time.perf_counter()
                faces = tracker.update(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY))
                t_detect += time.perf_counter() - t0
            if faces is not None:
                t0 = time.perf_counter()
                results = []
                if faces:
                    probs = fer.classify_inputs(fer.to_model_input(fer.align(rgb, faces)))
                    results = [
                        FaceResult(f.box, f.landmarks, f.score, p, fer.labels, tracked=not detect_now)
                        for f, p in zip(faces, probs)
                    ]
                t_classify += time.perf_counter() - t0
                frames.append(FrameResult(index, timestamp, results, detected=detect_now))
                last = results
            if writer is not None:
                writer.write(_draw(frame_bgr.copy(), last))
            index += 1
            bar.update()
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        bar.close()
    if index == 0:
        raise ValueError(f"No frame could be read from {name}.")
    result = VideoResult(
        source=name,
        fps=fps,
        frame_size=tuple(size),
        frames_read=index,
        frames=frames,
        labels=fer.labels,
        seconds=time.perf_counter() - start,
        detect_seconds=t_detect,
        classify_seconds=t_classify,
    )
    if output is not None:
        if pathlib.Path(output).suffix.lower() == ".csv":
            result.to_csv(output)
        else:
            result.to_json(output)
    return result


def write_synthetic_clip(
    path,
    face: np.ndarray,
    num_frames: int = 60,
    frame_size: tuple[int, int] = (360, 640),
    fps: float = 30.0,
    speed: float = 4.0,
    seed: int = 0,
) -> list[tuple[int, int]]:
    """Writes a test clip: `face` (RGB uint8 patch) sliding left to right over a fixed textured background.

    For tests and benchmarks (e.g. with a crop of `skimage.data.astronaut()`). `.avi` is written with MJPG,
    `.mp4` with mp4v. Returns the patch's top-left `(x, y)` in every frame.
    """
    import cv2

    face = _align.to_rgb(face)
    h, w = frame_size
    fh, fw = face.shape[:2]
    if fh > h or fw > w:
        raise ValueError(f"The face patch {face.shape[:2]} does not fit in frames of {frame_size}.")
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(h // 8 + 1, w // 8 + 1, 3)).astype(np.uint8)
    background = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    background = cv2.GaussianBlur(background, (0, 0), 2.0)
    writer = open_writer(path, fps, (h, w))
    positions = []
    y = (h - fh) // 2
    try:
        for i in range(num_frames):
            x = int(round(min(w - fw, 10 + speed * i)))
            frame = background.copy()
            frame[y : y + fh, x : x + fw] = face
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            positions.append((x, y))
    finally:
        writer.release()
    return positions
