"""Weights resolution: local files, packaged names, and clear errors."""

import json

import pytest

from kerasfer.models import weights as weights_mod
from kerasfer.models.weights import resolve_weights

WEIGHTS_DIR = "kerasfer.pretrained.WEIGHTS_DIR"  # where the packaged weights and their cards are looked for


def _card(folder, model, name, **fields):
    """Writes the card of packaged weights `model/name` in `folder` (the index lists weights by their cards)."""
    card = {"model": model, "name": name, "file": f"{model}_{name}.weights.h5", **fields}
    (folder / f"{model}_{name}.json").write_text(json.dumps(card))
    return card


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
    monkeypatch.setattr(WEIGHTS_DIR, tmp_path)
    with pytest.raises(ValueError, match="No packaged weights named 'fer2013' for model 'lfnsb'.*none"):
        resolve_weights("fer2013", "lfnsb")
    for model, name in (("lfnsb", "fer2013"), ("shufflenet_v2_x0_5", "ferplus"), ("lfnsb", "no_card")):
        (tmp_path / f"{model}_{name}.weights.h5").write_bytes(b"")
        if name != "no_card":  # a weights file without a card is not packaged weights
            _card(tmp_path, model, name)
    assert resolve_weights("fer2013", "lfnsb") == str(tmp_path / "lfnsb_fer2013.weights.h5")
    assert set(weights_mod.packaged_weights()) == {("lfnsb", "fer2013"), ("shufflenet_v2_x0_5", "ferplus")}
    with pytest.raises(ValueError, match="lfnsb/fer2013"):
        resolve_weights("ferplus", "lfnsb")


def _package(tmp_path, model, name, **build):
    """Packages `model`'s weights as `<registry key>_<name>` in tmp_path, with a card."""
    model.save_weights(tmp_path / f"{model.name}_{name}.weights.h5")
    return _card(tmp_path, model.name, name, build=build, labels=[f"c{i}" for i in range(build["num_classes"])])


def test_packaged_card_fills_build_arguments(tmp_path, monkeypatch):
    import numpy as np

    from kerasfer.models import ShuffleNetV2x0_5
    from kerasfer.models import create_model

    monkeypatch.setattr(WEIGHTS_DIR, tmp_path)
    trained = ShuffleNetV2x0_5(num_classes=5, input_shape=(32, 32, 1))
    _package(tmp_path, trained, "toy", num_classes=5, input_shape=[32, 32, 1])
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    want = trained.predict(x, verbose=0)

    # The builder (direct or through the registry) takes the card's input shape and classes.
    for build in (lambda **kw: ShuffleNetV2x0_5(**kw), lambda **kw: create_model("shufflenet_v2_x0_5", **kw)):
        model = build(weights="toy")
        assert tuple(model.inputs[0].shape[1:]) == (32, 32, 1) and model.outputs[0].shape[-1] == 5
        np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-6)
    assert weights_mod.packaged_card("shufflenet_v2_x0_5", "toy")["labels"][0] == "c0"
    assert weights_mod.packaged_card("shufflenet_v2_x0_5", "missing") is None
    assert weights_mod.packaged_card("shufflenet_v2_x0_5", "a/b.weights.h5") is None

    # A fully convolutional model may run at another size with the same channels.
    assert tuple(ShuffleNetV2x0_5(weights="toy", input_shape=(48, 48, 1)).inputs[0].shape[1:]) == (48, 48, 1)
    with pytest.raises(ValueError, match="5 classes.*num_classes=7"):
        ShuffleNetV2x0_5(weights="toy", num_classes=7)
    with pytest.raises(ValueError, match="1-channel input.*input_shape=\\(32, 32, 3\\)"):
        ShuffleNetV2x0_5(weights="toy", input_shape=(32, 32, 3))
    # The unregistered general builder gets no defaults, but a clear error instead of an h5 shape error.
    from kerasfer.models.shufflenet import ShuffleNetV2

    with pytest.raises(ValueError, match="trained at input_shape=\\(32, 32, 1\\)"):
        ShuffleNetV2(width=0.5, num_classes=5, input_shape=(32, 32, 3), weights="toy")


def test_half_precision_weights_load_into_float32(tmp_path):
    import numpy as np

    from kerasfer.models import ShuffleNetV2x0_5

    model = ShuffleNetV2x0_5(num_classes=3, input_shape=(32, 32, 3))
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    full = path.stat().st_size
    assert weights_mod.to_half_precision(path) > 0
    assert path.stat().st_size < 0.75 * full
    other = ShuffleNetV2x0_5(num_classes=3, input_shape=(32, 32, 3))
    other.load_weights(path)
    assert all(w.dtype == "float32" for w in other.weights)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_unreadable_card(tmp_path, monkeypatch):
    monkeypatch.setattr(WEIGHTS_DIR, tmp_path)
    (tmp_path / "lfnsb_broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="lfnsb_broken.json.*unreadable"):
        weights_mod.packaged_card("lfnsb", "broken")
