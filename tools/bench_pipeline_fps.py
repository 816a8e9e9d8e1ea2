"""Frames per second of the whole FER pipeline (decode, detect, align, classify, write results) on a 640x360 clip.

Writes a synthetic clip (a face cut from `skimage.data.astronaut()` sliding over a textured background, one face
per frame) to a temporary folder, then times, for each detector:

* detection alone: decode + detect on every frame;
* for each classifier, the full pipeline (`FER.analyze_video(..., output=results.json)`, the loop `kerasfer
  predict clip.mp4` runs) with detection on every frame, and with detection every N frames and optical-flow
  tracking in between (every frame still aligned and classified), with the overlapped loop (decoding, detection
  and classification in three threads; `--loops sequential` adds the one-thread loop).

Classifiers (`--classifiers`): `default` is what `FER()` loads (the packaged default model, through its Keras
runner); `tflite` is `--model` (LFNSB, 112 px, random weights unless `--weights`: same speed) converted to an fp32
`.tflite` and run by LiteRT with `--threads` threads; `keras` is `--model` through the Keras runner. Detectors run
with `FER()`'s settings (`--min-face-size 20`, as `kerasfer predict`; give several sizes to compare).

Usage (2-core CPU; note the machine load, printed with the table):

    python tools/bench_pipeline_fps.py                        # blazeface, mtcnn, haar x packaged default, LFNSB TFLite
    python tools/bench_pipeline_fps.py --detectors blazeface haar --every-n 1 5 --loops overlap sequential
    python tools/bench_pipeline_fps.py --classifiers keras --model lfnsb --input-size 64 --json out.json

Wall-clock fps depend on what else runs on the machine; "frames/CPU-s" (frames per second of this process's CPU
time, all threads summed) is the load-independent cost: on an idle machine the wall-clock fps is roughly at least
that figure (up to twice it when the overlapped loop keeps both cores busy). For reference, the `fer` package's
`Video.analyze` runs at 13.9 fps on such a clip on 2 cores (docs/USERS.md).
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


def build_runner(args, kind):
    """(runner or None for FER()'s default, description) for one `--classifiers` entry."""
    import kerasfer
    from kerasfer.inference import runners

    if kind == "default":
        from kerasfer.inference.fer import default_weights

        choice = default_weights()
        return None, f"packaged default {choice[0]}/{choice[1]} (Keras)" if choice else "packaged default"
    shape = (args.input_size, args.input_size, args.channels)
    model = kerasfer.models.create_model(args.model, input_shape=shape, weights=args.weights)
    if kind == "keras":
        return runners.KerasRunner(model), f"{args.model} {shape[0]}x{shape[1]}x{shape[2]} (Keras)"
    from kerasfer.export.tflite import convert

    path = pathlib.Path(tempfile.mkdtemp()) / f"{args.model}.tflite"
    path.write_bytes(convert(model))
    runner = runners.TFLiteRunner(path, num_threads=args.threads)
    return runner, f"{args.model} {shape[0]}x{shape[1]}x{shape[2]} fp32 TFLite ({args.threads} threads)"


def main(argv=None):
    from kerasfer.data.align import DETECTORS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--classifiers", nargs="+", default=["default", "tflite"], choices=["default", "tflite", "keras"]
    )
    parser.add_argument("--model", default="lfnsb", help="registered classifier for tflite / keras (default lfnsb)")
    parser.add_argument("--weights", help="trained weights for --model (random weights: same speed)")
    parser.add_argument("--input-size", type=int, default=112, help="classifier input side (default 112)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="TFLite threads")
    detectors = [d for d in DETECTORS if d != "none"]
    parser.add_argument("--detectors", nargs="+", default=detectors, choices=detectors)
    parser.add_argument("--every-n", nargs="+", type=int, default=[1], help="detection intervals (default 1)")
    parser.add_argument("--loops", nargs="+", default=["overlap"], choices=["overlap", "sequential"])
    parser.add_argument("--frames", type=int, default=150, help="clip length (frames)")
    parser.add_argument("--min-face-size", nargs="+", type=int, default=[20],
                        help="detectors' min_face_size, one or more (FER()'s: 20)")  # fmt: skip
    parser.add_argument("--json", help="also write the rows as JSON")
    args = parser.parse_args(argv)

    import skimage.data

    from kerasfer.inference import FER
    from kerasfer.inference.video import write_synthetic_clip

    tmp = pathlib.Path(tempfile.mkdtemp())
    clip = tmp / "clip_640x360.avi"
    results_json = tmp / "results.json"
    patch = skimage.data.astronaut()[20:240, 120:330]  # one face, about 93x93 px
    write_synthetic_clip(clip, patch, num_frames=args.frames, frame_size=(360, 640), fps=30.0, speed=2.0)
    classifiers = [(kind, *build_runner(args, kind)) for kind in args.classifiers]
    rows = []
    detect_only = {}
    for det, min_face in [(d, m) for m in args.min_face_size for d in args.detectors]:
        for _kind, runner, description in classifiers:
            fer = FER(runner, detector=det, min_face_size=min_face)  # runner None: FER()'s default model
            fer.analyze_video(clip, max_frames=3, progress=False)  # load the detector, compile, warm caches
            if (det, min_face) not in detect_only:
                load_before = _load_avg()
                found = detect_only_fps(fer, clip, args.frames)
                detect_only[det, min_face] = (*found, (load_before + _load_avg()) / 2)
            det_fps, det_cpu_fps, hit_rate, det_load = detect_only[det, min_face]
            for n in args.every_n:
                for loop in args.loops:
                    load_before = _load_avg()
                    cpu = time.process_time()
                    result = fer.analyze_video(
                        clip, every_n_frames=n, track=True, progress=False, output=results_json,
                        overlap=loop == "overlap",
                    )  # fmt: skip
                    cpu = time.process_time() - cpu
                    faces_per_frame = np.mean([len(f.faces) for f in result.frames])
                    rows.append(
                        {
                            "classifier": description,
                            "detector": det,
                            "min_face_size": min_face,
                            "every_n_frames": n,
                            "tracking": n > 1,
                            "loop": loop,
                            "detect_only_fps": round(det_fps, 1),
                            "pipeline_fps": round(result.processing_fps, 1),
                            "detect_only_frames_per_cpu_s": round(det_cpu_fps, 1),
                            "pipeline_frames_per_cpu_s": round(result.frames_read / cpu, 1),
                            "detect_track_ms": round(1000 * result.detect_seconds / result.frames_read, 2),
                            "align_classify_ms": round(1000 * result.classify_seconds / result.frames_read, 2),
                            "faces_per_frame": round(float(faces_per_frame), 3),
                            "detector_hit_rate": round(hit_rate, 3),
                            "load_avg_1min": round((load_before + _load_avg()) / 2, 2),
                            "detect_only_load_avg_1min": round(det_load, 2),
                        }
                    )
                    print(json.dumps(rows[-1]), file=sys.stderr)
    header = (
        "| classifier | detector | min face | detect every | loop | full pipeline (fps) | detect only (fps) "
        "| full pipeline (frames/CPU-s) | detect only (frames/CPU-s) | detect+track ms/frame "
        "| align+classify ms/frame | faces/frame | load avg |"
    )
    print(f"\n640x360 clip, {args.frames} frames, one face; "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
          f"load average (1 min) {_load_avg():.2f} at the end\n")  # fmt: skip
    print(header)
    print("|" + "---|" * 13)
    for r in rows:
        every = "every frame" if r["every_n_frames"] == 1 else f"{r['every_n_frames']} frames + flow"
        print(
            f"| {r['classifier']} | {r['detector']} | {r['min_face_size']} | {every} | {r['loop']} "
            f"| {r['pipeline_fps']} "
            f"| {r['detect_only_fps']} | {r['pipeline_frames_per_cpu_s']} | {r['detect_only_frames_per_cpu_s']} "
            f"| {r['detect_track_ms']} | {r['align_classify_ms']} | {r['faces_per_frame']} | {r['load_avg_1min']} |"
        )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
