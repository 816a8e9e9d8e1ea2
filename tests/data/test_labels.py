"""kerasfer.data.labels: canonical order, dataset label sets, native-order remapping."""

import numpy as np
import pytest

from kerasfer.data import labels


def test_canonical_order_is_fer2013_plus_contempt():
    assert labels.CANONICAL_LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
    assert labels.label_names("fer2013") == labels.CANONICAL_LABELS[:7]


def test_every_dataset_is_in_canonical_order():
    for name, names in labels.DATASET_LABELS.items():
        idx = [labels.CANONICAL_LABELS.index(n) for n in names]
        assert idx == sorted(idx), name
        assert len(set(names)) == len(names), name


@pytest.mark.parametrize(
    "order,dataset,expected",
    [
        # FER+ vote columns neutral,happiness,surprise,sadness,anger,disgust,fear,contempt
        (labels.FERPLUS_ORDER, "ferplus", (6, 3, 5, 4, 0, 1, 2, 7)),
        # RAF-DB 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral
        (labels.RAF_DB_ORDER, "raf_db", (5, 2, 1, 3, 4, 0, 6)),
        (labels.AFFECTNET_ORDER, "affectnet/expr8", (6, 3, 4, 5, 2, 1, 0, 7)),
        (labels.AFFECTNET_ORDER, "affectnet/expr7", (6, 3, 4, 5, 2, 1, 0, -1)),
        (labels.CK_PLUS_ORDER, "ck_plus", (6, 0, 7, 1, 2, 3, 4, 5)),
        (labels.JAFFE_ORDER, "jaffe", (0, 1, 2, 3, 6, 4, 5)),
        (labels.OULU_CASIA_ORDER, "oulu_casia", (0, 1, 2, 3, 4, 5)),
    ],
)
def test_native_to_canonical(order, dataset, expected):
    assert labels.native_to_canonical(order, dataset) == expected


def test_label_names_accepts_configs_and_rejects_unknown():
    assert labels.label_names("ferplus/majority") == labels.CANONICAL_LABELS
    assert labels.label_names("AffectNet/expr7") == labels.CANONICAL_LABELS[:7]
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        labels.label_names("mnist")


def test_canonical_name_aliases():
    assert labels.canonical_name("Happiness") == "happy"
    assert labels.canonical_name(" ANGER ") == "angry"
    with pytest.raises(ValueError, match="Unknown expression name 'joy'"):
        labels.canonical_name("joy")


def test_to_canonical_ids():
    np.testing.assert_array_equal(labels.to_canonical_ids([0, 5], "oulu_casia"), [0, 5])
    np.testing.assert_array_equal(labels.to_canonical_ids(np.array([6, 7]), "ck_plus"), [6, 7])
    with pytest.raises(ValueError, match="out of range"):
        labels.to_canonical_ids([7], "raf_db")
    with pytest.raises(ValueError, match="out of range"):
        labels.to_canonical_ids([-1], "raf_db")
