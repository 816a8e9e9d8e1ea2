"""sfew builder test on dummy_data/ (aligned: 3 train + 1 corrupt, 2 validation)."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders.sfew import sfew_dataset_builder as sfew

pytestmark = pytest.mark.tfds


class SfewTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = sfew.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["aligned"]
    EXAMPLE_DIR = str(pathlib.Path(__file__).resolve().parent / "dummy_data")
    SPLITS = {"train": 3, "validation": 2}
