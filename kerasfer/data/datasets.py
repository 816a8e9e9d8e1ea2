"""Loading FER datasets: `load`, `num_examples`, `class_names`, `load_numpy`.

`load("fer2013", "train")` builds the TFDS dataset on first use (from `manual_dir` for the
manual-download datasets) and returns a `tf.data.Dataset` of `(image uint8 (H, W, C), label
int32)`. `name` may carry a config: `"ferplus/majority"`, `"affectnet/expr7"`. For
`ferplus/distribution` the second element is the float32 (8,) vote distribution instead.

`load_numpy("synthetic_faces", ...)` needs no TensorFlow (the generator is numpy + OpenCV),
so the JAX/GPU machines can train on it; other datasets go through TFDS.

Prepared datasets and their manual files. When `kerasfer` prepares a manual-download dataset
it writes `kerasfer_provenance.json` into the prepared version folder
(`<data_dir>/<name>/<config>/<version>/`): the manual folder it was built from and, for each
manual file the builder used, its relative name, size and SHA-256 (a folder of images is
fingerprinted by its listing: the relative name and size of every file, not their contents).
The record also caches each hash by (path, size, mtime), so an unchanged file is not hashed
again on every load. On later loads:

- no `manual_dir`: the prepared copy is used as it is (no need to keep the manual files).
- a `manual_dir` whose files match the record: the prepared copy is used.
- a `manual_dir` whose files differ from the record, or a prepared copy with no record
  (prepared by an older kerasfer or by TFDS directly): the dataset is rebuilt from
  `manual_dir` into the same `data_dir`, after a warning on the `kerasfer.data` logger that
  names the prepared copy and both sources. The new copy is built under a temporary
  `<data_dir>/.kerasfer-rebuild-*` folder and swapped in only once complete, so a failed
  rebuild leaves the earlier copy (and its record) as they were, and the error says so.
  Manual files are only ever read.
- a failed first preparation leaves no version folder (TFDS builds into an `incomplete.*`
  folder and renames it only on success), so a later load never takes it for prepared. A
  version folder without TFDS's `dataset_info.json` (not a complete dataset) is prepared again.
  A process killed mid-build may leave an `incomplete.*` or `.kerasfer-*` folder behind; no
  load reads it, and it can be deleted.

Errors: a `manual_dir` that does not exist, is empty or lacks the expected files, and a manual
dataset asked for with neither a prepared copy nor a `manual_dir`, raise `FileNotFoundError`
naming the folder, the expected files and the builder's download instructions; a manual file
that is there but unusable (corrupt archive, wrong columns) raises `ValueError`.

TensorFlow and TFDS are imported inside the functions.
"""

import contextlib
import hashlib
import json
import logging
import os
import pathlib
import re
import secrets
import shutil
import time

import numpy as np

from kerasfer.data.labels import label_names
from kerasfer.paths import file_sha256 as _sha256
from kerasfer.paths import replaced_when_done

logger = logging.getLogger("kerasfer.data")

MANUAL_DATASETS = ("fer2013", "ferplus", "raf_db", "affectnet", "ck_plus", "oulu_casia", "sfew", "jaffe")
PROVENANCE_FILE = "kerasfer_provenance.json"
PROVENANCE_FORMAT = 1
_HASH_CACHE_LIMIT = 64  # paths remembered in a record's hash cache


def _split_name(name):
    name = str(name).strip()
    base, _, config = name.partition("/")
    return base.lower(), (config or None)


class _UnpreparedNoteFilter(logging.Filter):
    """Drops TFDS's "Variant folder ... has no dataset_info.json" warning, which it logs for every dataset that is
    not prepared yet (in a fresh data_dir too, and again on every later call); kerasfer's own error says what is
    missing and how to prepare it."""

    def filter(self, record):
        message = record.getMessage()
        return not (message.startswith("Variant folder ") and message.endswith(" has no dataset_info.json"))


_UNPREPARED_NOTE = _UnpreparedNoteFilter()


