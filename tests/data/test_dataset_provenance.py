"""Prepared-dataset provenance and manual-dir errors of `kerasfer.data.datasets` (tiny FER2013 CSVs, temp data_dirs)."""

import hashlib
import json
import logging
import os
import pathlib
import shutil

import pytest

pytestmark = pytest.mark.tfds
tfds = pytest.importorskip("tensorflow_datasets")

from kerasfer.data import datasets  # noqa: E402

BUILDERS = pathlib.Path(__file__).resolve().parents[2] / "tfds_builders"


def write_fer2013(folder, validation_labels, train_labels=(0, 1)):
    """Writes `folder/fer2013.csv`: Training rows then PublicTest rows (pixel value = 10 * row)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(e, "Training") for e in train_labels] + [(e, "PublicTest") for e in validation_labels]
    lines = ["emotion,pixels,Usage"] + [f"{e},{' '.join([str(10 * i)] * 2304)},{u}" for i, (e, u) in enumerate(rows)]
    path = folder / "fer2013.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def labels(split, data_dir, manual_dir=None):
    ds = datasets.load("fer2013", split, data_dir=data_dir, manual_dir=manual_dir)
    return sorted(int(y) for _, y in ds.as_numpy_iterator())


def version_dir(data_dir):
    return pathlib.Path(data_dir) / "fer2013" / "csv" / "1.0.0"


def record(data_dir):
    return json.loads((version_dir(data_dir) / datasets.PROVENANCE_FILE).read_text())


def leftovers(data_dir):
    """Folders a build may leave behind: TFDS `incomplete.*` and kerasfer's rebuild/replaced folders."""
    return [
        p for p in pathlib.Path(data_dir).rglob("*") if p.is_dir() and ("incomplete" in p.name or "kerasfer" in p.name)
    ]


@pytest.fixture
def warnings_log(caplog):
    caplog.set_level(logging.WARNING, logger="kerasfer.data")
    return caplog


def test_record_names_size_and_hash_of_each_manual_file(tmp_path):
    a = tmp_path / "a"
    csv = write_fer2013(a, [3])
    assert labels("validation", tmp_path / "d", a) == [3]
    rec = record(tmp_path / "d")
    assert rec["manual_dir"] == str(a.resolve()) and rec["dataset"] == "fer2013/csv/1.0.0"
    (entry,) = rec["files"]
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    assert entry["name"] == "fer2013.csv" and entry["kind"] == "file"
    assert entry["size"] == csv.stat().st_size and entry["sha256"] == digest
    assert rec["hash_cache"][str(csv.resolve())]["mtime_ns"] == csv.stat().st_mtime_ns

    # FER+ reads two manual files (votes + the FER2013 CSV): both are recorded.
    manual = BUILDERS / "ferplus" / "dummy_data"
    datasets.num_examples("ferplus/majority", "train", manual_dir=manual, data_dir=tmp_path / "d")
    path = tmp_path / "d" / "ferplus" / "majority" / "1.0.0" / datasets.PROVENANCE_FILE
    files = {f["name"]: f for f in json.loads(path.read_text())["files"]}
    assert set(files) == {"fer2013new.csv", "fer2013.csv"}
    for name, f in files.items():
        assert f["sha256"] == hashlib.sha256((manual / name).read_bytes()).hexdigest()


def test_other_manual_dir_rebuilds_instead_of_using_the_stale_cache(tmp_path, warnings_log):
    d, a, b = tmp_path / "d", tmp_path / "a", tmp_path / "b"
    write_fer2013(a, [3])
    write_fer2013(b, [5, 6])
    assert labels("validation", d, a) == [3]
    assert labels("validation", d, b) == [5, 6]  # rebuilt from b, not the copy prepared from a
    msg = warnings_log.text
    assert "Rebuilding" in msg and str(a.resolve()) in msg and str(b.resolve()) in msg
    assert record(d)["manual_dir"] == str(b.resolve())
    assert labels("validation", d) == [5, 6]  # no manual_dir: the prepared copy as it is
    assert datasets.num_examples("fer2013", "validation", data_dir=d) == 2
    assert leftovers(d) == []


def test_corrupt_other_manual_dir_raises_and_keeps_the_prepared_copy(tmp_path):
    d, a, bad = tmp_path / "d", tmp_path / "a", tmp_path / "bad"
    write_fer2013(a, [3])
    assert labels("validation", d, a) == [3]
    bad.mkdir()
    (bad / "fer2013.tar.gz").write_bytes(b"not a gzip archive at all" * 10)
    with pytest.raises(
        ValueError, match=r"(?s)cannot read .*bad/fer2013\.tar\.gz.*prepared earlier in .* is left as it is"
    ):
        labels("validation", d, bad)
    assert labels("validation", d) == [3] and record(d)["manual_dir"] == str(a.resolve())
    assert leftovers(d) == []
    with pytest.raises(ValueError, match="cannot read"):  # still refused: the record still names a
        labels("validation", d, bad)


