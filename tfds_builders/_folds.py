"""Shared pieces of the builders with subject-wise folds (ck_plus, oulu_casia, jaffe)."""

import numpy as np
import tensorflow_datasets as tfds

NUM_FOLDS = 10

FOLD_FEATURES_DOC = (
    "Splits `fold0` ... `fold9`: subjects sorted by id are assigned round-robin to 10 folds, so no subject appears in "
    "two folds. Train on nine folds and test on the tenth, e.g. "
    "`split='+'.join(f'fold{i}' for i in range(10) if i != k)` and `split=f'fold{k}'`."
)


def fold_split_generators(builder, items_by_subject, make_generator):
    """Returns {fold_name: generator} for subject-keyed items, NUM_FOLDS folds (empty folds omitted)."""
    from kerasfer.tfds_builders._common import subject_folds

    folds = subject_folds(items_by_subject, NUM_FOLDS)
    by_fold = {k: [] for k in range(NUM_FOLDS)}
    for subject, items in sorted(items_by_subject.items()):
        by_fold[folds[subject]].extend((subject, folds[subject], it) for it in items)
    return {f"fold{k}": make_generator(f"fold{k}", v) for k, v in by_fold.items() if v}


def fold_features(image_shape, names, encoding_format=None):
    return tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(shape=image_shape, encoding_format=encoding_format),
            "label": tfds.features.ClassLabel(names=names),
            "subject": tfds.features.Text(),
            "fold": tfds.features.Scalar(dtype=np.int32),
            "file_name": tfds.features.Text(),
        }
    )
