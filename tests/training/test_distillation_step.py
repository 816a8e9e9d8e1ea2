"""Knowledge distillation inside the compiled training step (`kerasfer.training.distillation.Distiller`,
`AugmentInStep(..., distiller=...)`, `TrainConfig.distill_*`, `kerasfer train --distill-from`)."""

import json

import keras
import numpy as np
import pytest

from kerasfer.training.augment_step import AugmentInStep
from kerasfer.training.config import TrainConfig
from kerasfer.training.distillation import Distiller
from kerasfer.training.distillation import load_distiller
from kerasfer.training.distillation import to_model_input

pytestmark = pytest.mark.multibackend  # `KERAS_BACKEND=jax` runs it on JAX too

SHAPE = (8, 8, 3)
TEACHER_SHAPE = (6, 6, 1)  # another size and channel count than the student's


class Invert(keras.layers.Layer):
    """A deterministic 'augmentation': `255 - x` in training, the identity otherwise."""

    def call(self, x, training=None):
        return 255.0 - x if training else x


def _student(num_classes=3, shape=SHAPE, name=None):
    inputs = keras.Input(shape)
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x), name=name)


def _teacher(num_classes=3, shape=TEACHER_SHAPE, seed=0):
    """A small trained-looking classifier whose output depends on the pixels (and a BatchNormalization)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Rescaling(1 / 64.0, offset=-2.0),
            keras.layers.Conv2D(5, 3, activation="tanh"),
            keras.layers.BatchNormalization(name="teacher_bn"),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes, activation="softmax", name="predictions"),
        ]
    )
    bn = model.get_layer("teacher_bn")  # statistics that inference uses and training would move
    bn.moving_mean.assign(np.full(5, 0.1, "float32"))
    bn.moving_variance.assign(np.full(5, 0.5, "float32"))
    return model


def _images(n=6, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *shape)).astype("float32")


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t), dtype="float64")


def _tempered(p, t):
    z = np.log(np.maximum(p, 1e-12)) / t
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


def _kl(p_teacher, p_student, t):
    q_t, q_s = _tempered(p_teacher, t), _tempered(p_student, t)
    return t * t * np.sum(q_t * (np.log(q_t) - np.log(q_s)), axis=-1)


def _weights(model):
    return [_np(v) for v in model.weights]


def test_loss_in_the_compiled_step_is_the_formula_on_the_augmented_batch():
    x, y = _images(), np.array([0, 1, 2, 0, 1, 2])
    sw = np.linspace(0.5, 2.0, 6).astype("float32")
    alpha, t, smoothing = 0.3, 4.0, 0.1
    student, teacher = _student(), _teacher()
    wrapped = AugmentInStep(student, Invert(), distiller=Distiller(teacher, alpha=alpha, temperature=t))
    ce = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    wrapped.compile(keras.optimizers.SGD(0.0), loss=ce)
    y1 = np.eye(3, dtype="float32")[y]
    got = float(wrapped.train_on_batch(x, y1, sample_weight=sw))

    seen = 255.0 - x  # what the student and the teacher see
    p_s = _np(student(seen, training=True))
    p_t = _np(teacher(to_model_input(seen, TEACHER_SHAPE), training=False))
    targets = y1 * (1 - smoothing) + smoothing / 3
    ce_i = -np.sum(targets * np.log(p_s), axis=-1)
    want = np.mean(sw * ((1 - alpha) * ce_i + alpha * _kl(p_t, p_s, t)))
    assert got == pytest.approx(want, rel=1e-4)
    # the teacher of the raw batch would give another loss: the test tells the two apart
    p_raw = _np(teacher(to_model_input(x, TEACHER_SHAPE), training=False))
    unaugmented = np.mean(sw * ((1 - alpha) * ce_i + alpha * _kl(p_raw, p_s, t)))
    assert abs(unaugmented - want) > 1e-3 * abs(want)


def test_logit_students_and_teachers_use_their_logits():
    x = _images(4)
    teacher = _teacher()
    logit_teacher = _teacher()
    logit_teacher.layers[-1].activation = keras.activations.linear
    student_scores = np.random.default_rng(3).normal(size=(4, 3)).astype("float32")
    d = Distiller([logit_teacher], alpha=1.0, temperature=2.0)
    np.testing.assert_allclose(_np(d.probabilities(x)), _np(teacher(to_model_input(x, TEACHER_SHAPE))), atol=1e-6)
    p_s = np.exp(student_scores) / np.exp(student_scores).sum(-1, keepdims=True)
    got = _np(d.kl_per_example(d.probabilities(x), student_scores, student_from_logits=True))
    np.testing.assert_allclose(got, _kl(_np(d.probabilities(x)), p_s, 2.0), rtol=1e-4, atol=1e-6)


def test_the_teacher_stays_frozen_and_is_not_part_of_the_trained_model():
    x, y = _images(12), np.arange(12) % 3
    student, teacher = _student(), _teacher()
    teacher_before = _weights(teacher)
    student_before = _weights(student)
    wrapped = AugmentInStep(student, distiller=Distiller(teacher, alpha=0.5, temperature=2.0))
    wrapped.compile(keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = wrapped.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    for before, after in zip(teacher_before, _weights(teacher), strict=True):  # BatchNormalization statistics too
        np.testing.assert_array_equal(before, after)
    assert any(not np.allclose(b, a) for b, a in zip(student_before, _weights(student), strict=True))
    # the wrapper holds (and so checkpoints) the student's variables only
    teacher_ids = {id(v) for v in teacher.weights}
    assert not teacher_ids & {id(v) for v in wrapped.weights}
    assert len(wrapped.trainable_weights) == len(student.trainable_weights)
    # evaluation is the student's own loss (no teacher term)
    student.compile(loss="sparse_categorical_crossentropy")
    assert wrapped.evaluate(x, y, verbose=0) == pytest.approx(student.evaluate(x, y, verbose=0), rel=1e-5)


def test_with_mixup_the_teacher_sees_the_mixed_images_and_the_weights_are_blended():
    x = _images(6)
    y = np.eye(3, dtype="float32")[np.arange(6) % 3]
    sw = np.linspace(0.5, 1.5, 6).astype("float32")
    teacher = _teacher()
    d = Distiller(teacher, alpha=0.4, temperature=3.0)
    wrapped = AugmentInStep(_student(), mixup=0.4, seed=0, distiller=d)
    wrapped.compile(keras.optimizers.SGD(0.0), loss="categorical_crossentropy")
    y_pred = wrapped(x, training=True)
    lam = float(_np(wrapped._mix_lambda))
    mixed = lam * x + (1 - lam) * x[::-1]
    p_t = _np(wrapped._teacher_probs)
    np.testing.assert_allclose(p_t, _np(d.probabilities(mixed)), atol=1e-5)
    assert not np.allclose(p_t, _np(d.probabilities(x)), atol=1e-3)
    got = float(_np(wrapped.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=True)))
    p_s = _np(y_pred)
    ym, swm = lam * y + (1 - lam) * y[::-1], lam * sw + (1 - lam) * sw[::-1]
    ce_i = -np.sum(ym * np.log(np.clip(p_s, 1e-7, 1)), axis=-1)
    assert got == pytest.approx(np.mean(swm * (0.6 * ce_i + 0.4 * _kl(p_t, p_s, 3.0))), rel=1e-4)
    plain = AugmentInStep(_student(), distiller=d)
    plain.compile(loss="categorical_crossentropy")
    with pytest.raises(RuntimeError, match="distillation: .* without this step's forward pass"):
        plain.compute_loss(x=x, y=y, y_pred=y_pred, training=True)


def test_an_ensemble_averages_its_teachers_probabilities():
    x = _images(4)
    a, b = _teacher(seed=1), _teacher(shape=(8, 8, 3), seed=2)
    d = Distiller([a, b], alpha=0.5, temperature=1.0)
    want = (_np(a(to_model_input(x, TEACHER_SHAPE))) + _np(b(x))) / 2
    np.testing.assert_allclose(_np(d.probabilities(x)), want, atol=1e-6)
    with pytest.raises(ValueError, match="same number of classes"):
        Distiller([a, _teacher(num_classes=4)])
    with pytest.raises(ValueError, match="teacher gives 4 classes; the model 3"):
        AugmentInStep(_student(), distiller=Distiller(_teacher(num_classes=4)))


def test_batch_conversion_matches_prepare_images():
    pytest.importorskip("tensorflow")  # prepare_images' definition (without TensorFlow it resizes with OpenCV)
    from kerasfer.data.pipeline import prepare_images

    cases = (((12, 12, 1), (8, 8, 3)), ((6, 6, 3), (9, 9, 1)), ((8, 8, 3), (8, 8, 1)), ((48, 48, 1), (112, 112, 3)))
    for src, dst in cases:
        x = _images(3, src, seed=4)
        np.testing.assert_allclose(_np(to_model_input(x, dst)), prepare_images(x, dst), atol=1e-3)
    x = _images(2)
    np.testing.assert_array_equal(_np(to_model_input(x, SHAPE)), x)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"alpha .* must be in \[0, 1\], got 1.5"):
        Distiller(_teacher(), alpha=1.5)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        Distiller(_teacher(), temperature=0)
    labels = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    with pytest.raises(ValueError, match="'nothing/here.keras' does not load"):
        load_distiller("nothing/here.keras", labels)
    five = tmp_path / "five.keras"
    _teacher(num_classes=5).save(five)
    with pytest.raises(ValueError, match="has 5 classes"):
        load_distiller(str(five), labels)
    swapped = tmp_path / "swapped.keras"
    _teacher(num_classes=7).save(swapped)
    (tmp_path / "swapped.labels.txt").write_text("\n".join(("disgust", "angry") + labels[2:]))
    with pytest.raises(ValueError, match="orders its classes"):
        load_distiller(str(swapped), labels)
    good = tmp_path / "good.keras"
    _teacher(num_classes=7).save(good)
    d = load_distiller([str(good), str(good)], labels, alpha=0.2, temperature=3)
    assert len(d.teachers) == 2 and (d.alpha, d.temperature, d.num_classes) == (0.2, 3.0, 7)
    assert all(not t.trainable for t in d.teachers)


# --------------------------------------------------------------------------- the run: config, CLI, trainer
def test_config_round_trip_and_checks(tmp_path):
    c = TrainConfig(distill_from=["resnet18_small/fer2013", "runs/x"], distill_alpha=0.3, distill_temperature=2.0)
    path = tmp_path / "config.json"
    c.to_json(path)
    assert TrainConfig.from_json(str(path)) == c
    assert json.loads(path.read_text())["distill_from"] == ["resnet18_small/fer2013", "runs/x"]
    assert TrainConfig(distill_from="a.keras").distill_from == ["a.keras"]
    assert TrainConfig(distill_from=[]).distill_from is None
    for field, value, message in (
        ("distill_alpha", -0.1, "in \\[0, 1\\]"),
        ("distill_alpha", 1.01, "in \\[0, 1\\]"),
        ("distill_temperature", 0, "> 0"),
        ("distill_temperature", -2.0, "> 0"),
        ("distill_temperature", float("nan"), "> 0"),
        ("distill_from", [""], "list of teachers"),
    ):
        with pytest.raises(ValueError, match=f"TrainConfig.{field}: .*{message}"):
            TrainConfig(**{field: value})


def test_cli_flags_and_errors(tmp_path, capsys):
    from kerasfer import cli
    from kerasfer.training.args import config_from_args
    from kerasfer.training.cli import build_parser_for_tests

    args = build_parser_for_tests().parse_args(
        "train --preset lfnsb_fer2013 --input-size 48x48x1 --distill-from resnet18_small/fer2013 "
        "--distill-from run/a --distill-alpha 0.5 --distill-temperature 4".split()
    )
    c = config_from_args(args)
    assert (c.distill_from, c.distill_alpha, c.distill_temperature) == (["resnet18_small/fer2013", "run/a"], 0.5, 4.0)
    # --config repeats the run, flags override it
    c.to_json(tmp_path / "config.json")
    again = config_from_args(build_parser_for_tests().parse_args(["train", "--config", str(tmp_path / "config.json")]))
    assert again == c
    out = tmp_path / "run"
    assert cli.main(["train", "--distill-from", "x.keras", "--distill-alpha", "2", "--output", str(out)]) == 2
    assert "alpha" in capsys.readouterr().err and not out.exists()
    assert cli.main(["train", "--distill-from", "x.keras", "--distill-temperature", "0", "--output", str(out)]) == 2
    assert "temperature" in capsys.readouterr().err and not out.exists()


def test_card_commands_show_the_distillation_flags(tmp_path, load_tool):
    tool = load_tool("package_weights")
    run = tmp_path / "run"
    run.mkdir()
    from kerasfer.training.presets import preset_dict

    c = TrainConfig(
        **preset_dict("lfnsb_fer2013"),
        preset="lfnsb_fer2013",
        distill_from=["resnet18_small/fer2013", "a/b"],
        distill_temperature=2.0,
    )
    (run / "config.json").write_text(json.dumps(c.to_dict()))
    (command,) = tool.train_commands(run)
    assert "--distill-from resnet18_small/fer2013 --distill-from a/b --distill-temperature 2.0" in command
    assert "--distill-alpha" not in command  # the default, as the preset has it


def _tiny_model(num_classes=7, input_shape=(16, 16, 1), **kwargs):
    return _student(num_classes, tuple(input_shape), name="tiny_distill_test")


def _register():
    from kerasfer.models import registry

    if "tiny_distill_test" not in registry.list_models():
        registry.register_model("tiny_distill_test", input_shape=(16, 16, 1), family="test", min_input_size=8)(
            _tiny_model
        )


def _arrays():
    from kerasfer.data import synthetic

    x, y = synthetic.generate(24, seed=1, image_size=16, channels=1)
    return {"train": (x[:16], y[:16]), "val": (x[16:], y[16:])}


def test_training_run_with_alpha_zero_is_plain_training_and_saves_the_student_only(tmp_path):
    from kerasfer.models.loading import load_trained
    from kerasfer.training import trainer

    _register()
    teacher = _teacher(num_classes=7, shape=(20, 20, 3))
    teacher.save(tmp_path / "teacher.keras")
    base = TrainConfig(
        model="tiny_distill_test",
        dataset="synthetic_faces",
        input_shape=(16, 16, 1),
        epochs=2,
        batch_size=4,
        learning_rate=0.05,
        label_smoothing=0.1,
        class_weights="inverse_frequency",
        verbose=0,
    )
    kw = {"distill_from": str(tmp_path / "teacher.keras")}
    plain = trainer.train(base.replace(output_dir=str(tmp_path / "plain")), arrays=_arrays())
    zero = trainer.train(base.replace(output_dir=str(tmp_path / "zero"), distill_alpha=0.0, **kw), arrays=_arrays())
    np.testing.assert_allclose(zero.history["loss"], plain.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(zero.history["val_loss"], plain.history["val_loss"], rtol=1e-5)

    before = _weights(teacher)
    run = trainer.train(
        base.replace(output_dir=str(tmp_path / "kd"), distill_alpha=0.7, mixup=0.2, **kw), arrays=_arrays()
    )
    assert not np.allclose(run.history["loss"], plain.history["loss"], rtol=1e-3)
    assert TrainConfig.from_json(str(tmp_path / "kd" / "config.json")) == run.config
    loaded = load_trained(str(tmp_path / "kd"))  # the student alone, loadable as before
    assert loaded.input_shape == (16, 16, 1) and len(loaded.model.weights) == len(plain.model.weights)
    import h5py

    with h5py.File(tmp_path / "kd" / "checkpoints" / "best.weights.h5") as f:
        with h5py.File(tmp_path / "plain" / "checkpoints" / "best.weights.h5") as g:
            # the student's variables alone, as plain training's (whose compiled model adds its optimizer's)
            assert _h5_arrays(f) == [a for a in _h5_arrays(g) if not a[0].startswith("optimizer/")]
    for b, a in zip(before, _weights(keras.saving.load_model(tmp_path / "teacher.keras")), strict=True):
        np.testing.assert_array_equal(b, a)


def _h5_arrays(f, strip=""):
    shapes = []
    f.visititems(
        lambda name, obj: shapes.append((name.removeprefix(strip), obj.shape)) if hasattr(obj, "shape") else None
    )
    return sorted(shapes)


def test_a_teacher_that_does_not_fit_stops_the_run_before_it_writes(tmp_path):
    from kerasfer.training import trainer

    _register()
    _teacher(num_classes=5).save(tmp_path / "five.keras")
    config = TrainConfig(
        model="tiny_distill_test",
        dataset="synthetic_faces",
        epochs=1,
        batch_size=4,
        distill_from=str(tmp_path / "five.keras"),
        output_dir=str(tmp_path / "run"),
        verbose=0,
    )
    with pytest.raises(ValueError, match="has 5 classes"):
        trainer.train(config, arrays=_arrays())
    assert not (tmp_path / "run").exists()
