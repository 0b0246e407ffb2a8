"""MRN's working side and the guided filter's radius and eps, chosen by measurement: SAD and MSE (per pixel,
alphas rounded to 8 bits as `semhm matte --format alpha` writes them) on image folders with reference alphas.

MRN runs once per image and side (the bundled weights through ``Matter``); the guided filter is then
re-run on MRN's outputs for every (radius, eps). Sides at or above an image's longer side leave it as
before (MRN at full size), so such images score the same for every setting.

    python -m benchmarks.mrn_side --set p3m=../shared/data/p3m-demo:alpha_p3mnet --set val=data/val \\
        --side none --side 1536 --side 1024 --side 768 --side 512 --json docs/mrn_side.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from PIL import Image

from semhm_models import Matter, api
from semhm_models import processing as pp
from semhm_models.commands.common import max_side


def errors(alpha: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """SAD and MSE per pixel of ``alpha`` (float in [0, 1], rounded to 8 bits) against ``ref`` (uint8)."""
    d = pp.to_uint8(alpha).astype(np.float64) / 255 - ref.astype(np.float64) / 255
    return float(np.abs(d).mean()), float((d * d).mean())


def sweep(images: Path, refs: Path, side: int | None, radii, epss, threads: int | None) -> dict:
    """Mean SAD and MSE over ``images`` for MRN at ``side``, per (radius, eps) of the guided filter."""
    recorded: list = []
    guided = pp.guided_upsample

    def record(*args):
        recorded.append(args)
        return guided(*args)

    matter = Matter.from_pretrained(None, provider="cpu", threads=threads, mrn_side=side)
    scores: dict[str, list[tuple[float, float]]] = {}
    api.pp.guided_upsample = record  # the library's own call, recorded for the re-runs below
    try:
        for f in sorted(images.iterdir()):
            ref = np.asarray(Image.open(refs / f"{f.stem}.png").convert("L"))
            recorded.clear()
            base = matter(f).alpha
            for r, eps in itertools.product(radii, epss):
                alpha = guided(*recorded[0][:4], radius=r, eps=eps)[0] if recorded else base
                scores.setdefault(f"r{r}_eps{eps:g}", []).append(errors(alpha, ref))
    finally:
        api.pp.guided_upsample = guided
    return {k: {"sad": float(np.mean(v, 0)[0]), "mse": float(np.mean(v, 0)[1]), "images": len(v)} for k, v in scores.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", required=True, help="NAME=FOLDER[:ALPHA_SUBFOLDER] with images/ and alpha/ (default)")
    p.add_argument("--side", action="append", type=max_side, required=True, help="MRN sides to try (N or none), repeatable")
    p.add_argument("--radius", action="append", type=int, default=None, help="repeatable; default: the library's")
    p.add_argument("--eps", action="append", type=float, default=None, help="repeatable; default: the library's")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    radii, epss = a.radius or [pp.GUIDED_RADIUS], a.eps or [pp.GUIDED_EPS]
    report: dict = {}
    for spec in a.set:
        name, _, where = spec.partition("=")
        folder, _, alpha = where.partition(":")
        for side in a.side:
            res = sweep(Path(folder) / "images", Path(folder) / (alpha or "alpha"), side, radii, epss, a.threads)
            report.setdefault(name, {})[str(side).lower()] = res
            for k, v in res.items():
                print(f"{name} side={side} {k}: SAD {v['sad']:.5f} MSE {v['mse']:.5f}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
