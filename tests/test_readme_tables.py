"""The README's results table is generated from the packaged weights' model cards and kept current."""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_results_table_is_current(load_tool):
    tool = load_tool("make_model_table")
    text = (ROOT / "README.md").read_text()
    assert tool.replace_block(text, tool.render_results(), tool.RESULTS_START, tool.RESULTS_END) == text, (
        "README's results table is stale: run `python tools/make_model_table.py --results-only --write README.md`"
    )


def test_results_rows_come_from_cards(tmp_path, load_tool):
    tool = load_tool("make_model_table")
    assert "no packaged weights" in tool.render_results(tmp_path)
    card = {
        "model": "m",
        "name": "w",
        "build": {"input_shape": [48, 48, 1], "num_classes": 7},
        "params": 1234,
        "macs": 5.6e6,
        "size_bytes": 2_000_000,
        "training": {"dataset": "fer2013"},
        "evaluation": {"split": "validation", "num_examples": 3589, "accuracy": 0.6512, "mean_class_accuracy": 0.6,
                       "macro_f1": 0.62},
        "tflite": {"variants": [
            {"quantization": "fp32", "top1": 0.6512, "latency": [{"threads": 1, "median_ms": 0.5, "p90_ms": 0.6}]},
            {"quantization": "int8", "top1": 0.648, "top1_agreement": 0.991, "latency": []},
        ]},
    }  # fmt: skip
    (tmp_path / "m_w.json").write_text(json.dumps(card))
    table = tool.render_results(tmp_path)
    row = table.splitlines()[-1]
    assert "`m/w`" in row and "PublicTest, 3,589" in row and "**65.1%**" in row and "99.1%" in row
    assert "0.50 ms / -" in row and "1,234" in row and "5.6M" in row and "2.00 MB" in row


def test_packaged_cards_are_complete():
    """Every packaged weights file has a card with the fields the README, FER and the builders read."""
    weights = ROOT / "kerasfer" / "weights"
    for path in sorted(weights.glob("*.weights.h5")):
        card = json.loads(path.with_name(path.name.replace(".weights.h5", ".json")).read_text())
        assert card["file"] == path.name and card["size_bytes"] == path.stat().st_size
        assert len(card["labels"]) == card["build"]["num_classes"]
        assert card["evaluation"]["num_examples"] > 0 and 0 <= card["evaluation"]["accuracy"] <= 1
        assert path.with_name(path.name.replace(".weights.h5", ".md")).is_file()
    total = sum(p.stat().st_size for p in weights.glob("*.weights.h5"))
    # Four packaged models (LFNSB, ResNet-18 small, SDNet, ShuffleNetV2) take 19.4 MB. The tighter bound is the GPU
    # plan's carry (64 MiB with the staged images; `tools/gpu_run.py stage` checks it): 53.5 MiB with these four.
    assert total <= 20_000_000, f"packaged weights take {total:,} bytes (limit 20 MB)"


def test_readme_model_table_matches_the_catalog(load_tool):
    """The README's model table and `kerasfer models` show the same catalog (itself checked against the builds)."""
    from kerasfer import model_catalog

    tool = load_tool("make_model_table")
    text = (ROOT / "README.md").read_text()
    table = tool.render(model_catalog.read_catalog())
    assert tool.replace_block(text, table) == text, "README's model table is stale: run `make table`"
