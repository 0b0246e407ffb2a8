"""MRN's working side and the guided filter's radius and eps, chosen by measurement: SAD and MSE (per pixel,
alphas rounded to 8 bits as `semhm matte --format alpha` writes them) on image folders with reference alphas.

MRN runs once per image and side (the bundled weights through ``Matter``, on the whole photo: ``zoom`` "off"); the
guided filter is then re-run on MRN's outputs for every (radius, eps), its graph built by ``train.guided``. Sides
at or above an image's longer side leave it as before (MRN at full size), so such images score the same for every
setting.

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

from semhm_models import Matter
from semhm_models import processing as pp
from semhm_models.commands.common import max_side
from semhm_models.contracts import GUIDED
from semhm_models.images import load_rgb


def errors(alpha: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """SAD and MSE per pixel of ``alpha`` (float in [0, 1], rounded to 8 bits) against ``ref`` (uint8)."""
    d = pp.to_uint8(alpha).astype(np.float64) / 255 - ref.astype(np.float64) / 255
    return float(np.abs(d).mean()), float((d * d).mean())


class Recorded:
    """The guided filter's session, recording what the library feeds it (MRN's outputs) for the re-runs."""

    def __init__(self, session) -> None:
        self.session, self.feeds = session, []

    def run(self, names, feed):
        self.feeds.append(feed)
        return self.session.run(names, feed)


def sweep(images: Path, refs: Path, side: int | None, radii, epss, threads: int | None) -> dict:
    """Mean SAD and MSE over ``images`` for MRN at ``side``, per (radius, eps) of the guided filter."""
    import onnxruntime as ort

    from train.guided import guided_graph

    matter = Matter.from_pretrained(None, provider="cpu", threads=threads, mrn_side=side, zoom="off")
    recorded = matter.sessions[GUIDED] = Recorded(matter.sessions[GUIDED])
    graphs = {(r, eps): ort.InferenceSession(guided_graph(r, eps).SerializeToString()) for r, eps in itertools.product(radii, epss)}
    scores: dict[str, list[tuple[float, float]]] = {}
    for f in sorted(images.iterdir()):
        ref = np.asarray(Image.open(refs / f"{f.stem}.png").convert("L"))
        recorded.feeds.clear()
        base = matter(f).alpha
        for (r, eps), graph in graphs.items():
            alpha = pp.guided_upsample(*graph.run(None, recorded.feeds[0]), load_rgb(f))[0] if recorded.feeds else base
            scores.setdefault(f"r{r}_eps{eps:g}", []).append(errors(alpha, ref))
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
