"""What refine is for, in one picture (docs/refine_pair.png): a photo, a rough mask (a loose ellipse, a box)
and what semhm's refine makes of it, side by side, with the given weights (default: the bundled ones).

    python -m benchmarks.refine_pair [--model SOURCE] [--photo PHOTO] [--out docs/refine_pair.png]

The rough masks are made as people draw them (``train.usermasks``: the ellipse through the corners of the
person's bounding box, a little beyond; the bounding box with a margin) around the person the automatic
chain finds in the photo, so any photo of one person works. Rerun it when the weights change."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from semhm_models import Matter
from semhm_models import processing as pp
from train.usermasks import user_mask

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "semhm_models" / "demo" / "examples" / "ccp_1288.jpg"
KINDS = ("ellipse", "box")
COLUMNS = ("photo", "rough mask", "refined alpha", "refined, over green")
GREEN = (0, 177, 64)
TILE_H = 360
LABEL_H = 28


def tiles(matter: Matter, photo: Path, kind: str, seed: int = 0) -> list[np.ndarray]:
    """One row: the photo, the rough mask of ``kind``, the refined alpha and the refined composite over green,
    each RGB uint8 at the photo's size."""
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    rough = user_mask(kind, matter(rgb).alpha, np.random.default_rng(seed))
    refined = matter(rgb, coarse_mask=rough)
    grey = lambda a: np.dstack([pp.to_uint8(a)] * 3)  # noqa: E731
    return [rgb, grey(rough), grey(refined.alpha), refined.composite(GREEN)]


def sheet(rows: list[list[np.ndarray]]) -> Image.Image:
    """The rows side by side, each tile scaled to TILE_H high, with the column names on top."""
    scaled = [[Image.fromarray(t).resize((round(t.shape[1] * TILE_H / t.shape[0]), TILE_H), Image.LANCZOS) for t in r] for r in rows]
    tile_w = scaled[0][0].width
    gap = 8
    out = Image.new("RGB", (len(COLUMNS) * (tile_w + gap) + gap, LABEL_H + len(rows) * (TILE_H + gap) + gap), "white")
    draw = ImageDraw.Draw(out)
    for c, name in enumerate(COLUMNS):
        draw.text((gap + c * (tile_w + gap) + 4, 8), name, fill="black")
    for r, row in enumerate(scaled):
        for c, im in enumerate(row):
            out.paste(im, (gap + c * (tile_w + gap), LABEL_H + gap + r * (TILE_H + gap)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.refine_pair", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, metavar="SOURCE", help="weights: a folder, hf://org/name@rev; default: bundled")
    p.add_argument("--photo", type=Path, default=PHOTO, help="a photo of one person")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "refine_pair.png")
    a = p.parse_args(argv)
    matter = Matter.from_pretrained(a.model, provider="cpu")
    sheet([tiles(matter, a.photo, kind) for kind in KINDS]).save(a.out, optimize=True)
    print(f"wrote {a.out}: rows {', '.join(KINDS)}; columns {', '.join(COLUMNS)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
