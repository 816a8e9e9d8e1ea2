"""The `kerasfer` command line, and its one error boundary.

Each sub-command lives beside the code it drives and is added by a `register(subparsers)`
function; heavy imports (TensorFlow, TFDS, OpenCV) happen inside the command, so
`kerasfer --help` stays fast.

Exit status, the same for every command:

- 0: done.
- 1: a failure while working: an unexpected error, or some inputs could not be processed
  (the command lists them in its results and still writes everything it computed).
- 2: a user error, found before the work or while reading the user's inputs: bad arguments,
  a missing or unwritable path, a file that is not what it should be, a missing optional
  dependency.
- 130: interrupted (Ctrl-C).

Command functions take the parsed arguments and return 0 or 1; they raise for errors, and
`main` turns every error into one line, `kerasfer <command>: error: <message>`, on stderr.
Errors of the kinds in `USER_ERRORS` exit 2; anything else exits 1 (with
`KERASFER_DEBUG=1` the traceback of either is printed too).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

from kerasfer.paths import UserError

# (module, function) pairs; each function adds one or more sub-commands.
_COMMAND_MODULES = [
    "kerasfer.demo",
    "kerasfer.cli_models",
    "kerasfer.training.cli",
    "kerasfer.export.cli",
    "kerasfer.inference.cli",
    "kerasfer.data.cli",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# Exceptions that mean "the user's arguments or inputs are wrong" (exit 2) rather than "kerasfer failed" (exit 1).
USER_ERRORS = (
    UserError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    ImportError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasfer",
        description="Facial-expression recognition: train, evaluate, export, predict.",
        epilog="Exit status: 0 done, 1 failure while working (or some inputs unreadable), 2 user error.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that part of the package is not there
                continue
            raise
        module.register(sub)
    return parser


def error_message(exc: BaseException) -> str:
    """One line for an exception: its message (file errors with their path), without a traceback."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyError | AssertionError) or not isinstance(exc, USER_ERRORS):
        text = f"{type(exc).__name__}: {text}"
    return text


def _debug_traceback() -> None:
    """With `KERASFER_DEBUG=1`, the traceback of the error being handled (user errors too), before its line."""
    if os.environ.get("KERASFER_DEBUG"):
        import traceback

        traceback.print_exc()


def run_command(func, args, command: str = "") -> int:
    """Runs one command function under the error boundary; returns the exit status."""
    prefix = f"kerasfer {command}".rstrip()
    try:
        result = func(args)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as e:
        _debug_traceback()
        print(f"{prefix}: error: {error_message(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:  # noqa: BLE001 - the boundary: one line, exit 1
        _debug_traceback()
        print(f"{prefix}: error: {error_message(e)} (KERASFER_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_FAILURE
    return int(result or 0)


# TensorFlow's native start-up lines, which no setting silences in TF 2.21 (TF_CPP_MIN_LOG_LEVEL does not reach
# the lines absl prints before its logging is initialised): absl's notice, INFO/WARNING lines in the glog format,
# the CUDA-probing errors of a machine without a GPU, LiteRT's note that it created the XNNPACK delegate (every
# .tflite interpreter) and the TFLite converter's quantizer settings (every int8 export).
_NATIVE_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./-]+:\d+\] .*"
    rb"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ (cuda_\w+|cudart_stub)\.cc:\d+\] .*"
    rb"|INFO: Created TensorFlow Lite (XNNPACK )?delegate for CPU\."
    rb"|fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+"
    rb"|To enable the following instructions: .* in other operations, rebuild TensorFlow .*)$"
)
_MAYBE_NOISE = re.compile(
    rb"^(W(A(R(N(I(N(G(:.*)?)?)?)?)?)?)?|I(N(F(O(:.*)?)?)?)?|f(u(l(l(y(_(q.*)?)?)?)?)?)?|[IWE]\d.*|To enable.*)$"
)


def _without_noise(line: bytes, end: bytes = b"\n") -> bytes:
    """A line of stderr with its `end`, or only what precedes a native start-up line in it (a progress bar's
    `\r` does not end a line: the start-up line may follow it on the same one)."""
    head, sep, tail = line.rpartition(b"\r")
    return head + sep if _NATIVE_NOISE.match(tail) else line + end


class NativeLogFilter:
    """Drops TensorFlow's native start-up lines from the process's stderr (file descriptor 2) while active.

    Everything else written to stderr (kerasfer's messages, progress lines, Python warnings, errors) passes
    through unchanged and at once; only text that may still become a start-up line is held until its line ends.
    Used by `main` around every command; `KERASFER_DEBUG=1` turns it off.
    """

    def __init__(self):
        self._saved = None
        self._thread = None

    def __enter__(self):
        import threading

        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            read_end, write_end = os.pipe()
            os.dup2(write_end, 2)
            os.close(write_end)
        except OSError:  # no usable stderr (e.g. closed): leave it alone
            self._saved = None
            return self
        self._thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True)
        self._thread.start()
        return self

    def _pump(self, read_end):
        pending = b""
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            out = b"".join(_without_noise(line) for line in lines)
            if pending and not _MAYBE_NOISE.match(pending.rpartition(b"\r")[2]):
                out, pending = out + pending, b""
            if out:
                os.write(self._saved, out)
        if pending:
            os.write(self._saved, _without_noise(pending, end=b""))
        os.close(read_end)

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, 2)  # closes the pipe's last write end: the pump sees the end and stops
        self._thread.join(timeout=5)
        os.close(self._saved)
        return False


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from kerasfer.version import __version__

        print(__version__)
        return EXIT_OK
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own INFO/WARNING logging, once it is set up
    if os.environ.get("KERASFER_DEBUG"):
        return run_command(args.func, args, args.command or "")
    with NativeLogFilter():
        return run_command(args.func, args, args.command or "")


if __name__ == "__main__":
    raise SystemExit(main())
