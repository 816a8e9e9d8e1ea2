"""Real-data checks on ../shared/data/fer2013 (skipped with a reason when absent).

The cheap tests parse the CSVs (no TFDS build); the builds (about a minute or more on two
shared cores) are marked `large`.
"""

import collections
import os
import pathlib

import pytest

pytestmark = pytest.mark.realdata

TRAIN_COUNTS = [3995, 436, 4097, 7215, 4830, 3171, 4965]
PUBLIC_COUNTS = [467, 56, 496, 895, 653, 415, 607]


def _fer_dir():
    root = os.environ.get("KERASFER_SHARED_DATA")
    base = pathlib.Path(root) if root else pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"
    d = base / "fer2013"
    if not (d / "fer2013.tar.gz").exists() or not (d / "fer2013new.csv").exists():
        pytest.skip(f"real FER2013 data not found at {d} (set KERASFER_SHARED_DATA)")
    return d


def test_fer2013_csv_counts_from_tar():
    pytest.importorskip("tensorflow_datasets")
    from kerasfer.tfds_builders.fer2013 import fer2013_dataset_builder as fer

    counts = collections.Counter()
    for row in fer.open_fer2013_csv(_fer_dir()):
        counts[(row["Usage"], int(row["emotion"]))] += 1
    assert [counts[("Training", k)] for k in range(7)] == TRAIN_COUNTS
    assert [counts[("PublicTest", k)] for k in range(7)] == PUBLIC_COUNTS
    assert sum(counts.values()) == 28709 + 3589  # PrivateTest deliberately absent


def test_ferplus_votes_rules_on_real_file():
    pytest.importorskip("tensorflow_datasets")
    from kerasfer.tfds_builders.ferplus import ferplus_dataset_builder as fp

    rows = fp.read_votes(_fer_dir())
    assert len(rows) == 32298
    assert sum(1 for _, name, _ in rows if not name) == 161
    train = [v for usage, name, v in rows if usage == "Training" and v is not None]
    majority = sum(fp.ferplus_label(v, "majority") >= 0 for v in train)
    plurality = sum(fp.ferplus_label(v, "plurality") >= 0 for v in train)
    assert majority == 21809 and plurality == 28386  # "about 21.8k" / "about 28.4k"


@pytest.mark.large
@pytest.mark.tfds
def test_build_fer2013_and_ferplus(tmp_path):
    from kerasfer.data import datasets

    d = _fer_dir()
    assert datasets.num_examples("fer2013", "train", manual_dir=d, data_dir=tmp_path) == 28709
    assert datasets.num_examples("fer2013", "validation", manual_dir=d, data_dir=tmp_path) == 3589
    counts = collections.Counter(int(y) for _, y in datasets.load("fer2013", "validation", data_dir=tmp_path))
    assert [counts[k] for k in range(7)] == PUBLIC_COUNTS
    with pytest.raises(ValueError, match="no split"):
        datasets.load("fer2013", "test", data_dir=tmp_path)
    assert datasets.num_examples("ferplus/majority", "train", manual_dir=d, data_dir=tmp_path) == 21809
