"""The canonical expression-label order and each dataset's classes mapped onto it.

FER datasets disagree on class order (FER2013 starts with angry, FER+ and AffectNet with
neutral, RAF-DB with surprise, CK+ codes neutral as 0 and contempt as 2). kerasfer maps every
dataset onto one order so that a model trained on one dataset can be evaluated on another:

    0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral, 7 contempt

i.e. the FER2013 order with contempt appended. A dataset's `label` feature holds the classes
it has, in canonical order (`DATASET_LABELS`); the first seven canonical classes are the
"7 basic expressions" and keep the same index in every 7- and 8-class dataset.

The `*_ORDER` tuples are the datasets' *native* orders (as in their label files) and
`native_to_canonical` turns native ids into kerasfer label ids. This module imports no
TensorFlow.
"""

CANONICAL_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
BASIC7 = CANONICAL_LABELS[:7]
BASIC6 = CANONICAL_LABELS[:6]

# Native label orders as the datasets' own files number them (index = native id; for
# RAF-DB and CK+ the native ids are 1-based / 0-based as noted).
FER2013_ORDER = BASIC7  # emotion column 0..6
FERPLUS_ORDER = ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt")  # vote columns
RAF_DB_ORDER = ("surprise", "fear", "disgust", "happy", "sad", "angry", "neutral")  # 1-based in the label file
AFFECTNET_ORDER = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt")  # expression 0..7
CK_PLUS_ORDER = ("neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")  # Emotion codes 0..7
OULU_CASIA_ORDER = ("angry", "disgust", "fear", "happy", "sad", "surprise")  # folder names Anger..Surprise
SFEW_ORDER = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # folder names, alphabetical
JAFFE_ORDER = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # codes AN DI FE HA NE SA SU

DATASET_LABELS: dict[str, tuple[str, ...]] = {
    "fer2013": BASIC7,
    "ferplus": CANONICAL_LABELS,
    "raf_db": BASIC7,
    "affectnet": CANONICAL_LABELS,  # the expr8 config; expr7 drops contempt
    "affectnet/expr7": BASIC7,
    "affectnet/expr8": CANONICAL_LABELS,
    "ck_plus": CANONICAL_LABELS,
    "oulu_casia": BASIC6,
    "sfew": BASIC7,
    "jaffe": BASIC7,
    "synthetic_faces": BASIC7,
}

_ALIASES = {
    "anger": "angry",
    "angry": "angry",
    "an": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "di": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "fe": "fear",
    "happy": "happy",
    "happiness": "happy",
    "ha": "happy",
    "sad": "sad",
    "sadness": "sad",
    "sa": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "su": "surprise",
    "neutral": "neutral",
    "ne": "neutral",
    "contempt": "contempt",
    "co": "contempt",
}


def canonical_name(name: str) -> str:
    """Returns the canonical spelling of an expression name (`"Happiness"` -> `"happy"`)."""
    key = str(name).strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"Unknown expression name {name!r}. Known names: {', '.join(sorted(_ALIASES))}.")
    return _ALIASES[key]


def label_names(dataset: str) -> tuple[str, ...]:
    """Returns the class names of `dataset` (e.g. `"raf_db"`, `"ferplus/majority"`), in canonical order."""
    key = str(dataset).strip().lower()
    if key in DATASET_LABELS:
        return DATASET_LABELS[key]
    base = key.split("/")[0]
    if base in DATASET_LABELS:
        return DATASET_LABELS[base]
    raise ValueError(f"Unknown dataset {dataset!r}. Known datasets: {', '.join(sorted(DATASET_LABELS))}.")


def native_to_canonical(native_order, dataset: str) -> tuple[int, ...]:
    """Maps native class ids to the dataset's kerasfer label ids.

    Args:
        native_order: class names in the dataset's native id order (e.g. `RAF_DB_ORDER`).
        dataset: the dataset key whose `label_names` define the target ids.

    Returns:
        A tuple `t` with `t[native_id] = kerasfer_label_id` (-1 for a native class the
        dataset's label set does not contain, e.g. contempt for `affectnet/expr7`).
    """
    names = label_names(dataset)
    return tuple(names.index(canonical_name(n)) if canonical_name(n) in names else -1 for n in native_order)


def to_canonical_ids(labels, dataset: str):
    """Converts a dataset's label ids (array-like) to indices into `CANONICAL_LABELS` (int64 numpy array)."""
    import numpy as np

    names = label_names(dataset)
    table = np.asarray([CANONICAL_LABELS.index(n) for n in names], dtype=np.int64)
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(
            f"Labels out of range for {dataset!r}: expected 0..{len(names) - 1}, got min {labels.min()}, "
            f"max {labels.max()}."
        )
    return table[labels.astype(np.int64)]
