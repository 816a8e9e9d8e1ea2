"""`kerasfer.inference.FER` on images and batches, and the Keras / TFLite runners."""

import json

import cv2
import keras
import numpy as np
import pytest

import kerasfer
from kerasfer.data import align
from kerasfer.data.labels import CANONICAL_LABELS
from kerasfer.inference import FER
from kerasfer.inference import runners

skimage_data = pytest.importorskip("skimage.data")


def brightness_model(input_shape=(32, 32, 3), num_classes=7, activation="softmax", name="brightness"):
    """A tiny model whose output is a known function of the mean pixel per channel, so the tests can compute
    what the whole pipeline must return."""
    inputs = keras.Input(input_shape)
    x = kerasfer.layers.ImageNormalization(mean=0.0, std=1.0, name="normalization")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    outputs = keras.layers.Dense(num_classes, activation=activation, name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)
    channels = input_shape[-1]
    kernel = np.linspace(-4, 4, channels * num_classes, dtype=np.float32).reshape(channels, num_classes)
    model.get_layer("predictions").set_weights([kernel, np.linspace(1, -1, num_classes, dtype=np.float32)])
    return model


def expected_probs(model, x):
    """softmax(mean(x / 255) @ W + b) for raw model input x (N, H, W, C)."""
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = x.mean(axis=(1, 2)) / 255.0 @ kernel + bias
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def astronaut():
    return skimage_data.astronaut()


def test_predict_with_caller_boxes_matches_the_model(astronaut):
    model = brightness_model((32, 32, 3))
    fer = FER(model, detector="haar")
    box = (177, 67, 93, 93)
    result = fer.predict(astronaut, face_boxes=[box])
    assert len(result.faces) == 1 and result.image_size == (512, 512) and result.error is None
    face = result.faces[0]
    crop = align.align_face(astronaut, box=box, output_size=32)
    np.testing.assert_allclose(face.probabilities, expected_probs(model, crop[None].astype(np.float32))[0], atol=1e-5)
    assert face.labels == CANONICAL_LABELS[:7] and face.label == CANONICAL_LABELS[face.label_index]
    assert face.probabilities.dtype == np.float32 and abs(face.probabilities.sum() - 1) < 1e-5
    d = json.loads(json.dumps(result.to_dict()))
    assert d["faces"][0]["probabilities"][face.label] == float(face.probabilities.max())  # unrounded
    assert d["faces"][0]["box"] == list(box)


def test_predict_with_caller_landmarks_and_gray_model(astronaut):
    model = brightness_model((24, 24, 1), num_classes=8)
    fer = FER(model, detector="haar")
    points = np.array([[204, 100], [245, 102], [224, 126], [202, 139], [244, 140]], np.float32)
    result = fer.predict(astronaut, landmarks=[points])
    face = result.faces[0]
    assert face.landmarks is not None and face.labels == CANONICAL_LABELS
    crop = align.align_face(astronaut, landmarks=points, output_size=24).astype(np.float32)
    gray = crop @ np.array([0.2989, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(face.probabilities, expected_probs(model, gray[None, ..., None])[0], atol=1e-4)
    bx, by, bw, bh = face.box  # a box derived from the landmarks covers them
    assert bx < points[:, 0].min() and points[:, 0].max() < bx + bw and by < points[:, 1].min()
    with pytest.raises(ValueError, match="one per face"):
        fer.predict(astronaut, face_boxes=[(0, 0, 10, 10)] * 2, landmarks=[points])
    with pytest.raises(ValueError, match="outside"):
        fer.predict(astronaut, face_boxes=[(600, 600, 10, 10)])
    with pytest.raises(ValueError, match="positive"):
        fer.predict(astronaut, face_boxes=[(0, 0, 0, 10)])


def test_haar_pipeline_on_image_variants(astronaut, tmp_path):
    fer = FER(brightness_model(), detector="haar", min_face_size=40)
    rgb = fer.predict(astronaut)
    assert len(rgb.faces) == 1 and rgb.faces[0].landmarks is None
    gray = fer.predict(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    assert len(gray.faces) >= 1
    rgba = fer.predict(np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]))
    np.testing.assert_allclose(rgba.faces[0].probabilities, rgb.faces[0].probabilities, atol=1e-6)
    bgr = fer.predict(astronaut[..., ::-1], bgr=True)
    np.testing.assert_allclose(bgr.faces[0].probabilities, rgb.faces[0].probabilities, atol=1e-6)
    assert fer.predict(np.full((300, 400, 3), 90, np.uint8)).faces == []  # no face: empty result
    assert fer.predict(np.zeros((3, 3), np.uint8)).faces == []  # tiny: no face, no OpenCV error
    path = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    from_file = fer.predict(path)
    assert from_file.source == str(path) and len(from_file.faces) == 1


def test_predict_batch_is_one_model_call(astronaut, tmp_path):
    model = brightness_model()
    fer = FER(model, detector="none")
    calls = []
    original = model.predict_on_batch

    def counting(x):
        calls.append(len(x))
        return original(x)

    model.predict_on_batch = counting
    images = [astronaut, astronaut[::2, ::2], np.full((40, 30), 200, np.uint8)]
    results = fer.predict_batch(images)
    assert calls == [4]  # three faces, padded to a power of two, one call
    assert [len(r.faces) for r in results] == [1, 1, 1]
    single = [fer.predict(im).faces[0].probabilities for im in images]
    for r, p in zip(results, single):
        np.testing.assert_allclose(r.faces[0].probabilities, p, atol=1e-6)
    # unreadable files: an error for predict, a recorded error for batches
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="corrupt"):
        fer.predict(bad)
    with pytest.raises(FileNotFoundError):
        fer.predict(tmp_path / "missing.jpg")
    mixed = fer.predict_batch([bad, astronaut, tmp_path / "missing.jpg"], on_error="record")
    assert "corrupt" in mixed[0].error and mixed[1].error is None and "No such image" in mixed[2].error
    assert len(mixed[1].faces) == 1
    with pytest.raises(ValueError, match="one entry per image"):
        fer.predict_batch([astronaut, astronaut], face_boxes=[[(0, 0, 5, 5)]])
    with pytest.raises(ValueError, match="NaN"):
        fer.predict(np.full((20, 20, 3), np.nan, np.float32))


