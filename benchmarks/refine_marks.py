"""Refine with the marks people make, on persons of every size: validation CCP persons (``--ids``) pasted with
their label masks over BSDS500 photos, on canvases 1-6 times the person photo's height (the person a sixth of
the canvas at 6), refined from a dot on the face, a dot on the torso, a stroke down the body, an outline (the
person grown by 12 px), a ring drawn round it (6 px wide, not filled; cut open where the person meets the photo's
edge) and an ellipse around it. Prints the mean IoU at 0.5 against the person's label per
mark and scale, with ``--zoom`` auto and off side by side.

    python -m benchmarks.refine_marks [--data ../shared/data] [--ids 0004,0022,...] [--scales 1,2,3,4,6] [--json F]

The persons are the validation split's (``train/configs/default.json``); the backgrounds are the first three
BSDS500 photos by name, whichever split they are in (they are scenery here, not what is scored)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from semhm_models import Matter
from semhm_models import processing as pp

MARKS = ("face dot", "torso dot", "stroke", "outline", "ring", "ellipse")
IDS = "0004,0022,0035,0066,0097,0111,0129,0169"


def canvas(data: Path, pid: str, background: Path, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The person ``pid`` pasted (label > 0) a third of the way across and halfway down a background photo resized
    to ``scale`` times the person photo's height and 1.3 ``scale`` its width: RGB uint8, person bool, labels."""
    im = np.asarray(Image.open(data / "ccp" / "images" / f"{pid}.jpg").convert("RGB"))
    lab = np.asarray(Image.open(data / "ccp" / "labels" / f"{pid}.png"))
    h, w = lab.shape
    big_h, big_w = int(h * scale), int(w * scale * 1.3)
    out = np.array(Image.open(background).convert("RGB").resize((big_w, big_h)))
    y, x = (big_h - h) // 2, (big_w - w) // 3
    a = (lab > 0)[..., None]
    out[y : y + h, x : x + w] = np.where(a, im, out[y : y + h, x : x + w])
    labels = np.zeros((big_h, big_w), np.uint8)
    labels[y : y + h, x : x + w] = lab
    return out, labels > 0, labels


def mark(kind: str, person: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A user's mark of ``kind`` on the person (bool (H, W)); ``labels``: CCP's (41 = skin: the face's pixels)."""
    ys, xs = np.nonzero(person)
    top, height = ys.min(), ys.max() - ys.min()
    if kind == "outline":
        return pp.dilate(person, 12).astype(np.float32)
    if kind == "ring":  # an outline drawn as a line round the person, not filled
        return (pp.dilate(person, 16) & ~pp.dilate(person, 10)).astype(np.float32)
    m = Image.new("L", person.shape[::-1])
    draw, r = ImageDraw.Draw(m), max(4.0, 0.015 * height)
    face = (labels == 41) & (np.arange(person.shape[0]) < top + 0.2 * height)[:, None]
    fy, fx = np.nonzero(face) if face.any() else (ys[ys < top + 0.1 * height], xs[ys < top + 0.1 * height])
    centre = {"face dot": (fx.mean(), fy.mean()), "torso dot": (xs.mean(), ys.mean())}
    if kind in centre:
        cx, cy = centre[kind]
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif kind == "stroke":
        draw.line([(xs.mean(), top + 0.15 * height), (xs.mean(), top + 0.6 * height)], fill=255, width=int(2 * r))
    else:  # an ellipse around the person, a little beyond it
        wide = xs.max() - xs.min()
        draw.ellipse([xs.min() - 0.1 * wide, top - 0.05 * height, xs.max() + 0.1 * wide, ys.max() + 0.05 * height], fill=255)
    return np.asarray(m, np.float32) / 255


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--model", default=None)
    ap.add_argument("--ids", default=IDS, help="CCP person ids of the validation split")
    ap.add_argument("--scales", default="1,2,3,4,6")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    data = Path(a.data)
    backgrounds = sorted((data / "backgrounds").glob("*.jpg"))[:3]
    matters = {zoom: Matter.from_pretrained(a.model, zoom=zoom) for zoom in ("off", "auto")}
    scores: dict[str, dict[str, list[float]]] = {zoom: {} for zoom in matters}
    for n, pid in enumerate(a.ids.split(",")):
        for scale in (float(s) for s in a.scales.split(",")):
            rgb, person, labels = canvas(data, pid, backgrounds[n % len(backgrounds)], scale)
            for kind in MARKS:
                m = mark(kind, person, labels)
                for zoom, matter in matters.items():
                    got = matter(rgb, m).alpha > 0.5
                    iou = float((got & person).sum() / max((got | person).sum(), 1))
                    scores[zoom].setdefault(f"{kind} x{scale:g}", []).append(iou)
    keys = list(scores["auto"])
    print(f"{'mark x scale':<16} {'IoU off':>8} {'IoU auto':>9}")
    for k in keys:
        print(f"{k:<16} {np.mean(scores['off'][k]):8.3f} {np.mean(scores['auto'][k]):9.3f}")
    means = {zoom: float(np.mean([np.mean(v) for v in s.values()])) for zoom, s in scores.items()}
    print(f"{'mean':<16} {means['off']:8.3f} {means['auto']:9.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"ids": a.ids, "scales": a.scales, "iou": scores, "mean": means}, indent=1) + "\n")


if __name__ == "__main__":
    main()
