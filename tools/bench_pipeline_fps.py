"""Frames per second of the whole FER pipeline (decode + detect + align + classify) on a 640x360 clip.

Writes a synthetic clip (a face cut from `skimage.data.astronaut()` sliding over a textured background, one face
per frame) to a temporary folder, then times, for each detector:

* detection alone: decode + detect on every frame;
* the full pipeline (`FER.analyze_video`) with detection on every frame, and with detection every N frames and
  optical-flow tracking in between (every frame still aligned and classified).

Usage (2-core CPU; note the machine load, printed with the table):

    python tools/bench_pipeline_fps.py                       # lfnsb 112x112 via TFLite, Haar and MTCNN
    python tools/bench_pipeline_fps.py --runtime keras --model lfnsb --input-size 64 --detectors haar
    python tools/bench_pipeline_fps.py --weights trained.weights.h5 --every-n 1 5 10 --json out.json

Wall-clock fps depend on what else runs on the machine; "frames/CPU-s" (frames per second of this process's CPU
time, all threads summed) is the load-independent cost: on an idle machine the wall-clock fps is roughly at least
that figure (more when TFLite or OpenCV use both cores). For reference, the `fer` package's `Video.analyze` runs
at 13.9 fps on such a clip on 2 cores (docs/USERS.md).
"""

import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import numpy as np


def _load_avg():
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every OS
        return float("nan")


def detect_only_fps(fer, clip, max_frames):
    import cv2

    from kerasfer.data import align

    cap = cv2.VideoCapture(str(clip))
    n, found = 0, 0
    start, cpu = time.perf_counter(), time.process_time()
    while n < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        faces = fer.detect(align.to_rgb(frame, bgr=True))
        found += len(faces) > 0
        n += 1
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    cap.release()
    return n / seconds, n / cpu, found / max(n, 1)


def build_runner(args):
    import kerasfer
    from kerasfer.inference import runners

    shape = (args.input_size, args.input_size, args.channels)
    model = kerasfer.models.create_model(args.model, input_shape=shape, weights=args.weights)
    if args.runtime == "keras":
        return runners.KerasRunner(model), model
    from kerasfer.export.tflite import convert

    path = pathlib.Path(tempfile.mkdtemp()) / f"{args.model}.tflite"
    path.write_bytes(convert(model))
    return runners.TFLiteRunner(path, num_threads=args.threads), model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lfnsb", help="registered classifier (default lfnsb)")
    parser.add_argument("--weights", help="trained weights for --model (random weights: same speed)")
    parser.add_argument("--input-size", type=int, default=112, help="classifier input side (default 112)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--runtime", choices=["tflite", "keras"], default="tflite", help="classifier runtime")
    parser.add_argument("--threads", type=int, default=2, help="TFLite threads")
    parser.add_argument("--detectors", nargs="+", default=["haar", "mtcnn"], choices=["haar", "mtcnn"])
    parser.add_argument("--every-n", nargs="+", type=int, default=[1, 5, 10], help="detection intervals")
    parser.add_argument("--frames", type=int, default=150, help="clip length (frames)")
    parser.add_argument("--min-face-size", type=int, default=60)
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args(argv)

    import skimage.data

    from kerasfer.inference import FER
    from kerasfer.inference.video import write_synthetic_clip

    tmp = pathlib.Path(tempfile.mkdtemp())
    clip = tmp / "clip_640x360.avi"
    patch = skimage.data.astronaut()[20:240, 120:330]  # one face, about 93x93 px
    write_synthetic_clip(clip, patch, num_frames=args.frames, frame_size=(360, 640), fps=30.0, speed=2.0)
    runner, model = build_runner(args)
    print(f"classifier: {args.model} {runner.input_shape} via {args.runtime}", file=sys.stderr)
    rows = []
    for det in args.detectors:
        fer = FER(runner, detector=det, min_face_size=args.min_face_size)
        fer.analyze_video(clip, max_frames=3, progress=False)  # load the detector, compile, warm caches
        load_before = _load_avg()
        det_fps, det_cpu_fps, hit_rate = detect_only_fps(fer, clip, args.frames)
        for n in args.every_n:
            cpu = time.process_time()
            result = fer.analyze_video(clip, every_n_frames=n, track=True, progress=False)
            cpu = time.process_time() - cpu
            faces_per_frame = np.mean([len(f.faces) for f in result.frames])
            rows.append(
                {
                    "detector": det,
                    "every_n_frames": n,
                    "tracking": n > 1,
                    "detect_only_fps": round(det_fps, 1),
                    "pipeline_fps": round(result.processing_fps, 1),
                    "detect_only_frames_per_cpu_s": round(det_cpu_fps, 1),
                    "pipeline_frames_per_cpu_s": round(result.frames_read / cpu, 1),
                    "detect_track_ms": round(1000 * result.detect_seconds / result.frames_read, 2),
                    "align_classify_ms": round(1000 * result.classify_seconds / result.frames_read, 2),
                    "faces_per_frame": round(float(faces_per_frame), 3),
                    "detector_hit_rate": round(hit_rate, 3),
                    "load_avg_1min": round((load_before + _load_avg()) / 2, 2),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    header = (
        "| detector | detect every | detect only (fps) | full pipeline (fps) | detect only (frames/CPU-s) "
        "| full pipeline (frames/CPU-s) | detect+track ms/frame | align+classify ms/frame | faces/frame | load avg |"
    )
    print(f"\n640x360 clip, {args.frames} frames, one face; classifier {args.model} {runner.input_shape} "
          f"({args.runtime}); {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}\n")  # fmt: skip
    print(header)
    print("|" + "---|" * 10)
    for r in rows:
        every = "every frame" if r["every_n_frames"] == 1 else f"{r['every_n_frames']} frames + flow"
        print(
            f"| {r['detector']} | {every} | {r['detect_only_fps']} | {r['pipeline_fps']} "
            f"| {r['detect_only_frames_per_cpu_s']} | {r['pipeline_frames_per_cpu_s']} | {r['detect_track_ms']} "
            f"| {r['align_classify_ms']} | {r['faces_per_frame']} | {r['load_avg_1min']} |"
        )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
