"""Evaluate checkpoints on the validation composites with the runtime's own pre/post-processing.

What is evaluated is a ``Chain``: its modes are ``chain`` (semhm_models.chain.run_chain on the
checkpoints, MPN -> QUN -> MRN, or MPN -> MRN with ``qun_masks`` coarse or none) and ``mpn`` (the MPN
foreground mask alone, bilinearly upsampled: the segmentation baseline)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semhm_models import processing as pp
from semhm_models.chain import run_chain
from semhm_models.images import load_mask, load_rgb
from semhm_models.metrics import matting_errors, unknown_region
from semhm_models.nets.graphs import DEFAULT_TTA, TorchRunner
from semhm_models.progress import progress
from train import checkpoints


@dataclass(frozen=True)
class Chain:
    """Which checkpoints to evaluate, and how: ``mode`` chain (MPN -> QUN -> MRN, MPN's masks through QUN
    when ``qun_masks`` is "all") or mpn (MPN alone, upsampled); MPN with test-time augmentation ``tta`` as
    exported; ``precision`` fp16: half-precision weights and arithmetic (every op's output rounded to fp16,
    as on a GPU), the check of the fp16 files."""

    run: str
    mode: str = "chain"
    qun_masks: str = "all"
    mpn_from: str | None = None
    qun_from: str | None = None
    precision: str = "fp32"
    tta: str = DEFAULT_TTA

    def runner(self) -> TorchRunner:
        stages = ("mpn",) if self.mode == "mpn" else ("mpn", "qun", "mrn") if self.qun_masks == "all" else ("mpn", "mrn")
        return checkpoints.runner(self.run, self.mpn_from, self.qun_from, self.precision, self.tta, stages)


def predict_dir(images: Path, out: Path, chain: Chain) -> Path:
    """One alpha PNG per image of ``images`` in ``out``, same size, from ``chain``."""
    out.mkdir(parents=True, exist_ok=True)
    runner = chain.runner()
    for f in progress(sorted(images.iterdir()), f"predict {chain.mode}"):
        rgb = load_rgb(f)
        lr = torch.from_numpy(pp.lowres(rgb))
        if chain.mode == "mpn":
            alpha = pp.resize_plane(runner.mpn(lr)[0, 0].numpy(), rgb.shape[:2])
        else:
            alpha = run_chain(runner, lr, torch.from_numpy(pp.to_nchw(rgb)), qun_masks=chain.qun_masks)[1][0, 0].numpy()
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
