"""`kerasfer predict`: expressions of the faces in images, folders and videos → JSON or CSV."""

import json
import pathlib
import sys

from kerasfer.face.detectors import DEFAULT_DETECTOR
from kerasfer.face.detectors import DETECTORS
from kerasfer.inference.tta import TTA_MODES

_IMAGE_CHUNK = 64  # images read, detected and classified together (one model call per chunk)
_ERRORS_SHOWN = 5  # inputs that failed whose cause is printed on stderr (all are in the results)


def register(sub):
    p = sub.add_parser(
        "predict",
        help="facial expressions in images, folders and videos (JSON/CSV)",
        description=(
            "Detects faces (BlazeFace by default), aligns them to the model's input and classifies their expression. "
            "Folders are searched recursively for images and videos. Results go to stdout as JSON, or to --output "
            "(.json or .csv). Exit status: 0 ok, 1 some inputs could not be read (listed in the results), 2 error."
        ),
    )
    p.add_argument("inputs", nargs="+", help="image files, video files or folders")
    p.add_argument(
        "--model",
        help="a run directory, a .keras / .weights.h5 / .tflite file, a packaged name (resnet18_small/fer2013) or "
        "a registered name with --weights (default: the best packaged model)",
    )
    p.add_argument("--weights", help="a run directory, .weights.h5 / .keras file or packaged name, for --model NAME")
    p.add_argument("--tflite", help="a .tflite classifier (instead of --model)")
    p.add_argument("--num-classes", type=int, help="classes of --model NAME (default: the builder's)")
    p.add_argument("--input-shape", help="input of --model NAME as H,W,C (default: the registry's)")
    p.add_argument("--labels", help="comma-separated class names (default: labels.txt by the model, else canonical)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS, help="face detector")
    p.add_argument("--min-face-size", type=int, default=20, help="smallest face side in pixels")
    p.add_argument(
        "--margin", type=float, default=None,
        help="context around the aligned face (fraction per side; default: the packaged weights' crop, else 0)",
    )  # fmt: skip
    p.add_argument("--max-faces", type=int, help="keep only the largest N faces per image/frame")
    p.add_argument("--batch-size", type=int, default=32, help="faces per model call")
    p.add_argument("--every-n-frames", type=int, default=1, help="videos: run the detector every N frames")
    p.add_argument("--no-track", action="store_true", help="videos: skip frames between detections (no tracking)")
    p.add_argument("--max-frames", type=int, help="videos: stop after N frames")
    p.add_argument("--annotate", help="videos: write an annotated .mp4/.avi (a folder when there are several videos)")
    p.add_argument("--output", "-o", help="write results to this .json or .csv file (default: JSON on stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--tta", default="none", choices=TTA_MODES,
        help="test-time augmentation: mirror (2x the classifier cost) or ten crops (10x); default none",
    )  # fmt: skip
    p.set_defaults(func=_predict)


def _parse_shape(text):
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise ValueError(f"--input-shape must be H,W,C (e.g. 48,48,1); got {text!r}.")
    return shape


def collect_inputs(inputs):
    """Splits the command-line inputs into image and video paths (folders searched recursively)."""
    from kerasfer.face.images import IMAGE_EXTENSIONS
    from kerasfer.inference.video import VIDEO_EXTENSIONS

    images, videos = [], []
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                if f.suffix.lower() in IMAGE_EXTENSIONS:
                    images.append(f)
                elif f.suffix.lower() in VIDEO_EXTENSIONS:
                    videos.append(f)
        elif path.is_file():
            (videos if path.suffix.lower() in VIDEO_EXTENSIONS else images).append(path)
        else:
            raise FileNotFoundError(f"No such file or folder: {item}")
    return images, videos


def _check_arguments(args):
    """Every argument, input and output path checked before any work (nothing computed is lost to a bad path)."""
    from kerasfer.paths import check_output_file
    from kerasfer.paths import check_output_folder

    if args.model and args.tflite:
        raise ValueError("Give either --model or --tflite, not both.")
    for name in ("every_n_frames", "batch_size", "max_faces", "max_frames", "min_face_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")
    if args.margin is not None and args.margin < 0:
        raise ValueError(f"--margin must be >= 0, got {args.margin}.")
    if args.output:
        check_output_file(args.output, suffixes=(".json", ".csv"), flag="--output")
    images, videos = collect_inputs(args.inputs)
    if not images and not videos:
        raise ValueError(f"No images or videos found in {args.inputs}.")
    annotate = {}
    if args.annotate:
        if not videos:
            raise ValueError("--annotate writes annotated videos, but there is no video among the inputs.")
        single = len(videos) == 1 and pathlib.Path(args.annotate).suffix
        if single:
            annotate[videos[0]] = check_output_file(args.annotate, suffixes=(".mp4", ".avi"), flag="--annotate")
        else:
            if pathlib.Path(args.annotate).suffix:
                raise ValueError("--annotate must be a folder when there are several videos.")
            folder = pathlib.Path(check_output_folder(args.annotate, flag="--annotate"))
            stems = [v.stem for v in videos]
            for video in videos:  # two videos with one stem (clip.mp4, clip.avi): the extension keeps them apart
                stem = video.stem if stems.count(video.stem) == 1 else f"{video.stem}_{video.suffix[1:]}"
                annotate[video] = str(folder / f"{stem}_annotated.mp4")
    return images, videos, annotate


def _predict(args) -> int:
    images, videos, annotate = _check_arguments(args)

    from kerasfer.inference.fer import FER
    from kerasfer.inference.results import image_rows
    from kerasfer.inference.results import write_csv
    from kerasfer.paths import save_or_rescue

    fer = FER(
        args.model,
        args.weights,
        tflite=args.tflite,
        labels=args.labels.split(",") if args.labels else None,
        detector=args.detector,
        min_face_size=args.min_face_size,
        margin=args.margin,
        max_faces=args.max_faces,
        batch_size=args.batch_size,
        tta=args.tta,
        num_classes=args.num_classes,
        input_shape=_parse_shape(args.input_shape) if args.input_shape else None,
    )
    from kerasfer.inference.video import VideoInterrupted

    image_results, video_results, video_errors = [], [], []
    interrupted = None  # Ctrl-C: what was being processed; the results so far are written all the same
    try:
        for start in range(0, len(images), _IMAGE_CHUNK):
            chunk = images[start : start + _IMAGE_CHUNK]
            interrupted = f"image {start + 1} of {len(images)}"
            image_results.extend(fer.predict_batch(chunk, on_error="record"))
            if not args.quiet and len(images) > _IMAGE_CHUNK:
                print(f"images: {len(image_results)}/{len(images)}", file=sys.stderr)
        for video in videos:
            interrupted = str(video)
            try:
                video_results.append(
                    fer.analyze_video(
                        video,
                        every_n_frames=args.every_n_frames,
                        track=not args.no_track,
                        annotate=annotate.get(video),
                        progress=not args.quiet,
                        max_frames=args.max_frames,
                    )
                )
            except VideoInterrupted as e:
                if e.result is not None:
                    video_results.append(e.result)
                    interrupted = f"frame {e.result.frames_read} of {video}"
                raise
            except (OSError, ValueError) as e:
                video_errors.append({"source": str(video), "error": f"{type(e).__name__}: {e}"})
        interrupted = None
    except KeyboardInterrupt:
        if not (image_results or video_results):
            raise

    failed = sum(1 for r in image_results if r.error) + len(video_errors)
    written = None
    if args.output and args.output.lower().endswith(".csv"):
        rows = [row for r in image_results for row in image_rows(r)]
        for v in video_results:
            rows.extend({**row, "error": ""} for row in v.rows())
        rows.extend({"source": e["source"], "face": "", "error": e["error"]} for e in video_errors)
        written = save_or_rescue(lambda path: write_csv(path, rows, fer.labels, extra_columns=["error"]), args.output)
    else:
        payload = {
            "model": getattr(fer.runner, "source", None) or type(fer.runner).__name__,
            "labels": list(fer.labels),
            "tta": fer.tta,
            "images": [r.to_dict() for r in image_results],
            "videos": [v.to_dict() for v in video_results] + video_errors,
        }
        text = json.dumps(payload, indent=1)
        if args.output:
            written = save_or_rescue(lambda path: pathlib.Path(path).write_text(text), args.output)
        else:
            print(text)
    if interrupted is not None:
        from kerasfer.cli import EXIT_INTERRUPTED

        where = f"the results so far are in {written}" if written else "the results so far are printed above"
        done = {v.source for v in video_results}
        annotated = [annotate[v] for v in videos if v in annotate and str(v) in done]
        print(
            f"kerasfer predict: interrupted at {interrupted}; {where}"
            + (f"; the annotated video of the frames done: {', '.join(annotated)}" if annotated else ""),
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if not args.quiet:
        n_faces = sum(len(r.faces) for r in image_results)
        print(
            f"{len(image_results)} images ({n_faces} faces), {len(video_results)} videos, {failed} failed",
            file=sys.stderr,
        )
    causes = [(r.source, r.error) for r in image_results if r.error] + [(e["source"], e["error"]) for e in video_errors]
    for source, error in causes[:_ERRORS_SHOWN]:  # the cause on stderr, not only in the results
        print(f"kerasfer predict: {source}: {error}", file=sys.stderr)
    if failed:
        more = f"{failed - _ERRORS_SHOWN} more, " if failed > _ERRORS_SHOWN else ""
        print(
            f"kerasfer predict: {failed} inputs could not be processed ({more}listed in the results)", file=sys.stderr
        )
    return 1 if failed or (written is not None and written != args.output) else 0
