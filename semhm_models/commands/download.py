"""`semhm download`: fetch and verify weights into the local cache (then they work offline)."""

from __future__ import annotations

import argparse

from semhm_models.errors import SemhmError


def add_parser(sub) -> None:
    dl = sub.add_parser("download", help="fetch and verify weights into the local cache (then they work offline)")
    dl.add_argument("source", help="hf://org/name@revision")
    dl.add_argument("--cache-dir", default=None)
    dl.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from semhm_models import weights

    if not args.source.startswith("hf://"):
        raise SemhmError(f"{args.source}: download takes hf://org/name@revision")
    w = weights.resolve(args.source, cache_dir=args.cache_dir)
    print(f"{w.source}: verified {len(w.manifest.files)} files in {w.folder}")
    return 0
