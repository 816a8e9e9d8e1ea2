"""kerasfer.data.pipeline / augment: prepare_images and make_pipeline shapes, dtypes, labels, augmentation."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from kerasfer.data import pipeline  # noqa: E402
from kerasfer.data.augment import AUGMENTATIONS  # noqa: E402


def _data(n=6, size=20, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, size, size, channels)).astype(np.uint8)
    y = (np.arange(n) % 7).astype(np.int64)
    return x, y


def test_prepare_images_resizes_and_converts_channels():
    x, _ = _data(3, 48, 1)
    out = pipeline.prepare_images(x, (32, 32, 3))
    assert isinstance(out, np.ndarray) and out.shape == (3, 32, 32, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 0], out[..., 2])  # gray replicated
    one = pipeline.prepare_images(x[0], (64, 64, 1))
    assert one.shape == (64, 64, 1)
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0] = 255
    gray = pipeline.prepare_images(rgb, (8, 8, 1))
    np.testing.assert_allclose(gray, 255 * 0.2989, atol=0.5)
    assert out.min() >= 0 and out.max() <= 255


def test_prepare_images_antialiases_when_shrinking():
    stripes = np.zeros((64, 64, 1), np.float32)
    stripes[:, ::2] = 255.0
    small = pipeline.prepare_images(stripes, (16, 16, 1))
    np.testing.assert_allclose(small[1:-1, 1:-1], 127.5, atol=3)  # a plain bilinear resize would alias to 0 or 255


def test_prepare_images_tensor_and_identity():
    x, _ = _data(2, 32, 3)
    t = pipeline.prepare_images(tf.constant(x), (32, 32, 3))
    assert isinstance(t, tf.Tensor) and t.dtype == tf.float32
    np.testing.assert_array_equal(t.numpy(), x.astype(np.float32))


@pytest.mark.parametrize(
    "images,shape,match",
    [
        (np.zeros((4, 4), np.uint8), (8, 8, 3), "must be"),
        (np.zeros((4, 4, 2), np.uint8), (8, 8, 3), "channels"),
        (np.full((4, 4, 1), np.nan, np.float32), (8, 8, 3), "NaN"),
        (np.zeros((4, 4, 1), np.uint8), (8, 8), "input_shape"),
        (np.zeros((4, 4, 1), np.uint8), (8, 8, 2), "channels"),
    ],
)
def test_prepare_images_bad_input(images, shape, match):
    with pytest.raises(ValueError, match=match):
        pipeline.prepare_images(images, shape)


def test_eval_pipeline_shapes_order_and_labels():
    x, y = _data(5, 20, 1)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    batches = list(pipeline.make_pipeline(ds, (24, 24, 3), 2, training=False))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    xb, yb = batches[0]
    assert xb.shape == (2, 24, 24, 3) and xb.dtype == tf.float32 and yb.dtype == tf.int32
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)
    np.testing.assert_allclose(xb.numpy(), pipeline.prepare_images(x[:2], (24, 24, 3)), atol=1e-4)
    dropped = list(pipeline.make_pipeline(ds, (24, 24, 3), 2, training=False, drop_remainder=True))
    assert len(dropped) == 2


def test_dict_elements_categorical_and_class_weights():
    x, y = _data(4, 16, 3)
    ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": y})
    xb, yb, wb = next(
        iter(
            pipeline.make_pipeline(
                ds, (16, 16, 1), 4, training=False, num_classes=7, label_mode="categorical", class_weights={1: 3.0}
            )
        )
    )
    assert xb.shape == (4, 16, 16, 1)
    np.testing.assert_array_equal(yb.numpy(), np.eye(7, dtype=np.float32)[y])
    np.testing.assert_array_equal(wb.numpy(), [1.0, 3.0, 1.0, 1.0])


def test_distribution_labels_are_normalised():
    x, _ = _data(2, 16, 1)
    votes = np.array([[4, 0, 0, 6, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 10, 0]], np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, votes))
    _, yb = next(iter(pipeline.make_pipeline(ds, (16, 16, 1), 2, training=False, label_mode="distribution")))
    np.testing.assert_allclose(yb.numpy(), votes / 10.0)


def test_label_out_of_range_raises_while_iterating():
    x, y = _data(3, 16, 1)
    ds = tf.data.Dataset.from_tensor_slices((x, y + 5))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label out of range"):
        list(pipeline.make_pipeline(ds, (16, 16, 1), 3, training=False, num_classes=7))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(label_mode="onehot"), "label_mode"),
        (dict(label_mode="categorical"), "needs num_classes"),
        (dict(class_weights=[1.0, 2.0]), "need num_classes"),
        (dict(class_weights=[1.0, 2.0], num_classes=3), "3"),
        (dict(class_weights={9: 1.0}, num_classes=3), "outside"),
        (dict(class_weights=[1.0, -1.0, 1.0], num_classes=3), ">= 0"),
        (dict(batch_size=0), "batch_size"),
        (dict(augment="mixup", training=True), "Unknown augmentation"),
    ],
)
def test_make_pipeline_bad_arguments(kwargs, match):
    x, y = _data(2, 16, 1)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    args = dict(batch_size=2, training=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        pipeline.make_pipeline(ds, (16, 16, 1), **args)


def test_augmentation_presets_keep_shape_and_range_and_change_images():
    assert set(AUGMENTATIONS) >= {"none", "flip", "lfnsb", "lfnsb_affectnet", "rmn", "lfer_ldl"}
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    y = np.zeros(8, np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ref = pipeline.prepare_images(x, (32, 32, 3))
    for name in sorted(AUGMENTATIONS):
        xb, _ = next(
            iter(pipeline.make_pipeline(ds, (32, 32, 3), 8, training=True, augment=name, seed=1, shuffle_buffer=1))
        )
        xb = xb.numpy()
        assert xb.shape == (8, 32, 32, 3) and xb.dtype == np.float32, name
        assert xb.min() >= 0 and xb.max() <= 255, name
        changed = not np.allclose(xb, ref)
        assert changed == (name != "none"), name
    # training=False never augments
    xb, _ = next(iter(pipeline.make_pipeline(ds, (32, 32, 3), 8, training=False, augment="lfnsb")))
    np.testing.assert_allclose(xb.numpy(), ref)


def test_lfnsb_erasing_uses_mean_colour_and_flip_mirrors():
    from kerasfer.data.augment import IMAGENET_MEAN_255
    from kerasfer.data.augment import get_augmentation

    tf.random.set_seed(0)
    ones = tf.fill((64, 16, 16, 3), 255.0)
    out = get_augmentation("lfnsb", (16, 16, 3), seed=3)(ones).numpy()
    erased = np.isclose(out, np.array(IMAGENET_MEAN_255, np.float32), atol=1e-3).all(-1)
    frac = erased.reshape(64, -1).any(1).mean()
    assert 0.25 < frac < 0.75  # p=0.5 per image
    img = np.tile(np.arange(16, dtype=np.float32)[None, None, :, None], (32, 16, 1, 3))
    flipped = get_augmentation("flip", (16, 16, 3), seed=0)(tf.constant(img)).numpy()
    is_flipped = np.array([np.array_equal(f, i[:, ::-1]) for f, i in zip(flipped, img)])
    is_same = np.array([np.array_equal(f, i) for f, i in zip(flipped, img)])
    assert (is_flipped | is_same).all() and 0 < is_flipped.sum() < 32
