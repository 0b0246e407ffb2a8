"""`semhm refine`: a rough mask or a box of the person -> the persons of MPN's mask it points at -> MRN -> an alpha matte."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from semhm_models.commands import common
from semhm_models.errors import SemhmError


def add_parser(sub) -> None:
    r = sub.add_parser(
        "refine",
        help="turn a rough mask or a box of a person into a clean alpha matte of that person (QUN + MRN)",
        description="Refine a rough selection into a matte: the mask or box says which person, the photo decides the "
        "edge. A mask (strokes, a mark, rough painting, an outline: a closed ring marks what it encloses) keeps the "
        "whole persons it touches; --box keeps what lies inside the box (a neighbour it touches stays out) and mattes "
        "it in a crop around the box, so that a small person is seen large; a mask whose matte on the whole photo is "
        "small or grey is matted once more in a crop around it (--zoom off: the whole photo only). A person semhm does "
        "not find cannot be brought back by a mask. Writes the cutout (RGBA) by default; --format alpha writes the "
        "alpha alone. A mask of only 0 and 1 is read as a label mask (1 = person).",
    )
    r.add_argument("image", metavar="IMAGE", help="the photo; - reads it from stdin")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--mask", help="rough mask, same size as the image, white = person; - reads it from stdin")
    what.add_argument("--box", type=parse_box, metavar="X0,Y0,X1,Y1", help="a box around the person, in pixels")
    r.add_argument(
        "-o",
        "--output",
        required=True,
        type=common.output_path,
        metavar="OUT",
        help="output file; its suffix (.png .webp .jpg .gif .tif) sets its format; - writes PNG to stdout",
    )
    common.add_output_args(r)
    common.add_model_args(r)
    r.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    fmt = common.output_format(args)
    options = common.runtime_options(args)
    if args.image == common.STDIO and args.mask == common.STDIO:
        raise SemhmError("-: stdin holds one file; give the image or the mask as a file")
    for p in (args.image, args.mask):  # before any skip: a mistyped input is an error, not "exists"
        if p and p != common.STDIO and not Path(p).is_file():
            kind = "is a folder; give an image file" if Path(p).is_dir() else common.NOT_REGULAR if Path(p).exists() else "no such file"
            raise SemhmError(f"{p}: {kind}")
    if args.mask and args.mask != common.STDIO and common.real_path(Path(args.mask)) == common.real_path(Path(args.image)):
        raise SemhmError(f"{args.mask}: is the photo itself; --mask takes a mask painted over the photo (white = person)")
    if args.output == common.STDIO:
        common.check_stdout()
        out, pil_format = common.STDIO, "PNG"
    else:
        out = Path(args.output)
        if out.is_dir():
            raise SemhmError(f"{out}: is a folder; give a file name")
        pil_format = common.file_format(out)
        if common.real_path(out) in {common.real_path(p) for p in (args.image, args.mask) if p and p != common.STDIO}:
            raise SemhmError(f"{out}: is an input file; choose another -o")
        if out.exists() and not args.overwrite:  # as `semhm matte` does: a rerun leaves finished work alone
            print(f"skipped: {out} exists (use --overwrite)", file=sys.stderr)
            return 0
        common.check_writable(out.parent)
    fmt, bg = common.fit_format(fmt, args.bg, pil_format, out)
    from semhm_models.api import Matter

    image, mask = (_stdin() if v == common.STDIO else v for v in (args.image, args.mask))
    matte = Matter.from_pretrained(args.model, options)(image, coarse_mask=args.box or mask)
    where = "box" if args.box else "mask"
    if matte.no_person:  # Matte.person of a refine: MPN's confidence inside the mask or box
        note = f"no person found inside the {where} (score {matte.person:.2f}); the matte is likely empty or wrong"
    elif matte.alpha.max() < 0.5:
        note = f"the refined matte is empty although a person was found inside the {where}"
    else:
        note = None
    if note:
        print(f"warning: {common.STDIN_NAME if args.image == common.STDIO else args.image}: {note}", file=sys.stderr)
    common.write_file(common.encode(common.Renderer(fmt, bg, options.max_pixels)(matte), pil_format), out)
    if out != common.STDIO:
        print(f"wrote {out}", file=sys.stderr)
    return 0


def _stdin() -> io.BytesIO:
    """stdin's bytes as a file the library reads; errors name it <stdin>."""
    data = common.stdin_bytes()
    if not data:
        raise SemhmError(f"{common.STDIN_NAME}: empty input")
    f = io.BytesIO(data)
    f.name = common.STDIN_NAME
    return f


def parse_box(text: str) -> tuple[float, float, float, float]:
    """'X0,Y0,X1,Y1' in pixels -> a box tuple; the values are checked against the image when it is read."""
    parts = text.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        return tuple(float(v) for v in parts)  # type: ignore[return-value]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected X0,Y0,X1,Y1 in pixels, e.g. 40,10,300,620") from None
