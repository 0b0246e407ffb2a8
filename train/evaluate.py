"""Evaluate checkpoints on the validation composites with the runtime's own pre/post-processing.

What is evaluated is a ``Chain``: its modes are ``chain`` (MPN -> QUN -> MRN, or MPN -> MRN with
``qun='none'``) and ``mpn`` (the MPN foreground mask alone, bilinearly upsampled: the segmentation
baseline)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semhm_models import processing as pp
from semhm_models.images import load_mask, load_rgb
from semhm_models.metrics import matting_errors, unknown_region
from semhm_models.progress import progress
from train.export import DEFAULT_TTA, as_exported, load_stage


@dataclass(frozen=True)
class Chain:
    """Which checkpoints to evaluate, and how: ``mode`` chain (MPN -> QUN -> MRN, or MPN -> MRN with
    ``qun`` "none") or mpn (MPN alone, upsampled); MPN with test-time augmentation ``tta`` as exported;
    ``precision`` fp16: half-precision weights and arithmetic (every op's output rounded to fp16, as on a
    GPU), the check of the fp16 files."""

    run: str
    mode: str = "chain"
    qun: str = "use"
    mpn_from: str | None = None
    qun_from: str | None = None
    precision: str = "fp32"
    tta: str = DEFAULT_TTA

    def load(self, stage: str) -> torch.nn.Module:
        folder = {"mpn": self.mpn_from, "qun": self.qun_from}.get(stage) or self.run
        return as_exported(stage, load_stage(stage, folder), self.precision, self.tta)


def predict_dir(images: Path, out: Path, chain: Chain) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    mode = chain.mode
    mpn = chain.load("mpn")
    q = chain.load("qun") if chain.qun == "use" and mode == "chain" else None
    mrn = chain.load("mrn") if mode == "chain" else None
    for f in progress(sorted(images.iterdir()), f"predict {mode}"):
        rgb = load_rgb(f)
        h, w = rgb.shape[:2]
        with torch.no_grad():
            lr = torch.from_numpy(pp.lowres(rgb))
            mask = mpn(lr)[1]
            if mode == "mpn":
                alpha = pp.resize_plane(mask[0, 0].numpy(), (h, w))
            else:
                if q is not None:
                    mask = q(lr, mask)
                alpha = mrn(torch.from_numpy(pp.to_nchw(rgb)), mask)[1][0, 0].numpy()
        Image.fromarray(pp.to_uint8(alpha)).save(out / f"{f.stem}.png")
    return out


REGIONS = {"whole": lambda gt: None, "unknown": unknown_region}  # reference alpha -> region (None: all)


def score_dir(pred: Path, gt: Path, regions: tuple[str, ...] = tuple(REGIONS)) -> dict:
    """Mean errors per pixel in each of ``regions``: the whole image, the trimap unknown band."""
    rows: dict[str, list] = {region: [] for region in regions}
    for g in sorted(gt.iterdir()):
        a = load_mask(g)
        p = load_mask(pred / f"{g.stem}.png", a.shape)
        for region, rs in rows.items():
            rs.append(matting_errors(p, a, REGIONS[region](a)))
    return {
        region: {k: float(np.mean([r[k] for r in rs])) for k in ("sad", "mse", "grad", "conn")} | {"count": len(rs)}
        for region, rs in rows.items()
    }


def evaluate(val: str, out: str, chain: Chain, alpha: str = "alpha") -> dict:
    """Predict ``val``/images, score against ``val``/``alpha`` (e.g. p3m-demo's alpha_p3mnet)."""
    val_dir = Path(val)
    pred = predict_dir(val_dir / "images", Path(out), chain)
    res = score_dir(pred, val_dir / alpha)
    (Path(out) / "metrics.json").write_text(json.dumps(res, indent=1) + "\n")
    return res
