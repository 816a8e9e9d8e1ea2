"""TFLite conversion, quantization, model card / labels / metadata, LiteRT evaluation."""

import json
import os

import numpy as np
import pytest

pytestmark = [pytest.mark.tflite, pytest.mark.tf_only]

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytest.importorskip("ai_edge_litert")

from kerasfer.export import card as card_lib  # noqa: E402
from kerasfer.export import evaluate  # noqa: E402
from kerasfer.export import flatbuffer  # noqa: E402
from kerasfer.export import tflite  # noqa: E402
from kerasfer.layers import ImageNormalization  # noqa: E402
from kerasfer.testing.test_case import randomize_batchnorm  # noqa: E402

SIZE = 32


def _model(num_classes=7, activation="softmax", channels=3):
    inputs = keras.Input((SIZE, SIZE, channels))
    x = ImageNormalization(mean=(0.485, 0.456, 0.406)[:channels], std=(0.229, 0.224, 0.225)[:channels], name="norm")(
        inputs
    )
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu", name="pw")(x)
    x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(num_classes, activation=activation, name="predictions")(x)
    model = keras.Model(inputs, out, name="tiny")
    randomize_batchnorm(model)
    return model


def _images(n=16, seed=0, channels=3):
    # smooth random images with a face-like range of values
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (n, 8, 8, channels)).astype(np.float32)
    return np.repeat(np.repeat(base, SIZE // 8, axis=1), SIZE // 8, axis=2)


def _run(content, x):
    return evaluate.run_tflite(content, x)


def test_fp32_matches_keras_and_is_builtin_batch1():
    model = _model(activation=None)  # logits: a stricter comparison than probabilities
    x = _images(4)
    content = tflite.convert(model, "fp32")
    fm = flatbuffer.read_tflite(content)
    assert not any(op.name == "CUSTOM" for op in fm.ops)
    (inp,) = [fm.tensor(i) for i in fm.inputs[0]]
    assert inp.shape == (1, SIZE, SIZE, 3) and inp.shape_signature == (1, SIZE, SIZE, 3) and inp.dtype == "float32"
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(_run(content, x), expected, atol=1e-4, rtol=1e-4)
    # normalisation is inside the graph: the first ops are the folded multiply-add
    assert [op.name for op in fm.ops[:2]] == ["MUL", "ADD"]


def test_fp16_and_dynamic_are_close_and_smaller():
    model = _model()
    x = _images(8)
    expected = np.asarray(model(x, training=False))
    sizes = {}
    for q in ("fp32", "fp16", "dynamic"):
        content = tflite.convert(model, q)
        sizes[q] = len(content)
        out = _run(content, x)
        np.testing.assert_allclose(out, expected, atol=2e-2 if q != "fp32" else 1e-5)
    fm = flatbuffer.read_tflite(tflite.convert(model, "fp16"))
    assert any(t.dtype == "float16" and t.is_constant for t in fm.tensors[0])


@pytest.mark.parametrize("io_type", ["float32", "int8", "uint8"])
def test_int8_io_types_and_agreement(io_type):
    model = _model()
    calib = _images(32, seed=1)
    x = _images(24, seed=2)
    content = tflite.convert(
        model, "int8", representative_data=calib, inference_input_type=io_type, inference_output_type=io_type
    )
    fm = flatbuffer.read_tflite(content)
    inp, out = fm.tensor(fm.inputs[0][0]), fm.tensor(fm.outputs[0][0])
    assert inp.dtype == io_type and out.dtype == io_type
    if io_type != "float32":
        assert inp.is_quantized and out.is_quantized
    conv = [op for op in fm.ops if op.name == "CONV_2D"]
    assert conv and all(fm.tensor(op.inputs[0]).dtype == "int8" for op in conv)  # integer compute
    expected = np.asarray(model(x, training=False))
    got = _run(content, x)
    result = evaluate.compare(expected, got)
    assert result["top1_agreement"] >= 0.9, result
    assert result["max_abs_diff"] < 0.1, result


def test_representative_data_sources():
    model = _model()
    images = _images(6)
    labels = np.zeros(6, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)

    def gen():
        yield from images

    for source in (images, ds, gen, gen()):
        got = tflite.representative_images(source, (SIZE, SIZE, 3), max_images=5)
        assert len(got) == 5 and got[0].shape == (SIZE, SIZE, 3)
    content = tflite.convert(model, tflite.QuantizationConfig.for_int8(ds, quantization_steps=4))
    assert flatbuffer.read_tflite(content).ops


def test_quantization_errors():
    model = _model()
    with pytest.raises(ValueError, match="representative_data"):
        tflite.convert(model, "int8")
    with pytest.raises(ValueError, match="Unknown quantization"):
        tflite.QuantizationConfig.from_name("int4")
    with pytest.raises(ValueError, match="needs quantization='int8'"):
        tflite.QuantizationConfig(mode="fp16", inference_input_type="uint8")
    with pytest.raises(ValueError, match=r"shape \(H, W, C\)"):
        tflite.representative_images(np.zeros((2, 16, 16, 3)), (SIZE, SIZE, 3))
    with pytest.raises(ValueError, match="NaN"):
        tflite.representative_images(np.full((2, SIZE, SIZE, 3), np.nan), (SIZE, SIZE, 3))
    with pytest.raises(ValueError, match="empty"):
        tflite.representative_images(np.zeros((0, SIZE, SIZE, 3)), (SIZE, SIZE, 3))
    with pytest.warns(UserWarning, match="normalised"):
        tflite.representative_images(np.full((2, SIZE, SIZE, 3), 0.5), (SIZE, SIZE, 3))


def test_dynamic_input_shape_and_non_builtin_ops_are_refused():
    inputs = keras.Input((None, None, 3))
    out = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    with pytest.raises(ValueError, match="static"):
        tflite.convert(keras.Model(inputs, out))
    # a dynamic model exports once given a size
    content = tflite.convert(keras.Model(inputs, out), input_shape=(SIZE, SIZE, 3))
    assert flatbuffer.read_tflite(content).tensor(0).shape[0] == 1

    class Inverse(keras.layers.Layer):
        def call(self, x):
            return tf.linalg.inv(x)

    inputs = keras.Input((3, 3, 3), batch_size=1)  # inverts 1x3 matrices of 3x3
    with pytest.raises(tflite.ConversionError, match="MatrixInverse"):
        tflite.convert(keras.Model(inputs, Inverse(name="inverse")(inputs)))


def test_export_writes_labels_card_and_metadata(tmp_path):
    model = _model()
    x = _images(12)
    y = np.arange(12) % 7
    path = tmp_path / "out" / "tiny_fp16.tflite"
    result = tflite.export_tflite(model, path, "fp16", eval_data=(x, y))
    assert os.path.getsize(path) == result.size_bytes
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert card_lib.read_labels(result.labels_path) == labels
    card = json.loads(open(result.card_json_path).read())
    assert card["labels"][3] == "happy"
    assert card["input"]["shape"] == [1, SIZE, SIZE, 3]
    norm = card["input"]["normalization"]
    assert norm["in_model"] and norm["mean"] == [0.485, 0.456, 0.406] and norm["std"] == [0.229, 0.224, 0.225]
    assert card["architecture"]["params"] == sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert card["architecture"]["macs"] > 0
    assert card["quantization"] == {"mode": "fp16"}
    assert card["file"]["size_bytes"] == result.size_bytes
    assert card["gpu_check"]["ok"], card["gpu_check"]
    ev = card["evaluation"]
    assert ev["num_images"] == 12 and ev["top1_agreement"] == 1.0 and ev["max_abs_diff"] < 1e-2
    md = open(result.card_markdown_path).read()
    assert "tiny (fp16) model card" in md and "3. happy" in md and "mean `[0.485, 0.456, 0.406]`" in md
    meta = flatbuffer.read_tflite(path).kerasfer_metadata()
    assert meta["labels"] == card["labels"] and meta["input"]["normalization"]["std"] == norm["std"]
    # the metadata does not change the numbers
    np.testing.assert_allclose(_run(str(path), x[:2]), np.asarray(model(x[:2], training=False)), atol=1e-2)


def test_export_custom_labels_and_errors(tmp_path):
    model = _model(num_classes=3)
    result = tflite.export_tflite(model, tmp_path / "m.tflite", labels=["neg", "neu", "pos"], count_macs=False)
    assert card_lib.read_labels(result.labels_path) == ["neg", "neu", "pos"]
    with pytest.raises(ValueError, match="3 outputs"):
        tflite.export_tflite(model, tmp_path / "m.tflite", labels=["a", "b"])
    with pytest.raises(ValueError, match="distinct"):
        tflite.export_tflite(model, tmp_path / "m.tflite", labels=["a", "a", "b"])
    with pytest.raises(ValueError, match=".tflite"):
        tflite.export_tflite(model, tmp_path / "m.bin")
    x = _images(4)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        tflite.export_tflite(model, tmp_path / "m.tflite", eval_data=(x, np.array([0, 1, 2, 5])))
    with pytest.raises(ValueError, match="NaN"):
        tflite.export_tflite(model, tmp_path / "m.tflite", eval_data=(x * np.nan, np.zeros(4, int)))
    with pytest.raises(ValueError, match="model takes"):
        tflite.export_tflite(model, tmp_path / "m.tflite", eval_data=(x[:, :16], np.zeros(4, int)))


def test_runner_errors_and_int8_io_round_trip(tmp_path):
    from kerasfer.inference.runners import TFLiteRunner
    from kerasfer.inference.runners import quantize_input

    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        TFLiteRunner(tmp_path / "missing.tflite")
    model = _model()
    content = tflite.convert(model, "int8", representative_data=_images(8), inference_input_type="uint8")
    runner = TFLiteRunner(content, output="probabilities")
    q = quantize_input(np.array([0.0, 127.5, 255.0, 1e6], np.float32), runner._in)
    assert q.dtype == np.uint8 and q[-1] == 255
    with pytest.raises(ValueError, match="shape"):
        runner.predict(np.zeros((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="NaN"):
        runner.predict(np.full((1, SIZE, SIZE, 3), np.nan))
    probs = runner.predict(_images(2))
    assert probs.shape == (2, 7) and np.all(np.isfinite(probs))
    with pytest.raises(ValueError, match="Shapes differ"):
        evaluate.compare(np.zeros((2, 7)), np.zeros((3, 7)))


def test_layer_drift_names_layers():
    model = _model()
    x = _images(2)
    fp32 = tflite.convert(model, "fp32")
    int8 = tflite.convert(model, "int8", representative_data=_images(8))
    rows = evaluate.layer_drift(fp32, int8, x)
    layers = {r["layer"] for r in rows}
    assert {"dw", "pool"} <= layers, layers
    assert all(np.isfinite(r["relative_error"]) and r["relative_error"] >= 0 for r in rows)
    assert rows == sorted(rows, key=lambda r: -r["increase"])


def test_layer_drift_never_compares_probabilities_with_logits():
    # A separate softmax layer: int8 names its SOFTMAX output "PartitionedCall:01", with no layer
    # scope. It used to inherit the dense layer's name from its input, so the drift report set
    # int8 probabilities against float logits and blamed the dense layer (relative error 0.88).
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(inputs / 255.0)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(7, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(x))
    fp32 = tflite.convert(model, "fp32")
    int8 = tflite.convert(model, "int8", representative_data=_images(8))
    for content in (fp32, int8):
        fm = flatbuffer.read_tflite(content)
        producer = {o: op.name for op in fm.ops for o in op.outputs}
        found = evaluate._layer_outputs(content)
        assert producer[found["logits"][0]] == "FULLY_CONNECTED", found
    rows = {r["layer"]: r for r in evaluate.layer_drift(fp32, int8, _images(2))}
    assert rows["logits"]["relative_error"] < 0.2, rows


def test_layer_drift_pairs_the_same_op_across_files_with_and_without_metadata(tmp_path):
    # The export command's int8 file carries kerasfer metadata (its softmax output is named after the Dense
    # "predictions" layer); a bare `convert` reference does not (its "predictions" is the dense logits).
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv")(inputs / 255.0)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax", name="predictions")(x))
    path = tmp_path / "m_int8.tflite"
    tflite.export_tflite(model, path, "int8", representative_data=_images(8), gpu_check=False, count_macs=False)
    int8 = path.read_bytes()
    rows = {r["layer"]: r for r in evaluate.layer_drift(tflite.convert(model, "fp32"), int8, _images(2))}
    assert "predictions" not in rows and "pool" in rows, rows  # logits are never set against probabilities
    tflite.export_tflite(model, tmp_path / "m_fp32.tflite", "fp32", gpu_check=False, count_macs=False)
    rows = {r["layer"]: r for r in evaluate.layer_drift((tmp_path / "m_fp32.tflite").read_bytes(), int8, _images(2))}
    assert rows["predictions"]["relative_error"] < 0.2, rows  # probabilities against probabilities


def test_reparameterized_export_matches_unfused():
    reparam = pytest.importorskip("kerasfer.export.reparam")
    from kerasfer import models

    if "lfnsb" not in models.list_models():
        pytest.skip("lfnsb is not registered")
    model = models.create_model("lfnsb", input_shape=(SIZE * 2, SIZE * 2, 3))
    randomize_batchnorm(model)
    x = _images(2)
    x = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    content = tflite.convert(model, "fp32")
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(_run(content, x), expected, atol=1e-4)
    assert reparam is not None