@pytest.mark.parametrize("channels", [1, 3])
def test_model_input_matches_prepare_images(channels):
    from kerasfer.data.pipeline import prepare_images

    fer = FER(brightness_model((20, 20, channels)), detector="none")
    crops = np.random.default_rng(0).integers(0, 256, size=(2, 20, 20, 3)).astype(np.uint8)
    np.testing.assert_allclose(fer.to_model_input(crops), prepare_images(crops, (20, 20, channels)), atol=1e-3)
    big = np.random.default_rng(1).integers(0, 256, size=(2, 50, 40, 3)).astype(np.uint8)
    np.testing.assert_allclose(fer.to_model_input(big), prepare_images(big, (20, 20, channels)), atol=1e-3)


def test_classify_crops_and_logits_model():
    model = brightness_model((16, 16, 3), activation=None)
    fer = FER(model, detector="none", labels=list("abcdefg"))
    assert fer.runner.output == "logits"
    crops = np.random.default_rng(0).integers(0, 256, size=(3, 16, 16, 3)).astype(np.uint8)
    probs = fer.classify(crops)
    np.testing.assert_allclose(probs, expected_probs(model, crops.astype(np.float32)), atol=1e-5)
    one = fer.classify(crops[0])  # one crop (H, W, C)
    np.testing.assert_allclose(one, probs[:1], atol=1e-6)
    assert fer.classify([np.zeros((40, 50), np.uint8)]).shape == (1, 7)  # resized, gray → RGB
    assert fer.labels == tuple("abcdefg")


def test_softmax_in_a_separate_activation_layer_is_not_applied_twice():
    """A model ending in a linear Dense "predictions" and an Activation("softmax") layer: the runner must read the
    output layer, not "predictions" (which looks like logits), or it softmaxes probabilities again and flattens
    them. (kerasfer's own builders put the softmax in "predictions" itself.)"""
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.GlobalAveragePooling2D()(kerasfer.layers.ImageNormalization()(inputs))
    logits = keras.layers.Dense(7, name="predictions")(x)  # linear
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(logits))
    fer = FER(model, detector="none")
    assert fer.runner.output == "probabilities"
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(fer.runner(x), model.predict_on_batch(x), atol=1e-6)
    assert FER(keras.Model(inputs, logits), detector="none").runner.output == "logits"


def test_labels_and_model_errors(tmp_path):
    model = brightness_model(num_classes=3)
    path = tmp_path / "m.keras"
    model.save(path)
    (tmp_path / "labels.txt").write_text("calm\nangry\njoy\n")
    fer = FER(str(path), detector="none")
    assert fer.labels == ("calm", "angry", "joy")
    x = np.full((1, 32, 32, 3), 100.0, np.float32)
    np.testing.assert_allclose(fer.runner(x), model.predict_on_batch(x), atol=1e-6)
    with pytest.raises(ValueError, match="2 labels"):
        FER(model, labels=["a", "b"], detector="none")
    with pytest.raises(FileNotFoundError):
        FER(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="num_classes"):
        FER(keras.Model(model.inputs, model.get_layer("normalization").output), detector="none")
    with pytest.raises(ValueError, match="Unknown face detector 'dlib'; use one of blazeface, mtcnn, haar, none"):
        FER(model, detector="dlib")  # issue 26, item 9: at once, not at the first predict
    with pytest.raises(ValueError, match="shape"):
        fer.runner(np.zeros((1, 16, 16, 3), np.float32))


