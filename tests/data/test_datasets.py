"""kerasfer.data.datasets (load / num_examples / class_names / load_numpy) and the TFDS import hook.

Builds from the builders' dummy_data/ into a temporary data_dir (tiny, a few seconds each).
"""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.tfds
BUILDERS = pathlib.Path(__file__).resolve().parents[2] / "tfds_builders"


def test_class_names_without_tf():
    from kerasfer.data import datasets

    assert datasets.class_names("ferplus/majority")[-1] == "contempt"
    assert datasets.class_names("fer2013") == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_load_fer2013_and_ferplus_from_manual_dir(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    from kerasfer.data import datasets

    ds = datasets.load("fer2013", "validation", manual_dir=BUILDERS / "fer2013" / "dummy_data", data_dir=tmp_path)
    items = list(ds.as_numpy_iterator())
    assert len(items) == 3
    x, y = items[0]
    assert x.shape == (48, 48, 1) and x.dtype == np.uint8 and y.dtype == np.int32
    assert sorted(int(b) for _, b in items) == [2, 3, 5]
    assert datasets.num_examples("fer2013", "train", data_dir=tmp_path) == 4  # prepared: no manual_dir needed now

    manual = BUILDERS / "ferplus" / "dummy_data"
    _, dist = next(
        datasets.load("ferplus/distribution", "train", manual_dir=manual, data_dir=tmp_path).as_numpy_iterator()
    )
    assert dist.shape == (8,) and dist.dtype == np.float32 and abs(dist.sum() - 1) < 1e-5
    assert datasets.num_examples("ferplus", "train", config="majority", manual_dir=manual, data_dir=tmp_path) == 1


def test_load_errors(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    from kerasfer.data import datasets

    with pytest.raises(FileNotFoundError, match=r"(?s)manual_dir .*nowhere does not exist.*fer2013\.tar\.gz"):
        datasets.load("fer2013", "train", manual_dir=tmp_path / "nowhere", data_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="Unknown dataset 'no_such_fer'"):
        datasets.load("no_such_fer", "train", data_dir=tmp_path / "d")
    with pytest.raises(ValueError, match="Conflicting configs"):
        datasets.load("ferplus/majority", "train", config="distribution", data_dir=tmp_path / "d")
    # issue 26, item 7: the configs there are, not TFDS's "whose name closely match:" followed by nothing
    with pytest.raises(ValueError, match=r"^Unknown config 'nosuch' of dataset 'fer2013' .*its configs: csv, folder"):
        datasets.load("fer2013/nosuch", "train", data_dir=tmp_path / "d")
    with pytest.raises(ValueError, match=r"no split \['dev'\]"):
        datasets.load("fer2013", "dev", manual_dir=BUILDERS / "fer2013" / "dummy_data", data_dir=tmp_path / "d")


def test_load_numpy_synthetic_matches_generator():
    from kerasfer.data import datasets
    from kerasfer.data import synthetic

    x, y = datasets.load_numpy("synthetic_faces", "test", (64, 64, 3), num_examples=6)
    ref, ref_y = synthetic.generate(6, seed=synthetic.SPLITS["test"][1])
    assert x.dtype == np.float32 and x.shape == (6, 64, 64, 3)
    np.testing.assert_array_equal(x, ref.astype(np.float32))
    np.testing.assert_array_equal(y, ref_y)
    with pytest.raises(ValueError, match="no split 'dev'"):
        datasets.load_numpy("synthetic_faces", "dev", (64, 64, 3))


def test_import_kerasfer_registers_builders_lazily():
    """`import kerasfer` does not import TFDS, but `tfds.load`/`tfds.builder` then see the builders."""
    code = (
        "import sys, kerasfer\n"
        "assert 'tensorflow_datasets' not in sys.modules\n"
        "import tensorflow_datasets as tfds\n"
        "names = set(tfds.list_builders())\n"
        "missing = {'fer2013', 'ferplus', 'synthetic_faces'} - names\n"
        "assert not missing, missing\n"
        "assert tfds.builder('ferplus/distribution').info.features['distribution'].shape == (8,)\n"
        "assert tfds.core.utils.tfds_path().exists()\n"
        "print('OK')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-2000:]


def test_a_failed_preparation_leaves_no_empty_folder_and_no_tfds_warning(tmp_path, caplog):
    """Issue 26, item 15: a failed first `load` left an empty version folder, and TFDS's "Variant folder ... has no
    dataset_info.json" warning came with every call."""
    pytest.importorskip("tensorflow_datasets")
    from kerasfer.data import datasets

    for _ in range(2):
        with pytest.raises(FileNotFoundError, match="is not prepared in"):
            datasets.load("fer2013", "train", data_dir=tmp_path / "d")
    assert not (tmp_path / "d" / "fer2013" / "csv").exists()
    assert not [r for r in caplog.records if "Variant folder" in r.getMessage()]
