"""FER+ arrays derived from FER2013 arrays (`ferplus_from_fer2013`) equal those the ferplus builder gives."""

import csv

import numpy as np
import pytest

from kerasfer.data import arrays
from kerasfer.data import ferplus_votes as fv

USAGES = ["Training"] * 24 + ["PublicTest"] * 10


def _fake_manual_dir(root):
    """fer2013.csv + fer2013new.csv (row-aligned, 34 rows) exercising every keep/drop case of the majority rule."""
    rng = np.random.default_rng(7)
    root.mkdir()
    with open(root / "fer2013.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, usage in enumerate(USAGES):
            pixels = " ".join(map(str, rng.integers(0, 256, 48 * 48)))
            w.writerow([i % 7, "1 2 oops" if i == 3 else pixels, usage])  # row 3: corrupt pixels, skipped
    with open(root / "fer2013new.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fv.HEADER)
        for i, usage in enumerate(USAGES):
            if i in (5, 28):
                w.writerow([usage, "", *[0] * 10])  # no FER+ votes
                continue
            votes = np.zeros(10, int)
            winner = [i % 8, 8, 9][i % 3]  # an emotion, unknown or NF
            votes[winner] = 6 if i % 4 else 5  # 6 of 10 is a strict majority, 5 is not
            votes[(winner + 1) % 10] = 10 - votes[winner]
            w.writerow([usage, f"fer{i + 1:07d}.png", *votes])  # names need not be the row number
    return root


def _contents(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.keys()}


@pytest.mark.tfds
@pytest.mark.tf_only
def test_derived_ferplus_equals_the_builders_arrays(tmp_path):
    manual = _fake_manual_dir(tmp_path / "manual")
    kw = {"data_dir": str(tmp_path / "tfds"), "manual_dir": str(manual), "encoding": "webp", "ids": True}
    splits = ["train", "validation"]
    arrays.export_arrays("fer2013", splits, tmp_path / "fer", **kw)
    arrays.export_arrays("ferplus/majority", splits, tmp_path / "want", **kw)
    fer = _contents(arrays.array_file(tmp_path / "fer", "fer2013", "train"))
    rows = [int(i[3:]) for i in fer["ids"]]
    assert sorted(rows) == [i for i in range(24) if i != 3]  # every valid Training row, in TFDS's order
    assert rows != sorted(rows)  # (which is not the CSV's: the ids are what pairs images with votes)

    written = arrays.ferplus_from_fer2013(manual / "fer2013new.csv", tmp_path / "fer", tmp_path / "got")
    assert [(s, n) for s, _, n in written] == [("train", 5), ("validation", 3)]
    for split in splits:
        want = _contents(arrays.array_file(tmp_path / "want", "ferplus/majority", split))
        got = _contents(arrays.array_file(tmp_path / "got", "ferplus/majority", split))
        assert sorted(got) == sorted(want)
        for key in want:  # the same images (bytes), labels, class names and ids, in the same order
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{split}: {key}")
        assert got["labels"].dtype == want["labels"].dtype
        images, labels = arrays.load_arrays(tmp_path / "got", "ferplus/majority", split)
        assert images.shape[1:] == (48, 48, 1) and len(set(labels.tolist())) > 1


def _fer_arrays(directory, ids, split="train"):
    n = 3 if ids is None else len(ids)
    np.savez(
        arrays.array_file(directory, "fer2013", split),
        images=np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1),
        labels=np.zeros(n, np.int32),
        class_names=np.asarray(["a"] * 7),
        **({"ids": np.asarray(ids)} if ids is not None else {}),
    )


def _votes(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fv.HEADER)
        w.writerows(rows)
    return path


def test_derivation_without_tensorflow_and_its_errors(tmp_path):
    votes = _votes(
        tmp_path / "v.csv",
        [
            ["Training", "a.png", 0, 0, 0, 0, 7, 1, 1, 0, 1, 0],  # anger majority -> canonical 0
            ["Training", "b.png", 2, 5, 2, 0, 0, 0, 0, 0, 1, 0],  # no strict majority: dropped
            ["Training", "c.png", 0, 0, 0, 0, 0, 0, 0, 9, 1, 0],  # contempt -> canonical 7
            ["PublicTest", "d.png", 9, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        ],
    )
    _fer_arrays(tmp_path, ["fer0000002", "fer0000000", "fer0000001"])  # raw images, in a shuffled order
    ((_, path, n),) = arrays.ferplus_from_fer2013(votes, tmp_path, tmp_path / "out", splits=["train"])
    got = _contents(path)
    assert n == 2 and got["labels"].tolist() == [7, 0] and got["ids"].tolist() == ["c.png", "a.png"]
    np.testing.assert_array_equal(got["images"], np.arange(12, dtype=np.uint8).reshape(3, 2, 2, 1)[[0, 1]])
    plural = arrays.ferplus_from_fer2013(votes, tmp_path, tmp_path / "out", rule="plurality", splits=["train"])
    assert _contents(plural[0][1])["labels"].tolist() == [7, 0, 3]

    with pytest.raises(FileExistsError, match="overwrite"):
        arrays.ferplus_from_fer2013(votes, tmp_path, tmp_path / "out", splits=["train"])
    with pytest.raises(ValueError, match="rule must be"):
        arrays.ferplus_from_fer2013(votes, tmp_path, tmp_path / "x", rule="distribution")
    with pytest.raises(FileNotFoundError, match="fer2013_validation.npz"):
        arrays.ferplus_from_fer2013(votes, tmp_path, tmp_path / "x")
    cases = [
        (["fer0000000", "fer0000009"], "row 9 but .* has 4 rows"),
        (["fer0000003"], "'PublicTest' in .* but in the 'train'"),
        (["train/angry/im0.jpg"], "not a FER2013 CSV row id"),
        (["fer0000001"], "no image .* keeps a label"),
        (None, "has no 'ids'.*ids=True"),
    ]
    for ids, message in cases:
        _fer_arrays(tmp_path, ids)
        with pytest.raises(ValueError, match=message):
            arrays.ferplus_from_fer2013(votes, tmp_path, tmp_path / "x", splits=["train"])
    (tmp_path / "bad.csv").write_text("Usage,name\n")
    with pytest.raises(ValueError, match="header"):
        arrays.ferplus_from_fer2013(tmp_path / "bad.csv", tmp_path, tmp_path / "x", splits=["train"])
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").iterdir())


def test_the_builder_uses_the_shared_rule():
    pytest.importorskip("tensorflow_datasets")
    from kerasfer.tfds_builders.fer2013 import fer2013_dataset_builder as fer
    from kerasfer.tfds_builders.ferplus import ferplus_dataset_builder as fp

    assert fp.ferplus_label is fv.ferplus_label and fp.FERPLUS_TO_CANONICAL is fv.FERPLUS_TO_CANONICAL
    assert fp.parse_vote_row is fv.parse_vote_row and fer.USAGE_TO_SPLIT == fv.USAGE_TO_SPLIT


def test_gzipped_votes_and_a_subset_of_the_arrays(tmp_path):
    import gzip
    import shutil

    rows = [["Training", f"{c}.png", 0, 0, 0, 0, 7, 1, 1, 0, 1, 0] for c in "abc"]
    votes = _votes(tmp_path / "v.csv", rows)
    with open(votes, "rb") as src, gzip.open(tmp_path / "v.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    got, want = fv.read_votes_csv(tmp_path / "v.csv.gz"), fv.read_votes_csv(votes)
    assert [r[:2] for r in got] == [r[:2] for r in want] == [("Training", f"{c}.png") for c in "abc"]
    np.testing.assert_array_equal(np.stack([r[2] for r in got]), np.stack([r[2] for r in want]))

    ids = [f"fer{i:07d}" for i in range(3)]
    _fer_arrays(tmp_path, ids)
    src = arrays.array_file(tmp_path, "fer2013", "train")
    out = arrays.subset_arrays(src, 2, seed=1, out=tmp_path / "sub.npz")
    full, sub = _contents(src), _contents(out)
    keep = [ids.index(i) for i in sub["ids"]]
    assert len(keep) == 2 and keep == sorted(keep)  # a seeded draw, kept in file order
    np.testing.assert_array_equal(sub["images"], full["images"][keep])
    np.testing.assert_array_equal(sub["labels"], full["labels"][keep])
    np.testing.assert_array_equal(sub["class_names"], full["class_names"])
    assert len(_contents(arrays.subset_arrays(src, 10, out=tmp_path / "all.npz"))["ids"]) == 3
    with pytest.raises(ValueError, match="at least 1"):
        arrays.subset_arrays(src, 0)
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not a kerasfer array file"):
        arrays.subset_arrays(tmp_path / "other.npz", 1)
