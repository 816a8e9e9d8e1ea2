"""`kerasfer models`: the registered models with their parameters and MACs (`--weights`: the packaged weights).

It reads the catalog (`kerasfer.model_catalog`), so it imports neither Keras nor TensorFlow; `--build` builds the
models and counts instead (models registered by your own code appear only then).
"""

import json


def register(sub):
    p = sub.add_parser("models", help="list the registered models with params and MACs")
    p.add_argument("--names", nargs="*", help="only these models")
    p.add_argument(
        "--build", action="store_true", help="build each model and count (slow, imports TensorFlow), not the catalog"
    )
    p.add_argument("--no-macs", action="store_true", help="with --build: skip the MAC count (no forward pass)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    p.add_argument(
        "--weights", action="store_true",
        help="list the trained weights shipped in the package (accuracy and size from their cards) instead",
    )  # fmt: skip
    p.set_defaults(func=_run)


def _run(args):
    from kerasfer import model_catalog
    from kerasfer.utils.tables import markdown_table
    from kerasfer.utils.tables import weights_table

    if args.weights:
        if args.build or args.names or args.no_macs:
            raise ValueError("--weights lists the packaged weights: it takes no --names, --build or --no-macs.")
        rows = model_catalog.packaged_weights_rows()
        print(json.dumps(rows, indent=2) if args.json else weights_table(rows))
        return 0
    if args.build:
        rows = model_catalog.build_catalog(args.names or None, with_macs=not args.no_macs)
    else:
        rows = model_catalog.select(model_catalog.read_catalog(), args.names)
        if args.no_macs:
            rows = [{**r, "macs": None} for r in rows]
    print(json.dumps(rows, indent=2) if args.json else markdown_table(rows))
    return 0
