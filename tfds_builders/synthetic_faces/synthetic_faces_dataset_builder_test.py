"""synthetic_faces builder test (the `tiny` config: 70/14/14 generated images)."""

import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kerasfer.data import synthetic
from kerasfer.tfds_builders.synthetic_faces import synthetic_faces_dataset_builder as sf

pytestmark = pytest.mark.tfds


class SyntheticFacesTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = sf.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["tiny"]
    EXAMPLE_DIR = str(pathlib.Path(__file__).resolve().parent / "dummy_data")
    SPLITS = {"train": 70, "validation": 14, "test": 14}

    def test_matches_generator(self):
        builder = self._make_builder(config="tiny")
        builder.download_and_prepare()
        ex = next(iter(tfds.as_numpy(builder.as_dataset(split="validation", shuffle_files=False))))
        images, labels = synthetic.generate(14, seed=synthetic.SPLITS["validation"][1], image_size=32)
        hits = [i for i in range(14) if np.array_equal(images[i], ex["image"])]
        assert hits and labels[hits[0]] == ex["label"]


def test_default_config_sizes():
    cfg = sf.Builder.BUILDER_CONFIGS[0]
    assert cfg.name == "rgb64" and dict(cfg.split_sizes) == {k: v[0] for k, v in synthetic.SPLITS.items()}
