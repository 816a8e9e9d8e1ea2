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
