"""The scenes and refine validation splits (issues 13 point 3, 14 point 3) and their scores.

Both splits are built from the validation persons and backgrounds only (config "val" ids, backgrounds
"val"), with fixed seeds, as PNG files:

    scenes/<subset>/images/*.png, alpha/*.png      subsets: portrait, wide, group, empty
    refine/images/*.png, alpha/*.png, masks/<kind>/*.png      each validation composite x each mask kind
    refine/box/images/*.png, alpha/*.png (the chosen person), others/<stem>_<k>.png, boxes.json

Scores are from the product (``semhm_models.Matter``) unless another predictor is given, per pixel over
the whole image: SAD, MSE, Grad, Conn, the hole rate (reference > 0.95 and prediction < 0.5) and the
leftover rate (reference < 0.05 and prediction > 0.5), as shares of the image (``semhm_models.metrics``,
which `semhm eval --gt <scenes>` uses too).

    python -m train build-val --scenes data/scenes --refine data/refine
    python -m train evaluate --model default --scenes data/scenes --refine data/refine --out runs/eval_scenes
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from semhm_models.images import load_mask, load_rgb
from semhm_models.metrics import SCENE_SUBSETS as SUBSETS
from semhm_models.metrics import frame_scores, summarise
from semhm_models.processing import to_uint8
from semhm_models.progress import progress
from train import data, scenes
from train.usermasks import user_mask

# refine split: folder name -> (mask kind, radius in px or None)
REFINE_KINDS = {
    "dilate10": ("dilate", 10),
    "dilate30": ("dilate", 30),
    "dilate60": ("dilate", 60),
    "erode10": ("erode", 10),
    "erode30": ("erode", 30),
    "ellipse": ("ellipse", None),
    "box": ("box", None),
    "lasso": ("lasso", None),
    "scribble": ("scribble", None),
    "holes": ("holes", None),
    "blobs": ("blobs", None),
    "paper": ("paper", None),
}
SEED = 2026

Predictor = Callable[[np.ndarray], np.ndarray]  # RGB uint8 (H, W, 3) -> alpha float32 (H, W) in [0, 1]


# -- building --------------------------------------------------------------------------------------


def _save(path: Path, a: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def _spread(rng: np.random.Generator, n: int) -> np.ndarray:
    """n centres across a frame's width, in order, near enough that neighbours may overlap."""
    c = (np.arange(n) + 0.5) / n
    return np.clip(0.5 + (c - 0.5) * rng.uniform(0.6, 1.1) + rng.uniform(-0.06, 0.06, n), 0.1, 0.9)


def scene_layout(subset: str, persons: list[scenes.Person], rng: np.random.Generator):
    """One validation frame's size and placements: ((H, W), persons, placements)."""
    if subset == "portrait":  # head to waist, 4:5
        hw = (640, 512)
        pe = persons[int(rng.integers(len(persons)))]
        margin, cut = rng.uniform(0.03, 0.12), rng.uniform(0.45, 0.55)
        return hw, [pe], [scenes.place(pe, hw, (1 - margin) / cut, rng.uniform(0.42, 0.58), margin, bool(rng.random() < 0.5))]
    if subset == "wide":  # 16:9, one person at 60-95% of the height, half of them cut by the bottom edge
        hw = (576, 1024)
        pe = persons[int(rng.integers(len(persons)))]
        height = rng.uniform(0.6, 0.95)
        cut = bool(rng.random() < 0.5)
        top = 1 - height * rng.uniform(0.65, 0.92) if cut else rng.uniform(0.01, 0.99 - height)  # cut: 8-35% below
        return hw, [pe], [scenes.place(pe, hw, height, rng.uniform(0.15, 0.85), top, bool(rng.random() < 0.5))]
    if subset == "group":  # 2-3 persons side by side, overlapping at times
        hw = (576, 1024) if rng.random() < 0.5 else (640, 960)
        n = int(rng.integers(2, 4))
        chosen = [persons[i] for i in rng.choice(len(persons), n, replace=False)]
        out = []
        for pe, cx in zip(chosen, _spread(rng, n), strict=True):
            height = rng.uniform(0.55, 0.95)
            top = rng.uniform(max(0.0, 0.9 - height), max(0.02, 1.0 - height))
            out.append(scenes.place(pe, hw, height, cx, top, bool(rng.random() < 0.5)))
        order = rng.permutation(n)
        return hw, [chosen[i] for i in order], [out[i] for i in order]
    if subset == "empty":
        return [(576, 1024), (600, 800), (800, 600), (640, 960)][int(rng.integers(4))], [], []
    raise ValueError(f"unknown subset '{subset}': use one of {', '.join(SUBSETS)}")


def _val_sources(cfg: dict, cache: str | os.PathLike) -> tuple[list[scenes.Person], list[np.ndarray]]:
    return scenes.persons_of(data.load_split(cfg, cache, "val")), scenes.load_background_images(cfg, "val")


