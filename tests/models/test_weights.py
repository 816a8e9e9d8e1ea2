"""Weights resolution: local files, packaged names, and clear errors."""

import pytest

from kerasfer.models import weights as weights_mod
from kerasfer.models.weights import resolve_weights


def test_none_and_existing_file(tmp_path):
    assert resolve_weights(None) is None
    path = tmp_path / "m.weights.h5"
    path.write_bytes(b"")
    assert resolve_weights(str(path)) == str(path)


def test_missing_file_and_wrong_kind(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads"):
        resolve_weights(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match=r"\.weights\.h5 or \.keras"):
        resolve_weights(str(tmp_path / "model.pth"))


def test_packaged_names(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_mod, "PACKAGED_DIR", tmp_path)
    with pytest.raises(ValueError, match="No packaged weights named 'fer2013' for model 'lfnsb'.*none"):
        resolve_weights("fer2013", "lfnsb")
    (tmp_path / "lfnsb_fer2013.weights.h5").write_bytes(b"")
    (tmp_path / "shufflenet_v2_x0_5_ferplus.weights.h5").write_bytes(b"")
    assert resolve_weights("fer2013", "lfnsb") == str(tmp_path / "lfnsb_fer2013.weights.h5")
    assert set(weights_mod.packaged_weights()) == {("lfnsb", "fer2013"), ("shufflenet_v2_x0_5", "ferplus")}
    with pytest.raises(ValueError, match="lfnsb/fer2013"):
        resolve_weights("ferplus", "lfnsb")
