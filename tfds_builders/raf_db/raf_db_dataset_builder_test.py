"""raf_db builder test on dummy_data/ (3 train + 1 missing + 1 corrupt, 2 test)."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders.raf_db import raf_db_dataset_builder as raf

pytestmark = pytest.mark.tfds


class RafDbTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = raf.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["aligned", "original"]
    EXAMPLE_DIR = str(pathlib.Path(__file__).resolve().parent / "dummy_data")
    SPLITS = {"train": 3, "test": 2}


def test_label_order():
    # RAF-DB 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral -> canonical ids
    assert raf.NATIVE_TO_LABEL == (5, 2, 1, 3, 4, 0, 6)
