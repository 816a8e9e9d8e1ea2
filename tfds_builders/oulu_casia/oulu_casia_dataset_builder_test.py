"""oulu_casia builder test on dummy_data/: 10 subjects x 1 sequence of 4 frames (last 3 kept)."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders.oulu_casia import oulu_casia_dataset_builder as oulu

pytestmark = pytest.mark.tfds


class OuluCasiaTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = oulu.Builder
    EXAMPLE_DIR = str(pathlib.Path(__file__).resolve().parent / "dummy_data")
    # P005's last frame is corrupt (skipped and counted).
    SPLITS = {**{f"fold{k}": 3 for k in range(10)}, "fold4": 2}
