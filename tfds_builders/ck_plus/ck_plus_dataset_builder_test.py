"""ck_plus builder test on dummy_data/: 10 subjects x 1 labelled sequence (5 frames) + 1 unlabelled sequence."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders.ck_plus import ck_plus_dataset_builder as ck

pytestmark = pytest.mark.tfds


class CkPlusTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = ck.Builder
    EXAMPLE_DIR = str(pathlib.Path(__file__).resolve().parent / "dummy_data")
    # each labelled sequence: first frame (neutral) + last 3 frames; S003's last frame is corrupt (skipped).
    SPLITS = {**{f"fold{k}": 4 for k in range(10)}, "fold2": 3}


def test_code_mapping():
    # CK+ codes 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise
    assert ck.NATIVE_TO_LABEL == (6, 0, 7, 1, 2, 3, 4, 5)
