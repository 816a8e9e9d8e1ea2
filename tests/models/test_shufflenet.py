import os

import keras
import numpy as np
import pytest

from kerasfer import models
from kerasfer.layers import ChannelShuffle
from kerasfer.layers import MishHead
from kerasfer.layers import PDWRes
from kerasfer.models import LFERLDL
from kerasfer.models import ShuffleNetV2
from kerasfer.testing import assert_finite_gradients
from kerasfer.testing import run_model_saving_test
from kerasfer.utils import count_macs
from kerasfer.utils import count_params


@pytest.mark.parametrize(
    "width, expected",
    # torchvision's shufflenet_v2_x*_* with a 7-way classifier (spec 1.9 / 3.6).
    [(0.5, 348_967), (1.0, 1_260_779), (1.5, 2_485_799), (2.0, 5_359_339)],
)
def test_shufflenet_v2_param_counts(width, expected):
    model = ShuffleNetV2(width=width)
    assert count_params(model) == expected
    assert model.name == f"shufflenet_v2_x{str(width).replace('.', '_')}"
    assert model.output_shape == (None, 7)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"head": "fc"}, 1_271_767),  # EfficientFace analogue without the Modulator (spec 3.6)
        ({"head": "fc", "use_pdwres": False}, 1_261_559),  # ShuffleNetV2 1.0x with conv1 = 29
        ({"head": "mish"}, 1_271_767 + 3 * 1024),  # + MishHead's depthwise 1x1 and BatchNorm
    ],
)
def test_lfer_ldl_param_counts(kwargs, expected):
    model = LFERLDL(**kwargs)
    assert count_params(model) == expected
    assert model.name == "lfer_ldl"


def test_macs_at_224():
    # Convolutions and dense layers only (kerasfer convention); PDWRes adds exactly its
    # 4 quadrants x 2 depthwise convs x 116 ch x 9 taps x 14 x 14.
    assert count_macs(ShuffleNetV2(width=0.5), convention="conv") == 39_459_616
    with_pdwres = count_macs(LFERLDL(head="fc"), convention="conv")
    without = count_macs(LFERLDL(head="fc", use_pdwres=False), convention="conv")
    assert with_pdwres == 148_393_672
    assert with_pdwres - without == 4 * 2 * 116 * 9 * 14 * 14


def test_registry():
    keys = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]
    assert set(keys) <= set(models.list_models(family="shufflenet_v2"))
    assert models.list_models(family="lfer_ldl") == ["lfer_ldl"]
    info = models.get_model_info("lfer_ldl")
    assert info.input_shape == (224, 224, 3) and info.min_input_size == 32
    model = models.create_model("shufflenet_v2_x0_5", input_shape=(48, 48, 1), num_classes=3)
    assert model.name == "shufflenet_v2_x0_5"
    assert model.output_shape == (None, 3)


def test_layer_names_and_structure():
    model = LFERLDL(input_shape=(64, 64, 3))
    assert model.get_layer("normalization").mean == [0.485, 0.456, 0.406]
    assert model.get_layer("features").output.shape == (None, 2, 2, 1024)
    assert isinstance(model.get_layer("pdwres"), PDWRes)
    assert isinstance(model.get_layer("mish_head"), MishHead)
    assert model.get_layer("predictions").units == 7
    shuffles = [layer for layer in model.layers if isinstance(layer, ChannelShuffle)]
    assert len(shuffles) == 16  # one per unit, repeats [4, 8, 4]
    assert model.get_layer("stage2_unit1_shuffle").output.shape == (None, 8, 8, 116)


