"""AffectNet (Mollahosseini et al., 2017), manually annotated part: expr7 / expr8 configs.

Reads the official `Manually_Annotated_file_lists/training.csv` and `validation.csv`
(`subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,
valence,arousal`) and the images under `Manually_Annotated_Images/`. The official validation
set is the `test` split (AffectNet's test set is not public). Native expression ids 0 neutral,
1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger, 7 contempt are remapped to kerasfer's
canonical order; ids 8-10 (none, uncertain, non-face) are dropped, and `expr7` also drops
contempt. Each example keeps the face box `[x, y, w, h]` (pixels), the 68 landmarks `(68, 2)`,
valence and arousal.
"""

import csv
import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.labels import AFFECTNET_ORDER
from kerasfer.data.labels import label_names
from kerasfer.data.labels import native_to_canonical
from kerasfer.tfds_builders import _common

_MANUAL = """\
AffectNet is available on request from http://mohammadmahoor.com/affectnet/. Place in
`manual_dir` (default `~/tensorflow_datasets/downloads/manual/`):

  <manual_dir>/Manually_Annotated_file_lists/training.csv
  <manual_dir>/Manually_Annotated_file_lists/validation.csv
  <manual_dir>/Manually_Annotated_Images/<subDirectory_filePath from the CSVs>
"""
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks", "expression")


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
    num_classes: int = 8


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for AffectNet."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL
    BUILDER_CONFIGS = [
        BuilderConfig(name="expr7", num_classes=7, description="7 basic expressions (contempt dropped)."),
        BuilderConfig(name="expr8", num_classes=8, description="7 basic expressions + contempt."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(names=label_names(f"affectnet/{self.builder_config.name}")),
                    "face_box": tfds.features.Tensor(shape=(4,), dtype=np.float32),
                    "landmarks": tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
                    "valence": np.float32,
                    "arousal": np.float32,
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="http://mohammadmahoor.com/affectnet/",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        train_csv, test_csv, images = _common.require_files(
            self.name,
            dl_manager.manual_dir,
            [
                "Manually_Annotated_file_lists/training.csv",
                "Manually_Annotated_file_lists/validation.csv",
                "Manually_Annotated_Images",
            ],
            _MANUAL,
        )
        return {
            "train": self._generate_examples("train", train_csv, images),
            "test": self._generate_examples("test", test_csv, images),
        }

    def _generate_examples(self, split, csv_path, images):
        table = native_to_canonical(AFFECTNET_ORDER, f"affectnet/{self.builder_config.name}")
        checker = _common.ImageChecker(self.name, split)
        with csv_path.open("r") as f:
            reader = csv.DictReader(f)
            missing = set(COLUMNS) - set(reader.fieldnames or [])
            if missing:
                raise _common.ManualFilesError(f"affectnet: {csv_path} lacks columns {sorted(missing)}.")
            for row in reader:
                expr = int(float(row["expression"]))
                if not 0 <= expr <= 7 or table[expr] < 0:
                    continue  # none / uncertain / non-face (and contempt for expr7): not an expression class
                lm = np.array([float(v) for v in row["facial_landmarks"].split(";") if v.strip()], np.float32)
                if lm.size != 136:
                    checker.skip(row["subDirectory_filePath"], f"{lm.size} landmark values, expected 136")
                    continue
                data, _ = checker.read(images / row["subDirectory_filePath"])
                if data is None:
                    continue
                box = [float(row[k] or 0) for k in ("face_x", "face_y", "face_width", "face_height")]
                yield (
                    row["subDirectory_filePath"],
                    {
                        "image": data,
                        "label": table[expr],
                        "face_box": np.array(box, np.float32),
                        "landmarks": lm.reshape(68, 2),
                        "valence": np.float32(float(row.get("valence") or 0)),
                        "arousal": np.float32(float(row.get("arousal") or 0)),
                        "file_name": row["subDirectory_filePath"],
                    },
                )
        checker.report()
