"""FER2013 (ICML 2013 representation-learning challenge): 48x48 grayscale faces, 7 expressions.

Configs:
- `csv` (default): the Kaggle `fer2013.csv` (`emotion,pixels,Usage`), as is or inside the
  Kaggle `fer2013.tar.gz`. Splits: `train` (Usage=Training, 28,709), `validation`
  (PublicTest, 3,589), `test` (PrivateTest, 3,589). A CSV without some Usage values yields
  only the splits it has, and logs which ones are missing.
- `folder`: the Kaggle image-folder copy (`train/<class>/*.jpg`, `test/<class>/*.jpg`).
  Splits `train` (28,709) and `test` (7,178 = PublicTest + PrivateTest, as that copy merges
  them).

Labels: FER2013's own order, which is kerasfer's canonical order (angry, disgust, fear,
happy, sad, surprise, neutral).
"""

import csv
import io
import logging

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.labels import label_names
from kerasfer.tfds_builders import _common

logger = logging.getLogger("kerasfer.tfds_builders")

USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}
CSV_CANDIDATES = ("fer2013.tar.gz", "fer2013.csv", "fer2013/fer2013.csv")
FOLDER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

_MANUAL = """\
FER2013 must be downloaded by hand (Kaggle account needed) and placed in `manual_dir`
(default `~/tensorflow_datasets/downloads/manual/`, or pass `manual_dir=`):

config `csv` (default), one of:
  <manual_dir>/fer2013.tar.gz        the Kaggle "challenges-in-representation-learning-facial-
                                     expression-recognition-challenge" archive, holding
                                     fer2013/fer2013.csv
  <manual_dir>/fer2013.csv           the CSV itself (columns emotion,pixels,Usage)
  <manual_dir>/fer2013/fer2013.csv

config `folder` (the Kaggle "msambare/fer2013" image-folder copy):
  <manual_dir>/train/{angry,disgust,fear,happy,neutral,sad,surprise}/*.jpg
  <manual_dir>/test/{angry,disgust,fear,happy,neutral,sad,surprise}/*.jpg
"""


def open_fer2013_csv(manual_dir, dl_manager=None):
    """Yields the rows (dicts) of fer2013.csv found in `manual_dir` (plain or in the tar.gz)."""
    import tarfile

    path = _common.require_files("fer2013", manual_dir, [CSV_CANDIDATES], _MANUAL)[0]
    try:
        if path.name.endswith(".tar.gz") or path.name.endswith(".tgz"):
            with path.open("rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith("fer2013.csv")), None)
                if member is None:
                    raise _common.ManualFilesError(
                        f"fer2013: {path} holds no fer2013.csv (members: {tar.getnames()[:10]})."
                    )
                with tar.extractfile(member) as f:
                    yield from csv.DictReader(io.TextIOWrapper(f, encoding="utf-8", newline=""))
        else:
            with path.open("r") as f:
                yield from csv.DictReader(f)
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError, csv.Error) as e:
        # A truncated or corrupt download: name the file rather than fail deep inside tarfile/gzip.
        raise _common.ManualFilesError(
            f"fer2013: cannot read {path} ({type(e).__name__}: {e}); it is not a readable "
            "fer2013.csv / fer2013.tar.gz. Download it again."
        ) from e


def parse_pixels(text, size=48):
    """Parses the `pixels` string into a (size, size, 1) uint8 array, or returns None when invalid."""
    try:
        values = np.array(text.split(), dtype=np.int64)
    except (ValueError, AttributeError):
        return None
    if values.size != size * size or values.min() < 0 or values.max() > 255:
        return None
    return values.astype(np.uint8).reshape(size, size, 1)


