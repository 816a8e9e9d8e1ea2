"""Helpers shared by the kerasfer TFDS builders.

- `require_files`: checks `manual_dir` and raises `MissingManualFiles` (an `AssertionError`)
  that names every expected path (and the dataset's download instructions) when something is
  missing. The files it finds are reported to every active `record_manual_files()` block, which
  is how `kerasfer.data.datasets` learns what a prepared dataset was built from.
- `ManualFilesError`: what builders raise when a manual file is there but unusable (wrong
  columns, no rows, not a readable archive). It is an `AssertionError`, as TFDS and its builder
  tests expect; `kerasfer.data.datasets` turns it into a `ValueError` for its callers.
- `ImageChecker`: decodes every image before it is written; a corrupt or unreadable image is
  skipped, counted per split, and reported (a warning naming the files, and the final counts
  in `ImageChecker.skipped` / `SKIPPED_IMAGES`), never silently dropped.
- `encode_png`, `find_first`, `subject_folds`, `list_images`.

Only `epath` / `tf.io.gfile` touch the file system (TFDS's builder tests forbid `os`/`open`).
"""

import collections
import contextlib
import logging

import numpy as np
from etils import epath

logger = logging.getLogger("kerasfer.tfds_builders")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

# dataset name -> split -> list of skipped file descriptions (filled while generating)
SKIPPED_IMAGES: dict[str, dict[str, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))


class ManualFilesError(AssertionError):
    """A manual file of a dataset is missing or is not what the builder expects (the message names it)."""


class MissingManualFiles(ManualFilesError):
    """Expected manual files are missing; `missing` lists them, `manual_dir` is the folder looked in (or None)."""

    def __init__(self, message, *, dataset, manual_dir, missing, instructions=""):
        super().__init__(message)
        self.dataset = dataset
        self.manual_dir = manual_dir
        self.missing = list(missing)
        self.instructions = instructions


# One list per active `record_manual_files()` block; `require_files` appends what it finds.
_RECORDERS: list[list[dict]] = []


@contextlib.contextmanager
def record_manual_files():
    """Collects the manual files that `require_files` finds while the block runs.

    Yields a list that fills with one dict per expected entry found: `root` (the manual_dir as
    given), `name` (the relative path found) and `alternatives` (the entry's relative paths, in
    the order `require_files` tries them). Duplicates (an entry looked up twice) are dropped.
    """
    used: list[dict] = []
    _RECORDERS.append(used)
    try:
        yield used
    finally:
        _RECORDERS.remove(used)


def _report_found(root, name, alternatives):
    item = {"root": str(root), "name": str(name), "alternatives": [str(a) for a in alternatives]}
    for used in _RECORDERS:
        if item not in used:
            used.append(item)


def as_path(p) -> epath.Path:
    return epath.Path(p)


def find_first(root, candidates):
    """Returns the first existing `root / c` for `c` in `candidates`, else None."""
    root = as_path(root)
    for c in candidates:
        p = root / c
        if p.exists():
            return p
    return None


def require_files(dataset, manual_dir, expected, instructions=""):
    """Raises `MissingManualFiles` (an AssertionError) naming the expected paths when any entry is missing.

    Args:
        dataset: dataset name for the message.
        manual_dir: the TFDS manual directory.
        expected: a list of entries; each entry is a relative path or a tuple of alternative
            relative paths (any one of which is enough).
        instructions: the builder's MANUAL_DOWNLOAD_INSTRUCTIONS, appended to the message.

    Returns:
        The list of found paths (one per entry).
    """
    root = as_path(manual_dir) if manual_dir is not None else None
    found, names, missing = [], [], []
    for entry in expected:
        alts = (entry,) if isinstance(entry, str) else tuple(entry)
        hit = None
        if root is not None and root.exists():
            hit = next((a for a in alts if (root / a).exists()), None)
        if hit is None:
            missing.append(" or ".join(str((root or epath.Path("<manual_dir>")) / a) for a in alts))
        names.append((hit, alts))
        found.append(root / hit if hit is not None else None)
    if missing:
        where = f"manual_dir {root}" if root is not None else "no manual_dir"
        exists = "" if root is None or root.exists() else " (the directory does not exist)"
        raise MissingManualFiles(
            f"{dataset}: missing manual files in {where}{exists}. Expected:\n  - "
            + "\n  - ".join(missing)
            + (f"\n\n{instructions.strip()}" if instructions else ""),
            dataset=dataset,
            manual_dir=root,
            missing=missing,
            instructions=instructions,
        )
    for hit, alts in names:
        _report_found(root, hit, alts)
    return found


def list_images(folder):
    """Sorted image files directly inside `folder`."""
    folder = as_path(folder)
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())


def encode_png(image: np.ndarray) -> bytes:
    import cv2

    if image.ndim == 3 and image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - cv2 always encodes uint8
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode(data: bytes):
    """Decodes image bytes with OpenCV; returns the array (H, W[, C]) or None when unreadable."""
    import cv2

    if not data:
        return None
    try:
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if arr is None or arr.size == 0:
        return None
    return arr


class ImageChecker:
    """Validates images for one split and reports the ones skipped.

    Use `data = checker.read(path)` (bytes or None) or `checker.check_bytes(data, what)`, then
    `checker.report()` once the split is done (the builders call it after their last example).
    """

    def __init__(self, dataset, split):
        self.dataset = dataset
        self.split = split
        self.skipped: list[str] = []
        self.count = 0

    def skip(self, what, reason):
        self.skipped.append(f"{what} ({reason})")
        SKIPPED_IMAGES[self.dataset][self.split].append(f"{what} ({reason})")

    def check_bytes(self, data, what):
        """Returns the decoded array, or None (counted as skipped) when `data` is not an image."""
        arr = decode(data)
        if arr is None:
            self.skip(what, "corrupt or unreadable image")
            return None
        self.count += 1
        return arr

    def read(self, path):
        """Reads and validates an image file; returns `(bytes, array)` or `(None, None)` if skipped."""
        path = as_path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            self.skip(str(path), f"unreadable: {e}")
            return None, None
        arr = self.check_bytes(data, str(path))
        if arr is None:
            return None, None
        return data, arr

    def report(self):
        if self.skipped:
            shown = "; ".join(self.skipped[:10]) + (" ..." if len(self.skipped) > 10 else "")
            logger.warning(
                "%s/%s: skipped %d corrupt or unreadable image(s) of %d: %s",
                self.dataset,
                self.split,
                len(self.skipped),
                len(self.skipped) + self.count,
                shown,
            )
        return len(self.skipped)


def subject_folds(subjects, num_folds):
    """Assigns sorted subject ids round-robin to `num_folds` folds: {subject: fold}."""
    return {s: i % num_folds for i, s in enumerate(sorted(set(subjects)))}


def check_shape_channels(arr, channels):
    """Converts a decoded OpenCV array to `channels` (1 or 3, RGB order) uint8."""
    import cv2

    if arr.dtype != np.uint8:
        arr = cv2.normalize(arr, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.shape[-1] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
        if channels == 1:
            arr = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)[..., None]
    elif channels == 3:
        arr = np.repeat(arr, 3, -1)
    return np.ascontiguousarray(arr)