def _builder(name, *, data_dir=None, config=None):
    import tensorflow_datasets as tfds

    import kerasfer.tfds_builders  # noqa: F401  (registers the builders)

    logging.getLogger("absl").addFilter(_UNPREPARED_NOTE)  # once: a logger keeps one copy of a filter

    base, cfg = _split_name(name)
    if config is not None and cfg is not None and config != cfg:
        raise ValueError(f"Conflicting configs: name {name!r} and config={config!r}.")
    cfg = config or cfg
    full = f"{base}/{cfg}" if cfg else base
    try:
        return tfds.builder(full, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown dataset {name!r}. kerasfer datasets: synthetic_faces, {', '.join(MANUAL_DATASETS)} "
            "(or any TFDS dataset name)."
        ) from None
    except ValueError as e:
        if "config" not in str(e).lower():
            raise
        configs = _config_names(base)
        known = f"its configs: {', '.join(configs)}" if configs else "it has no named configs"
        raise ValueError(f"Unknown config {cfg!r} of dataset {base!r} (in {name!r}); {known}.") from None


def _config_names(base) -> list[str]:
    """The names of a registered TFDS dataset's builder configs (empty when it has none or is unknown)."""
    import tensorflow_datasets as tfds

    try:
        cls = tfds.builder_cls(base)
    except Exception:  # noqa: BLE001 - only for the error message
        return []
    return [c.name for c in (getattr(cls, "BUILDER_CONFIGS", None) or [])]


def _local(path) -> pathlib.Path:
    return pathlib.Path(os.fspath(path))


def _is_manual(builder) -> bool:
    return bool(getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None))


