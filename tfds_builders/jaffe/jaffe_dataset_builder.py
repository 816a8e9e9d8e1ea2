"""JAFFE (Lyons et al., 1998): 213 grayscale images of 10 Japanese female posers, 7 expressions.

File names encode poser and expression: `KA.AN1.39.tiff` = poser KA, anger (AN), take 1,
image id 39. Codes AN, DI, FE, HA, NE, SA, SU map to kerasfer's canonical order. Images are
TIFFs: decoded with OpenCV and stored as PNG. Subject-wise folds (one poser per fold).
"""

import collections

import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.labels import canonical_name
from kerasfer.data.labels import label_names
from kerasfer.tfds_builders import _common
from kerasfer.tfds_builders import _folds

CODES = {"AN", "DI", "FE", "HA", "NE", "SA", "SU"}
_MANUAL = """\
JAFFE is available on request from https://zenodo.org/record/3451524. Place the images in
`manual_dir` (default `~/tensorflow_datasets/downloads/manual/`):

  <manual_dir>/jaffe/KA.AN1.39.tiff ...   (or directly <manual_dir>/KA.AN1.39.tiff ...)
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for JAFFE."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=_folds.fold_features((None, None, 1), label_names("jaffe")),
            supervised_keys=("image", "label"),
            homepage="https://zenodo.org/record/3451524",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        root = epath.Path(dl_manager.manual_dir)
        folder = root / "jaffe" if (root / "jaffe").exists() else root
        by_subject = collections.defaultdict(list)
        for path in _common.list_images(folder):
            parts = path.name.split(".")
            if len(parts) < 3 or parts[1][:2].upper() not in CODES:
                continue
            by_subject[parts[0].upper()].append(path)
        if not by_subject:
            raise _common.ManualFilesError(
                f"jaffe: no JAFFE images (<POSER>.<CODE><n>.<id>.tiff) found in {folder}. Expected e.g. "
                f"{folder / 'KA.AN1.39.tiff'}.\n\n{_MANUAL}"
            )
        return _folds.fold_split_generators(self, by_subject, self._generate_examples)

    def _generate_examples(self, split, items):
        names = label_names("jaffe")
        checker = _common.ImageChecker(self.name, split)
        for subject, fold, path in items:
            _, arr = checker.read(path)
            if arr is None:
                continue
            label = names.index(canonical_name(path.name.split(".")[1][:2]))
            img = _common.check_shape_channels(arr, 1)
            yield (
                path.name,
                {
                    "image": _common.encode_png(img),
                    "label": label,
                    "subject": subject,
                    "fold": fold,
                    "file_name": path.name,
                },
            )
        checker.report()
