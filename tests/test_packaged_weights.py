"""The packaged weights reproduce their model cards: the accuracy a card states is what the file gives on
FER2013 PublicTest (../shared/data; skipped when absent), through the same preprocessing a user gets."""

import json
import os
import pathlib

import numpy as np
import pytest

from kerasfer.models.weights import PACKAGED_DIR

pytestmark = [pytest.mark.realdata, pytest.mark.tf_only]

CARDS = sorted(PACKAGED_DIR.glob("*.json"))


def _fer_dir():
    root = os.environ.get("KERASFER_SHARED_DATA")
    base = pathlib.Path(root) if root else pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
    d = base / "fer2013"
    if not (d / "fer2013.tar.gz").exists():
        pytest.skip(f"real FER2013 data not found at {d} (set KERASFER_SHARED_DATA)")
    return d


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """FER2013 prepared once for this module, through the TFDS builder users run (about 25 s)."""
    return tmp_path_factory.mktemp("tfds")


@pytest.mark.parametrize("card_path", CARDS, ids=[p.stem for p in CARDS])
def test_card_accuracy_is_reproduced(card_path, tfds_dir):
    card = json.loads(card_path.read_text())
    if card["training"]["dataset"] != "fer2013":
        pytest.skip(f"{card_path.name}: only the fer2013 cards are checked here")
    from kerasfer.export.evaluate import load_eval_data
    from kerasfer.models import create_model

    shape = tuple(card["build"]["input_shape"])
    x, labels = load_eval_data("fer2013:validation", shape, manual_dir=str(_fer_dir()), data_dir=str(tfds_dir))
    model = create_model(card["model"], weights=card["name"])  # the card fills in input_shape and classes
    probs = model.predict(x, batch_size=256, verbose=0)
    accuracy = float(np.mean(probs.argmax(-1) == np.asarray(labels).astype(int)))
    assert len(labels) == card["evaluation"]["num_examples"] == 3589
    assert accuracy == pytest.approx(card["evaluation"]["accuracy"], abs=1e-3)
