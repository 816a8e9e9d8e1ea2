"""FER+ votes (`fer2013new.csv`) and the FER+ label rules, with NumPy alone.

The `ferplus` TFDS builder labels its examples with these functions, and
`kerasfer.data.arrays.ferplus_from_fer2013` uses the same ones to turn FER2013 arrays into FER+
arrays where TensorFlow is not installed: one rule, two callers.

`fer2013new.csv` (Barsoum et al., ICMI 2016; github.com/microsoft/FERPlus, MIT licence) has
the columns `Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,
unknown,NF`; its row i relabels row i of FER2013's `fer2013.csv`. A row with an empty image
name has no usable votes.
"""

from __future__ import annotations

import csv
import gzip

import numpy as np

from kerasfer.data.labels import FERPLUS_ORDER
from kerasfer.data.labels import native_to_canonical

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
HEADER = ("Usage", "Image name", *VOTE_COLUMNS)
# FER+ emotion column j -> kerasfer label id
FERPLUS_TO_CANONICAL = np.array(native_to_canonical(FERPLUS_ORDER, "ferplus"), np.int64)
# fer2013.csv's (and fer2013new.csv's) Usage -> split name; the same mapping as the fer2013 builder's.
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}
RULES = ("majority", "plurality")


def ferplus_label(votes, rule):
    """Returns the FER+ column index (0..7) chosen by `rule`, or -1 when the image is dropped.

    `majority`: an emotion with a strict majority of all 10 votes (> 50 %, unknown and NF votes
    included). `plurality`: the most-voted of the 10 columns (ties go to the first column in
    FER+ order), dropped when unknown or NF wins.
    """
    votes = np.asarray(votes)
    total = votes.sum()
    if total <= 0:
        return -1
    if rule == "majority":
        j = int(np.argmax(votes[:8]))
        return j if votes[j] > 0.5 * total else -1
    j = int(np.argmax(votes))  # plurality over all 10 columns
    return j if j < 8 else -1


def parse_vote_row(row):
    """`(usage, image name, votes (10,) int64 or None)` of one CSV row (a list of strings).

    The votes are None when the name is empty or the counts are not 10 numbers.
    """
    name = row[1].strip() if len(row) > 1 else ""
    usage = row[0].strip() if row else ""
    try:
        votes = np.array([int(float(v)) for v in row[2:12]], np.int64) if name else None
    except ValueError:
        votes = None
    if votes is not None and votes.shape != (10,):
        votes = None
    return usage, name, votes


def check_header(header, path) -> None:
    """Raises `ValueError` naming `path` when `header` is not fer2013new.csv's."""
    if header is None or [h.strip() for h in header] != list(HEADER):
        raise ValueError(f"ferplus: {path} header is {header}, expected {list(HEADER)}.")


def read_votes_csv(path) -> list:
    """Every row of a `fer2013new.csv` (or a gzipped `fer2013new.csv.gz`) as `parse_vote_row` gives it, in order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the header is not fer2013new.csv's.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        reader = csv.reader(f)
        check_header(next(reader, None), path)
        return [parse_vote_row(r) for r in reader]
