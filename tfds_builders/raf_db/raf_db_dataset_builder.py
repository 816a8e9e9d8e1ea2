"""RAF-DB basic (Real-world Affective Faces, Li et al. CVPR 2017): 15,339 images, 7 expressions.

Reads the official `EmoLabel/list_patition_label.txt` (`train_00001.jpg 5`, 1-based labels in
RAF-DB order 1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral),
remapped to kerasfer's canonical order. Splits `train` (12,271) and `test` (3,068) from the
file-name prefix. Configs: `aligned` (default; `Image/aligned/<name>_aligned.jpg`, 100x100)
and `original` (`Image/original/<name>`).
"""

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.labels import RAF_DB_ORDER
from kerasfer.data.labels import label_names
from kerasfer.data.labels import native_to_canonical
from kerasfer.tfds_builders import _common

LABEL_FILE = "EmoLabel/list_patition_label.txt"
NATIVE_TO_LABEL = native_to_canonical(RAF_DB_ORDER, "raf_db")  # index = native id - 1

_MANUAL = """\
RAF-DB is available on request from http://www.whdeng.cn/raf/model1.html. Place the `basic`
part in `manual_dir` (default `~/tensorflow_datasets/downloads/manual/`):

  <manual_dir>/basic/EmoLabel/list_patition_label.txt
  <manual_dir>/basic/Image/aligned/train_00001_aligned.jpg ...   (config `aligned`)
  <manual_dir>/basic/Image/original/train_00001.jpg ...          (config `original`)

(`<manual_dir>/EmoLabel/...` and `<manual_dir>/Image/...` without `basic/` also work.)
"""


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
    image_dir: str = "aligned"


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for RAF-DB basic."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL
    BUILDER_CONFIGS = [
        BuilderConfig(name="aligned", image_dir="aligned", description="100x100 aligned faces."),
        BuilderConfig(name="original", image_dir="original", description="Original images."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(names=label_names("raf_db")),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="http://www.whdeng.cn/raf/model1.html",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        sub = self.builder_config.image_dir
        label_file, image_dir = _common.require_files(
            self.name,
            dl_manager.manual_dir,
            [(f"basic/{LABEL_FILE}", LABEL_FILE), (f"basic/Image/{sub}", f"Image/{sub}")],
            _MANUAL,
        )
        entries = {"train": [], "test": []}
        for n, line in enumerate(label_file.read_text().splitlines()):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 7:
                raise ValueError(f"{label_file}:{n + 1}: expected '<name>.jpg <1..7>', got {line!r}.")
            split = "train" if parts[0].startswith("train") else "test"
            entries[split].append((parts[0], NATIVE_TO_LABEL[int(parts[1]) - 1]))
        return {s: self._generate_examples(s, image_dir, items) for s, items in entries.items()}

    def _generate_examples(self, split, image_dir, items):
        checker = _common.ImageChecker(self.name, split)
        aligned = self.builder_config.image_dir == "aligned"
        for name, label in items:
            fname = name.replace(".jpg", "_aligned.jpg") if aligned else name
            data, _ = checker.read(image_dir / fname)
            if data is None:
                continue
            yield name, {"image": data, "label": label, "file_name": fname}
        checker.report()
