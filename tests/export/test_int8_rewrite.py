"""Integer-friendly PReLU / hard swish for int8 export (`kerasfer.export.int8_rewrite`)."""

import collections

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from kerasfer.export import int8_rewrite  # noqa: E402

SIZE = 24
ALPHAS = np.array([-0.5, 0.0, 0.25, 1.0, 1.7, 3.0], np.float32)


def _prelu_reference(x, a):
    return np.where(x > 0, x, a * x)


@pytest.mark.parametrize("alphas", [ALPHAS, np.array([0.25, 0.1, 0.9, 1.0], np.float32)])
def test_decomposed_prelu_is_exact_for_any_slope(alphas):
    x = np.random.default_rng(0).normal(0, 3, (4, 5, 5, alphas.size)).astype(np.float32)
    c1, c2, s = int8_rewrite.prelu_coefficients(alphas)
    assert (s is None) == bool(np.all(alphas <= 1))
    got = keras.ops.convert_to_numpy(int8_rewrite.decomposed_prelu(x, c1, c2, s))
    np.testing.assert_allclose(got, _prelu_reference(x, alphas), rtol=1e-6, atol=1e-6)


def test_unfused_hard_swish_equals_hard_swish():
    x = np.linspace(-8, 8, 161).astype(np.float32)
    want = x * np.clip(x + 3, 0, 6) / 6
    np.testing.assert_allclose(keras.ops.convert_to_numpy(int8_rewrite.unfused_hard_swish(x)), want, atol=1e-6)


def test_nan_slope_is_a_clear_error():
    with pytest.raises(ValueError, match="NaN"):
        int8_rewrite.prelu_coefficients([0.25, np.nan])


def _prelu_model(alphas=ALPHAS):
    from kerasfer.layers import CoordinateAttention

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(alphas.size, 3, strides=2, padding="same", name="conv")(inputs / 255.0)
    prelu = keras.layers.PReLU(shared_axes=[1, 2], name="act")
    x = prelu(x)
    x = CoordinateAttention(min_channels=4, name="ca")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax", name="predictions")(x))
    prelu.alpha.assign(alphas.reshape(1, 1, -1))
    return model


def test_context_changes_the_trace_not_the_function_and_restores():
    model = _prelu_model()
    x = np.random.default_rng(1).uniform(0, 255, (2, SIZE, SIZE, 3)).astype(np.float32)
    want = keras.ops.convert_to_numpy(model(x, training=False))
    original = keras.layers.PReLU.call
    other = keras.layers.PReLU(shared_axes=[1, 2])  # not in the model: runs unchanged
    other_x = np.random.default_rng(2).normal(size=(1, 3, 3, 2)).astype(np.float32)
    other_want = keras.ops.convert_to_numpy(other(other_x))
    with int8_rewrite.integer_friendly_activations(model):
        assert keras.layers.PReLU.call is not original
        got = keras.ops.convert_to_numpy(model(x, training=False))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(other(other_x)), other_want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert keras.layers.PReLU.call is original
    from kerasfer.layers import coordinate_attention

    assert coordinate_attention.h_swish is not int8_rewrite.unfused_hard_swish


