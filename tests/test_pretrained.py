"""`kerasfer.pretrained`: the packaged weights' index, their cards (JSON and Markdown from one dict) and the
default model, read without Keras."""

import json
import subprocess
import sys

import pytest

from kerasfer import pretrained
from kerasfer.paths import file_sha256


def test_the_index_lists_the_shipped_weights_from_their_cards():
    entries = pretrained.index()
    assert pretrained.list_pretrained() == list(entries)
    assert "resnet18_small/fer2013" in entries
    for key, entry in entries.items():
        assert key == f"{entry.model}/{entry.name}" and entry.path.is_file()
        assert entry.sha256 == file_sha256(entry.path)
        assert entry.build["input_shape"] == tuple(entry.card["build"]["input_shape"])
        # the Markdown card is rendered from the same dict as the JSON card
        markdown = pretrained.card_path(entry.model, entry.name).with_suffix(".md").read_text()
        assert pretrained.card_markdown(entry.card) == markdown
    assert pretrained.list_pretrained("resnet18_small") == ["resnet18_small/fer2013"]
    assert pretrained.list_pretrained("no_such_model") == []


def test_the_default_is_the_most_accurate_fer2013_card():
    default = pretrained.default_pretrained()
    assert default.key == "resnet18_small/fer2013"
    fer2013 = [e for e in pretrained.index().values() if e.dataset == "fer2013"]
    assert default.accuracy == max(e.accuracy for e in fer2013)


def test_cards_are_written_whole_and_read_back(tmp_path):
    card = json.loads(pretrained.card_path("resnet18_small", "fer2013").read_text())
    card.update(name="copy", file="resnet18_small_copy.weights.h5")
    json_path, md_path = pretrained.write_card(card, tmp_path)
    assert json_path == tmp_path / "resnet18_small_copy.json" and md_path == tmp_path / "resnet18_small_copy.md"
    assert pretrained.packaged_card("resnet18_small", "copy", tmp_path) == card
    assert md_path.read_text() == pretrained.card_markdown(card)
    assert pretrained.index(tmp_path) == {}  # a card without its weights file lists nothing
    pretrained.weights_path("resnet18_small", "copy", tmp_path).write_bytes(b"")
    assert pretrained.list_pretrained(weights_dir=tmp_path) == ["resnet18_small/copy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # no temporary file left behind
        "resnet18_small_copy.json",
        "resnet18_small_copy.md",
        "resnet18_small_copy.weights.h5",
    ]
    (tmp_path / "broken_x.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken_x.json is unreadable"):
        pretrained.index(tmp_path)


def test_the_index_imports_no_keras():
    code = "import sys; from kerasfer import pretrained; pretrained.default_pretrained(); print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
