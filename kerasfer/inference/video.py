"""Video analysis: detection every N frames, optical-flow box tracking in between, batched classification.

For each processed frame the faces are aligned and classified in one model call. Decoding, detection (or
tracking) and classification run in three threads a few frames apart (`overlap=True`, the default), which keeps
two cores busy; the results are those of the one-thread loop (`overlap=False`), in frame order. With
`every_n_frames=N`, the detector runs on frames 0, N, 2N, ...; in between:

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

from kerasfer import face as _face
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

    def update(self, gray) -> list[_face.Face]:
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
            box = _face.clip_box((centre[0] - nw / 2, centre[1] - nh / 2, nw, nh), (h_img, w_img))
            if box is None or box[2] * box[3] < 0.25 * w * h:  # left the frame
                continue
            landmarks = None
            if face.landmarks is not None:
                landmarks = (face.landmarks @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
            moved = _face.Face(box=box, landmarks=landmarks, score=face.score)
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


class VideoInterrupted(KeyboardInterrupt):
    """Ctrl-C during `analyze_video`: `result` holds every frame processed until then (None when there was none).

    A `KeyboardInterrupt`, so code that does not look for it stops as before; the command line writes
    the partial results instead of losing them."""

    def __init__(self, result):
        super().__init__(f"interrupted after {result.frames_read if result else 0} frames")
        self.result = result


_QUEUE_FRAMES = 4  # frames waiting between two stages of the overlapped loop (bounded: memory stays flat)
_END = object()


class _Stage:
    """Runs `iterable` in a daemon thread and hands its items over through a small queue, in order.

    An exception in the thread is raised again, with its traceback, by the iteration that reaches it; `stop()`
    makes the thread end at its next item (it never blocks on a full queue for good)."""

    def __init__(self, iterable, name: str, maxsize: int = _QUEUE_FRAMES):
        import queue
        import threading

        self._queue = queue.Queue(maxsize)
        self._stopped = threading.Event()
        self._iterable = iterable
        self._thread = threading.Thread(target=self._work, name=f"kerasfer-video-{name}", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        import queue

        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self):
        try:
            for item in self._iterable:
                if not self._put((item, None)):
                    return
            self._put((_END, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consuming thread, which raises it
            self._put((_END, e))

    def __iter__(self):
        while True:
            item, error = self._queue.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item

    def stop(self):
        import queue

        self._stopped.set()
        while self._thread.is_alive():  # empty the queue so that a blocked put returns, then wait
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


def _read_frames(cap, fps, max_frames):
    """(index, frame BGR, frame RGB, time in s) for each frame OpenCV decodes, until the end or `max_frames`."""
    import cv2

    index = 0
    while max_frames is None or index < max_frames:
        ok, frame_bgr = cap.read()
        if not ok or frame_bgr is None:
            return
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB) if frame_bgr.ndim == 3 else _face.to_rgb(frame_bgr)
        timestamp = index / fps if fps > 0 else float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0
        yield index, frame_bgr, rgb, timestamp
        index += 1


def _find_faces(frames, fer, every_n_frames, tracker, timing):
    """Adds the faces of each frame: detected (every `every_n_frames`), tracked (`tracker`) or None (skipped)."""
    import cv2

    for index, frame_bgr, rgb, timestamp in frames:
        detect_now = index % every_n_frames == 0
        faces = None
        t0 = time.perf_counter()
        if detect_now:
            faces = fer.detect(rgb)
            if tracker is not None:
                tracker.reset(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY), faces)
        elif tracker is not None:
            faces = tracker.update(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY))
        timing["detect"] += time.perf_counter() - t0
        yield index, frame_bgr, rgb, timestamp, faces, detect_now


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
    overlap: bool = True,
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
        overlap: decode, detect (or track) and classify in three threads, a few frames apart (OpenCV and LiteRT
            release the GIL, so two cores work at once). The results are the same as with `overlap=False` (one
            thread, frame after frame) and in frame order; an error in any stage is raised here.

    Returns:
        A `VideoResult` (also when the video ends early: every frame decoded until then is in it). The annotated
        video is closed whatever happens, with every frame processed so far.

    Raises:
        VideoInterrupted: on Ctrl-C (a `KeyboardInterrupt`), with the frames processed so far in its `result`
            (`interrupted=True`); `output` is not written then.
    """
    import cv2

    if int(every_n_frames) < 1:
        raise ValueError(f"every_n_frames must be >= 1, got {every_n_frames}.")
    every_n_frames = int(every_n_frames)
    if output is not None:  # every output path is checked before a frame is read
        from kerasfer.paths import check_output_file

        check_output_file(output, suffixes=(".json", ".csv"), flag="output")
    if annotate is not None:
        from kerasfer.paths import check_output_file

        check_output_file(annotate, suffixes=(".mp4", ".avi", ".m4v", ".mov"), flag="annotate")
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
    bar = _face.Progress(total if total > 0 else None, desc="video", enabled=progress)
    tracker = FlowTracker() if track and every_n_frames > 1 else None  # every frame detected: nothing to track
    if overlap:
        fer.detector  # noqa: B018 - build the detector here, not in a worker thread (clear errors, one build)
    writer = None
    frames, last = [], []
    timing = {"detect": 0.0}
    t_classify = 0.0
    start = time.perf_counter()
    count = 0
    size = None
    stages = []
    interrupted = False
    try:
        stream = _read_frames(cap, fps, max_frames)
        if overlap:
            stream = _Stage(stream, "decode")
            stages.append(stream)
        stream = _find_faces(stream, fer, every_n_frames, tracker, timing)
        if overlap:
            stream = _Stage(stream, "detect")
            stages.append(stream)
        for index, frame_bgr, rgb, timestamp, faces, detected in stream:
            if size is None:
                size = frame_bgr.shape[:2]
                if annotate is not None:
                    writer = open_writer(annotate, fps, size)
            if faces is not None:
                t0 = time.perf_counter()
                results = []
                if faces:
                    probs = fer.classify_inputs(fer.to_model_input(fer.align(rgb, faces)))
                    results = [
                        FaceResult(f.box, f.landmarks, f.score, p, fer.labels, tracked=not detected)
                        for f, p in zip(faces, probs)
                    ]
                t_classify += time.perf_counter() - t0
                frames.append(FrameResult(index, timestamp, results, detected=detected))
                last = results
            if writer is not None:
                writer.write(_draw(frame_bgr, last))  # the frame is not used after this
            count += 1
            bar.update()
    except KeyboardInterrupt:
        interrupted = True  # the frames done so far are returned with it, below
    finally:
        for stage in reversed(stages):  # the consumers first: the decoder is idle before the capture goes
            stage.stop()
        cap.release()
        if writer is not None:
            writer.release()
        bar.close()
    if count == 0:
        if interrupted:
            raise VideoInterrupted(None)
        raise ValueError(f"No frame could be read from {name}.")
    result = VideoResult(
        source=name,
        fps=fps,
        frame_size=tuple(size),
        frames_read=count,
        frames=[f for f in frames if f.index < count],  # interrupted: a frame classified but not counted is left out
        labels=fer.labels,
        seconds=time.perf_counter() - start,
        detect_seconds=timing["detect"],
        classify_seconds=t_classify,
        interrupted=interrupted,
    )
    if interrupted:
        raise VideoInterrupted(result)
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

    face = _face.to_rgb(face)
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
