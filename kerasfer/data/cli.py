"""`kerasfer align INPUT_DIR OUTPUT_DIR`: detect and align every face image of a folder tree."""

import sys

from kerasfer.face.detectors import DETECTORS


def register(sub):
    p = sub.add_parser(
        "align",
        help="detect and align the faces of a folder tree (keeps the folder structure)",
        description=(
            "Detects the face in every image under INPUT_DIR, aligns it (five-point similarity transform to the "
            "ArcFace 112x112 template, or a square box crop for box-only detectors) and writes it under OUTPUT_DIR "
            "at the same relative path. Inputs are never overwritten. Inputs of one folder that would get the same "
            "output name (face.jpg, face.png) keep their extension in it (face_jpg.png, face_png.png). "
            "OUTPUT_DIR/align_summary.json maps every input to its output files and lists the images with no face "
            "and the unreadable files. A later run into OUTPUT_DIR keeps the files it finds (--overwrite replaces "
            "them) and must use the same settings. Exit status: 0 ok (images with no face are not failures), "
            "1 some inputs could not be read (listed in the summary, everything else is written), 2 error."
        ),
    )
    p.add_argument("input_dir", help="folder of images (searched recursively)")
    p.add_argument("output_dir", help="where the aligned faces go (must not be inside INPUT_DIR)")
    p.add_argument("--detector", default="mtcnn", choices=DETECTORS, help="face detector (default mtcnn)")
    p.add_argument("--size", type=int, default=112, help="output side in pixels (default 112)")
    p.add_argument("--margin", type=float, default=0.0, help="extra context per side, fraction of the face")
    p.add_argument("--min-face-size", type=int, default=20, help="smallest face side in pixels")
    p.add_argument("--all-faces", action="store_true", help="write every face as <name>_<i> instead of the largest")
    p.add_argument("--format", default=".png", help="output extension (.png, .jpg, ...; 'same' keeps the input's)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files in OUTPUT_DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)

    a = sub.add_parser(
        "arrays",
        help="write dataset splits as .npz files (to train with no TensorFlow, e.g. on JAX GPU machines)",
        description=(
            "Writes each split of DATASET as OUT/<dataset>_<split>.npz (uint8 images as the builder yields them, "
            "labels, class names). `kerasfer train --dataset DATASET --arrays OUT` trains from them on any backend. "
            "Progress goes to stderr (none with --quiet), the files written to stdout."
        ),
    )
    a.add_argument("dataset", help="dataset key, e.g. fer2013 or ferplus/majority")
    a.add_argument("--out", required=True, help="output folder")
    a.add_argument("--splits", nargs="+", default=["train", "validation"], help="default: train validation")
    a.add_argument("--manual-dir", help="folder with the manually downloaded files")
    a.add_argument("--data-dir", help="TFDS data directory")
    a.add_argument("--overwrite", action="store_true", help="replace existing files")
    a.add_argument(
        "--encoding", choices=("raw", "webp"), default="raw",
        help="raw uint8 arrays (default) or lossless WebP per image (about 71%% of the size on FER2013)",
    )  # fmt: skip
    a.add_argument("--quiet", action="store_true", help="no progress lines")
    a.set_defaults(func=_run_arrays)


def _run_arrays(args) -> int:
    from kerasfer.data.arrays import export_arrays

    written = export_arrays(
        args.dataset,
        args.splits,
        args.out,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        overwrite=args.overwrite,
        encoding=args.encoding,
        progress=not args.quiet,
    )
    for split, path, n in written:
        print(f"{split}: {n:,} examples -> {path}")
    return 0


def _run(args) -> int:
    from kerasfer.face.folder import align_folder

    summary = align_folder(
        args.input_dir,
        args.output_dir,
        detector=args.detector,
        output_size=args.size,
        margin=args.margin,
        min_face_size=args.min_face_size,
        all_faces=args.all_faces,
        overwrite=args.overwrite,
        image_format=None if args.format == "same" else args.format,
        progress=not args.quiet,
    )
    renamed = f", renamed (name clash): {len(summary.renamed)}" if summary.renamed else ""
    print(
        f"aligned {summary.aligned} images ({summary.faces_written} faces written) in {summary.seconds:.1f} s; "
        f"no face: {len(summary.no_face)}, unreadable: {len(summary.unreadable)}, "
        f"several faces: {len(summary.several_faces)}, kept existing: {summary.skipped_existing}{renamed}. "
        f"Summary: {summary.output_dir}/align_summary.json"
    )
    if summary.unreadable:
        shown = ", ".join(path for path, _ in summary.unreadable[:5])
        more = f" and {len(summary.unreadable) - 5} more" if len(summary.unreadable) > 5 else ""
        print(f"kerasfer align: could not read {shown}{more} (see the summary)", file=sys.stderr)
        return 1
    return 0