def test_unchanged_files_are_not_hashed_again(tmp_path, monkeypatch, warnings_log):
    d, a = tmp_path / "d", tmp_path / "a"
    csv = write_fer2013(a, [3])
    labels("validation", d, a)

    def no_rebuild(*args, **kw):
        raise AssertionError("rebuilt although the manual files match the record")

    hashed = []
    real_sha256 = datasets._sha256
    monkeypatch.setattr(datasets, "_build", no_rebuild)
    monkeypatch.setattr(datasets, "_sha256", lambda p: hashed.append(str(p)) or real_sha256(p))
    assert labels("validation", d, a) == [3] and hashed == []  # same path, size and mtime: cached hash

    os.utime(csv, ns=(csv.stat().st_atime_ns, csv.stat().st_mtime_ns + 10**9))  # touched, same contents
    assert labels("validation", d, a) == [3] and hashed == [str(csv.resolve())]
    assert labels("validation", d, a) == [3] and len(hashed) == 1  # the new mtime was recorded

    copy = tmp_path / "copy"
    shutil.copytree(a, copy)  # the same files elsewhere: hashed once, then cached too
    assert labels("validation", d, copy) == [3] and len(hashed) == 2
    assert labels("validation", d, copy) == [3] and len(hashed) == 2
    assert "Rebuilding" not in warnings_log.text


def test_prepared_copy_without_record_is_rebuilt_when_manual_dir_given(tmp_path, warnings_log):
    d, a = tmp_path / "d", tmp_path / "a"
    write_fer2013(a, [3])
    builder = datasets._builder("fer2013", data_dir=d)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(a)))  # no record
    assert labels("validation", d) == [3]  # no manual_dir: used as it is, nothing recorded
    assert not (version_dir(d) / datasets.PROVENANCE_FILE).exists() and "Rebuilding" not in warnings_log.text
    write_fer2013(a, [4])
    assert labels("validation", d, a) == [4]
    assert "has no record" in warnings_log.text and "Rebuilding" in warnings_log.text
    assert record(d)["manual_dir"] == str(a.resolve())


def test_broken_version_folder_is_prepared_again(tmp_path, warnings_log):
    d, a = tmp_path / "d", tmp_path / "a"
    write_fer2013(a, [3])
    version_dir(d).mkdir(parents=True)
    (version_dir(d) / "fer2013-train.tfrecord-00000-of-00001").write_bytes(b"half written")
    assert labels("validation", d, a) == [3]
    assert "not a complete prepared dataset" in warnings_log.text and leftovers(d) == []


def test_manual_dir_errors_name_folder_files_and_instructions(tmp_path):
    d = tmp_path / "d"
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "fer2013new.csv").write_text("Usage\n")
    with pytest.raises(
        FileNotFoundError, match=r"(?s)missing manual files in manual_dir .*wrong.*fer2013\.tar\.gz.*Kaggle"
    ):
        labels("train", d, wrong)
    with pytest.raises(FileNotFoundError, match=r"(?s)manual_dir .*nowhere does not exist.*fer2013\.tar\.gz.*Kaggle"):
        labels("train", d, tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"(?s)manual_dir .*empty is empty.*fer2013\.csv"):
        labels("train", d, tmp_path / "empty")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        labels("train", d, wrong / "fer2013new.csv")
    with pytest.raises(
        FileNotFoundError, match=r"(?s)not prepared in .*d and no manual_dir was given.*fer2013\.tar\.gz"
    ):
        labels("train", d)
    assert leftovers(d) == [] and not version_dir(d).exists()

    write_fer2013(tmp_path / "a", [3])
    labels("validation", d, tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="already prepared in .*omit manual_dir"):
        labels("validation", d, tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"(?s)wrong/fer2013\.tar\.gz.*prepared earlier in .* is left as it is"):
        labels("validation", d, wrong)
    assert labels("validation", d) == [3]


def test_cli_boundary_turns_manual_dir_errors_into_exit_2(tmp_path, capsys):
    from kerasfer.cli import run_command

    def evaluate(args):
        datasets.load("fer2013", "test", data_dir=tmp_path / "d", manual_dir=tmp_path / "wrong")

    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "x.txt").write_text("x")
    assert run_command(evaluate, None, "evaluate") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasfer evaluate: error: fer2013") and "wrong/fer2013.csv" in err
    assert len(err.splitlines()) == 1 and "AssertionError" not in err and "Traceback" not in err


def test_failed_preparation_leaves_nothing_taken_for_prepared(tmp_path, monkeypatch):
    from kerasfer.tfds_builders.fer2013 import fer2013_dataset_builder as fer

    d, a = tmp_path / "d", tmp_path / "a"
    write_fer2013(a, [3, 4])

    def fails_midway(self, split, rows):  # a crash after TFDS started writing examples
        yield 0, {"image": fer._common.encode_png(rows[0][2]), "label": 0, "id": "x"}
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(fer.Builder, "_generate_csv", fails_midway)
    with pytest.raises(RuntimeError, match="disk on fire"):
        labels("validation", d, a)
    monkeypatch.undo()
    assert not datasets._builder("fer2013", data_dir=d).is_prepared()
    assert not version_dir(d).exists() and leftovers(d) == []
    with pytest.raises(FileNotFoundError, match="not prepared"):
        labels("validation", d)
    assert labels("validation", d, a) == [3, 4]  # and the next load with the files just builds it
