"""int8 calibration leaves out images that drive a layer far beyond its usual range (`tflite.calibration_outliers`)."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from kerasfer.export import tflite  # noqa: E402

SIZE = 8


def _model():
    """Conv -> BatchNorm whose moving statistics fit mid-grey images (pixels 120..136): a blank black frame
    lands 16 standard deviations away, as FER2013's blank images do in a trained LFNSB's last stage."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 1, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="calib_test")
    model.get_layer("conv").set_weights([np.array([1.0, -1.0, 0.5, -0.5], np.float32).reshape(1, 1, 1, 4)])
    bn = model.get_layer("bn")
    bn.set_weights([np.ones(4), np.zeros(4), np.array([128.0, -128.0, 64.0, -64.0]), np.array([16.0, 16.0, 4.0, 4.0])])
    model.get_layer("predictions").set_weights([np.random.default_rng(1).normal(0, 1, (4, 3)), np.zeros(3)])
    return model


def _faces(n, seed=0):
    return np.random.default_rng(seed).uniform(120, 136, (n, SIZE, SIZE, 1)).astype(np.float32)


def test_a_blank_frame_is_marked_and_the_rest_kept():
    images = _faces(20)
    images[7] = 0.0
    mask = tflite.calibration_outliers(_model(), images)
    assert mask.tolist() == [i == 7 for i in range(20)]
    assert not tflite.calibration_outliers(_model(), _faces(20)).any()  # ordinary spread: nothing left out
    # at most max_fraction of the images, the worst first
    images[3] = 60.0  # half-way: an outlier, but a milder one than the blank frame
    assert np.flatnonzero(tflite.calibration_outliers(_model(), images, max_fraction=0.05)).tolist() == [7]
    assert np.flatnonzero(tflite.calibration_outliers(_model(), images)).tolist() == [3, 7]


def test_bad_arguments_are_clear_errors():
    images = _faces(4)
    with pytest.raises(ValueError, match="ratio must be > 1"):
        tflite.calibration_outliers(_model(), images, ratio=1.0)
    with pytest.raises(ValueError, match="max_fraction"):
        tflite.calibration_outliers(_model(), images, max_fraction=1.0)
    with pytest.raises(ValueError, match="non-empty batch"):
        tflite.calibration_outliers(_model(), images[0])
    with pytest.raises(ValueError, match="outlier_ratio must be > 1"):
        tflite.QuantizationConfig.for_int8(images, outlier_ratio=0.5)


@pytest.mark.tflite
@pytest.mark.tf_only
def test_int8_export_calibrates_without_the_outlier_and_is_closer_to_float(tmp_path):
    from kerasfer.export import evaluate

    model = _model()
    calibration = _faces(40, seed=2)
    calibration[5] = 0.0
    faces = _faces(64, seed=3)
    reference = evaluate.predict_keras(model, faces)
    kept = tflite.convert(model, "int8", representative_data=calibration, quantization_steps=40, outlier_ratio=None)
    screened = tflite.export_tflite(
        model, tmp_path / "m.tflite", "int8", representative_data=calibration, quantization_steps=40,
        gpu_check=False, count_macs=False,
    )  # fmt: skip
    assert screened.card["quantization"]["calibration_outliers_dropped"] == 1
    assert screened.card["quantization"]["calibration_outlier_ratio"] == 10.0
    err_kept = np.abs(evaluate.run_tflite(kept, faces) - reference).mean()
    err_screened = np.abs(evaluate.run_tflite(open(screened.path, "rb").read(), faces) - reference).mean()
    assert err_screened < 0.5 * err_kept, (err_screened, err_kept)
    config = tflite.QuantizationConfig.for_int8(calibration, quantization_steps=40).screened(model, (SIZE, SIZE, 1))
    assert config.outliers_dropped == 1 and len(config.representative_data) == 39
    assert config.screened(model, (SIZE, SIZE, 1)) is config  # screened once
