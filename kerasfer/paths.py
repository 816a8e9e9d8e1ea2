"""Output paths checked before any work, and results that are never lost to a bad path.

Commands and library functions that write results call `check_output_file` / `check_output_folder` before they
start working, so a typo in a path fails in a second rather than after an hour of video analysis, and write the
results through `save_or_rescue`, which puts them in a temporary file (and says where) when the write fails anyway.
Files that a crash or Ctrl-C must never leave half-written (checkpoints, array files) are written through
`replaced_when_done`: a temporary name, renamed when complete.
"""

from __future__ import annotations

import contextlib
import os
import sys


def file_sha256(path) -> str:
    """The SHA-256 hex digest of a file, read in 1 MiB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class UserError(ValueError):
    """A problem with what the user asked for (the command line exits 2); its message names the problem."""


def check_output_file(path, *, suffixes=None, flag: str = "--output") -> str:
    """Checks, before any work starts, that a result file can be written at `path`.

    The suffix must be one of `suffixes` (when given); the path must not be a folder; its folder is
    created when missing (a clear error when it cannot be) and must be writable; the file itself is opened
    for writing (and removed again when it did not exist), so a path that no write would reach fails now.
    Returns the path.
    """
    text = os.fspath(path)
    if os.path.isdir(text):
        raise IsADirectoryError(f"{flag} {text} is a folder; give a file name.")
    if suffixes and not text.lower().endswith(tuple(suffixes)):
        raise UserError(f"{flag} must end in {' or '.join(suffixes)}; got {text}.")
    _writable_folder(os.path.dirname(os.path.abspath(text)), f"{flag} {text}: its folder")
    existed = os.path.exists(text)
    try:  # a real write: permissions alone do not tell (root, read-only or virtual file systems such as /proc)
        with open(text, "ab"):
            pass
    except OSError as e:
        raise UserError(f"{flag} {text} cannot be written ({e.strerror or e}).") from None
    if not existed:
        os.remove(text)  # leave nothing behind: the file is written once the work is done
    return text


def check_output_folder(path, *, flag: str = "--out") -> str:
    """Checks, before any work starts, that `path` is (or can be made) a writable folder. Returns it."""
    text = os.fspath(path)
    if os.path.exists(text) and not os.path.isdir(text):
        raise NotADirectoryError(f"{flag} {text} exists and is not a folder.")
    _writable_folder(text, f"{flag} {text}: the folder")
    return text


def _writable_folder(folder: str, what: str) -> None:
    """Creates `folder` when missing; a clear error when that fails or it is not writable."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise UserError(f"{what} {folder} cannot be created ({e.strerror or e}).") from None
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{what} {folder} is not writable.")
    import tempfile

    try:  # a real write, as in check_output_file
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".kerasfer-probe-"):
            pass
    except OSError as e:
        raise UserError(f"{what} {folder} is not writable ({e.strerror or e}).") from None


@contextlib.contextmanager
def replaced_when_done(path):
    """Yields a temporary path beside `path` to write to; when the block ends, that file is renamed to `path`.

    The rename (`os.replace`) is atomic on one file system, so a file under `path` is always whole: an error or an
    interrupt (Ctrl-C) in the block removes the temporary file and leaves whatever `path` held before. The
    temporary name keeps every suffix of `path` (`.weights.h5`, `.npz`) for writers that check it.
    """
    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def save_or_rescue(write, path, what: str = "results") -> str:
    """Calls `write(path)`; if that fails, writes to a file in the temporary folder instead and says where.

    Computed results are never lost to a bad path found late (a full disk, a folder removed meanwhile).
    Returns the path written (the rescue file's when `path` failed: the command then exits 1); raises only
    when the rescue fails too.
    """
    import tempfile

    try:
        write(path)
        return os.fspath(path)
    except OSError as e:
        suffix = os.path.splitext(os.fspath(path))[1]
        fd, rescue = tempfile.mkstemp(prefix="kerasfer_", suffix=suffix)
        os.close(fd)
        write(rescue)
        print(
            f"kerasfer: could not write the {what} to {path} ({e.strerror or e}); they are in {rescue}",
            file=sys.stderr,
        )
        return rescue
