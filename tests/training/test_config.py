"""TrainConfig JSON round trip and validation; presets; LR schedules; the NaN guard."""

import math

import keras
import numpy as np
import pytest

from kerasfer.training import callbacks as cbs
from kerasfer.training import presets
from kerasfer.training.config import TrainConfig
from kerasfer.training.config import load_preprocessing
from kerasfer.training.config import save_preprocessing


def test_json_round_trip(tmp_path):
    cfg = TrainConfig(model="lfnsb", input_shape=[48, 48, 1], loss="ce+cosine_harmony", loss_kwargs={"ce": {}})
    path = tmp_path / "config.json"
    cfg.to_json(path)
    back = TrainConfig.from_json(str(path))
    assert back == cfg
    assert back.input_shape == (48, 48, 1)
    assert TrainConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": -2}, "batch_size"),
        ({"input_shape": (48, 48)}, "input_shape"),
        ({"input_shape": (48, 48, 2)}, "channels"),
        ({"optimizer": "sam"}, "optimizer"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"loss": "ce+triplet"}, "unknown loss"),
        ({"class_weights": "magic"}, "class_weights"),
        ({"distribute": "tpu"}, "distribute"),
        ({"gamma": 0}, "gamma"),
        ({"mixup": -0.2}, "mixup"),
        ({"mixup": float("nan")}, "mixup"),
        ({"mixup": True}, "mixup"),
    ],
)
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_unknown_field_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="Unknown TrainConfig field"):
        TrainConfig.from_dict({"modle": "lfnsb"})
    with pytest.raises(FileNotFoundError, match="No configuration file"):
        TrainConfig.from_json(str(tmp_path / "nope.json"))


def test_label_mode():
    assert TrainConfig(loss="ce").label_mode == "sparse"
    assert TrainConfig(loss="ce+cosine_harmony").label_mode == "sparse"
    assert TrainConfig(loss="ro").label_mode == "sparse"
    assert TrainConfig(loss="kl+combo").label_mode == "categorical"
    assert TrainConfig(loss="ce", soft_labels="t.npy").label_mode == "categorical"
    assert TrainConfig(loss="ce", mixup=0.2).label_mode == "categorical"  # mixup blends the targets


def test_every_preset_builds_and_names_registered_models():
    import kerasfer

    known = set(kerasfer.models.list_models())
    assert {"lfnsb", "sdnet", "lfer_ldl"} <= known
    for name in presets.list_presets():
        cfg = presets.get_preset(name)
        assert cfg.preset == name and cfg.epochs >= 1 and cfg.input_shape is not None
        if cfg.model in known:  # every preset's model must accept the preset's input shape
            info = kerasfer.models.get_model_info(cfg.model)
            assert min(cfg.input_shape[:2]) >= info.min_input_size, name
    cfg = presets.get_preset("lfnsb_rafdb", epochs=2, dataset="synthetic_faces")
    assert (cfg.epochs, cfg.dataset, cfg.learning_rate, cfg.momentum) == (2, "synthetic_faces", 0.01, 0.9)
    assert cfg.schedule == "cosine" and cfg.augment == "lfnsb"
    sd = presets.get_preset("sdnet")
    assert sd.input_shape == (68, 68, 1) and sd.class_weights == "adaptive" and sd.loss == "ro"
    teacher, student, temp = presets.get_ldl_preset("lfer_ldl", epochs=1)
    assert teacher.loss == "ce" and student.loss == "kl+combo" and teacher.epochs == student.epochs == 1
    with pytest.raises(ValueError, match="Unknown preset"):
        presets.get_preset("lfnsb_imagenet")


def test_schedules():
    cos = cbs.epoch_schedule(TrainConfig(schedule="cosine", learning_rate=0.01, min_lr=4e-3, epochs=40))
    assert cos(0) == pytest.approx(0.01)
    assert cos(20) == pytest.approx(4e-3 + 6e-3 * 0.5)
    assert cos(40) == pytest.approx(4e-3)
    step = cbs.epoch_schedule(TrainConfig(schedule="step", learning_rate=0.01, step_size=30, gamma=0.1))
    assert [step(e) for e in (0, 29, 30, 60)] == pytest.approx([0.01, 0.01, 0.001, 0.0001])
    exp = cbs.epoch_schedule(TrainConfig(schedule="exponential", learning_rate=1e-4, gamma=0.98))
    assert exp(3) == pytest.approx(1e-4 * 0.98**3)
    warm = cbs.epoch_schedule(TrainConfig(schedule="constant", learning_rate=0.1, warmup_epochs=1))
    assert (warm(0), warm(1)) == pytest.approx((0.05, 0.1))
    assert cbs.epoch_schedule(TrainConfig(schedule="plateau")) is None


def test_preprocessing_file(tmp_path):
    save_preprocessing(str(tmp_path), (48, 48, 1), ["a", "b"], "fer2013")
    d = load_preprocessing(str(tmp_path / "model.keras"))
    assert d["input_shape"] == [48, 48, 1] and d["color_mode"] == "grayscale" and d["class_names"] == ["a", "b"]
    assert load_preprocessing(str(tmp_path / "sub" / "model.keras")) is None


class _NaNAfter(keras.utils.PyDataset):
    """Finite batches for `good_epochs` epochs, then a NaN batch."""

    def __init__(self, good_epochs):
        super().__init__()
        self.epoch = 0
        self.good_epochs = good_epochs
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(8, 4)).astype("float32")
        self.y = rng.normal(size=(8, 1)).astype("float32")

    def __len__(self):
        return 2

    def __getitem__(self, i):
        x = self.x[i * 4 : (i + 1) * 4].copy()
        if self.epoch >= self.good_epochs and i == 1:
            x[0, 0] = np.nan
        return x, self.y[i * 4 : (i + 1) * 4]


def test_nan_guard_keeps_last_good_weights(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    path = str(tmp_path / "good.weights.h5")
    guard = cbs.NaNGuard(path)
    snapshots = []

    data = _NaNAfter(good_epochs=2)

    class Snap(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            data.epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([np.array(w) for w in self.model.get_weights()])

    model.fit(data, epochs=5, callbacks=[guard, Snap()], verbose=0)
    assert guard.triggered and guard.bad_epoch == 2 and guard.last_good_epoch == 1
    assert len(snapshots) == 3  # stopped in the third epoch
    for w, good in zip(model.get_weights(), snapshots[1]):
        np.testing.assert_array_equal(w, good)
        assert np.all(np.isfinite(w))
    assert "epoch 3" in guard.message() and path in guard.message()
    assert math.isnan(guard.bad_value)
    with pytest.raises(ValueError, match="weights.h5"):
        cbs.NaNGuard(str(tmp_path / "x.h5"))


def test_model_kwargs_reach_the_builder_and_bad_ones_are_refused():
    from kerasfer.training import trainer

    config = TrainConfig(model="shufflenet_v2_x0_5", model_kwargs={"stem_pool": False})
    assert TrainConfig.from_json(config.to_json()) == config
    base, _ = trainer.build_model(config, (48, 48, 1), 7)
    assert "maxpool" not in [layer.name for layer in base.layers]
    with pytest.raises(ValueError, match="model_kwargs"):
        TrainConfig(model_kwargs={"num_classes": 3})
    with pytest.raises(ValueError, match="model_kwargs"):
        TrainConfig(model_kwargs=["stem_pool"])