@pytest.mark.tflite
@pytest.mark.tf_only
def test_int8_export_runs_prelu_and_hard_swish_inside_xnnpack():
    pytest.importorskip("tensorflow")
    pytest.importorskip("ai_edge_litert")
    from ai_edge_litert.interpreter import Interpreter

    from kerasfer.export import evaluate
    from kerasfer.export import flatbuffer
    from kerasfer.export import tflite
    from kerasfer.testing.test_case import randomize_batchnorm

    model = _prelu_model()
    randomize_batchnorm(model)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (32, SIZE, SIZE, 3)).astype(np.float32)
    reference = evaluate.predict_keras(model, images)

    def op_names(content):
        return collections.Counter(op.name for op in flatbuffer.read_tflite(content).ops)

    def outside_xnnpack(content):
        # ops that run outside XNNPACK: they produce a tensor a delegate node consumes
        interp = Interpreter(model_content=content, num_threads=1)
        interp.allocate_tensors()
        ops = interp._get_ops_details()
        delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
        consumed = {t for op in delegates for t in op["inputs"]}
        produced = {t for op in delegates for t in op["outputs"]}
        return {
            op["op_name"]
            for op in ops
            if op["op_name"] != "DELEGATE" and set(op["outputs"]) & consumed and not set(op["outputs"]) & produced
        }

    plain = tflite.convert(model, "int8", representative_data=images, rewrite_activations=False)
    rewritten = tflite.convert(model, "int8", representative_data=images)
    assert op_names(plain)["PRELU"] == 1 and op_names(plain)["HARD_SWISH"] == 1
    assert op_names(rewritten)["PRELU"] == 0 and op_names(rewritten)["HARD_SWISH"] == 0, op_names(rewritten)
    assert {"PRELU", "HARD_SWISH"} <= outside_xnnpack(plain)
    assert outside_xnnpack(rewritten) <= {"SOFTMAX"}, outside_xnnpack(rewritten)  # int8 softmax: builtin kernel
    # the rewrite loses no accuracy against the float model compared with int8 PRELU
    err_plain = np.abs(evaluate.run_tflite(plain, images) - reference).max()
    err_rewritten = np.abs(evaluate.run_tflite(rewritten, images) - reference).max()
    assert err_rewritten < max(2 * err_plain, 0.02), (err_rewritten, err_plain)
    # float exports keep the single ops (XNNPACK and the GPU delegate run them as they are)
    fp32 = op_names(tflite.convert(model, "fp32"))
    assert fp32["PRELU"] == 1 and fp32["HARD_SWISH"] == 1
    assert tflite.QuantizationConfig.for_int8(images).describe()["rewrite_activations"] is True


@pytest.mark.tflite
@pytest.mark.tf_only
def test_float_ops_keep_the_named_ops_in_float_inside_the_int8_model():
    pytest.importorskip("tensorflow")
    from kerasfer.export import evaluate
    from kerasfer.export import flatbuffer
    from kerasfer.export import tflite
    from kerasfer.testing.test_case import randomize_batchnorm

    model = _prelu_model()
    randomize_batchnorm(model)
    images = np.random.default_rng(0).uniform(0, 255, (32, SIZE, SIZE, 3)).astype(np.float32)
    reference = evaluate.predict_keras(model, images)

    def kinds(content):  # (op, dtype of its first input) -> count
        fm = flatbuffer.read_tflite(content)
        return collections.Counter((op.name, fm.op_inputs(op)[0].dtype) for op in fm.ops)

    prelu_float = tflite.convert(model, "int8", representative_data=images, float_ops=["prelu"])
    k = kinds(prelu_float)
    # the PReLU stays one float op between a DEQUANTIZE and a QUANTIZE; hard swish is still rewritten
    assert k[("PRELU", "float32")] == 1 and k[("HARD_SWISH", "int8")] == 0 and k[("HARD_SWISH", "float32")] == 0
    assert k[("CONV_2D", "int8")] >= 1 and k[("DEQUANTIZE", "int8")] >= 2, k
    both = kinds(tflite.convert(model, "int8", representative_data=images, float_ops=("PRELU", "HARD_SWISH")))
    assert both[("PRELU", "float32")] == 1 and both[("HARD_SWISH", "float32")] == 1, both
    err = np.abs(evaluate.run_tflite(prelu_float, images) - reference).max()
    assert err < 0.05, err
    config = tflite.QuantizationConfig.for_int8(images, float_ops=["prelu", "PRELU"])
    assert config.float_ops == ("PRELU",) and config.describe()["float_ops"] == ["PRELU"]
    assert "float_ops" not in tflite.QuantizationConfig.for_int8(images).describe()


def test_float_ops_errors():
    from kerasfer.export import tflite

    images = np.zeros((2, SIZE, SIZE, 3), np.float32)
    with pytest.raises(ValueError, match="not TFLite builtin op names"):
        tflite.QuantizationConfig.for_int8(images, float_ops=["PRELUU"])
    # "cpu" names the set measured fastest on x86 XNNPACK; duplicates fold
    cpu = tflite.QuantizationConfig.for_int8(images, float_ops=["cpu", "prelu", "LOGISTIC"]).float_ops
    assert cpu == (*tflite.CPU_FLOAT_OPS, "LOGISTIC") and "PRELU" in tflite.CPU_FLOAT_OPS
    with pytest.raises(ValueError, match="float32 model I/O"):
        tflite.QuantizationConfig.for_int8(images, float_ops=["PRELU"], inference_input_type="uint8")
    with pytest.raises(ValueError, match="int8 quantization only"):
        tflite.QuantizationConfig(mode="fp16", float_ops=("PRELU",))
