"""affectnet builder tests on dummy_data/ (expr7 and expr8)."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders.affectnet import affectnet_dataset_builder as an

pytestmark = pytest.mark.tfds
DUMMY = str(pathlib.Path(__file__).resolve().parent / "dummy_data")


class AffectNetExpr8Test(tfds.testing.DatasetBuilderTestCase):
    """training.csv: 0,1,7,6 + a corrupt image + ids 8 and 10 (dropped); validation.csv: 3, 7."""

    DATASET_CLASS = an.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["expr8"]
    EXAMPLE_DIR = DUMMY
    SPLITS = {"train": 4, "test": 2}


class AffectNetExpr7Test(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = an.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["expr7"]
    EXAMPLE_DIR = DUMMY
    SPLITS = {"train": 3, "test": 1}
