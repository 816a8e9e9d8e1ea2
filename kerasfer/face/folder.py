"""`align_folder`: every image of a folder detected, aligned and written as face crops (`kerasfer align`).

The job checks its arguments and its output folder before any work, writes each crop whole (a temporary name,
renamed when complete), keeps what an earlier run with the same settings wrote, and records what it did in
`align_summary.json` (also after an error or Ctrl-C).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np

from kerasfer.face.alignment import _output_hw
from kerasfer.face.alignment import align_face
from kerasfer.face.alignment import face_template
from kerasfer.face.detectors import get_detector
from kerasfer.face.faces import sort_faces
from kerasfer.face.images import IMAGE_EXTENSIONS
from kerasfer.face.images import read_image


@dataclasses.dataclass
class AlignSummary:
    """What `align_folder` did (also written as JSON). Inputs are relative to `input_dir`, outputs to `output_dir`,
    both '/'-separated.

    Attributes:
        aligned: inputs whose face(s) are in the output folder (written by this run or kept from an earlier one).
        faces_written: face files this run wrote.
        skipped_existing: face files kept because they existed before this run (`overwrite=False`).
        outputs: `{input: [output file, ...]}` for every aligned input (largest face first).
        renamed: inputs whose output name carries their source extension (`face.jpg` -> `face_jpg.png`) because
            another input of the same folder would have had the same output name.
        no_face: inputs where the detector found no face.
        unreadable: `[input, error message]` for the inputs that could not be read (or whose face could not be
            aligned).
        several_faces: `[input, number of faces]` for the inputs with more than one face.
        settings: the alignment settings; a later run into the same output folder must use the same ones.
        complete: False while the run is going (the summary is first written before the work starts).
        seconds: how long the run took.
    """

    input_dir: str
    output_dir: str
    aligned: int = 0
    faces_written: int = 0
    skipped_existing: int = 0
    outputs: dict = dataclasses.field(default_factory=dict)
    renamed: list = dataclasses.field(default_factory=list)
    no_face: list = dataclasses.field(default_factory=list)
    unreadable: list = dataclasses.field(default_factory=list)  # [path, error message]
    several_faces: list = dataclasses.field(default_factory=list)  # [path, count]
    settings: dict = dataclasses.field(default_factory=dict)
    complete: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def list_images(folder) -> list[pathlib.Path]:
    """The image files (by extension, case-insensitive) under `folder`, recursively, sorted."""
    folder = pathlib.Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


class Progress:
    """A minimal progress line on stderr (no dependency; stdout stays free for results)."""

    def __init__(self, total, desc="", enabled=True, stream=None):
        self.total, self.desc, self.enabled = total, desc, enabled
        self.stream = stream or sys.stderr
        self.count, self.start, self._last = 0, time.perf_counter(), 0.0

    def update(self, n=1):
        self.count += n
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.5 or self.count == self.total):
            self._last = now
            rate = self.count / max(now - self.start, 1e-9)
            if self.total:
                width = 30
                done = int(width * self.count / self.total)
                bar = "#" * done + "-" * (width - done)
                msg = f"\r{self.desc} [{bar}] {self.count}/{self.total} {rate:.1f}/s"
            else:
                msg = f"\r{self.desc} {self.count} {rate:.1f}/s"
            self.stream.write(msg)
            self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# Formats OpenCV writes as one gray channel only.
_GRAY_FORMATS = (".pgm",)


def _encode_image(image_rgb: np.ndarray, ext: str) -> np.ndarray | None:
    """The encoded bytes of an RGB image as `ext` (gray for `_GRAY_FORMATS`), or None when OpenCV cannot write it."""
    import cv2

    code = cv2.COLOR_RGB2GRAY if ext.lower() in _GRAY_FORMATS else cv2.COLOR_RGB2BGR
    try:
        ok, encoded = cv2.imencode(ext, cv2.cvtColor(image_rgb, code))
    except cv2.error:
        return None
    return encoded if ok else None


def _write_file(path: pathlib.Path, data) -> None:
    """Writes `data` (encoded image bytes, or text) to a temporary file then renames it: a crash or a full disk
    never leaves a half-written file under the real name (which a later run would keep as done)."""
    from kerasfer.paths import replaced_when_done

    with replaced_when_done(path) as tmp:
        if isinstance(data, str):
            pathlib.Path(tmp).write_text(data)
        else:
            data.tofile(tmp)


def _check_formats(files, image_format, hw) -> None:
    """Raises ValueError, before any work, when OpenCV cannot write an output format at the output size."""
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    level = logging.getLogLevel() if logging else None
    if logging:  # OpenCV logs its own error lines for the formats it cannot write
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        exts = {image_format} if image_format else {p.suffix for p in files}
        probe = np.zeros((*hw, 3), np.uint8)
        bad = sorted(ext for ext in exts if _encode_image(probe, ext) is None)
    finally:
        if logging:
            logging.setLogLevel(level)
    if not bad:
        return
    size = f"{hw[1]}x{hw[0]} pixels"
    if image_format:
        raise ValueError(
            f"OpenCV cannot write {image_format!r} images of {size}; choose another image_format (--format)."
        )
    examples = [str(p) for p in files if p.suffix in bad][:3]
    raise ValueError(
        f"OpenCV cannot write {', '.join(repr(e) for e in bad)} images of {size}, which image_format=None (same as "
        f"the input) would need for {', '.join(examples)}{' ...' if len(examples) == 3 else ''}; "
        "choose an image_format (--format) such as '.png'."
    )


def _output_names(files, image_format) -> dict:
    """`{input path: (output stem, extension, renamed)}`: the output name is the input's stem and `image_format`
    (None: the input's extension), except for inputs of one folder that would get the same name (compared without
    case, for case-insensitive file systems): those carry their source extension (`face.jpg` -> `face_jpg`,
    `face.png` -> `face_png`; `_2`, `_3`, ... if that is taken too). With every name distinct, the `<stem>_<i>`
    names of `all_faces` are distinct too (the face index follows the last underscore)."""
    folders: dict = {}
    for path in files:
        folders.setdefault(path.parent, []).append(path)
    names = {}
    for paths in folders.values():
        natural = {p: (p.stem, image_format or p.suffix) for p in paths}
        counts = collections.Counter((stem.lower(), ext.lower()) for stem, ext in natural.values())
        taken = {key for key, n in counts.items() if n == 1}
        for p in sorted(paths):
            stem, ext = natural[p]
            if counts[stem.lower(), ext.lower()] == 1:
                names[p] = (stem, ext, False)
                continue
            base = candidate = f"{stem}_{p.suffix[1:]}"
            n = 1
            while (candidate.lower(), ext.lower()) in taken:
                n += 1
                candidate = f"{base}_{n}"
            taken.add((candidate.lower(), ext.lower()))
            names[p] = (candidate, ext, True)
    return names


def _previous_summary(path: pathlib.Path) -> dict:
    """The summary of an earlier run, or {} (none, or not a summary)."""
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return previous if isinstance(previous, dict) else {}


def _check_same_settings(previous: dict, settings: dict, output_dir, summary_name) -> None:
    old = previous.get("settings")
    if not isinstance(old, dict):
        return
    changed = [f"{k} was {old[k]}, now {v}" for k, v in settings.items() if k in old and old[k] != v]
    if changed:
        raise ValueError(
            f"{output_dir} holds faces aligned with other settings ({'; '.join(changed)}; see its {summary_name}): "
            "the files kept from that run would be mixed with the new ones. Use another output folder, or pass "
            "overwrite=True (--overwrite) to replace them."
        )


def align_folder(
    input_dir,
    output_dir,
    detector="mtcnn",
    output_size=112,
    margin: float = 0.0,
    min_face_size: int = 20,
    all_faces: bool = False,
    overwrite: bool = False,
    image_format: str | None = ".png",
    progress: bool = True,
    summary_name: str = "align_summary.json",
) -> AlignSummary:
    """Detects and aligns the faces of every image under `input_dir` into `output_dir`, keeping the folder tree.

    The detector defaults to MTCNN here (not `DEFAULT_DETECTOR`): datasets are aligned once, offline, and their
    images are often small tight crops, which MTCNN finds more often than BlazeFace.

    The largest face of each image is written to the same relative path (extension `image_format`, default
    `.png`; None keeps the original); with `all_faces=True` every face is written as `<stem>_<i><ext>`, largest
    first. Inputs of one folder that would get the same output name (`face.jpg` and `face.png`) carry their source
    extension in it instead (`face_jpg.png`, `face_png.png`); the summary maps every input to its output files.

    Inputs are never overwritten: `output_dir` may not be `input_dir`, lie inside it, or contain it. Outputs that
    exist before the run are kept unless `overwrite=True` (or the earlier run's summary says another input wrote
    them); a run into an output folder aligned with other settings (size, margin, detector, `all_faces`, format) is
    refused unless `overwrite=True`, so that kept and new files are never mixed. Every argument (and whether OpenCV
    can write `image_format`) is checked before any work.

    Images with no face or that cannot be read are listed in `output_dir/summary_name` (JSON) and in the returned
    `AlignSummary`; the caller decides whether unreadable inputs are a failure.

    Raises:
        FileNotFoundError: `input_dir` does not exist.
        NotADirectoryError: `output_dir` is a file.
        ValueError: `output_dir` overlaps `input_dir`, no images, a bad size, margin or format, other settings
            than the earlier run into `output_dir`.
    """
    input_dir = pathlib.Path(input_dir).resolve()
    output_dir = pathlib.Path(output_dir).resolve()
    if not input_dir.is_dir():
        raise FileNotFoundError(f"Input folder not found: {input_dir}")
    if output_dir == input_dir or input_dir in output_dir.parents or output_dir in input_dir.parents:
        raise ValueError(
            f"The output folder {output_dir} must not be the input folder {input_dir}, lie inside it or contain it "
            "(inputs are never overwritten)."
        )
    if output_dir.exists() and not output_dir.is_dir():
        raise NotADirectoryError(f"The output folder {output_dir} is a file.")
    hw = _output_hw(output_size)
    face_template(hw, margin)  # checks the margin
    if image_format is not None:
        image_format = image_format if image_format.startswith(".") else "." + image_format
        if image_format.lower() not in IMAGE_EXTENSIONS:
            raise ValueError(f"image_format (--format) must be one of {IMAGE_EXTENSIONS}; got {image_format!r}.")
    files = list_images(input_dir)
    if not files:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) under {input_dir}.")
    _check_formats(files, image_format, hw)
    det = get_detector(detector, min_face_size=min_face_size) if not callable(detector) else detector
    detector_name = getattr(det, "name", None) or getattr(det, "__name__", None) or type(det).__name__
    settings = {
        "detector": detector_name,
        "size": hw[0] if hw[0] == hw[1] else list(hw),
        "margin": float(margin),
        "min_face_size": None if detector_name == "none" else int(min_face_size),
        "all_faces": bool(all_faces),
        "format": image_format or "same",
    }
    summary_path = output_dir / summary_name if summary_name else None
    previous = _previous_summary(summary_path) if summary_path else {}
    if not overwrite:
        _check_same_settings(previous, settings, output_dir, summary_name)
    earlier_several = {}  # faces counted by the earlier run, for the inputs whose output is kept without detection
    for item in previous.get("several_faces") or []:
        if isinstance(item, list) and len(item) == 2:
            earlier_several[str(item[0])] = item[1]
    earlier_source = {}  # output file -> the input the earlier run wrote it for
    if isinstance(previous.get("outputs"), dict):
        for source, outs in previous["outputs"].items():
            for out in outs if isinstance(outs, list) else []:
                earlier_source[str(out)] = source

    def keep(out: pathlib.Path, name: str) -> bool:
        """An existing output is kept (without `overwrite`) unless the earlier run wrote it for another input."""
        return (
            not overwrite and out.exists() and earlier_source.get(out.relative_to(output_dir).as_posix(), name) == name
        )

    names = _output_names(files, image_format)
    summary = AlignSummary(input_dir=str(input_dir), output_dir=str(output_dir), settings=settings)
    start = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    if summary_path:  # written now too: a later run into this folder knows its settings even if this one stops
        _write_file(summary_path, json.dumps(summary.to_dict(), indent=2))
    bar = Progress(len(files), desc="align", enabled=progress)
    try:
        for path in files:
            rel = path.relative_to(input_dir)
            name = rel.as_posix()
            stem, ext, renamed = names[path]
            if renamed:
                summary.renamed.append(name)
            target = output_dir / rel.parent / f"{stem}{ext}"
            if not all_faces and keep(target, name):  # kept from an earlier run: not even read
                bar.update()
                summary.skipped_existing += 1
                summary.aligned += 1
                summary.outputs[name] = [target.relative_to(output_dir).as_posix()]
                if name in earlier_several:
                    summary.several_faces.append([name, earlier_several[name]])
                continue
            try:
                image = read_image(path)
                faces = sort_faces(det(image))
            except (OSError, ValueError) as e:
                summary.unreadable.append([name, str(e)])
                continue
            finally:
                bar.update()
            if not faces:
                summary.no_face.append(name)
                continue
            if len(faces) > 1:
                summary.several_faces.append([name, len(faces)])
            chosen = faces if all_faces else faces[:1]
            outs = [target.with_name(f"{stem}_{i}{ext}") for i in range(len(chosen))] if all_faces else [target]
            todo = [(out, face) for out, face in zip(outs, chosen) if not keep(out, name)]
            try:  # every crop before any file, so that an input is either done or listed as failed
                crops = [
                    align_face(image, landmarks=face.landmarks, box=face.box, output_size=hw, margin=margin)
                    for _, face in todo
                ]
            except ValueError as e:  # degenerate geometry from the detector
                summary.unreadable.append([name, f"Cannot align a face of {name}: {e}"])
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            for (out, _), crop in zip(todo, crops):
                encoded = _encode_image(crop, ext)
                if encoded is None:
                    raise RuntimeError(f"OpenCV could not encode the face of {name} as {ext!r}.")
                _write_file(out, encoded)
            summary.faces_written += len(todo)
            summary.skipped_existing += len(outs) - len(todo)
            summary.outputs[name] = [out.relative_to(output_dir).as_posix() for out in outs]
            summary.aligned += 1
    except BaseException:
        bar.close()
        if summary_path:  # what was done so far (complete: False); the error that stopped the run goes on
            with contextlib.suppress(OSError):
                _write_file(summary_path, json.dumps(summary.to_dict(), indent=2))
        raise
    bar.close()
    summary.seconds = round(time.perf_counter() - start, 3)
    summary.complete = True
    if summary_path:
        _write_file(summary_path, json.dumps(summary.to_dict(), indent=2))
    return summary
