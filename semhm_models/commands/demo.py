"""`semhm demo`: the Gradio web demo (semhm_models.demo.app), which needs ``pip install 'semhm[demo]'``."""

from __future__ import annotations

import argparse
import importlib.util
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="start the Gradio web demo on 127.0.0.1 (see semhm demo -h; needs semhm[demo])", add_help=False)
    p.set_defaults(run=run, passthrough=True)  # its own options go to the demo's parser


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("gradio") is None:
        print("error: the web demo needs gradio: pip install 'semhm[demo]'", file=sys.stderr)
        return 1
    from semhm_models.demo.app import main

    return main(args.extra)
