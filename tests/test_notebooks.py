"""Both notebooks execute end to end on tiny settings (KERASFER_NOTEBOOK_TINY=1), so they never rot."""

import os
import pathlib

import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"

pytestmark = pytest.mark.tf_only


@pytest.mark.parametrize("name", ["quickstart.ipynb", "reproduce_lfnsb_rafdb.ipynb"])
def test_notebook_runs(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("KERASFER_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.delenv("RAFDB_MANUAL_DIR", raising=False)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "text" in o
    )
    assert os.path.exists(tmp_path / "runs"), outputs[-2000:]
    if name == "quickstart.ipynb":
        assert list((tmp_path / "runs" / "quickstart").glob("*.tflite"))
        assert (tmp_path / "runs" / "quickstart" / "report.json").exists()
    else:
        assert "falling back to synthetic_faces" in outputs
        assert (tmp_path / "runs" / "reproduce_lfnsb_rafdb" / "report.json").exists()
