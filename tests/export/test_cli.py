"""`kerasfer export` / `kerasfer bench` end to end on a tiny registered model."""

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.tflite, pytest.mark.tf_only]

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert")

from kerasfer import cli  # noqa: E402
from kerasfer import models  # noqa: E402
from kerasfer.export import cli as export_cli  # noqa: E402
from kerasfer.export import evaluate  # noqa: E402

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
         "--eval-dataset", str(data), "--num-eval", "8", "--num-calibration", "8", "--out", str(out),
         "--float-ops", "softmax"]
    )  # fmt: skip
    assert rc == 0
    report = json.loads((out / f"{name}_export_report.json").read_text())
    assert report["num_eval"] == 8 and 0.0 <= report["keras_top1"] <= 1.0
    fp32, int8 = report["variants"]
    assert fp32["top1_agreement"] == 1.0 and fp32["max_abs_diff"] < 1e-4
    assert fp32["gpu_check_classic"]["ok"], fp32["gpu_check_classic"]
    assert int8["quantization"] == "int8" and 0.0 <= int8["top1_agreement"] <= 1.0
    assert int8["calibration"]["calibration_outlier_ratio"] == 10.0 and "calibration" not in fp32
    assert 0 <= int8["calibration"]["calibration_outliers_dropped"] <= 1  # at most a tenth of 8 images
    if int8["top1_agreement"] < export_cli.AGREEMENT_TARGET:
        assert int8["layer_drift"] and "layer" in int8["layer_drift"][0]
    for q in ("fp32", "int8"):
        assert (out / f"{name}_{q}.tflite").is_file() and (out / f"{name}_{q}.card.md").is_file()
    card = json.loads((out / f"{name}_int8.card.json").read_text())
    assert card["quantization"]["quantization_steps"] == 8  # --num-calibration, not the config's default cap
    assert card["quantization"]["float_ops"] == ["SOFTMAX"]  # selective quantization reaches the converter
    assert (out / f"{name}_fp32.labels.txt").read_text().splitlines()[0] == "angry"
    printed = capsys.readouterr().out
    assert "top-1 agreement" in printed and "| fp32 |" in printed

    bench_json = tmp_path / "bench.json"
    rc = cli.main(["bench", str(out / f"{name}_fp32.tflite"), "--threads", "1", "--xnnpack", "on", "--runs", "3",
                   "--warmup", "0", "--json", str(bench_json)])  # fmt: skip
    assert rc == 0
    doc = json.loads(bench_json.read_text())
    assert len(doc["rows"]) == 1 and doc["rows"][0]["median_ms"] > 0 and doc["machine"]["cpu"] is not None
    rc = cli.main(["bench", str(out / f"{name}_fp32.tflite"), str(out / f"{name}_int8.tflite"), "--threads", "1",
                   "--xnnpack", "on", "--runs", "2", "--rounds", "2", "--warmup", "0"])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0 and "ratio to the first" in printed and f"`{name}_int8` | int8 |" in printed


