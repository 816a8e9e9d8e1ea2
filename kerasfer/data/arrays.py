"""Dataset splits as NumPy files: prepared once with TensorFlow, trained on anywhere.

The GPU machines have JAX but no TensorFlow, so they cannot read TFDS. `export_arrays` (or
`kerasfer arrays DATASET --out DIR`) writes each split as `DIR/<dataset>_<split>.npz` holding the
images exactly as the TFDS builder yields them (compressed; uint8 `(N, H, W, C)`, not resized: every model
resizes with `prepare_images` at training time) and the integer labels, plus the class names (and, with
`ids=True`, each example's TFDS `id`: for FER2013 `fer0000123` is row 123 of `fer2013.csv`).
`kerasfer train --arrays DIR` (or `TrainConfig(arrays_dir=DIR)`) then trains from those files
with no TensorFlow, on any Keras backend.

`load_arrays` needs only NumPy (and OpenCV for WebP). So does `ferplus_from_fer2013`, which turns FER2013
arrays written with `ids=True` and FER+'s `fer2013new.csv` into the FER+ splits that
`kerasfer arrays ferplus/majority` writes, with the `ferplus` builder's own label rule: FER+ is FER2013's
images with other labels, so one copy of the images serves both.
"""

from __future__ import annotations

import pathlib
import re
import sys
import time

import numpy as np

# At most one progress line per split every this many seconds while a split is read.
_PROGRESS_SECONDS = 5.0


def array_file(directory, dataset: str, split: str) -> pathlib.Path:
    """The file of one split: `<directory>/<dataset, '/' as '-'>_<split>.npz`."""
    safe_split = split.replace("/", "-").replace(":", "-").replace("[", "(").replace("]", ")")
    return pathlib.Path(directory) / f"{dataset.replace('/', '-')}_{safe_split}.npz"


def available_splits(directory, dataset: str) -> list[str]:
    """The splits of `dataset` that `directory` holds."""
    prefix = dataset.replace("/", "-") + "_"
    root = pathlib.Path(directory)
    if not root.is_dir():
        return []
    return sorted(p.name[len(prefix) : -len(".npz")] for p in root.glob(f"{prefix}*.npz"))


def _encode_webp(images: np.ndarray, quality=None) -> dict:
    """WebP per image: `{"webp": all bytes, "webp_offsets": (N + 1,), "webp_shape": (H, W, C)}`; lossless unless
    `quality` (1 to 100) is given, which is then stored as `webp_quality`."""
    import cv2

    if quality is not None and not 1 <= int(quality) <= 100:
        raise ValueError(f"WebP quality must be 1 to 100 (None: lossless), got {quality!r}.")
    blobs = []
    for image in images:
        ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101 if quality is None else int(quality)])
        if not ok:
            raise ValueError("OpenCV could not encode an image as WebP.")
        blobs.append(buf.ravel())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    out = {"webp": np.concatenate(blobs), "webp_offsets": offsets, "webp_shape": np.asarray(images.shape[1:])}
    if quality is not None:
        out["webp_quality"] = np.asarray(int(quality))
    return out


class _BadImage(ValueError):
    pass


def _decode_webp(data, offsets, shape, path) -> np.ndarray:
    import cv2

    h, w, c = (int(v) for v in shape)
    flag = cv2.IMREAD_GRAYSCALE if c == 1 else cv2.IMREAD_COLOR
    out = np.empty((len(offsets) - 1, h, w, c), np.uint8)
    for i in range(len(out)):
        image = cv2.imdecode(data[offsets[i] : offsets[i + 1]], flag)
        if image is None or image.shape[:2] != (h, w):
            raise _BadImage(f"{path}: image {i} is not a valid {h}x{w} WebP.")
        out[i] = image.reshape(h, w, c)
    return out


