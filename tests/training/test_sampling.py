"""Class-balanced tf.data sampler."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from kerasfer.training.sampling import class_balanced_dataset  # noqa: E402
from kerasfer.training.sampling import dataset_class_counts  # noqa: E402

pytestmark = pytest.mark.tf_only


def _imbalanced():
    labels = np.array([0] * 40 + [1] * 4 + [2] * 16)
    images = np.arange(labels.size, dtype="float32")[:, None]
    return tf.data.Dataset.from_tensor_slices((images, labels)), labels


def test_counts():
    ds, labels = _imbalanced()
    np.testing.assert_array_equal(dataset_class_counts(ds, 3), np.bincount(labels))
    with pytest.raises(ValueError, match="out of range"):
        dataset_class_counts(ds, 2)


def test_balanced_draws_follow_the_target():
    ds, _ = _imbalanced()
    balanced = class_balanced_dataset(ds, 3, seed=1)
    drawn = np.array([int(y) for _, y in balanced.take(600).as_numpy_iterator()])
    freq = np.bincount(drawn, minlength=3) / drawn.size
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.07)
    skewed = class_balanced_dataset(ds, 3, counts=[40, 4, 16], target_distribution=[0, 3, 1], seed=2)
    drawn = np.array([int(y) for _, y in skewed.take(400).as_numpy_iterator()])
    freq = np.bincount(drawn, minlength=3) / drawn.size
    np.testing.assert_allclose(freq, [0.0, 0.75, 0.25], atol=0.08)
    # the elements are the original ones (image i carries its own label)
    for image, label in balanced.take(20).as_numpy_iterator():
        assert (int(image[0]) < 40 and label == 0) or (40 <= int(image[0]) < 44 and label == 1) or label == 2


def test_dict_elements_and_onehot_labels():
    labels = np.array([0, 0, 0, 1])
    ds = tf.data.Dataset.from_tensor_slices({"image": np.zeros((4, 2), "float32"), "label": np.eye(2)[labels]})
    drawn = [int(np.argmax(e["label"])) for e in class_balanced_dataset(ds, 2, seed=0).take(200).as_numpy_iterator()]
    assert 0.35 < np.mean(drawn) < 0.65


def test_errors():
    ds, _ = _imbalanced()
    with pytest.raises(ValueError, match="no examples"):
        class_balanced_dataset(ds, 4, counts=[40, 4, 16, 0])
    with pytest.raises(ValueError, match="negative"):
        class_balanced_dataset(ds, 3, counts=[40, -4, 16])
    with pytest.raises(ValueError, match="target_distribution"):
        class_balanced_dataset(ds, 3, counts=[40, 4, 16], target_distribution=[1, 1])
    with pytest.raises(ValueError, match="unbatched"):
        class_balanced_dataset(ds.batch(4), 3, counts=[40, 4, 16])
    # an empty class may be left out explicitly
    ok = class_balanced_dataset(ds, 4, counts=[40, 4, 16, 0], target_distribution=[1, 1, 1, 0], seed=0)
    assert {int(y) for _, y in ok.take(60).as_numpy_iterator()} <= {0, 1, 2}
