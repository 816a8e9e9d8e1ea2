"""Every command and `FER()` take a model the same ways: a run directory, its `.keras` file, a `.weights.h5`
file (with or without the architecture's name), and a packaged name (`kerasfer.models.load_trained`)."""

import json
import shutil

import keras
import numpy as np
import pytest

from kerasfer import cli
from kerasfer.models import registry
from kerasfer.models.loading import load_trained

pytestmark = [pytest.mark.tf_only, pytest.mark.tflite]

NAME = "tiny_sources_test"
LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def tiny_sources(num_classes=7, input_shape=(24, 24, 1), weights=None, name=NAME):
    """A small classifier following the builder contract, packaged weights included (test only)."""
    from kerasfer.layers import ImageNormalization
    from kerasfer.models.weights import load_weights

    inputs = keras.Input(input_shape)
    x = ImageNormalization(0.5, 0.25, name="normalization")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return load_weights(keras.Model(inputs, out, name=name), weights, NAME)


if NAME not in registry.list_models():
    registry.register_model(NAME, input_shape=(24, 24, 1), family="test", min_input_size=8)(tiny_sources)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A finished one-epoch run, and its weights packaged as `tiny_sources_test/testpack`."""
    root = tmp_path_factory.mktemp("sources")
    run = root / "run"
    args = ["train", "--model", NAME, "--epochs", "1", "--batch-size", "8", "--max-train-examples", "32"]
    args += ["--max-val-examples", "8", "--val-split", "validation", "--no-jit", "--quiet", "-o", str(run)]
    assert cli.main(args) == 0
    packaged = root / "packaged"
    packaged.mkdir()
    shutil.copy(run / "checkpoints" / "best.weights.h5", packaged / f"{NAME}_testpack.weights.h5")
    card = {"model": NAME, "name": "testpack", "file": f"{NAME}_testpack.weights.h5",
            "build": {"num_classes": 7, "input_shape": [24, 24, 1]}, "labels": [f"L{i}" for i in range(7)],
            "preprocessing": {"align_margin": 0.1},
            "evaluation": {"dataset": "synthetic_faces", "split": "test"}}  # fmt: skip
    (packaged / f"{NAME}_testpack.json").write_text(json.dumps(card))
    image = root / "face.png"
    import cv2

    cv2.imwrite(str(image), np.full((40, 40), 120, np.uint8))
    return {"root": root, "run": run, "packaged": packaged, "image": image}


def _cases(s):
    run = s["run"]
    return {
        "run directory": ([str(run)], "run"),
        ".keras file": ([str(run / "model.keras")], "keras"),
        ".weights.h5 in a run": ([str(run / "checkpoints" / "best.weights.h5")], "weights"),
        "name + .weights.h5": ([NAME, "--weights", str(run / "checkpoints" / "best.weights.h5")], "weights"),
        "packaged name": ([f"{NAME}/testpack"], "packaged"),
        "name + packaged weights": ([NAME, "--weights", "testpack"], "packaged"),
    }


@pytest.fixture
def packaged_dir(sources, monkeypatch):
    monkeypatch.setattr("kerasfer.pretrained.WEIGHTS_DIR", sources["packaged"])


def test_load_trained_takes_every_source(sources, packaged_dir):
    reference = keras.saving.load_model(sources["run"] / "model.keras", compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (3, 24, 24, 1)).astype("float32")
    want = np.asarray(reference(x))
    for what, (args, kind) in _cases(sources).items():
        source, model_name = (args[2], args[0]) if "--weights" in args else (args[0], None)
        loaded = load_trained(source, model_name)
        assert loaded.kind in (kind, "run"), what
        assert loaded.input_shape == (24, 24, 1) and len(loaded.labels) == 7, what
        np.testing.assert_allclose(np.asarray(loaded.model(x)), want, atol=1e-5, err_msg=what)
    assert load_trained(f"{NAME}/testpack").labels[0] == "L0"  # the card's labels
    assert load_trained(f"{NAME}/testpack").align_margin == 0.1
    assert load_trained(str(sources["run"])).labels == tuple(LABELS)  # the run's labels.txt


def test_every_command_and_fer_take_every_source(sources, packaged_dir, capsys):
    from kerasfer.inference.fer import FER

    root = sources["root"]
    for i, (what, (args, _)) in enumerate(_cases(sources).items()):
        model_args = ["--model", args[0], *args[1:]]
        report = root / f"eval{i}.json"
        rc = cli.main(["evaluate", *model_args, "--split", "test", "--max-examples", "8", "--quiet", "-o", str(report)])
        assert rc == 0, (what, capsys.readouterr().err)
        assert json.loads(report.read_text())["num_examples"] == 8
        out = root / f"export{i}"
        rc = cli.main(["export", *model_args, "--quantization", "fp32", "--out", str(out), "--quiet"])
        assert rc == 0, (what, capsys.readouterr().err)
        assert "untrained" not in capsys.readouterr().err, what
        assert list(out.glob("*_fp32.tflite")), what
        predictions = root / f"pred{i}.json"
        rc = cli.main(["predict", str(sources["image"]), *model_args, "--detector", "none", "-o", str(predictions)])
        assert rc == 0, (what, capsys.readouterr().err)
        assert len(json.loads(predictions.read_text())["images"][0]["faces"]) == 1, what
        weights = args[2] if "--weights" in args else None
        fer = FER(args[0], weights, detector="none")
        assert len(fer.predict(np.full((30, 30, 3), 90, np.uint8)).faces) == 1, what
    assert FER(f"{NAME}/testpack", detector="none").margin == 0.1  # the crop the weights were trained with


def test_load_trained_files_check_the_run_and_take_labels(sources):
    run = sources["run"]
    names = [f"c{i}" for i in range(7)]
    for path in (run / "model.keras", run / "checkpoints" / "best.weights.h5"):
        with pytest.raises(ValueError, match=rf"belongs to a '{NAME}' run, not 'lfnsb'"):
            load_trained(path, "lfnsb")  # refused before anything is built or read
        loaded = load_trained(path, labels=names)
        assert (loaded.labels, loaded.labels_source, loaded.model_name) == (tuple(names), "argument", NAME)
    lone = sources["root"] / "lone" / "best.weights.h5"  # no run around it: the architecture must be named
    lone.parent.mkdir(exist_ok=True)
    shutil.copy(run / "checkpoints" / "best.weights.h5", lone)
    with pytest.raises(ValueError, match="needs the model's registry name"):
        load_trained(lone)
    loaded = load_trained(lone, NAME)
    assert (loaded.kind, loaded.labels_source) == ("weights", "canonical")
    model = loaded.model
    assert load_trained(model).labels_source == "canonical"
    assert load_trained(model, labels=names).labels_source == "argument"


def test_a_keras_file_that_is_no_zip_is_named_as_such(tmp_path):
    garbage = tmp_path / "garbage.keras"
    garbage.write_text("not a model")
    with pytest.raises(ValueError, match="is not a Keras model file: a .keras file is a zip archive"):
        load_trained(garbage)
