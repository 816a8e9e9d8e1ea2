"""Dataset splits as .npz files (`kerasfer arrays`, `kerasfer train --arrays`): written once, trained on anywhere."""

import numpy as np
import pytest

from kerasfer.data import arrays


def _write(directory, dataset, split, n=6, shape=(48, 48, 1), **extra):
    rng = np.random.default_rng(0)
    data = {"images": rng.integers(0, 256, (n, *shape), dtype=np.uint8), "labels": np.arange(n) % 7, **extra}
    path = arrays.array_file(directory, dataset, split)
    np.savez(path, **data)
    return data


def test_file_names_and_listing(tmp_path):
    assert arrays.array_file(tmp_path, "ferplus/majority", "train").name == "ferplus-majority_train.npz"
    assert arrays.array_file(tmp_path, "fer2013", "train[:10%]").name == "fer2013_train(-10%).npz"
    assert arrays.available_splits(tmp_path / "missing", "fer2013") == []
    _write(tmp_path, "fer2013", "train")
    _write(tmp_path, "fer2013", "validation")
    _write(tmp_path, "ferplus/majority", "train")
    assert arrays.available_splits(tmp_path, "fer2013") == ["train", "validation"]


def test_load_round_trip_and_errors(tmp_path):
    want = _write(tmp_path, "fer2013", "train", shape=(48, 48))  # (N, H, W) gets a channel axis
    images, labels = arrays.load_arrays(tmp_path, "fer2013", "train")
    assert images.shape == (6, 48, 48, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], want["images"])
    np.testing.assert_array_equal(labels, want["labels"])

    with pytest.raises(FileNotFoundError, match="fer2013_test.npz.*splits: train.*kerasfer arrays fer2013"):
        arrays.load_arrays(tmp_path, "fer2013", "test")
    arrays.array_file(tmp_path, "fer2013", "bad").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="Could not read"):
        arrays.load_arrays(tmp_path, "fer2013", "bad")
    np.savez(arrays.array_file(tmp_path, "fer2013", "nolabels"), images=np.zeros((2, 8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="must hold 'images' and 'labels'"):
        arrays.load_arrays(tmp_path, "fer2013", "nolabels")
    np.savez(arrays.array_file(tmp_path, "fer2013", "short"), images=np.zeros((3, 8, 8, 1)), labels=np.zeros(2))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        arrays.load_arrays(tmp_path, "fer2013", "short")
    np.savez(arrays.array_file(tmp_path, "fer2013", "empty"), images=np.zeros((0, 8, 8, 1)), labels=np.zeros(0))
    with pytest.raises(ValueError, match="no examples"):
        arrays.load_arrays(tmp_path, "fer2013", "empty")
    np.savez(arrays.array_file(tmp_path, "fer2013", "rank"), images=np.zeros((3, 8, 8, 2)), labels=np.zeros(3))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        arrays.load_arrays(tmp_path, "fer2013", "rank")


@pytest.mark.tf_only
def test_export_writes_every_split_and_never_overwrites(tmp_path, monkeypatch):
    import tensorflow as tf

    from kerasfer.data import datasets

    def fake_load(name, split, **kw):
        n = {"train": 5, "validation": 3}[split]
        images = np.full((n, 48, 48, 1), 7, np.uint8)
        return tf.data.Dataset.from_tensor_slices((images, np.arange(n, dtype=np.int32)))

    monkeypatch.setattr(datasets, "load", fake_load)
    written = arrays.export_arrays("fer2013", ["train", "validation"], tmp_path / "out")
    assert [(s, n) for s, _, n in written] == [("train", 5), ("validation", 3)]
    images, labels = arrays.load_arrays(tmp_path / "out", "fer2013", "validation")
    assert images.shape == (3, 48, 48, 1) and list(labels) == [0, 1, 2]
    with np.load(arrays.array_file(tmp_path / "out", "fer2013", "train")) as f:
        assert list(f["class_names"])[:2] == ["angry", "disgust"]
    before = arrays.array_file(tmp_path / "out", "fer2013", "train").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        arrays.export_arrays("fer2013", ["train"], tmp_path / "out")
    assert arrays.array_file(tmp_path / "out", "fer2013", "train").read_bytes() == before
    assert not list((tmp_path / "out").glob("*.tmp*"))


def _synthetic_split(monkeypatch, n, seed):
    """`datasets.load` gives `n` synthetic 48x48 gray faces (no TensorFlow); returns them as `(x, y)`."""
    from kerasfer.data import synthetic

    x, y = synthetic.generate(n, seed=seed, image_size=48, channels=1)
    x = x.astype(np.uint8)
    monkeypatch.setattr("kerasfer.data.datasets.class_names", lambda name: tuple("abcdefg"))

    class FakeSplit:
        def as_numpy_iterator(self):
            return iter(zip(x, y))

    monkeypatch.setattr("kerasfer.data.datasets.load", lambda *a, **k: FakeSplit())
    return x, y


def test_webp_encoding_is_lossless_and_smaller(tmp_path, monkeypatch):
    x, y = _synthetic_split(monkeypatch, 6, seed=3)
    arrays.export_arrays("fer2013", ["train"], tmp_path / "raw")
    arrays.export_arrays("fer2013", ["train"], tmp_path / "webp", encoding="webp")
    raw_images, _ = arrays.load_arrays(tmp_path / "raw", "fer2013", "train")
    webp_images, labels = arrays.load_arrays(tmp_path / "webp", "fer2013", "train")
    np.testing.assert_array_equal(webp_images, x)  # lossless
    np.testing.assert_array_equal(raw_images, x)
    np.testing.assert_array_equal(labels, y)
    with pytest.raises(ValueError, match="encoding"):
        arrays.export_arrays("fer2013", ["train"], tmp_path / "x", encoding="jpeg")
    # a damaged image inside the file is named
    path = arrays.array_file(tmp_path / "webp", "fer2013", "train")
    with np.load(path) as f:
        data = dict(f)
    data["webp"] = data["webp"].copy()
    data["webp"][data["webp_offsets"][2] : data["webp_offsets"][3]] = 0
    np.savez(path, **data)
    with pytest.raises(ValueError, match="image 2 is not a valid 48x48 WebP"):
        arrays.load_arrays(tmp_path / "webp", "fer2013", "train")


def test_reencode_webp_makes_a_smaller_lossy_file_that_still_loads(tmp_path, monkeypatch):
    """The GPU stage carries FER2013's training images as lossy WebP to fit its 64 MiB."""
    x, y = _synthetic_split(monkeypatch, 12, seed=4)
    arrays.export_arrays("fer2013", ["train"], tmp_path, encoding="webp")
    path = arrays.array_file(tmp_path, "fer2013", "train")
    lossless = path.stat().st_size
    assert arrays.webp_quality_of(path) is None
    arrays.reencode_webp(path, 80)
    assert arrays.webp_quality_of(path) == 80 and path.stat().st_size < lossless
    images, labels = arrays.load_arrays(tmp_path, "fer2013", "train")
    np.testing.assert_array_equal(labels, y)
    assert images.shape == x.shape and np.abs(images.astype(int) - x).mean() < 4  # close, not exact
    # a subset keeps the quality marker; re-encoding at the same quality leaves the file alone
    arrays.subset_arrays(path, 5, out=tmp_path / "few.npz")
    assert arrays.webp_quality_of(tmp_path / "few.npz") == 80
    before = path.read_bytes()
    arrays.reencode_webp(path, 80)
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="quality must be 1 to 100"):
        arrays.reencode_webp(path, 101)
    (tmp_path / "foreign.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="Could not read"):
        arrays.reencode_webp(tmp_path / "foreign.npz", 90)


class _FakeSplit:
    """What `datasets.load` returns, without TensorFlow: `n` 8x8 gray images, labels 0..6."""

    def __init__(self, n, known_size=True):
        self.n, self.known_size = n, known_size

    def cardinality(self):
        if not self.known_size:
            raise AttributeError("cardinality")
        return self.n

    def as_numpy_iterator(self):
        return ((np.full((8, 8, 1), i, np.uint8), i % 7) for i in range(self.n))


def _fake_load(monkeypatch, sizes, known_size=True):
    def load(name, split, **kw):
        if split not in sizes:
            raise ValueError(f"{name} has no split [{split!r}]; available splits: {sorted(sizes)}.")
        return _FakeSplit(sizes[split], known_size)

    monkeypatch.setattr("kerasfer.data.datasets.load", load)


def test_export_reports_progress(tmp_path, monkeypatch, capsys):
    _fake_load(monkeypatch, {"train": 5, "validation": 2})
    lines = []
    arrays.export_arrays("fer2013", ["train", "validation"], tmp_path / "a", progress=lines.append)
    path = arrays.array_file(tmp_path / "a", "fer2013", "train")
    # a few examples take less than the progress interval: per split, the line once read and the one once written
    assert lines[0] == "fer2013: loading train, validation"
    assert lines[1] == f"train: 5/5 examples read; writing {path} (raw)"
    assert lines[2].startswith("train: wrote 5 examples in ")
    assert lines[3].startswith("validation: 2/2 examples read") and len(lines) == 5

    monkeypatch.setattr(arrays, "_PROGRESS_SECONDS", 0.0)  # a line per example
    _fake_load(monkeypatch, {"train": 3}, known_size=False)
    lines = []
    arrays.export_arrays("fer2013", ["train"], tmp_path / "b", progress=lines.append)
    assert lines[1:4] == ["train: 1 examples", "train: 2 examples", "train: 3 examples"]  # size unknown

    arrays.export_arrays("fer2013", ["train"], tmp_path / "c", progress=True)
    assert "train: 3 examples read" in capsys.readouterr().err
    arrays.export_arrays("fer2013", ["train"], tmp_path / "d")  # no progress by default
    assert capsys.readouterr().err == ""
    with pytest.raises(TypeError, match="progress"):
        arrays.export_arrays("fer2013", ["train"], tmp_path / "e", progress="yes")


def test_export_checks_every_split_before_writing(tmp_path, monkeypatch):
    _fake_load(monkeypatch, {"train": 5, "validation": 2})
    with pytest.raises(ValueError, match="no split.*validaton"):
        arrays.export_arrays("fer2013", ["train", "validaton"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_arrays_cli(tmp_path, monkeypatch, capsys):
    from kerasfer.cli import main

    _fake_load(monkeypatch, {"train": 5})
    out = tmp_path / "out"
    assert main(["arrays", "fer2013", "--out", str(out), "--splits", "train"]) == 0
    captured = capsys.readouterr()
    assert f"train: 5 examples -> {arrays.array_file(out, 'fer2013', 'train')}" in captured.out
    assert "train: 5/5 examples read" in captured.err  # progress on stderr, results on stdout
    # errors go through the CLI's boundary: one line, exit 2, nothing replaced
    before = arrays.array_file(out, "fer2013", "train").read_bytes()
    for argv, message in [
        (["--splits", "train"], "already exist"),
        (["--splits", "train", "test", "--overwrite"], "no split"),
    ]:
        assert main(["arrays", "fer2013", "--out", str(out), "--quiet", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kerasfer arrays: error: ") and message in err[0], err
    assert arrays.array_file(out, "fer2013", "train").read_bytes() == before
    assert main(["arrays", "fer2013", "--out", str(out), "--splits", "train", "--overwrite", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