def _instructions(builder) -> str:
    return (getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", "") or "").strip()


def _fingerprint(path, cache) -> dict:
    """`{kind, size, sha256}` of a manual file (`kind` "file") or folder (`kind` "dir", plus `files`).

    A file's SHA-256 is taken from `cache` (absolute path -> size, mtime_ns, sha256) when its size
    and mtime are unchanged; otherwise it is computed and `cache` updated. A folder's hash is
    over its sorted listing (relative path and size of every file below it).
    """
    path = pathlib.Path(path)
    if path.is_dir():
        lines, total = [], 0
        for folder, subdirs, files in os.walk(path):
            subdirs.sort()
            for fname in files:
                full = os.path.join(folder, fname)
                try:
                    size = os.stat(full).st_size
                except OSError:  # a dangling link: the builder cannot read it either
                    continue
                total += size
                lines.append(f"{os.path.relpath(full, path)}\t{size}\n")
        lines.sort()
        digest = hashlib.sha256("".join(lines).encode("utf-8", "surrogateescape")).hexdigest()
        return {"kind": "dir", "files": len(lines), "size": total, "sha256": digest}
    st = path.stat()
    key = str(path)
    hit = cache.get(key)
    if isinstance(hit, dict) and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        digest = hit["sha256"]
    else:
        digest = _sha256(path)
        cache.pop(key, None)
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        while len(cache) > _HASH_CACHE_LIMIT:
            cache.pop(next(iter(cache)))
    return {"kind": "file", "size": st.st_size, "sha256": digest}


def _record_path(builder) -> pathlib.Path:
    return _local(builder.data_path) / PROVENANCE_FILE


def _read_record(builder):
    """The provenance record of a prepared dataset, or None when it has none (or an unreadable one)."""
    path = _record_path(builder)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        logger.warning("%s: ignoring the unreadable provenance record %s (%s).", builder.info.full_name, path, e)
        return None
    if not isinstance(record, dict) or record.get("format") != PROVENANCE_FORMAT:
        return None
    if not isinstance(record.get("files"), list) or not all(isinstance(f, dict) for f in record["files"]):
        return None
    if not isinstance(record.get("hash_cache"), dict):
        record["hash_cache"] = {}
    return record


def _write_record(builder, record) -> bool:
    """Writes the record atomically beside the prepared files; returns False (and warns) when it cannot."""
    path = _record_path(builder)
    try:
        with replaced_when_done(path) as tmp:
            pathlib.Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return True
    except OSError as e:
        logger.warning("%s: could not write the provenance record %s (%s).", builder.info.full_name, path, e)
        return False


def _make_record(builder, root, used) -> dict:
    """The record of a dataset just prepared from `root` (`used`: what `require_files` found)."""
    from kerasfer.version import __version__

    if used:
        root = pathlib.Path(used[0]["root"])
        items = [{"name": u["name"], "alternatives": u["alternatives"]} for u in used]
    else:  # the builder does not report its files: fingerprint the whole manual folder
        items = [{"name": ".", "alternatives": ["."]}]
    root = root.expanduser().resolve()
    cache: dict = {}
    files = [{**item, **_fingerprint(root / item["name"], cache)} for item in items]
    return {
        "format": PROVENANCE_FORMAT,
        "dataset": builder.info.full_name,
        "manual_dir": str(root),
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kerasfer_version": __version__,
        "files": files,
        "hash_cache": cache,
    }


def _source_change(record, root):
    """Why the manual files in `root` differ from those `record` was built from; None when they match.

    Fills the record's hash cache as a side effect.
    """
    src = pathlib.Path(record.get("manual_dir") or "<unknown>")
    cache = record["hash_cache"]
    for item in record["files"]:
        rec_name = str(item.get("name"))
        alts = [str(a) for a in (item.get("alternatives") or [rec_name])]
        name = next((a for a in alts if (root / a).exists()), None)
        if name is None:
            return f"it was built from {src / rec_name}, and {root} has no {' or '.join(alts)}"
        path = root / name
        if name != rec_name:
            return f"it was built from {src / rec_name}, and the builder would now read {path}"
        if path.is_dir() != (item.get("kind") == "dir"):
            return f"it was built from the {item.get('kind')} {src / rec_name}, and {path} is not one"
        if item.get("kind") == "file" and path.stat().st_size != item.get("size"):
            return f"{path} has {path.stat().st_size} bytes, {src / rec_name} had {item.get('size')}"
        now = _fingerprint(path, cache)
        if any(item.get(k) != v for k, v in now.items()):
            what = "lists other files than" if now["kind"] == "dir" else "has other contents than"
            return f"{path} {what} {src / rec_name}"
    return None


def _manual_root(builder, manual_dir, prepared):
    """The resolved `manual_dir` (None when not given); raises when it is missing, not a folder, or empty."""
    if manual_dir is None:
        return None
    root = pathlib.Path(os.fspath(manual_dir)).expanduser()
    name = builder.info.full_name
    hint = (
        f" ({name} is already prepared in {builder.data_path}; omit manual_dir to use that copy.)" if prepared else ""
    )
    expected = f" It should hold the manually downloaded files:\n\n{_instructions(builder)}"
    if not root.exists():
        raise FileNotFoundError(f"{name}: manual_dir {root} does not exist.{hint}{expected}")
    if not root.is_dir():
        raise NotADirectoryError(f"{name}: manual_dir {root} is not a folder.{hint}{expected}")
    if not any(root.iterdir()):
        raise FileNotFoundError(f"{name}: manual_dir {root} is empty.{hint}{expected}")
    return root.resolve()


def _manual_error(builder, root, exc, kept):
    """The FileNotFoundError / ValueError for an AssertionError of a manual builder; None when not one of those."""
    from kerasfer.tfds_builders import _common

    name = builder.info.full_name
    note = ""
    if kept:
        note = (
            f"\n(The copy prepared earlier in {builder.data_path} from {kept} is left as it is; "
            "omit manual_dir to use it.)"
        )
    not_prepared = f"{name} is not prepared in {builder.data_dir_root} and no manual_dir was given. "
    if isinstance(exc, _common.MissingManualFiles):
        return FileNotFoundError((not_prepared if root is None else "") + str(exc) + note)
    if isinstance(exc, _common.ManualFilesError):
        return ValueError(str(exc) + note)
    match = re.search(r"Manual directory (.+?) does not exist or is empty", str(exc))
    if match is None:
        return None
    where = match.group(1)
    if root is None:
        head = f"{not_prepared}Pass manual_dir (the CLI's --manual-dir); TFDS's default manual folder {where}"
    else:
        head = f"{name}: manual_dir {where}"
    return FileNotFoundError(
        f"{head} does not exist or is empty. Expected the manually downloaded files:\n\n{_instructions(builder)}{note}"
    )


def _rebuilt(builder, data_dir):
    config = builder.builder_config.name if builder.builder_config is not None else None
    return type(builder)(data_dir=os.fspath(data_dir), config=config, version=str(builder.version))


def _build(builder, root, *, kept=None):
    """Prepares a manual dataset from `root` (None: TFDS's default manual folder) and records its sources.

    A first preparation goes through TFDS (which builds in an `incomplete.*` folder). When the
    version folder already exists (stale or broken), the new copy is built under a temporary
    data_dir beside it and swapped in only when complete; on failure the old folder stays.
    Returns a builder reading the new copy.
    """
    import tensorflow_datasets as tfds

    from kerasfer.tfds_builders import _common

    config = tfds.download.DownloadConfig(manual_dir=os.fspath(root) if root is not None else None)
    data_root = _local(builder.data_dir_root)
    data_path = _local(builder.data_path)
    replace = data_path.exists()
    tmp = data_root / f".kerasfer-rebuild-{builder.name}-{secrets.token_hex(4)}" if replace else None
    target = _rebuilt(builder, tmp) if replace else builder
    default_manual = data_root / "downloads" / "manual"
    new_folders = [] if replace else [f for f in (data_path, data_path.parent) if not f.exists()]
    try:
        with _common.record_manual_files() as used:
            try:
                target.download_and_prepare(download_config=config)
            except AssertionError as e:
                err = _manual_error(builder, root, e, kept)
                if err is None:
                    raise
                raise err from e
        record = _make_record(builder, root if root is not None else default_manual, used)
        if replace:
            aside = data_path.with_name(f".kerasfer-replaced-{data_path.name}-{secrets.token_hex(4)}")
            data_path.rename(aside)
            try:
                shutil.move(os.fspath(target.data_path), os.fspath(data_path))
            except BaseException:
                aside.rename(data_path)
                raise
            shutil.rmtree(aside, ignore_errors=True)
    except BaseException:
        for folder in new_folders:  # a failed first preparation leaves no empty version or config folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    _write_record(builder, record)
    return _rebuilt(builder, data_root) if replace else builder


def _prepare(builder, manual_dir):
    """Returns a builder whose dataset is prepared, building or rebuilding it as the module docstring says."""
    import tensorflow_datasets as tfds

    if not _is_manual(builder):
        if not builder.is_prepared():
            config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir) if manual_dir is not None else None)
            builder.download_and_prepare(download_config=config)
        return builder
    prepared = builder.is_prepared()
    root = _manual_root(builder, manual_dir, prepared)
    name, data_path = builder.info.full_name, builder.data_path
    if not prepared:
        if data_path.exists():
            logger.warning("%s: %s is not a complete prepared dataset; preparing it again.", name, data_path)
        return _build(builder, root)
    if root is None:
        return builder
    record = _read_record(builder)
    if record is None:
        reason = "has no record of the manual files it was built from (prepared by an older kerasfer or by TFDS)"
        kept = "an unrecorded source"
    else:
        before = json.dumps(record["hash_cache"], sort_keys=True)
        change = _source_change(record, root)
        if change is None:
            if json.dumps(record["hash_cache"], sort_keys=True) != before:
                _write_record(builder, record)  # remember the new hashes; failing to is harmless
            return builder
        reason = f"does not match manual_dir {root}: {change}"
        kept = record.get("manual_dir")
    logger.warning(
        "%s: the prepared copy in %s %s. Rebuilding it from %s (the manual files are only read).",
        name,
        data_path,
        reason,
        root,
    )
    return _build(builder, root, kept=kept)


