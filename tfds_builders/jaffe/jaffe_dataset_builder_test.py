"""jaffe builder test on dummy_data/: 11 posers x 1 image (+1 corrupt), subject-wise folds."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders.jaffe import jaffe_dataset_builder as jaffe

pytestmark = pytest.mark.tfds


class JaffeTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = jaffe.Builder
    EXAMPLE_DIR = str(pathlib.Path(__file__).resolve().parent / "dummy_data")
    # 11 posers round-robin over 10 folds: fold0 holds posers 0 and 10; poser 3's second image is corrupt.
    SPLITS = {"fold0": 2, **{f"fold{k}": 1 for k in range(1, 10)}}