def read_fer2013(manual_dir, dataset="fer2013"):
    """Reads fer2013.csv into {split: [(row_index, emotion, image_or_None, reason)]} (+ checks columns)."""
    out = {}
    n = 0
    for i, row in enumerate(open_fer2013_csv(manual_dir)):
        n += 1
        if i == 0:
            missing = {"emotion", "pixels", "Usage"} - set(row)
            if missing:
                raise _common.ManualFilesError(
                    f"{dataset}: fer2013.csv lacks columns {sorted(missing)} (has {sorted(row)})."
                )
        usage = (row.get("Usage") or "").strip()
        split = USAGE_TO_SPLIT.get(usage)
        if split is None:
            raise ValueError(f"{dataset}: row {i} has unknown Usage {usage!r}; expected one of {list(USAGE_TO_SPLIT)}.")
        img = parse_pixels(row.get("pixels"))
        try:
            emotion = int(row.get("emotion"))
        except (TypeError, ValueError):
            emotion = -1
        reason = None
        if img is None:
            reason = "pixels are not 2304 values in 0..255"
        elif not 0 <= emotion <= 6:
            reason = f"emotion {row.get('emotion')!r} not in 0..6"
        out.setdefault(split, []).append((i, emotion, img, reason))
    if n == 0:
        raise _common.ManualFilesError(f"{dataset}: fer2013.csv in {manual_dir} has no rows.")
    return out


def log_missing_splits(dataset, present):
    missing = [s for s in ("train", "validation", "test") if s not in present]
    if missing:
        inv = {v: k for k, v in USAGE_TO_SPLIT.items()}
        logger.warning(
            "%s: the CSV has no %s rows, so split(s) %s are not generated (available: %s).",
            dataset,
            "/".join(inv[s] for s in missing),
            missing,
            sorted(present),
        )
    return missing


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for FER2013."""

    pkg_dir_path = epath.Path(__file__).parent  # README/CITATIONS/TAGS (the package dir is mapped by setup.py)
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="csv", description="Kaggle fer2013.csv (train/validation/test by Usage)."),
        tfds.core.BuilderConfig(name="folder", description="Kaggle image-folder copy (train/test)."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(48, 48, 1)),
                    "label": tfds.features.ClassLabel(names=label_names("fer2013")),
                    "id": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = dl_manager.manual_dir
        if self.builder_config.name == "folder":
            _common.require_files(self.name, manual_dir, ["train", "test"], _MANUAL)
            return {s: self._generate_examples(s, root=epath.Path(manual_dir) / s) for s in ("train", "test")}
        rows = read_fer2013(manual_dir, self.name)
        log_missing_splits(self.name, rows)
        return {s: self._generate_examples(s, rows=rows[s]) for s in ("train", "validation", "test") if s in rows}

    def _generate_examples(self, split, rows=None, root=None):
        """Yields (key, example) from parsed CSV rows, or from the image folder `root`."""
        if root is not None:
            yield from self._generate_folder(root, split)
        else:
            yield from self._generate_csv(split, rows)

    def _generate_csv(self, split, rows):
        checker = _common.ImageChecker(self.name, split)
        for i, emotion, img, reason in rows:
            if reason is not None:
                checker.skip(f"fer2013.csv row {i}", reason)
                continue
            checker.count += 1
            yield i, {"image": _common.encode_png(img), "label": emotion, "id": f"fer{i:07d}"}
        checker.report()

    def _generate_folder(self, root, split):
        checker = _common.ImageChecker(self.name, split)
        classes = [c for c in FOLDER_CLASSES if (root / c).exists()]
        if not classes:
            raise _common.ManualFilesError(
                f"{self.name}: {root} holds none of the class folders {list(FOLDER_CLASSES)}.\n\n{_MANUAL}"
            )
        names = label_names("fer2013")
        for cls in classes:
            for path in _common.list_images(root / cls):
                data, arr = checker.read(path)
                if data is None:
                    continue
                img = _common.check_shape_channels(arr, 1)
                if img.shape != (48, 48, 1):
                    import cv2

                    img = cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)[..., None]
                key = f"{split}/{cls}/{path.name}"
                yield key, {"image": _common.encode_png(img), "label": names.index(cls), "id": key}
        checker.report()
