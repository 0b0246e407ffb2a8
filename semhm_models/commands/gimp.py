"""`semhm gimp install|uninstall|status`: the GIMP 3 plug-in (semhm_models.gimp)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from semhm_models.options import PROVIDER_CHOICES


def add_parser(sub) -> None:
    g = sub.add_parser("gimp", help="install or remove the GIMP 3 plug-in")
    g.add_argument("action", choices=["install", "uninstall", "status"])
    g.add_argument("--gimp-dir", default=None, help="GIMP's plug-ins folder (default: the user's GIMP 3 folder)")
    g.add_argument("--model", default=None, metavar="SOURCE", help="weights the plug-in uses (default: bundled)")
    g.add_argument("--provider", default="auto", choices=PROVIDER_CHOICES)
    g.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from semhm_models import gimp
    from semhm_models.errors import SemhmError

    if args.action == "install":
        if args.model is not None and not args.model.startswith("hf://") and (Path(args.model).exists() or args.model[0] in "/.~"):
            from semhm_models.weights import resolve

            resolve(args.model)  # a missing or tampered local model is refused now, not later inside GIMP
        try:
            dst = gimp.install(args.gimp_dir, args.model, args.provider)
        except OSError as e:
            raise SemhmError(f"cannot install the plug-in in {e.filename or args.gimp_dir}: {e.strerror or e}") from None
        print(f"installed the plug-in in {dst}; it runs {sys.executable}. Restart GIMP: Layer > Transparency > Remove Background (semhm)")
    elif args.action == "uninstall":
        dst = gimp.uninstall(args.gimp_dir)
        print(f"removed {dst}" if dst else "the plug-in was not installed")
    else:
        text = gimp.status(args.gimp_dir)
        print(text)
        return 1 if "BROKEN" in text else 0
    return 0
