import keras
import numpy as np
import pytest

from kerasfer.layers import ChannelShuffle
from kerasfer.testing import run_layer_test


def _reference_shuffle(x, groups):
    """torchvision's channel_shuffle (5-D reshape + transpose), in channels-last numpy."""
    b, h, w, c = x.shape
    return x.reshape(b, h, w, groups, c // groups).transpose(0, 1, 2, 4, 3).reshape(b, h, w, c)


@pytest.mark.parametrize("method", ["transpose", "concat"])
def test_layer_contract(method):
    run_layer_test(
        ChannelShuffle,
        {"groups": 2, "method": method},
        np.random.rand(2, 4, 5, 6).astype("float32"),
        expected_output_shape=(2, 4, 5, 6),
        expected_num_trainable_weights=0,
    )


@pytest.mark.parametrize("method", ["transpose", "concat"])
@pytest.mark.parametrize("groups", [1, 2, 3, 4])
def test_matches_reference_permutation(method, groups):
    x = np.random.rand(2, 3, 5, 12).astype("float32")
    out = np.asarray(ChannelShuffle(groups=groups, method=method)(x))
    np.testing.assert_array_equal(out, _reference_shuffle(x, groups))


def test_groups2_interleaves_halves():
    x = np.arange(8, dtype="float32").reshape(1, 1, 1, 8)
    for method in ("transpose", "concat"):
        out = np.asarray(ChannelShuffle(2, method=method)(x)).ravel()
        np.testing.assert_array_equal(out, [0, 4, 1, 5, 2, 6, 3, 7])


def test_dynamic_batch_in_functional_model():
    inputs = keras.Input((3, 3, 4))
    model = keras.Model(inputs, ChannelShuffle(2)(inputs))
    for batch in (1, 3):
        x = np.random.rand(batch, 3, 3, 4).astype("float32")
        np.testing.assert_array_equal(np.asarray(model(x)), _reference_shuffle(x, 2))


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        ChannelShuffle(groups=0)
    with pytest.raises(ValueError, match="method must be one of"):
        ChannelShuffle(method="gather")
    with pytest.raises(ValueError, match="5 channels are not divisible by groups=2"):
        ChannelShuffle(2)(np.zeros((1, 2, 2, 5), "float32"))
    with pytest.raises(ValueError, match="expects a 4-D"):
        ChannelShuffle(2)(np.zeros((1, 2, 4), "float32"))


def gpu_check_or_none():
    """The project's GPU-delegate lint when it is available (it lives in kerasfer.export)."""
    try:
        from kerasfer.export import gpu_check
    except ImportError:
        return None
    return gpu_check


def tflite_ops(model):
    """Converts `model` with builtin ops only; returns (op names, tensor shapes, interpreter, bytes)."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.interpreter import OpResolverType

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    content = converter.convert()
    interpreter = Interpreter(
        model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter.allocate_tensors()
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    shapes = [tuple(t["shape"]) for t in interpreter.get_tensor_details()]
    return ops, shapes, interpreter, content


def run_tflite(interpreter, x):
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.tf_only
@pytest.mark.tflite
@pytest.mark.parametrize(
    "method, expected_ops",
    [
        ("transpose", ["RESHAPE", "TRANSPOSE", "RESHAPE"]),
        ("concat", ["STRIDED_SLICE", "RESHAPE", "STRIDED_SLICE", "RESHAPE", "CONCATENATION", "RESHAPE"]),
    ],
)
def test_tflite_gpu_friendly_ops(method, expected_ops):
    inputs = keras.Input((4, 6, 8), batch_size=1)
    model = keras.Model(inputs, ChannelShuffle(2, method=method)(keras.layers.Conv2D(8, 1)(inputs)))
    ops, shapes, interpreter, content = tflite_ops(model)
    assert ops == ["CONV_2D"] + expected_ops
    assert "GATHER" not in ops
    assert max(len(s) for s in shapes) <= 4, shapes
    x = np.random.rand(1, 4, 6, 8).astype("float32")
    expected = _reference_shuffle(np.asarray(model.layers[1](x)), 2)
    np.testing.assert_allclose(run_tflite(interpreter, x), expected, atol=1e-6)
    gpu_check = gpu_check_or_none()
    if gpu_check is not None:
        for target in ("classic", "mldrift"):
            report = gpu_check.check(content, target=target)
            assert report.ok, str(report)
        # Only the concat method also runs on the OpenGL fallback (no TRANSPOSE shader there).
        assert gpu_check.check(content, strict_gl=True).ok == (method == "concat")