def test_default_model(monkeypatch, tmp_path):
    import json

    from kerasfer.models import loading

    asked = []

    def fake_load_trained(source, model_name=None, **kwargs):
        asked.append(source)
        return loading._finish(brightness_model(), source=source, kind="packaged")

    def package(model, name, dataset, accuracy):
        (tmp_path / f"{model}_{name}.weights.h5").write_bytes(b"")
        card = {"model": model, "name": name, "file": f"{model}_{name}.weights.h5",
                "training": {"dataset": dataset}, "evaluation": {"accuracy": accuracy}}  # fmt: skip
        (tmp_path / f"{model}_{name}.json").write_text(json.dumps(card))

    # The default is the most accurate FER2013 card, whatever the other datasets' cards say.
    monkeypatch.setattr("kerasfer.pretrained.WEIGHTS_DIR", tmp_path)
    for model, name, dataset, accuracy in (("a", "fer2013", "fer2013", 0.6), ("b", "fer2013", "fer2013", 0.7),
                                           ("c", "ferplus", "ferplus", 0.9)):  # fmt: skip
        package(model, name, dataset, accuracy)
    monkeypatch.setattr(loading, "load_trained", fake_load_trained)
    fer = FER(detector="none")
    assert asked == ["b/fer2013"] and fer.input_shape == (32, 32, 3)
    assert fer.margin == 0.0  # the fake card names no crop: the ArcFace crop

    # Without its weights file, the next most accurate one is the default.
    (tmp_path / "b_fer2013.weights.h5").unlink()
    asked.clear()
    FER(detector="none")
    assert asked == ["a/fer2013"]

    def broken(source, model_name=None, **kwargs):
        raise OSError("truncated file")

    monkeypatch.setattr(loading, "load_trained", broken)
    with pytest.raises(ValueError, match="could not be built.*truncated file"):
        FER()
    (tmp_path / "a_fer2013.weights.h5").unlink()
    with pytest.raises(ValueError, match="No packaged default model.*Pass a model.*tflite="):
        FER()
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match="w.weights.h5"):
        FER(weights="w.weights.h5")


@pytest.mark.large
def test_default_model_uses_packaged_weights():
    from kerasfer.inference import fer as fer_module

    choice = fer_module.default_weights()
    if choice is None:
        with pytest.raises(ValueError, match="No packaged default model"):
            FER()
        return
    from kerasfer.models.weights import packaged_card

    card = packaged_card(*choice)
    fer = FER(detector="none")
    assert fer.labels == tuple(card["labels"])
    assert fer.input_shape == tuple(card["build"]["input_shape"])
    assert fer.margin == card["preprocessing"].get("align_margin", 0.0)


@pytest.mark.large
def test_registered_model_by_name(tmp_path):
    model = kerasfer.models.create_model("lfnsb", input_shape=(32, 32, 3))
    weights = tmp_path / "small.weights.h5"
    model.save_weights(weights)
    fer = FER("lfnsb", weights=str(weights), input_shape=(32, 32, 3), detector="none")
    x = np.random.default_rng(1).uniform(0, 255, size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(fer.runner(x), model.predict_on_batch(x), atol=1e-5)


@pytest.mark.tflite
@pytest.mark.tf_only
def test_tflite_runner_matches_keras(tmp_path, astronaut):
    pytest.importorskip("ai_edge_litert")
    from kerasfer.export.tflite import convert

    model = brightness_model((32, 32, 3))
    path = tmp_path / "m.tflite"
    path.write_bytes(convert(model))
    fer = FER(tflite=str(path), detector="none")
    assert fer.input_shape == (32, 32, 3) and isinstance(fer.runner, runners.TFLiteRunner)
    images = [astronaut, astronaut[100:300, 150:350], np.full((50, 50, 3), 30, np.uint8)]
    got = np.stack([r.faces[0].probabilities for r in fer.predict_batch(images)])
    ref = np.stack([r.faces[0].probabilities for r in FER(model, detector="none").predict_batch(images)])
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert fer.runner.output == "probabilities"  # read from the graph (it ends in SOFTMAX), not guessed per batch
    logits = brightness_model((32, 32, 3), activation=None)
    (tmp_path / "logits.tflite").write_bytes(convert(logits))
    assert runners.TFLiteRunner(tmp_path / "logits.tflite").output == "auto"  # no SOFTMAX: decided by the values
    with pytest.raises(ValueError, match="TFLite"):
        bad = tmp_path / "bad.tflite"
        bad.write_bytes(b"nope")
        runners.TFLiteRunner(bad)


def test_input_mistakes_are_named_in_the_users_terms(tmp_path, monkeypatch):
    """Issue 26, items 7 and 10: a folder as an image, a non-.tflite file as --tflite, and a missing detector
    runtime, each named at once (the runtime before the model is loaded)."""
    import sys

    from kerasfer.inference import runners

    with pytest.raises(IsADirectoryError, match="is a folder, not an image"):
        FER(brightness_model(), detector="none").predict(str(tmp_path))
    (tmp_path / "text.jpg").write_text("not a model")
    with pytest.raises(ValueError, match=r"text\.jpg is not a \.tflite file: --tflite takes"):
        runners.load_runner(tflite=str(tmp_path / "text.jpg"))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # a bare install: no LiteRT
    with pytest.raises(ImportError, match=r"blazeface face detector runs on LiteRT: pip install 'kerasfer\[tflite\]'"):
        FER(str(tmp_path / "not_loaded_yet.keras"), detector="blazeface")
