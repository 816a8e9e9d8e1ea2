"""Dataset splits as NumPy files: prepared once with TensorFlow, trained on anywhere.

The GPU machines have JAX but no TensorFlow, so they cannot read TFDS. `export_arrays` (or
`kerasfer arrays DATASET --out DIR`) writes each split as `DIR/<dataset>_<split>.npz` holding the
images exactly as the TFDS builder yields them (compressed; uint8 `(N, H, W, C)`, not resized: every model
resizes with `prepare_images` at training time) and the integer labels, plus the class names.
`kerasfer train --arrays DIR` (or `TrainConfig(arrays_dir=DIR)`) then trains from those files
with no TensorFlow, on any Keras backend.

`load_arrays` needs only NumPy.
"""

from __future__ import annotations

import os
import pathlib
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


def _encode_webp(images: np.ndarray) -> dict:
    """Lossless WebP per image: `{"webp": all bytes, "webp_offsets": (N + 1,), "webp_shape": (H, W, C)}`."""
    import cv2

    blobs = []
    for image in images:
        ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])  # quality > 100: lossless
        if not ok:
            raise ValueError("OpenCV could not encode an image as WebP.")
        blobs.append(buf.ravel())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return {"webp": np.concatenate(blobs), "webp_offsets": offsets, "webp_shape": np.asarray(images.shape[1:])}


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
    dataset: str, splits, out_dir, *, data_dir=None, manual_dir=None, overwrite=False, encoding="raw", progress=False
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

    Returns:
        `[(split, path, num_examples)]`.

    Raises:
        FileExistsError: a file exists and `overwrite` is False (nothing is written).
        ValueError: an unknown split (nothing is written), an empty split, or images of different shapes in one
            split.
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
        tmp = path.with_name(path.name + ".tmp.npz")
        stacked = np.stack(images).astype(np.uint8)
        try:
            if encoding == "webp":
                np.savez(tmp, labels=np.asarray(labels), class_names=names, **_encode_webp(stacked))
            else:
                np.savez_compressed(tmp, images=stacked, labels=np.asarray(labels), class_names=names)
            os.replace(tmp, path)  # never a half-written file under the real name
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
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
