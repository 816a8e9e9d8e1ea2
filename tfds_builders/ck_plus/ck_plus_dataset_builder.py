"""CK+ (Extended Cohn-Kanade, Lucey et al. 2010): posed expression sequences from neutral to peak.

Reads the official layout: `cohn-kanade-images/S005/001/S005_001_00000001.png` frames and
`Emotion/S005/001/S005_001_00000011_emotion.txt` labels (codes 0 neutral, 1 anger, 2 contempt,
3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise). Of the 327 labelled sequences, the last
three frames are the peak expression and the first frame is `neutral` (the common protocol;
unlabelled sequences are ignored), giving 8 classes in kerasfer canonical order. Grayscale
(the few colour frames are converted). Subject-wise folds.
"""

import collections

import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.labels import CK_PLUS_ORDER
from kerasfer.data.labels import label_names
from kerasfer.data.labels import native_to_canonical
from kerasfer.tfds_builders import _common
from kerasfer.tfds_builders import _folds

NATIVE_TO_LABEL = native_to_canonical(CK_PLUS_ORDER, "ck_plus")
NUM_PEAK_FRAMES = 3
_MANUAL = """\
CK+ is available on request from https://www.jeffcohn.net/resources/. Place in `manual_dir`
(default `~/tensorflow_datasets/downloads/manual/`):

  <manual_dir>/cohn-kanade-images/S005/001/S005_001_00000001.png ...
  <manual_dir>/Emotion/S005/001/S005_001_00000011_emotion.txt ...
  (`<manual_dir>/Emotion_labels/Emotion/...` also works)
"""


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for CK+."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=_folds.fold_features((None, None, 1), label_names("ck_plus")),
            supervised_keys=("image", "label"),
            homepage="https://www.jeffcohn.net/resources/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        images, emotion = _common.require_files(
            self.name, dl_manager.manual_dir, ["cohn-kanade-images", ("Emotion", "Emotion_labels/Emotion")], _MANUAL
        )
        by_subject = collections.defaultdict(list)
        for label_file in sorted(emotion.glob("*/*/*_emotion.txt")):
            subject, seq = label_file.parent.parent.name, label_file.parent.name
            text = label_file.read_text().strip()
            try:
                code = int(float(text))
            except ValueError as e:
                raise ValueError(f"ck_plus: {label_file} holds {text!r}, expected an emotion code 0..7.") from e
            if not 0 <= code <= 7:
                raise ValueError(f"ck_plus: {label_file} holds code {code}, expected 0..7.")
            frames = _common.list_images(images / subject / seq)
            if len(frames) < NUM_PEAK_FRAMES + 1:
                raise _common.ManualFilesError(
                    f"ck_plus: {images / subject / seq} has {len(frames)} frames; a labelled sequence needs at least "
                    f"{NUM_PEAK_FRAMES + 1}."
                )
            by_subject[subject].append((frames[0], NATIVE_TO_LABEL[0]))
            by_subject[subject].extend((f, NATIVE_TO_LABEL[code]) for f in frames[-NUM_PEAK_FRAMES:])
        if not by_subject:
            raise _common.ManualFilesError(f"ck_plus: no */*/*_emotion.txt label files under {emotion}.\n\n{_MANUAL}")
        return _folds.fold_split_generators(self, by_subject, self._generate_examples)

    def _generate_examples(self, split, items):
        checker = _common.ImageChecker(self.name, split)
        for subject, fold, (path, label) in items:
            _, arr = checker.read(path)
            if arr is None:
                continue
            yield (
                path.name,
                {
                    "image": _common.encode_png(_common.check_shape_channels(arr, 1)),
                    "label": label,
                    "subject": subject,
                    "fold": fold,
                    "file_name": path.name,
                },
            )
        checker.report()
