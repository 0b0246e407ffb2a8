"""Persons who are not upright: validation persons tilted by 0 (the control), 30, 60 and 90 degrees (lying down),
either way, one per frame over a validation background (3:2, the person's upright height 55-85% of the frame's),
built in memory with a fixed seed from the validation split only (``train/configs/default.json``; the fine cache,
``python -m train build-fine``). Prints per angle: the share of frames where the locator's first pass finds a
person (``processing.person_score`` of its mask at least ``NO_PERSON``), the share the product calls "no person
found" (``Matte.person``), and the product's IoU at 0.5 and SAD per pixel against the frame's alpha.

    python -m benchmarks.tilted [--model W] [--per-angle 12] [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from semhm_models import Matter
from semhm_models import processing as pp
from semhm_models.contracts import LOCATE, LOCATE_TTA
from semhm_models.progress import progress
from train import data, scenes

ANGLES = (0, 30, 60, 90)
FRAME = (576, 864)


def frames(cfg: dict, cache: str, per_angle: int, seed: int = 5026):
    """(angle, image uint8 (H, W, 3), alpha uint8 (H, W)) for each angle, ``per_angle`` frames each, half of them
    tilted clockwise."""
    rng = np.random.default_rng(seed)
    persons = scenes.persons_of(data.load_split(cfg, cache, "val"))
    backgrounds = scenes.load_background_images(cfg, "val")
    for angle in ANGLES:
        for k in range(per_angle):
            pe = persons[int(rng.integers(len(persons)))]
            height = rng.uniform(0.55, 0.85)
            turned, ratio = scenes.tilted(pe, angle if k % 2 else -angle) if angle else (pe, 1.0)
            height *= ratio
            place = scenes.place(turned, FRAME, height, rng.uniform(0.35, 0.65), (1 - height) / 2, bool(rng.random() < 0.5))
            bg = backgrounds[int(rng.integers(len(backgrounds)))]
            image, alpha, _, _ = scenes.compose([turned], [place], bg, FRAME)
            yield angle, image, alpha


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser("python -m benchmarks.tilted", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="weights folder (default: the bundled weights)")
    p.add_argument("--config", default="train/configs/default.json")
    p.add_argument("--cache", default="data/cache")
    p.add_argument("--per-angle", type=int, default=12)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    matter = Matter.from_pretrained(a.model, provider="cpu")
    locate = matter.sessions.get(LOCATE)
    rows: dict[int, list[dict]] = {angle: [] for angle in ANGLES}
    for angle, image, alpha in progress(list(frames(data.load_config(a.config), a.cache, a.per_angle)), "tilted"):
        truth, m = alpha > 127, matter(image)
        got = m.alpha > 0.5
        row = {"iou": float((got & truth).sum() / max((got | truth).sum(), 1)), "sad": float(np.abs(m.alpha - alpha / 255).mean())}
        row["no_person"] = bool(m.no_person)
        if locate is not None:
            lr = pp.lowres(image, pp.lowres_size(*image.shape[:2], "aspect"))
            first = pp.tta_masks(lambda x: locate.run([matter.locate_mask], {"image_lr": x})[0], lr, LOCATE_TTA, range(1))[0]
            row["located"] = pp.person_score(first[0, 0]) >= pp.NO_PERSON
        rows[angle].append(row)
    print(f"{'angle':>5} {'located':>8} {'no person':>10} {'IoU':>6} {'SAD':>7}")
    summary = {}
    for angle, rs in rows.items():
        s = {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
        summary[angle] = s
        print(f"{angle:5d} {100 * s.get('located', float('nan')):7.0f}% {100 * s['no_person']:9.0f}% {s['iou']:6.3f} {s['sad']:7.4f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"model": a.model or "default", "summary": summary, "frames": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
