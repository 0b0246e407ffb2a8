"""Refine on a person small in a large photo: the refine split's photos (one person each) set in a photo
``--scale`` times their height and width, reflected (photo-like padding, mirrored persons beside and above
included), with each mask kind padded with zeros; masks eroded away are left out. Prints, per mask kind, SAD per
pixel of the person (the error summed over the photo over the person's reference area) and the IoU at 0.5, as
mean and worst over the photos.

    python -m benchmarks.refine_small --refine data/refine [--scale 3] [--every 8] [--zoom auto|off] [--json F]

With ``--zoom auto`` (the default) a refine whose person is small in the photo runs once more on a crop around
it (``processing.mask_crop``); ``off`` keeps the whole photo at MPN's size, where a person a third of the
photo's height is under 64 px tall."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from semhm_models import Matter
from semhm_models.images import load_mask, load_rgb
from train.scene_eval import REFINE_KINDS

KINDS = ("dilate10", "erode10", "erode30", "lasso", "scribble", "ellipse", "holes")


def small_person(rgb: np.ndarray, ref: np.ndarray, mask: np.ndarray, scale: int) -> tuple[np.ndarray, ...]:
    """``rgb`` (H, W, 3) reflected to (scale H, scale W), the original at the bottom a third of the way across
    (a person the frame's bottom edge cuts stays cut by it, and no mirrored copy touches the person), ``ref`` and
    ``mask`` (H, W) padded with zeros to match."""
    h, w = ref.shape
    pad = ((h * (scale - 1), 0), (w * (scale - 1) // 3, w * (scale - 1) - w * (scale - 1) // 3))
    return np.pad(rgb, (*pad, (0, 0)), mode="reflect"), np.pad(ref, pad), np.pad(mask, pad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--refine", required=True, help="the refine split (python -m train build-val --refine DIR)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--every", type=int, default=8, help="every n-th photo of the split (162 / 8: 21)")
    ap.add_argument("--zoom", default="auto", choices=("auto", "off"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    root = Path(a.refine)
    matter = Matter.from_pretrained(a.model, zoom=a.zoom)
    files = sorted((root / "images").glob("*.png"))[:: a.every]
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS if k in REFINE_KINDS}
    for f in files:
        rgb, ref = load_rgb(f), load_mask(root / "alpha" / f.name)
        for kind, scores in rows.items():
            big, big_ref, mask = small_person(rgb, ref, load_mask(root / "masks" / kind / f.name), a.scale)
            if not mask.any():  # an outline eroded away: refused as an empty mask
                continue
            alpha = matter(big, mask).alpha
            p, r = alpha > 0.5, big_ref > 0.5
            scores.append((float(np.abs(alpha - big_ref).sum() / r.sum()), float((p & r).sum() / (p | r).sum())))
    report = {
        kind: {
            "sad_per_person_pixel": float(np.mean([s for s, _ in v])),
            "iou": float(np.mean([i for _, i in v])),
            "worst_iou": float(np.min([i for _, i in v])),
            "photos": len(v),
        }
        for kind, v in rows.items()
    }
    report["setup"] = {"photos": len(files), "scale": a.scale, "zoom": a.zoom, "model": a.model or "default"}
    print(f"{len(files)} photos x {a.scale}, zoom {a.zoom}: SAD per person pixel, IoU (mean, worst)")
    for kind in rows:
        r = report[kind]
        print(f"  {kind:<9} {r['sad_per_person_pixel']:.4f}  {r['iou']:.3f}  {r['worst_iou']:.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
