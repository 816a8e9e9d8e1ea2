"""`kerasfer demo --quick`: train LFNSB briefly, evaluate, export, print where everything is."""

import json
import os

import pytest

from kerasfer import cli

pytestmark = pytest.mark.tf_only


def test_demo_quick(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "demo")
    assert cli.main(["demo", "--quick", "--output", out]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    report = json.load(open(os.path.join(out, "report.json")))
    assert report["num_examples"] == 28 and report["model"] == "lfnsb"
    for path in (report["summary_md"], report["confusion_png"], os.path.join(out, "run", "model.keras")):
        assert os.path.exists(path) and path in printed
    tflite = [f for f in os.listdir(out) if f.endswith(".tflite")]
    assert tflite or "skipped" in printed
    # A second demo replaces the first one's run, and says so before it trains. (Training over an existing
    # run is tested in tests/training; here the second training is cut short to keep CI fast.)
    import kerasfer.training.trainer as trainer

    class Stop(Exception):
        pass

    def stop(config):
        assert config.on_existing == "overwrite" and config.output_dir == os.path.join(out, "run")
        raise Stop

    monkeypatch.setattr(trainer, "train", stop)
    assert cli.main(["demo", "--quick", "--no-export", "--output", out]) == 1  # the boundary: a failure, one line
    captured = capsys.readouterr()
    assert "Replacing the previous demo run" in captured.out and "kerasfer demo: error: Stop" in captured.err


def test_demo_checks_matplotlib_before_training(tmp_path, capsys, monkeypatch):
    """Issue 26, item 1: no minute of training before a missing matplotlib is found; the error has the prefix."""
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasfer demo: error: The confusion-matrix plot needs matplotlib")
    assert "pip install 'kerasfer[tfds]'" in err and not (out / "run").exists()


def test_demo_prints_one_line_per_epoch_into_a_log(tmp_path, monkeypatch):
    """Issue 26, item 11: outside a terminal the demo trains with Keras's one-line-per-epoch output (no ANSI bar),
    as `kerasfer train` does."""
    import kerasfer.demo as demo

    seen = {}
    monkeypatch.setattr(demo, "run_demo", lambda output, **kw: seen.update(kw))
    assert cli.main(["demo", "--output", str(tmp_path / "demo")]) == 0  # pytest's stdout is not a terminal
    assert seen["verbose"] == 2