def test_small_grayscale_forward_batch_1_and_2():
    model = ShuffleNetV2(width=0.5, input_shape=(48, 48, 1))
    assert model.get_layer("normalization").mean == pytest.approx([np.mean([0.485, 0.456, 0.406])])
    for batch in (1, 2):
        x = np.random.uniform(0, 255, (batch, 48, 48, 1)).astype("float32")
        y = np.asarray(model(x, training=False))
        assert y.shape == (batch, 7)
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_stem_pool_false_halves_the_stride_with_the_same_weights():
    pooled = ShuffleNetV2(width=0.5, input_shape=(48, 48, 1), include_top=False)
    unpooled = ShuffleNetV2(width=0.5, input_shape=(48, 48, 1), include_top=False, stem_pool=False)
    assert pooled.output_shape == (None, 2, 2, 1024) and unpooled.output_shape == (None, 3, 3, 1024)
    assert "maxpool" not in [layer.name for layer in unpooled.layers]
    assert count_params(pooled) == count_params(unpooled)
    assert count_macs(unpooled) > 1.5 * count_macs(pooled)
    # through the registry (what TrainConfig.model_kwargs and a model card's "build" pass)
    built = models.create_model("shufflenet_v2_x0_5", input_shape=(48, 48, 1), stem_pool=False)
    assert "maxpool" not in [layer.name for layer in built.layers]
    with pytest.raises(ValueError, match="stem_pool=False"):
        from kerasfer.models.shufflenet import WIDTH_CHANNELS
        from kerasfer.models.shufflenet import _create

        _create(
            WIDTH_CHANNELS[0.5],
            num_classes=7,
            input_shape=(48, 48, 3),
            weights=None,
            include_top=True,
            include_preprocessing=True,
            classifier_activation="softmax",
            name="x",
            normalization="imagenet",
            shuffle_method="concat",
            use_pdwres=True,
            stem_pool=False,
        )


def test_logits_no_top_and_no_preprocessing():
    logits = LFERLDL(input_shape=(32, 32, 3), classifier_activation=None, head="fc")
    assert logits.layers[-1].name == "predictions"
    base = LFERLDL(input_shape=(32, 32, 3), include_top=False, include_preprocessing=False)
    assert base.output_shape == (None, 1, 1, 1024)
    assert "normalization" not in [layer.name for layer in base.layers]


def test_rafdb_normalization_option():
    model = LFERLDL(input_shape=(32, 32, 3), normalization="rafdb")
    assert model.get_layer("normalization").std == [0.2074, 0.1898, 0.1813]
    with pytest.raises(ValueError, match="normalization must be one of"):
        LFERLDL(input_shape=(32, 32, 3), normalization="celeb")


def test_shuffle_methods_agree():
    a = ShuffleNetV2(width=0.5, input_shape=(32, 32, 3), shuffle_method="transpose")
    b = ShuffleNetV2(width=0.5, input_shape=(32, 32, 3), shuffle_method="concat")
    b.set_weights(a.get_weights())
    x = np.random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(a(x, training=False)), np.asarray(b(x, training=False)), atol=1e-6)


def test_lfer_ldl_saving_weights_and_config_round_trip(tmp_path):
    model = LFERLDL(input_shape=(32, 32, 3), head_hidden_units=8)
    x = np.random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    run_model_saving_test(model, x, atol=1e-5)
    clone = keras.Model.from_config(model.get_config())
    assert count_params(clone) == count_params(model)
    assert clone.name == "lfer_ldl"
    path = os.path.join(tmp_path, "lfer.weights.h5")
    model.save_weights(path)
    loaded = LFERLDL(input_shape=(32, 32, 3), head_hidden_units=8, weights=path)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)


def test_training_gradients_are_finite():
    model = LFERLDL(input_shape=(32, 32, 3), classifier_activation=None)
    x = np.random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    # The beta of the BatchNorm after a depthwise conv shifts every position of a channel
    # by a constant; the next 1x1 conv maps that to a per-channel constant that the
    # following BatchNorm (training mode) subtracts again, so its gradient is exactly 0
    # where the map is tiny (1x1 in stage 4 here) and only rounding noise elsewhere.
    assert_finite_gradients(model, x, allow_zero=("_dw_bn/beta",))


