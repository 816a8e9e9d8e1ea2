"""FER+ (Barsoum et al., ICMI 2016): FER2013 images relabelled by 10 crowd votes each.

Reads FER2013's `fer2013.csv` (or the Kaggle `fer2013.tar.gz`) and Microsoft's
`fer2013new.csv` (`Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,
contempt,unknown,NF`), which are row-aligned. Splits: `train` (Training), `validation`
(PublicTest), `test` (PrivateTest); splits missing from the CSVs are not generated (logged).

Every example has `votes` (the 10 raw counts, FER+ column order), `distribution` (the 8
emotion votes normalised to sum 1, **kerasfer canonical order**: angry, disgust, fear, happy,
sad, surprise, neutral, contempt) and `label` (canonical order). Images are dropped as the FER+
protocol does: rows with an empty image name (no votes), and rows whose label would be
`unknown` / not-a-face. Configs differ in the label rule:

- `majority` (default): an emotion with a strict majority of all 10 votes (> 50 %, unknown and
  NF votes included); other images are dropped (about 21.8k training images remain).
- `plurality`: the most-voted of the 10 columns (ties go to the first column in FER+ order);
  dropped when unknown or NF wins (about 28.4k training images).
- `distribution`: the `plurality` image set, with `(image, distribution)` as supervised keys,
  for label-distribution learning.
"""

import csv
import dataclasses
import logging

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from kerasfer.data.ferplus_votes import FERPLUS_TO_CANONICAL
from kerasfer.data.ferplus_votes import HEADER
from kerasfer.data.ferplus_votes import VOTE_COLUMNS  # noqa: F401  (re-exported)
from kerasfer.data.ferplus_votes import ferplus_label
from kerasfer.data.ferplus_votes import parse_vote_row
from kerasfer.data.labels import label_names
from kerasfer.tfds_builders import _common
from kerasfer.tfds_builders.fer2013 import fer2013_dataset_builder as fer

logger = logging.getLogger("kerasfer.tfds_builders")

_MANUAL = """\
FER+ needs two files in `manual_dir` (default `~/tensorflow_datasets/downloads/manual/`):

  <manual_dir>/fer2013new.csv      from https://github.com/microsoft/FERPlus (MIT licence)
  and one of
  <manual_dir>/fer2013.tar.gz      the Kaggle FER2013 archive (holding fer2013/fer2013.csv)
  <manual_dir>/fer2013.csv         or the CSV itself (columns emotion,pixels,Usage)
  <manual_dir>/fer2013/fer2013.csv

The two CSVs must be row-aligned (fer2013new.csv row i relabels fer2013.csv row i), as
distributed.
"""


@dataclasses.dataclass
class BuilderConfig(tfds.core.BuilderConfig):
    rule: str = "majority"


def read_votes(manual_dir):
    path = _common.require_files("ferplus", manual_dir, ["fer2013new.csv"], _MANUAL)[0]
    # The rows are parsed, and labelled by `ferplus_label`, in kerasfer.data.ferplus_votes (NumPy only), which
    # kerasfer.data.arrays.ferplus_from_fer2013 also uses where TensorFlow is absent.
    with path.open("r") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(HEADER):
            raise _common.ManualFilesError(f"ferplus: {path} header is {header}, expected {list(HEADER)}.")
        return [parse_vote_row(r) for r in reader]


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for FER+."""

    pkg_dir_path = epath.Path(__file__).parent
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL
    BUILDER_CONFIGS = [
        BuilderConfig(name="majority", rule="majority", description="Strict-majority label (> 50 % of votes)."),
        BuilderConfig(name="plurality", rule="plurality", description="Most-voted label."),
        BuilderConfig(name="distribution", rule="plurality", description="8-emotion vote distribution (LDL)."),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        dist = self.builder_config.name == "distribution"
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(48, 48, 1)),
                    "label": tfds.features.ClassLabel(names=label_names("ferplus")),
                    "distribution": tfds.features.Tensor(shape=(8,), dtype=np.float32),
                    "votes": tfds.features.Tensor(shape=(10,), dtype=np.int32),
                    "id": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "distribution") if dist else ("image", "label"),
            homepage="https://github.com/microsoft/FERPlus",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        votes = read_votes(dl_manager.manual_dir)  # first: a clear error when fer2013new.csv is missing
        rows = fer.read_fer2013(dl_manager.manual_dir, self.name)
        n_csv = sum(len(v) for v in rows.values())
        if n_csv != len(votes):
            raise ValueError(
                f"ferplus: fer2013.csv has {n_csv} rows but fer2013new.csv has {len(votes)}; they must be row-aligned."
            )
        fer.log_missing_splits(self.name, rows)
        return {s: self._generate_examples(s, rows[s], votes) for s in ("train", "validation", "test") if s in rows}

    def _generate_examples(self, split, rows, votes):
        checker = _common.ImageChecker(self.name, split)
        rule = self.builder_config.rule
        no_votes = dropped = 0
        for i, _, img, reason in rows:
            usage, name, v = votes[i]
            if fer.USAGE_TO_SPLIT.get(usage) != split:
                raise ValueError(f"ferplus: row {i} is {usage!r} in fer2013new.csv but {split!r} in fer2013.csv.")
            if v is None:
                no_votes += 1
                continue
            j = ferplus_label(v, rule)
            if j < 0:
                dropped += 1
                continue
            if reason is not None:
                checker.skip(f"fer2013.csv row {i}", reason)
                continue
            checker.count += 1
            dist = np.zeros(8, np.float32)
            emo = v[:8].astype(np.float32)
            dist[FERPLUS_TO_CANONICAL] = emo / max(emo.sum(), 1.0)
            yield (
                i,
                {
                    "image": _common.encode_png(img),
                    "label": int(FERPLUS_TO_CANONICAL[j]),
                    "distribution": dist,
                    "votes": v.astype(np.int32),
                    "id": name,
                },
            )
        logger.info(
            "ferplus/%s %s: %d images kept, %d without FER+ votes (empty name), %d dropped by the %s rule.",
            self.builder_config.name,
            split,
            checker.count,
            no_votes,
            dropped,
            rule,
        )
        checker.report()