def build_scenes(cfg: dict, cache: str | os.PathLike, out: str | os.PathLike, per_subset: int = 48, seed: int = SEED) -> Path:
    """The scenes split: ``per_subset`` frames in each of ``SUBSETS``, validation persons and backgrounds
    only, clean (no relighting or camera degradations). Raises DataError when the cache lacks them."""
    out = Path(out)
    if (out / "DONE").exists():
        return out
    persons, bgs = _val_sources(cfg, cache)
    for s_i, subset in enumerate(SUBSETS):
        rng = np.random.default_rng([seed, s_i])
        for i in progress(range(per_subset), f"scenes {subset}"):
            hw, chosen, placements = scene_layout(subset, persons, rng)
            bg = bgs[int(rng.integers(len(bgs)))]
            image, alpha, _, _ = scenes.compose(chosen, placements, bg, hw)
            _save(out / subset / "images" / f"{subset}_{i:03d}.png", image)
            _save(out / subset / "alpha" / f"{subset}_{i:03d}.png", alpha)
    (out / "DONE").write_text("ok\n")
    return out


def _box_of(a: np.ndarray, rng: np.random.Generator) -> list[int]:
    """The bounding box of ``a`` > 0.5 with a 3-8% margin per side, as [x0, y0, x1, y1] in pixels (x1, y1
    exclusive), clipped to the image."""
    ys, xs = np.nonzero(a > 0.5)
    t, lft, b, r = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
    my, mx = rng.uniform(0.03, 0.08) * (b - t), rng.uniform(0.03, 0.08) * (r - lft)
    h, w = a.shape
    return [int(max(0, lft - mx)), int(max(0, t - my)), int(min(w, np.ceil(r + mx))), int(min(h, np.ceil(b + my)))]