def test_bad_weights_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="Weights file not found"):
        ShuffleNetV2(width=0.5, input_shape=(32, 32, 3), weights=os.path.join(tmp_path, "missing.weights.h5"))
    with pytest.raises(ValueError, match="No packaged weights named 'imagenet'"):
        LFERLDL(input_shape=(32, 32, 3), weights="imagenet")
    with pytest.raises(ValueError, match="weights must be None or a path"):
        LFERLDL(input_shape=(32, 32, 3), weights="model.pth")


def test_bad_arguments():
    with pytest.raises(ValueError, match="width must be one of"):
        ShuffleNetV2(width=0.75)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        ShuffleNetV2(num_classes=0)
    with pytest.raises(ValueError, match="smallest accepted size is 32x32"):
        ShuffleNetV2(input_shape=(24, 24, 3))
    with pytest.raises(ValueError, match=r"must be \(height, width, channels\)"):
        ShuffleNetV2(input_shape=(224, 224))
    with pytest.raises(ValueError, match="multiple of 4"):
        LFERLDL(input_shape=(68, 68, 3))
    with pytest.raises(ValueError, match="head must be 'fc' or 'mish'"):
        LFERLDL(input_shape=(32, 32, 3), head="gap")
    # Without PDWRes any side >= 32 works.
    assert LFERLDL(input_shape=(68, 68, 3), use_pdwres=False).output_shape == (None, 7)


def _tflite_ops(model):
    """Converts `model` (fixed batch 1) with builtin ops only; returns op names, tensor shapes, interpreter."""
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


def _check_tflite(model, input_shape):
    inputs = keras.Input(input_shape, batch_size=1)
    fixed = keras.Model(inputs, model(inputs, training=False))
    ops, shapes, interpreter, content = _tflite_ops(fixed)
    assert "GATHER" not in ops and "GATHER_ND" not in ops
    assert not [op for op in ops if op.startswith("FLEX") or op == "CUSTOM"], ops
    assert max(len(s) for s in shapes) <= 4, [s for s in shapes if len(s) > 4]
    x = np.random.uniform(0, 255, (1,) + tuple(input_shape)).astype("float32")
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, np.asarray(model(x, training=False)), atol=1e-5)
    try:
        from kerasfer.export import gpu_check
    except ImportError:  # the project's GPU-delegate lint is optional here
        gpu_check = None
    if gpu_check is not None:
        # Classic OpenCL delegate, ML Drift, and the stricter OpenGL-fallback rules.
        for kwargs in ({"target": "classic", "strict_gl": True}, {"target": "mldrift"}):
            report = gpu_check.check(content, **kwargs)
            assert report.ok, str(report)
    return ops


@pytest.mark.tf_only
@pytest.mark.tflite
def test_tflite_units_gpu_friendly():
    """Stem + PDWRes + a stride-2 and a stride-1 unit + Mish head: builtin ops, no GATHER, rank <= 4."""
    from kerasfer.models.shufflenet import _conv_bn
    from kerasfer.models.shufflenet import _inverted_residual

    inputs = keras.Input((32, 32, 3))
    stem = _conv_bn(inputs, 8, 3, 2, "conv1")
    x = _inverted_residual(stem, 32, 2, "unit1", "concat")
    x = _inverted_residual(x, 32, 1, "unit2", "concat")
    x = keras.layers.Add()([x, PDWRes(depth_multiplier=4)(stem)])
    x = keras.layers.Dense(3)(MishHead()(x))
    ops = _check_tflite(keras.Model(inputs, x), (32, 32, 3))
    assert {"RESHAPE", "DEPTHWISE_CONV_2D", "CONV_2D", "STRIDED_SLICE", "CONCATENATION", "PAD"} <= set(ops)
    assert "TRANSPOSE" not in ops


@pytest.mark.large
@pytest.mark.tf_only
@pytest.mark.tflite
def test_tflite_full_lfer_ldl_gpu_friendly():
    _check_tflite(LFERLDL(input_shape=(32, 32, 3)), (32, 32, 3))