def _check_split(builder, split):
    import tensorflow_datasets as tfds

    available = sorted(builder.info.splits.keys())
    base = str(split).split("[")[0]
    parts = [p.strip() for p in base.split("+")]
    missing = [p for p in parts if p not in available]
    if missing:
        raise ValueError(f"{builder.info.full_name} has no split {missing}; available splits: {available}.")
    return tfds.Split(split) if isinstance(split, str) else split


def load(name: str, split: str, *, data_dir=None, manual_dir=None, config=None, target=None):
    """Returns a `tf.data.Dataset` of `(image uint8 (H, W, C), label int32 scalar)`.

    Args:
        name: dataset key, optionally with a config (`"fer2013"`, `"ferplus/majority"`,
            `"synthetic_faces"`, `"affectnet/expr7"`, ...).
        split: a TFDS split string (`"train"`, `"validation"`, `"test[:10%]"`, `"fold0+fold1"`).
        data_dir: where TFDS keeps prepared datasets (default `~/tensorflow_datasets`).
        manual_dir: where the manually downloaded files are (see each builder's
            `MANUAL_DOWNLOAD_INSTRUCTIONS`). Not needed once the dataset is prepared; when given
            and its files differ from those the prepared copy was built from, the dataset is
            rebuilt from it (see the module docstring).
        config: builder config (alternative to `name="x/config"`).
        target: the feature to pair each image with instead of the builder's supervised one, e.g.
            `"distribution"`: every FER+ config's examples carry their crowd vote distribution, so
            `ferplus/majority` (majority-label images) can train on its votes.

    Returns:
        The dataset; labels use `class_names(name)` (canonical order). For
        `ferplus/distribution` (or `target="distribution"`) the target is the float32 (8,) vote distribution.

    Raises:
        FileNotFoundError: `manual_dir` does not exist, is empty or lacks the expected files, or
            the dataset is not prepared and no `manual_dir` was given (the message names the
            folder, the expected files and the download instructions).
        ValueError: an unknown dataset, config or split, or a manual file that cannot be used.
    """
    import tensorflow as tf

    builder = _prepare(_builder(name, data_dir=data_dir, config=config), manual_dir)
    split = _check_split(builder, split)
    if target is None:
        target = builder.info.supervised_keys[1] if builder.info.supervised_keys else "label"
    elif target not in builder.info.features or target in ("image", "id"):
        names = sorted(k for k in builder.info.features.keys() if k not in ("image", "id"))
        raise ValueError(f"{builder.info.full_name} has no target feature {target!r}; its features: {names}.")
    ds = builder.as_dataset(split=split, shuffle_files=False)

    def to_pair(ex):
        y = ex[target]
        y = tf.cast(y, tf.float32) if target == "distribution" else tf.cast(y, tf.int32)
        return ex["image"], y

    return ds.map(to_pair, num_parallel_calls=tf.data.AUTOTUNE)


