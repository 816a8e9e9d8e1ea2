"""`kerasfer models` lists the catalog without Keras, and the catalog equals what building the models gives."""

import json
import subprocess
import sys

import pytest

from kerasfer import cli
from kerasfer import model_catalog

# Building these and counting their MACs takes 9-13 s each on a 2-core CPU; `make test-large` checks them.
_SLOW = {"lfn", "lfnsb", "mfn", "resmasking_reconstruction", "resmaskingnet", "resmaskingnet18"}
_ROWS = model_catalog.read_catalog()


def test_listing_imports_neither_keras_nor_tensorflow():
    code = (
        "import sys; from kerasfer import cli; rc = cli.main(['models', '--names', 'lfnsb', 'sdnet']); "
        "print(rc, sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "0 []"
    assert lines[2].startswith("| `lfnsb` | 112x112x3 | 2,676,147 |") and lines[3].startswith("| `sdnet` |")


def test_unknown_name_is_a_user_error(capsys):
    assert cli.main(["models", "--names", "lfnsb", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasfer models: error: Unknown model 'nope'; registered: ") and "\n" not in err
    with pytest.raises(ValueError, match="Unknown models 'a', 'b'"):
        model_catalog.select(_ROWS, ["a", "lfnsb", "b"])


def test_json_and_no_macs(capsys):
    assert cli.main(["models", "--names", "SDNet", "--json", "--no-macs"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["sdnet"] and rows[0]["macs"] is None and rows[0]["params"] == 2_181_236


def test_catalog_covers_the_registry():
    from kerasfer import models

    # the package's own models (other test modules in this process register test-only ones)
    own = [n for n in models.list_models() if models.get_model_info(n).builder.__module__.startswith("kerasfer.")]
    assert [r["name"] for r in _ROWS] == own
    assert all(set(r) == set(model_catalog.FIELDS) for r in _ROWS)


@pytest.mark.parametrize(
    "name", [pytest.param(r["name"], marks=[pytest.mark.large] if r["name"] in _SLOW else []) for r in _ROWS]
)
def test_catalog_row_equals_the_built_model(name):
    (row,) = model_catalog.select(_ROWS, [name])
    assert model_catalog.build_catalog([name]) == [row], "the catalog is stale: run `make table`"


def test_bad_catalog_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="reinstall kerasfer"):
        model_catalog.read_catalog(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"rows": []}')
    with pytest.raises(ValueError, match="not a kerasfer model catalog"):
        model_catalog.read_catalog(tmp_path / "bad.json")


def test_packaged_weights_are_listed_from_their_cards(capsys):
    """Issue 26, item 14: the packaged weights' names, accuracy and size, without Keras."""
    code = "import sys; from kerasfer import cli; print(cli.main(['models', '--weights']), 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "0 False" and lines[0].startswith("| weights | evaluated on |")
    rows = model_catalog.packaged_weights_rows()
    from kerasfer.models.weights import packaged_weights

    assert [r["weights"] for r in rows] == [f"{m}/{n}" for m, n in packaged_weights()]
    card = json.loads((model_catalog.WEIGHTS_DIR / "resnet18_small_fer2013.json").read_text())
    (row,) = [r for r in rows if r["weights"] == "resnet18_small/fer2013"]
    assert row["accuracy"] == card["evaluation"]["accuracy"] and row["size_bytes"] == card["size_bytes"]
    acc = f"{card['evaluation']['accuracy']:.1%}"
    assert f"| `resnet18_small/fer2013` | fer2013 (validation, 3,589) | 48x48x1 | 2,805,543 | {acc} |" in out.stdout
    assert cli.main(["models", "--weights", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == rows
