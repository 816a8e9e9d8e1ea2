"""synthetic_faces: procedurally drawn faces whose expression is the label (no download).

The generator is `kerasfer.data.synthetic` (numpy + OpenCV): cartoon faces whose brows, eyes
and mouth follow the 7 basic expressions (canonical order angry, disgust, fear, happy, sad,
surprise, neutral), with random pose, scale, colours, lighting, blur, noise and occluders.
Deterministic: each split has a fixed seed.

Configs:
- `rgb64` (default): 64x64x3; train 4,200 / validation 700 / test 700 (600/100/100 per class).
- `tiny`: 32x32x3; train 70 / validation 14 / test 14, for smoke tests and CI.
"""

import dataclasses

import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data import synthetic
from kerasfer.data.labels import label_names


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
    image_size: int = 64
    split_sizes: tuple = (("train", 4200), ("validation", 700), ("test", 700))


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for synthetic_faces."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        BuilderConfig(name="rgb64", description="64x64 RGB, 4200/700/700 images."),
        BuilderConfig(
            name="tiny",
            image_size=32,
            split_sizes=(("train", 70), ("validation", 14), ("test", 14)),
            description="32x32 RGB, 70/14/14 images (smoke tests).",
        ),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(s, s, 3)),
                    "label": tfds.features.ClassLabel(names=label_names("synthetic_faces")),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://github.com/kerasfer/kerasfer",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        return {
            split: self._generate_examples(split, n, synthetic.SPLITS[split][1])
            for split, n in self.builder_config.split_sizes
        }

    def _generate_examples(self, split, num_examples, seed):
        s = self.builder_config.image_size
        for i in range(num_examples):
            image, label = synthetic.generate_example(i, seed=seed, image_size=s, channels=3)
            yield i, {"image": image, "label": label}