def build_refine(
    cfg: dict, cache: str | os.PathLike, val: str | os.PathLike, out: str | os.PathLike, box_frames: int = 40, seed: int = SEED
) -> Path:
    """The refine split: every composite of ``val`` (images/, alpha/) with a mask of each of
    ``REFINE_KINDS``, and ``box_frames`` 2-3 person frames (validation persons and backgrounds) with a
    box around one mostly visible person (reference: that person's visible alpha)."""
    out, val = Path(out), Path(val)
    if (out / "DONE").exists():
        return out
    stems = sorted(p.stem for p in (val / "alpha").iterdir())
    if not stems:
        raise data.DataError(f"{val}/alpha: no reference alphas; run `python -m train build-val` first")
    for i, stem in enumerate(progress(stems, "refine masks")):
        rgb = load_rgb(data.find_image(val / "images", stem))
        alpha = to_uint8(load_mask(val / "alpha" / f"{stem}.png"))
        _save(out / "images" / f"{stem}.png", rgb)
        _save(out / "alpha" / f"{stem}.png", alpha)
        for k_i, (folder, (kind, radius)) in enumerate(REFINE_KINDS.items()):
            m = user_mask(kind, alpha, np.random.default_rng([seed, i, k_i]), radius)
            _save(out / "masks" / folder / f"{stem}.png", to_uint8(m))
    persons, bgs = _val_sources(cfg, cache)
    rng = np.random.default_rng([seed, 99])
    boxes = {}
    done = tries = 0
    while done < box_frames:
        tries += 1
        if tries > 20 * box_frames:
            raise data.DataError(f"refine box frames: only {done} of {box_frames} frames had a mostly visible person")
        hw, chosen, placements = scene_layout("group", persons, rng)
        hw = (hw[0] * 3 // 4, hw[1] * 3 // 4)  # refine frames at 432x768 / 480x720
        placements = [scenes.Placement(p.scale * 0.75, p.top * 0.75, p.left * 0.75, p.flip) for p in placements]
        image, _, _, pas = scenes.compose(chosen, placements, bgs[int(rng.integers(len(bgs)))], hw)
        vis = scenes.visible(pas)
        own = [v.sum() / max(float((a / 255.0).sum()), 1.0) for v, a in zip(vis, pas, strict=True)]
        candidates = [k for k, o in enumerate(own) if o > 0.7 and (vis[k] > 0.5).sum() > 0.02 * vis[k].size]
        if not candidates:
            continue
        k = candidates[int(rng.integers(len(candidates)))]
        stem = f"box_{done:03d}"
        _save(out / "box" / "images" / f"{stem}.png", image)
        _save(out / "box" / "alpha" / f"{stem}.png", to_uint8(vis[k]))
        for j, v in enumerate(x for n, x in enumerate(vis) if n != k):
            _save(out / "box" / "others" / f"{stem}_{j}.png", to_uint8(v))
        boxes[stem] = _box_of(vis[k], rng)
        done += 1
    (out / "box" / "boxes.json").write_text(json.dumps(boxes, indent=1) + "\n")
    (out / "DONE").write_text("ok\n")
    return out


# -- scoring ---------------------------------------------------------------------------------------


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")


def evaluate_scenes(root: str | os.PathLike, predict: Predictor, save: str | os.PathLike | None = None) -> dict:
    """Scores per subset of the scenes split at ``root`` for ``predict``; predictions saved as 8-bit
    PNGs under ``save``/<subset>/ when given."""
    root = Path(root)
    res = {}
    for subset in SUBSETS:
        if not (root / subset).is_dir():
            continue
        rows = []
        for f in progress(_images(root / subset / "images"), f"evaluate {subset}"):
            pred = np.clip(predict(load_rgb(f)), 0.0, 1.0)
            if save:
                _save(Path(save) / subset / f.name, to_uint8(pred))
            rows.append(frame_scores(pred, load_mask(root / subset / "alpha" / f.name)))
        res[subset] = summarise(rows, subset == "empty")
    if not res:
        raise data.DataError(f"{root}: no scenes subsets; run `python -m train build-val --scenes {root}`")
    return res


def _sad_mse(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    d = pred.astype(np.float64) - ref
    return {"sad": float(np.abs(d).mean()), "mse": float((d * d).mean())}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def evaluate_refine(root: str | os.PathLike, predict: Callable[..., np.ndarray]) -> dict:
    """Per mask kind: SAD and MSE of the input mask, of the refined matte (``predict(rgb, mask)``, e.g. the
    product's ``lambda rgb, m=None, kind="mask": matter.matte_rgb(rgb, m, mask_kind=kind).alpha`` or a run's
    ``Chain.predictor()``) and of the automatic chain (``predict(rgb)``, no mask) on the same images. Box
    frames: the box filled as a mask of kind "box" (``predict(rgb, mask, "box")``), scored by the chosen
    person's IoU at 0.5 and by how much of every other person's area (visible alpha > 0.5) is predicted
    > 0.5; beside them what the automatic chain gives there (how much of the chosen person it covers, and
    its matte cut to the box's IoU)."""
    root = Path(root)
    kinds = [k for k in REFINE_KINDS if (root / "masks" / k).is_dir()]
    rows: dict[str, dict[str, list]] = {k: {"mask": [], "refined": [], "auto": []} for k in kinds}
    for f in progress(_images(root / "images"), "evaluate refine"):
        rgb = load_rgb(f)
        ref = load_mask(root / "alpha" / f.name)
        auto = _sad_mse(predict(rgb), ref)
        for k in kinds:
            m = load_mask(root / "masks" / k / f.name)
            rows[k]["mask"].append(_sad_mse(m, ref))
            rows[k]["refined"].append(_sad_mse(predict(rgb, m), ref))
            rows[k]["auto"].append(auto)
    res: dict = {k: {what: _mean(r) for what, r in v.items()} | {"count": len(v["mask"])} for k, v in rows.items()}
    box_dir = root / "box"
    if box_dir.is_dir():
        boxes = json.loads((box_dir / "boxes.json").read_text())
        ious, covers, worst, mask_rows, refined_rows, auto_ious, auto_covers = [], [], [], [], [], [], []
        for stem, (x0, y0, x1, y1) in progress(sorted(boxes.items()), "evaluate boxes"):
            rgb = load_rgb(box_dir / "images" / f"{stem}.png")
            ref = load_mask(box_dir / "alpha" / f"{stem}.png")
            m = np.zeros(ref.shape, np.float32)
            m[y0:y1, x0:x1] = 1.0
            pred = predict(rgb, m, "box")
            p, r = pred > 0.5, ref > 0.5
            ious.append(float((p & r).sum() / max((p | r).sum(), 1)))
            auto = predict(rgb) > 0.5  # the ceiling MPN sets: the automatic matte, cut to the box
            auto_covers.append(float((auto & r).sum() / max(r.sum(), 1)))
            auto &= m > 0.5
            auto_ious.append(float((auto & r).sum() / max((auto | r).sum(), 1)))
            others = [load_mask(o) > 0.5 for o in sorted((box_dir / "others").glob(f"{stem}_*.png"))]
            shares = [float((p & o).sum() / max(o.sum(), 1)) for o in others]
            covers += shares
            worst.append(max(shares, default=0.0))
            mask_rows.append(_sad_mse(m, ref))
            refined_rows.append(_sad_mse(pred, ref))
        res["box_one_of_group"] = {
            "iou": float(np.mean(ious)),
            "frames_iou_at_least_0.9": float(np.mean([i >= 0.9 for i in ious])),
            "other_covered_mean": float(np.mean(covers)),
            "frames_all_others_at_most_5pct": float(np.mean([w <= 0.05 for w in worst])),
            "auto_covers_person": float(np.mean(auto_covers)),
            "auto_in_box_iou": float(np.mean(auto_ious)),
            "mask": _mean(mask_rows),
            "refined": _mean(refined_rows),
            "count": len(ious),
        }
    return res
