"""`kerasfer models`: the registered models with their parameters and MACs."""

import json


def register(sub):
    p = sub.add_parser("models", help="list the registered models with params and MACs")
    p.add_argument("--names", nargs="*", help="only these models")
    p.add_argument("--no-macs", action="store_true", help="skip the MAC count (no forward pass)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    p.set_defaults(func=_run)


def _run(args):
    from kerasfer import utils

    rows = utils.model_table(args.names or None, with_macs=not args.no_macs)
    print(json.dumps(rows, indent=2) if args.json else utils.markdown_table(rows))
    return 0
