"""`semhm refine`: a rough mask of the person -> QUN + MRN -> an alpha matte (MPN skipped)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from semhm_models.commands.common import (
    Renderer,
    add_model_args,
    add_output_args,
    check_writable,
    encode,
    file_format,
    fit_format,
    output_format,
    runtime_options,
    write_file,
)
from semhm_models.errors import SemhmError


def add_parser(sub) -> None:
    r = sub.add_parser("refine", help="refine a rough mask into an alpha matte (QUN + MRN; MPN skipped)")
    r.add_argument("image")
    r.add_argument("--mask", required=True, help="rough mask, same size as the image, white = person")
    r.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output file; its suffix (.png .webp .jpg .gif .tif) sets its format"
    )
    add_output_args(r)
    add_model_args(r)
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args)
    options = runtime_options(args)
    out = Path(args.output)
    pil_format = file_format(out)
    if out.is_dir():
        raise SemhmError(f"{out}: is a folder; give a file name")
    if out.resolve() in (Path(args.image).resolve(), Path(args.mask).resolve()):
        raise SemhmError(f"{out}: is an input file; choose another -o")
    if out.exists() and not args.overwrite:
        raise SemhmError(f"{out}: exists (use --overwrite)")
    check_writable(out.parent)
    fmt, bg = fit_format(fmt, args.bg, pil_format, out)
    from semhm_models.api import Matter

    matte = Matter.from_pretrained(args.model, options)(args.image, coarse_mask=args.mask)
    write_file(encode(Renderer(fmt, bg, options.max_pixels)(matte), pil_format), out)
    print(f"wrote {out}", file=sys.stderr)
    return 0