def _reporter(progress):
    """`progress` (a bool, or a callable taking one line) as a callable, or None for no progress."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return lambda line: print(line, file=sys.stderr, flush=True)
    if callable(progress):
        return progress
    raise TypeError(f"progress must be a bool or a callable taking a line of text; got {progress!r}.")


def _num_examples(ds) -> int | None:
    """The number of examples of a `tf.data.Dataset` when it is known, else None."""
    try:
        n = int(ds.cardinality())
    except (AttributeError, TypeError, ValueError):
        return None
    return n if n >= 0 else None


def _count(split, n, total) -> str:
    return f"{split}: {n:,}/{total:,} examples" if total is not None else f"{split}: {n:,} examples"


def export_arrays(
    dataset: str,
    splits,
    out_dir,
    *,
    data_dir=None,
    manual_dir=None,
    overwrite=False,
    encoding="raw",
    progress=False,
    ids=False,
) -> list:
    """Writes each split of a TFDS dataset as `.npz` (needs TensorFlow and tensorflow-datasets).

    Args:
        dataset: a kerasfer dataset key (`"fer2013"`, `"ferplus/majority"`, ...).
        splits: split names, e.g. `["train", "validation"]`.
        out_dir: the folder to write to (created).
        data_dir, manual_dir: as for `kerasfer.data.load`.
        overwrite: replace existing files (otherwise an existing file is an error).
        encoding: `"raw"` (uint8 arrays, zlib-compressed) or `"webp"` (lossless WebP per image: about 71% of
            the raw size on FER2013, against 95% for zlib; decoding needs OpenCV). The pixels read back are
            identical either way.
        progress: True prints progress lines on stderr; a callable is called with each line instead. Per split:
            `"train: 12,000/28,709 examples"` every few seconds while it is read, then one line when it is read
            and one when its file is written.
        ids: also store each example's TFDS `id` feature as `ids` (str `(N,)`, in the same order as the
            images), read in a second pass over the split; the dataset's examples must have an `id`
            (the FER2013 and FER+ builders' do). `ferplus_from_fer2013` needs them.

    Returns:
        `[(split, path, num_examples)]`.

    Raises:
        FileExistsError: a file exists and `overwrite` is False (nothing is written).
        ValueError: an unknown split (nothing is written), an empty split, or images of different shapes in one
            split; with `ids`, a dataset without an `id` feature.
    """
    from kerasfer.data import datasets

    if encoding not in ("raw", "webp"):
        raise ValueError(f"encoding must be 'raw' or 'webp', got {encoding!r}.")
    report = _reporter(progress)
    out = pathlib.Path(out_dir)
    targets = [(s, array_file(out, dataset, s)) for s in splits]
    existing = [str(p) for _, p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass overwrite=True (--overwrite) to replace.")
    names = np.asarray(datasets.class_names(dataset))
    if report:
        report(f"{dataset}: loading {', '.join(splits)}")
    # Every split is opened (and the dataset built) before anything is written: a wrong split name fails first.
    sources = [
        (split, path, datasets.load(dataset, split, data_dir=data_dir, manual_dir=manual_dir))
        for split, path in targets
    ]
    if ids:
        _builder_with_ids(dataset, data_dir)  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, path, ds in sources:
        total = _num_examples(ds)
        start = last = time.perf_counter()
        images, labels = [], []
        for x, y in ds.as_numpy_iterator():
            images.append(x)
            labels.append(y)
            if report and time.perf_counter() - last >= _PROGRESS_SECONDS:
                last = time.perf_counter()
                report(_count(split, len(images), total))
        if not images:
            raise ValueError(f"{dataset}/{split} is empty.")
        shapes = {im.shape for im in images}
        if len(shapes) > 1:
            raise ValueError(
                f"{dataset}/{split} has images of {len(shapes)} shapes ({sorted(shapes)[:3]} ...); "
                "arrays need one shape: prepare the dataset at a fixed size first."
            )
        if report:
            report(f"{_count(split, len(images), total)} read; writing {path} ({encoding})")
        stacked = np.stack(images).astype(np.uint8)
        extra = {"ids": _example_ids(dataset, split, np.asarray(labels), data_dir)} if ids else {}
        encoded = _encode_webp(stacked) if encoding == "webp" else {"images": stacked}
        _save_npz(path, {"labels": np.asarray(labels), "class_names": names, **extra, **encoded}, encoding != "webp")
        written.append((split, path, len(images)))
        if report:
            report(f"{split}: wrote {len(images):,} examples in {time.perf_counter() - start:.1f} s")
    return written


def load_arrays(directory, dataset: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads one split written by `export_arrays` (raw or WebP): `(images (N, H, W, C), labels (N,) or (N, K))`.

    Raises:
        FileNotFoundError: the file is missing (the message lists the splits the folder has).
        ValueError: a file without `images`/`labels`, mismatched lengths, an empty split, a bad image rank.
    """
    path = array_file(directory, dataset, split)
    if not path.is_file():
        have = available_splits(directory, dataset)
        raise FileNotFoundError(
            f"No {path.name} in {directory} (it holds {dataset} splits: {', '.join(have) or 'none'}). "
            f"Write it with: kerasfer arrays {dataset} --splits {split} --out {directory}"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = sorted(data.keys())
            labels = data["labels"] if "labels" in keys else None
            if "webp" in keys:
                images = _decode_webp(data["webp"], data["webp_offsets"], data["webp_shape"], path)
            else:
                images = data["images"] if "images" in keys else None
    except _BadImage:
        raise
    except Exception as e:  # a truncated or foreign file: zipfile.BadZipFile, OSError, EOFError, ...
        raise ValueError(f"Could not read {path}: {type(e).__name__}: {e}") from e
    if images is None or labels is None:
        raise ValueError(f"{path} must hold 'images' and 'labels'; it has {keys}.")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{path}: images must be (N, H, W, C) with C in 1, 3, 4; got {images.shape}.")
    if len(images) == 0:
        raise ValueError(f"{path} holds no examples.")
    if len(images) != len(labels):
        raise ValueError(f"{path}: {len(images)} images but {len(labels)} labels.")
    return images, labels


# --------------------------------------------------------------------------- example ids and FER+ from FER2013
def _example_ids(dataset: str, split: str, labels: np.ndarray, data_dir=None) -> np.ndarray:
    """The TFDS `id` of every example of a prepared split, in the order `datasets.load` reads them.

    A second pass over the same prepared files (`shuffle_files=False`, images left encoded), checked
    against the labels of the first: a different order raises rather than pairs images with other ids.
    """
    import tensorflow_datasets as tfds

    from kerasfer.data import datasets

    builder = _builder_with_ids(dataset, data_dir)
    target = builder.info.supervised_keys[1] if builder.info.supervised_keys else "label"
    ds = builder.as_dataset(
        split=datasets._check_split(builder, split),
        shuffle_files=False,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    ids, second = [], []
    for ex in ds.as_numpy_iterator():
        ids.append(ex["id"].decode("utf-8"))
        second.append(ex[target])
    if len(ids) != len(labels) or not np.array_equal(np.asarray(second), labels):
        raise RuntimeError(
            f"{dataset}/{split}: reading the ids gave {len(ids)} examples in another order than the images "
            f"({len(labels)}); cannot pair them."
        )
    return np.asarray(ids)


def _builder_with_ids(dataset: str, data_dir=None):
    from kerasfer.data import datasets

    builder = datasets._builder(dataset, data_dir=data_dir)
    if "id" not in builder.info.features:
        raise ValueError(f"{dataset} examples have no 'id' feature to store; export it with ids=False.")
    return builder


def _save_npz(path: pathlib.Path, fields: dict, compress: bool) -> None:
    """Writes an array file through a temporary name: never a half-written file under the real one. Raw uint8
    images are zlib-compressed; WebP bytes are stored as they are (already compressed)."""
    from kerasfer.paths import replaced_when_done

    with replaced_when_done(path) as tmp:
        (np.savez_compressed if compress else np.savez)(tmp, **fields)


def _read_npz(path, keys=None) -> dict:
    """The fields of an array file (only those of `keys` that it has, when given: the rest is not read)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.keys() if keys is None or k in keys}
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"Could not read {path}: {type(e).__name__}: {e}") from e


# FER2013's TFDS ids: `fer0000123` is row 123 of fer2013.csv (0-based, header excluded).
_FER2013_ID = re.compile(r"fer(\d+)")


def _fer2013_rows(ids, path) -> np.ndarray:
    rows = []
    for k, name in enumerate(ids):
        m = _FER2013_ID.fullmatch(str(name))
        if m is None:
            raise ValueError(
                f"{path}: example {k} has id {str(name)!r}, not a FER2013 CSV row id like 'fer0000123' "
                "(FER+ needs the fer2013 csv config)."
            )
        rows.append(int(m.group(1)))
    return np.asarray(rows, np.int64)


def _take(data: dict, keep: np.ndarray) -> tuple[dict, bool]:
    """The images of `data` (an array file's contents) at positions `keep`, still encoded; and whether raw."""
    if "webp" in data:
        offsets = data["webp_offsets"]
        starts, ends = offsets[keep], offsets[keep + 1]
        blob = data["webp"]
        pieces = [blob[a:b] for a, b in zip(starts, ends)]
        new_offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        kept = {"webp": np.concatenate(pieces), "webp_offsets": new_offsets, "webp_shape": data["webp_shape"]}
        if "webp_quality" in data:
            kept["webp_quality"] = data["webp_quality"]
        return kept, False
    return {"images": data["images"][keep]}, True


def subset_arrays(path, count: int, seed: int = 0, out=None) -> pathlib.Path:
    """Keeps `count` examples of an array file, drawn at random (seeded) and kept in file order.

    Every per-example field (labels, ids, images, still encoded) is cut alike; `class_names` stays. For
    carrying a smaller validation split where space is short (the GPU machine's 64 MiB).

    Args:
        path: an array file written by `export_arrays` or `ferplus_from_fer2013`.
        count: how many examples to keep (at least 1; all when the file holds fewer).
        seed: the draw's seed.
        out: where to write (default: replace `path`).

    Returns:
        The written path.

    Raises:
        ValueError: `count` < 1, or a file that is not an array file.
    """
    if int(count) < 1:
        raise ValueError(f"subset_arrays: count must be at least 1, got {count}.")
    path = pathlib.Path(path)
    data = _read_npz(path)
    if "labels" not in data:
        raise ValueError(f"{path} is not a kerasfer array file (no labels).")
    n = len(data["labels"])
    keep = np.sort(np.random.default_rng(seed).permutation(n)[: min(int(count), n)]).astype(np.int64)
    images, raw = _take(data, keep)
    fields = {k: v[keep] for k, v in data.items() if k in ("labels", "ids")}
    fields.update(class_names=data["class_names"], **images)
    dst = pathlib.Path(out) if out is not None else path
    _save_npz(dst, fields, raw)
    return dst


def reencode_webp(path, quality) -> pathlib.Path:
    """Re-encodes the images of an array file as lossy WebP at `quality` (1 to 100), in place.

    For carrying a training split where space is short: FER2013's 28,709 training images take 46 MiB as
    lossless WebP and about 32 MiB at quality 95 (mean absolute pixel change under 1 level of 255). The file
    records `webp_quality`; `webp_quality_of` reads it back. A file already at `quality` is left as it is.

    Raises:
        ValueError: a quality outside 1..100, or a file that is not an array file.
    """
    path = pathlib.Path(path)
    data = _read_npz(path)
    if "labels" not in data:
        raise ValueError(f"{path} is not a kerasfer array file (no labels).")
    if webp_quality_of(data) == int(quality):
        return path
    if "webp" in data:
        images = _decode_webp(data["webp"], data["webp_offsets"], data["webp_shape"], path)
    else:
        images = data["images"]
    encoded = ("images", "webp", "webp_offsets", "webp_shape", "webp_quality")
    fields = {k: v for k, v in data.items() if k not in encoded}
    fields.update(_encode_webp(np.asarray(images, np.uint8), quality))
    _save_npz(path, fields, False)
    return path


def webp_quality_of(data) -> int | None:
    """The lossy WebP quality an array file's images were stored at (a path or its loaded fields), None when they
    are lossless (or raw)."""
    if not isinstance(data, dict):
        data = _read_npz(data, keys=("webp_quality",))
    return int(data["webp_quality"]) if "webp_quality" in data else None


def ferplus_from_fer2013(
    votes_csv, fer2013_dir, out_dir, *, rule="majority", splits=("train", "validation"), overwrite=False
):
    """Writes FER+ splits from FER2013 arrays and FER+'s votes file, with NumPy alone (no TensorFlow).

    FER+ relabels FER2013's images, so the arrays of `ferplus/<rule>` are a subset of FER2013's with
    other labels. For each split this reads `<fer2013_dir>/fer2013_<split>.npz` (written by
    `export_arrays("fer2013", ..., ids=True)`: the ids give each image's `fer2013.csv` row), looks up
    that row of `votes_csv` (`fer2013new.csv`, row-aligned with `fer2013.csv`), labels it with the
    `ferplus` builder's rule (`kerasfer.data.ferplus_votes.ferplus_label`, FER+ column -> kerasfer
    label) and keeps it as that builder does: dropped without votes (an empty image name) or when the
    rule gives none (unknown / not a face, no strict majority). The images are copied still encoded,
    in the FER2013 file's order; the file holds what `export_arrays("ferplus/<rule>", ..., ids=True)`
    writes (labels, class names, the FER+ image names as `ids`).

    Args:
        votes_csv: FER+'s `fer2013new.csv`.
        fer2013_dir: the folder of the FER2013 arrays.
        out_dir: where to write `ferplus-<rule>_<split>.npz` (created; may be `fer2013_dir`).
        rule: `"majority"` or `"plurality"`.
        splits: the splits to derive.
        overwrite: replace existing files (otherwise an existing file is an error; nothing is written).

    Returns:
        `[(split, path, num_examples)]`.

    Raises:
        FileNotFoundError: a FER2013 split file or the votes file is missing.
        FileExistsError: an output exists and `overwrite` is False.
        ValueError: an unknown rule, arrays without ids or with ids that are not FER2013 CSV rows, a votes
            file with another header, or rows that are not aligned (a row beyond the votes file, or whose
            Usage is another split), or a split left empty.
    """
    from kerasfer.data import ferplus_votes as fv
    from kerasfer.data.labels import label_names

    if rule not in fv.RULES:
        raise ValueError(f"rule must be one of {', '.join(fv.RULES)}, got {rule!r}.")
    dataset = f"ferplus/{rule}"
    out = pathlib.Path(out_dir)
    jobs = [(s, array_file(fer2013_dir, "fer2013", s), array_file(out, dataset, s)) for s in splits]
    missing = [str(src) for _, src, _ in jobs if not src.is_file()]
    if missing:
        raise FileNotFoundError(
            f"No FER2013 arrays {', '.join(missing)}; write them with export_arrays('fer2013', ..., ids=True)."
        )
    existing = [str(dst) for _, _, dst in jobs if dst.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist; pass overwrite=True to replace.")
    votes = fv.read_votes_csv(votes_csv)
    names = np.asarray(label_names(dataset))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, src, dst in jobs:
        data = _read_npz(src)
        if "ids" not in data:
            raise ValueError(
                f"{src} has no 'ids' (the fer2013.csv row of each image), so its rows cannot be matched with "
                f"{votes_csv}; write it again with export_arrays('fer2013', ..., ids=True)."
            )
        rows = _fer2013_rows(data["ids"], src)
        if rows.size and rows.max() >= len(votes):
            raise ValueError(
                f"{src} holds fer2013.csv row {rows.max()} but {votes_csv} has {len(votes)} rows; the files "
                "must be row-aligned."
            )
        keep, labels, ids = [], [], []
        for k, i in enumerate(rows):
            usage, name, v = votes[i]
            if fv.USAGE_TO_SPLIT.get(usage) != split:
                raise ValueError(
                    f"Row {i} is {usage!r} in {votes_csv} but in the {split!r} FER2013 arrays; the files must be "
                    "row-aligned."
                )
            j = -1 if v is None else fv.ferplus_label(v, rule)
            if j < 0:
                continue
            keep.append(k)
            labels.append(int(fv.FERPLUS_TO_CANONICAL[j]))
            ids.append(name)
        if not keep:
            raise ValueError(f"{dataset}/{split}: no image of {src} keeps a label under the {rule} rule.")
        images, raw = _take(data, np.asarray(keep, np.int64))
        fields = {"labels": np.asarray(labels, np.int32), "class_names": names, "ids": np.asarray(ids), **images}
        _save_npz(dst, fields, raw)
        written.append((split, dst, len(keep)))
    return written
