"""SFEW 2.0 (Static Facial Expressions in the Wild; Dhall et al.): movie frames, 7 expressions.

Layout of the EmotiW 2015 distribution: one folder per class (Angry, Disgust, Fear, Happy,
Neutral, Sad, Surprise) inside the train and validation folders. Splits `train` (Train) and
`validation` (Val); the Test set has no public labels. Configs `aligned` (default; the
organisers' aligned faces) and `original` (full frames). Labels in kerasfer canonical order.
"""

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.labels import canonical_name
from kerasfer.data.labels import label_names
from kerasfer.tfds_builders import _common

CLASS_FOLDERS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")
_MANUAL = """\
SFEW 2.0 is available on request from the EmotiW organisers
(https://users.cecs.anu.edu.au/~few_group/AFEW.html). Place in `manual_dir` (default
`~/tensorflow_datasets/downloads/manual/`), each folder holding Angry/ Disgust/ Fear/ Happy/
Neutral/ Sad/ Surprise/ with the .png/.jpg images:

  config `aligned` (default): <manual_dir>/Train_Aligned_Faces/  and  <manual_dir>/Val_Aligned_Faces/
  config `original`:          <manual_dir>/Train/                and  <manual_dir>/Val/
"""


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
    train_dirs: tuple = ()
    val_dirs: tuple = ()


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for SFEW 2.0."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL
    BUILDER_CONFIGS = [
        BuilderConfig(
            name="aligned",
            train_dirs=("Train_Aligned_Faces", "Train/Train_Aligned_Faces"),
            val_dirs=("Val_Aligned_Faces", "Val_Aligned_Faces_new", "Val/Val_Aligned_Faces"),
            description="Aligned faces.",
        ),
        BuilderConfig(name="original", train_dirs=("Train",), val_dirs=("Val",), description="Full frames."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "label": tfds.features.ClassLabel(names=label_names("sfew")),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://users.cecs.anu.edu.au/~few_group/AFEW.html",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        cfg = self.builder_config
        train, val = _common.require_files(self.name, dl_manager.manual_dir, [cfg.train_dirs, cfg.val_dirs], _MANUAL)
        return {
            "train": self._generate_examples("train", train),
            "validation": self._generate_examples("validation", val),
        }

    def _generate_examples(self, split, root):
        names = label_names("sfew")
        checker = _common.ImageChecker(self.name, split)
        found = [c for c in CLASS_FOLDERS if (root / c).exists()]
        if not found:
            raise _common.ManualFilesError(
                f"sfew: {root} holds none of the class folders {list(CLASS_FOLDERS)}.\n\n{_MANUAL}"
            )
        for cls in found:
            label = names.index(canonical_name(cls))
            for path in _common.list_images(root / cls):
                data, arr = checker.read(path)
                if data is None:
                    continue
                yield (
                    f"{cls}/{path.name}",
                    {
                        "image": _common.encode_png(_common.check_shape_channels(arr, 3)),
                        "label": label,
                        "file_name": f"{cls}/{path.name}",
                    },
                )
        checker.report()
