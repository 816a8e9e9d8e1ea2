"""`kerasfer export` / `kerasfer bench` end to end on a tiny registered model."""

import json
import pathlib

import numpy as np
import pytest

pytestmark = [pytest.mark.tflite, pytest.mark.tf_only]

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from kerasfer import cli  # noqa: E402
from kerasfer import models  # noqa: E402
from kerasfer.export import cli as export_cli  # noqa: E402

_SMALL = [n for n in ("sdnet", "shufflenet_v2_x0_5", "lfnsb") if n in models.list_models()]


def test_parser_has_commands():
    parser = cli.build_parser()
    args = parser.parse_args(["export", "--model", "x", "--quantization", "fp16", "int8"])
    assert args.quantization == ["fp16", "int8"] and args.func is export_cli.run_export
    args = parser.parse_args(["bench", "a.tflite", "--threads", "1"])
    assert args.files == ["a.tflite"] and args.func is export_cli.run_bench


@pytest.mark.skipif(not _SMALL, reason="no small registered model yet")
def test_export_and_bench_commands(tmp_path, capsys):
    name = _SMALL[0]
    info = models.get_model_info(name)
    size = max(32, info.min_input_size)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (12, size, size, info.input_shape[2])).astype(np.uint8)
    data = tmp_path / "eval.npz"
    np.savez(data, images=images, labels=np.arange(12) % 7)
    out = tmp_path / "out"
    rc = cli.main(
        ["export", "--model", name, "--input-size", str(size), "--quantization", "fp32", "int8",
         "--eval-dataset", str(data), "--num-eval", "8", "--num-calibration", "8", "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    report = json.loads((out / f"{name}_export_report.json").read_text())
    assert report["num_eval"] == 8 and 0.0 <= report["keras_top1"] <= 1.0
    fp32, int8 = report["variants"]
    assert fp32["top1_agreement"] == 1.0 and fp32["max_abs_diff"] < 1e-4
    assert fp32["gpu_check_classic"]["ok"], fp32["gpu_check_classic"]
    assert int8["quantization"] == "int8" and 0.0 <= int8["top1_agreement"] <= 1.0
    if int8["top1_agreement"] < export_cli.AGREEMENT_TARGET:
        assert int8["layer_drift"] and "layer" in int8["layer_drift"][0]
    for q in ("fp32", "int8"):
        assert (out / f"{name}_{q}.tflite").is_file() and (out / f"{name}_{q}.card.md").is_file()
    assert (out / "labels.txt").read_text().splitlines()[0] == "angry"
    printed = capsys.readouterr().out
    assert "top-1 agreement" in printed and "| fp32 |" in printed

    bench_json = tmp_path / "bench.json"
    rc = cli.main(["bench", str(out / f"{name}_fp32.tflite"), "--threads", "1", "--xnnpack", "on", "--runs", "3",
                   "--warmup", "0", "--json", str(bench_json)])  # fmt: skip
    assert rc == 0
    doc = json.loads(bench_json.read_text())
    assert len(doc["rows"]) == 1 and doc["rows"][0]["median_ms"] > 0 and doc["machine"]["cpu"] is not None


def test_cli_errors(tmp_path, capsys):
    assert cli.main(["bench", str(tmp_path / "nope.tflite")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        export_cli.load_dataset(str(tmp_path / "missing.npz"), (32, 32, 3))
    np.savez(tmp_path / "bad.npz", pictures=np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="'images' and 'labels'"):
        export_cli.load_dataset(str(tmp_path / "bad.npz"), (32, 32, 3))
    with pytest.raises(ValueError, match="Unknown dataset"):
        export_cli.load_dataset("imagenet", (32, 32, 3))


def test_fit_images_converts_size_and_channels():
    gray = np.arange(48 * 48, dtype=np.float32).reshape(1, 48, 48, 1) % 255
    rgb = export_cli.fit_images(gray, (32, 32, 3))
    assert rgb.shape == (1, 32, 32, 3) and np.allclose(rgb[..., 0], rgb[..., 2])
    back = export_cli.fit_images(rgb, (32, 32, 1))
    assert back.shape == (1, 32, 32, 1)


@pytest.mark.realdata
def test_read_fer2013_training_rows():
    root = export_cli.shared_data_dir() / "fer2013"
    if not (root / "fer2013.tar.gz").is_file() and not (root / "fer2013.csv").is_file():
        pytest.skip(f"FER2013 not found under {root}")
    x, y = export_cli.read_fer2013("Training", limit=5)
    assert x.shape == (5, 48, 48, 1) and x.dtype == np.uint8
    assert y.min() >= 0 and y.max() <= 6
    assert isinstance(root, pathlib.Path)
