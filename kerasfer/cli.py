"""The `kerasfer` command line.

Each sub-command lives beside the code it drives and is added by a `register(subparsers)`
function; heavy imports (TensorFlow, TFDS, OpenCV) happen inside the command, so
`kerasfer --help` stays fast.
"""

import argparse
import importlib
import sys

# (module, function) pairs; each function adds one or more sub-commands.
_COMMAND_MODULES = [
    "kerasfer.demo",
    "kerasfer.cli_models",
    "kerasfer.training.cli",
    "kerasfer.export.cli",
    "kerasfer.inference.cli",
    "kerasfer.data.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasfer", description="Facial-expression recognition: train, evaluate, export, predict."
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from kerasfer.version import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
