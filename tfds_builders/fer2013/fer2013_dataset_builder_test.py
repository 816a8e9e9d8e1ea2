"""fer2013 builder tests on the fake files of dummy_data/ (made by tools/make_dummy_data.py)."""

import pathlib

import pytest
import tensorflow_datasets as tfds

from kerasfer.tfds_builders import _common
from kerasfer.tfds_builders.fer2013 import fer2013_dataset_builder

pytestmark = pytest.mark.tfds
DUMMY = pathlib.Path(__file__).resolve().parent / "dummy_data"


class Fer2013CsvTest(tfds.testing.DatasetBuilderTestCase):
    """csv config from fer2013.tar.gz: 5 Training rows (one corrupt, skipped), 3 PublicTest, 2 PrivateTest."""

    DATASET_CLASS = fer2013_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["csv"]
    EXAMPLE_DIR = str(DUMMY)
    SPLITS = {"train": 4, "validation": 3, "test": 2}

    def test_corrupt_row_counted(self):
        _common.SKIPPED_IMAGES["fer2013"].clear()
        builder = self._make_builder(config="csv")
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(DUMMY)))
        skipped = _common.SKIPPED_IMAGES["fer2013"]["train"]
        assert len(skipped) == 1 and "row 2" in skipped[0], skipped


class Fer2013FolderTest(tfds.testing.DatasetBuilderTestCase):
    """folder config: 4 train images (+1 corrupt, skipped), 3 test images."""

    DATASET_CLASS = fer2013_dataset_builder.Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["folder"]
    EXAMPLE_DIR = str(DUMMY / "folder")
    SPLITS = {"train": 4, "test": 3}


def test_missing_manual_files_name_expected_paths(tmp_path):
    builder = fer2013_dataset_builder.Builder(data_dir=str(tmp_path / "data"))
    empty = tfds.download.DownloadConfig(manual_dir=str(tmp_path / "absent"))
    with pytest.raises(AssertionError, match=r"fer2013\.tar\.gz"):
        builder.download_and_prepare(download_config=empty)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "fer2013new.csv").write_text("Usage\n")
    config = tfds.download.DownloadConfig(manual_dir=str(wrong))
    with pytest.raises(
        AssertionError, match=r"missing manual files.*\n.*wrong/fer2013\.tar\.gz or .*wrong/fer2013\.csv"
    ):
        builder.download_and_prepare(download_config=config)