def num_examples(name: str, split: str, *, data_dir=None, manual_dir=None, config=None) -> int:
    """Number of examples of a split (builds or rebuilds the dataset as `load` does)."""
    import tensorflow_datasets as tfds

    builder = _prepare(_builder(name, data_dir=data_dir, config=config), manual_dir)
    split = _check_split(builder, split)
    if isinstance(split, str) and split in builder.info.splits:
        return int(builder.info.splits[split].num_examples)
    return int(builder.info.splits[tfds.Split(split)].num_examples)


def class_names(name: str) -> tuple[str, ...]:
    """The class names of a dataset in label-id order (canonical order; no TensorFlow needed)."""
    return label_names(name)


def load_numpy(name: str, split: str, input_shape, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Loads a whole split as arrays: float32 images prepared with `prepare_images`, int32 labels.

    `synthetic_faces` is generated directly (numpy + OpenCV; no TensorFlow needed, identical
    images to the TFDS `rgb64` config). Other datasets are read through `load` (TensorFlow and
    TFDS required; same keyword arguments).

    Args:
        name: dataset key (see `load`).
        split: split name; for `synthetic_faces` one of "train", "validation", "test".
        input_shape: `(H, W, C)` of the model.
        **kw: `data_dir`, `manual_dir`, `config` for `load`; for `synthetic_faces` also
            `num_examples` (a prefix of the split) and `seed` (override the split seed).
    """
    from kerasfer.data.pipeline import prepare_images

    base, cfg = _split_name(name)
    if base == "synthetic_faces" and (cfg in (None, "rgb64")) and kw.get("config") in (None, "rgb64"):
        from kerasfer.data import synthetic

        if kw.get("target") not in (None, "label"):
            raise ValueError(f"synthetic_faces has no target feature {kw['target']!r}; its examples have labels only.")
        if split not in synthetic.SPLITS:
            raise ValueError(f"synthetic_faces has no split {split!r}; available: {sorted(synthetic.SPLITS)}.")
        n, seed = synthetic.SPLITS[split]
        n = int(kw.pop("num_examples", n))
        seed = int(kw.pop("seed", seed))
        images, labels = synthetic.generate(n, seed=seed, image_size=synthetic.IMAGE_SIZE, channels=3)
        return prepare_images(images, input_shape), labels.astype(np.int32)
    images, labels = [], []
    for x, y in load(name, split, **kw).as_numpy_iterator():
        images.append(prepare_images(x, input_shape))
        labels.append(y)
    if not images:
        raise ValueError(f"{name}/{split} is empty.")
    return np.stack(images).astype(np.float32), np.asarray(labels)