def test_cli_errors(tmp_path, capsys):
    assert cli.main(["bench", str(tmp_path / "nope.tflite")]) == 2
    assert "No such file" in capsys.readouterr().err
    (tmp_path / "notimage.jpg").write_bytes(b"not a model")
    assert cli.main(["bench", str(tmp_path / "notimage.jpg")]) == 2
    err = capsys.readouterr().err
    assert "not a .tflite file" in err and "Traceback" not in err
    assert cli.main(["models", "--names", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kerasfer models: error: Unknown model 'nope'")


def test_load_eval_data_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        evaluate.load_eval_data(str(tmp_path / "missing.npz"), (32, 32, 3))
    np.savez(tmp_path / "bad.npz", pictures=np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="'images' and 'labels'"):
        evaluate.load_eval_data(str(tmp_path / "bad.npz"), (32, 32, 3))
    with pytest.raises(ValueError, match="Unknown dataset"):
        evaluate.load_eval_data("imagenet_nope", (32, 32, 3))


def test_load_eval_data_from_npz_and_tfds(tmp_path):
    gray = (np.arange(3 * 48 * 48) % 255).reshape(3, 48, 48, 1).astype(np.uint8)
    np.savez(tmp_path / "d.npz", images=gray, labels=np.array([0, 1, 2]))
    x, y = evaluate.load_eval_data(str(tmp_path / "d.npz"), (32, 32, 3), limit=2)
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.float32 and y.tolist() == [0, 1]
    x, y = evaluate.load_eval_data("synthetic_faces:validation", (24, 24, 1), limit=5, data_dir=str(tmp_path / "t"))
    assert x.shape == (5, 24, 24, 1) and y.shape == (5,)


def _tiny_classifier(path, classes, size=16):
    import keras

    import kerasfer

    inputs = keras.Input((size, size, 1))
    x = kerasfer.layers.ImageNormalization()(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    keras.Model(inputs, outputs, name=f"tiny{classes}").save(path)
    return path


def test_two_exports_in_one_folder_keep_their_own_labels(tmp_path, capsys):
    from kerasfer.inference.fer import FER

    seven = _tiny_classifier(tmp_path / "seven.keras", 7)
    eight = _tiny_classifier(tmp_path / "eight.keras", 8)
    (tmp_path / "eight.labels.txt").write_text("\n".join(f"c{i}" for i in range(8)) + "\n")
    out = tmp_path / "exported"
    assert cli.main(["export", "--model", str(seven), "--quantization", "fp32", "--out", str(out), "--quiet"]) == 0
    assert cli.main(["export", "--model", str(eight), "--quantization", "fp32", "--out", str(out), "--quiet"]) == 0
    assert (out / "tiny7_fp32.labels.txt").read_text().split() == ["angry", "disgust", "fear", "happy", "sad",
                                                                    "surprise", "neutral"]  # fmt: skip
    assert (out / "tiny8_fp32.labels.txt").read_text().split() == [f"c{i}" for i in range(8)]
    assert not (out / "labels.txt").exists()
    fer = FER(tflite=str(out / "tiny7_fp32.tflite"), detector="none")
    assert len(fer.labels) == 7 and fer.runner.labels_source == "the file's metadata"
    (out / "tiny7_fp32.labels.txt").unlink()  # the labels inside the file are enough
    assert FER(tflite=str(out / "tiny8_fp32.tflite"), detector="none").labels[0] == "c0"
    assert len(FER(tflite=str(out / "tiny7_fp32.tflite"), detector="none").labels) == 7


def test_export_checks_the_output_folder_first_and_warns_for_untrained(tmp_path, capsys):
    (tmp_path / "file.jpg").write_bytes(b"x")
    for bad in ("/proc/kerasfer_x", str(tmp_path / "file.jpg" / "x")):
        assert cli.main(["export", "--model", "nothing_loaded_first", "--out", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("kerasfer export: error: --out") and "Traceback" not in err[0]
    tiny = _tiny_classifier(tmp_path / "t.keras", 3)
    assert cli.main(["export", "--model", str(tiny), "--quantization", "fp32", "--out", str(tmp_path / "o")]) == 0
    assert "untrained" not in capsys.readouterr().err
    if "sdnet" in models.list_models():
        rc = cli.main(["export", "--model", "sdnet", "--input-size", "32", "--quantization", "fp32", "--quiet",
                       "--out", str(tmp_path / "u")])  # fmt: skip
        assert rc == 0 and "untrained model" in capsys.readouterr().err


def test_exports_of_two_runs_into_one_folder_do_not_overwrite_each_other(tmp_path, capsys):
    """Issue 26, item 2: every card records the source; another source's files are replaced only with --overwrite,
    and the refusal names the clashing files and where they came from."""
    a = _tiny_classifier(tmp_path / "a.keras", 7)  # two "runs" of one architecture: the same file names
    b = _tiny_classifier(tmp_path / "b.keras", 7)
    out = tmp_path / "exported"
    assert cli.main(["export", "--model", str(a), "--quantization", "fp32", "fp16", "--out", str(out), "--quiet"]) == 0
    card = json.loads((out / "tiny7_fp16.card.json").read_text())
    assert card["source"] == str(a) and f"Exported from `{a}`" in (out / "tiny7_fp16.card.md").read_text()
    before = (out / "tiny7_fp16.tflite").read_bytes()
    capsys.readouterr()

    assert cli.main(["export", "--model", str(b), "--quantization", "fp16", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"kerasfer export: error: --out {out} already holds tiny7_fp16.tflite")
    assert "tiny7_export_report.json" in err[0] and f"exported from {a}, not from {b}" in err[0]
    assert "--overwrite" in err[0] and (out / "tiny7_fp16.tflite").read_bytes() == before

    # the same source again replaces its own files without asking; --overwrite replaces another's
    assert cli.main(["export", "--model", str(a), "--quantization", "fp16", "--out", str(out), "--quiet"]) == 0
    rc = cli.main(["export", "--model", str(b), "--quantization", "fp16", "--out", str(out), "--quiet", "--overwrite"])
    assert rc == 0
    assert json.loads((out / "tiny7_fp16.card.json").read_text())["source"] == str(b)
    assert json.loads((out / "tiny7_fp32.card.json").read_text())["source"] == str(a)  # a's fp32 says it is a's


def test_export_result_repr_is_short(tmp_path):
    """Issue 26, item 14: the card (tens of kilobytes) stays out of `repr(ExportResult)`."""
    import keras

    from kerasfer.export.tflite import export_tflite

    result = export_tflite(keras.saving.load_model(_tiny_classifier(tmp_path / "t.keras", 3)), tmp_path / "t.tflite")
    assert len(repr(result)) < 500 and str(tmp_path / "t.tflite") in repr(result)
