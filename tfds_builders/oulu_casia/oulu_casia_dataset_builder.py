"""Oulu-CASIA NIR&VIS (Zhao et al. 2011), visible-light strong-illumination part: 480 sequences.

Reads `OriginalImg/VL/Strong/<subject>/<Emotion>/*.jpeg` (80 subjects x 6 expressions:
Anger, Disgust, Fear, Happiness, Sadness, Surprise). Following the common protocol the last
three frames of each sequence (the peak) are kept: 1,440 images, 6 classes in kerasfer
canonical order. Subject-wise folds.
"""

import collections

import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.labels import canonical_name
from kerasfer.data.labels import label_names
from kerasfer.tfds_builders import _common
from kerasfer.tfds_builders import _folds

EMOTION_FOLDERS = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")
NUM_PEAK_FRAMES = 3
_MANUAL = """\
Oulu-CASIA NIR&VIS is available on request from the University of Oulu
(https://www.oulu.fi/en/university/faculties-and-units/faculty-information-technology-and-electrical-engineering/
center-for-machine-vision-and-signal-analysis). Place in `manual_dir` (default
`~/tensorflow_datasets/downloads/manual/`):

  <manual_dir>/OriginalImg/VL/Strong/P001/Anger/000.jpeg ...
  (`<manual_dir>/VL/Strong/...` also works)
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for Oulu-CASIA (VL, strong illumination)."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=_folds.fold_features((None, None, 3), label_names("oulu_casia"), encoding_format="jpeg"),
            supervised_keys=("image", "label"),
            homepage="https://www.oulu.fi/cmvs",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        (root,) = _common.require_files(
            self.name, dl_manager.manual_dir, [("OriginalImg/VL/Strong", "VL/Strong")], _MANUAL
        )
        names = label_names("oulu_casia")
        by_subject = collections.defaultdict(list)
        for subject_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            for emo in EMOTION_FOLDERS:
                frames = _common.list_images(subject_dir / emo)
                if not frames:
                    continue
                label = names.index(canonical_name(emo))
                by_subject[subject_dir.name].extend((f, label) for f in frames[-NUM_PEAK_FRAMES:])
        if not by_subject:
            raise _common.ManualFilesError(
                f"oulu_casia: no <subject>/<Emotion>/*.jpeg sequences under {root}.\n\n{_MANUAL}"
            )
        return _folds.fold_split_generators(self, by_subject, self._generate_examples)

    def _generate_examples(self, split, items):
        checker = _common.ImageChecker(self.name, split)
        for subject, fold, (path, label) in items:
            data, _ = checker.read(path)
            if data is None:
                continue
            key = f"{subject}/{path.parent.name}/{path.name}"
            yield key, {"image": data, "label": label, "subject": subject, "fold": fold, "file_name": key}
        checker.report()
