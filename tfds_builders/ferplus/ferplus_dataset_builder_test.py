"""ferplus builder tests on the fake files of dummy_data/ (made by tools/make_dummy_data.py).

The dummy votes (see FERPLUS_VOTES in tools/make_dummy_data.py) exercise every rule: a strict
majority, a plurality-only image, a tie, NF and unknown winners, an empty FER+ name and a
corrupt FER2013 row.
"""

import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders.ferplus import ferplus_dataset_builder as fp

pytestmark = pytest.mark.tfds
DUMMY = str(pathlib.Path(__file__).resolve().parent / "dummy_data")


class FerplusMajorityTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = fp.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["majority"]
    EXAMPLE_DIR = DUMMY
    SPLITS = {"train": 1, "validation": 2, "test": 1}


class FerplusDistributionTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = fp.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["distribution"]
    EXAMPLE_DIR = DUMMY
    SPLITS = {"train": 3, "validation": 2, "test": 1}

    def test_labels_and_distribution_in_canonical_order(self):
        builder = self._make_builder(config="distribution")
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=DUMMY))
        ex = list(tfds.as_numpy(builder.as_dataset(split="train")))
        by_id = {e["id"].decode(): e for e in ex}
        anger = by_id["fer0000000.png"]
        assert anger["label"] == 0  # canonical "angry"
        np.testing.assert_allclose(anger["distribution"], [7 / 9, 1 / 9, 1 / 9, 0, 0, 0, 0, 0], rtol=1e-6)
        assert by_id["fer0000001.png"]["label"] == 3  # plurality happiness -> "happy"
        assert by_id["fer0000004.png"]["label"] == 6  # tie neutral/happiness -> first column (neutral)


def test_label_rules():
    assert fp.ferplus_label([0, 0, 0, 0, 6, 0, 0, 0, 4, 0], "majority") == 4
    assert fp.ferplus_label([0, 5, 0, 0, 0, 0, 0, 0, 5, 0], "majority") == -1  # exactly half is no majority
    assert fp.ferplus_label([0, 5, 0, 0, 0, 0, 0, 0, 5, 0], "plurality") == 1  # tie: first column wins
    assert fp.ferplus_label([0, 0, 0, 0, 0, 0, 0, 0, 2, 8], "plurality") == -1  # NF wins
    assert fp.ferplus_label([0] * 10, "plurality") == -1
    assert list(fp.FERPLUS_TO_CANONICAL) == [6, 3, 5, 4, 0, 1, 2, 7]


def test_missing_votes_file_names_it(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    builder = fp.Builder(data_dir=str(tmp_path / "data"))
    config = tfds.download.DownloadConfig(manual_dir=str(tmp_path))
    with pytest.raises(AssertionError, match=r"fer2013new\.csv"):
        builder.download_and_prepare(download_config=config)
