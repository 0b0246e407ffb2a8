"""Evaluate checkpoints on the validation composites with the runtime's own pre/post-processing.

What is evaluated is a ``Chain``: its modes are ``chain`` (semhm_models.chain.run_chain on the
checkpoints, MPN -> QUN -> MRN, or MPN -> MRN with ``qun_masks`` coarse or none) and ``mpn`` (the MPN
foreground mask alone, bilinearly upsampled: the segmentation baseline)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from semhm_models import processing as pp
from semhm_models.chain import run_chain
from semhm_models.contracts import DEFAULT_TTA
from semhm_models.images import load_mask, load_rgb
from semhm_models.metrics import matting_errors, unknown_region
from semhm_models.nets.graphs import TorchRunner
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
        stages = ("mpn",) if self.mode == "mpn" else ("mpn", "mrn") if self.qun_masks == "none" else ("mpn", "qun", "mrn")
        return checkpoints.runner(self.run, self.mpn_from, self.qun_from, self.precision, self.tta, stages)

    def predictor(self) -> Callable[..., np.ndarray]:
        """``predict(rgb, coarse=None, kind="mask") -> alpha``: RGB uint8 (H, W, 3) and an optional user's mask
        float32 (H, W) in [0, 1] of ``kind`` "mask" or "box" (it picks its persons out of MPN's mask) -> alpha
        float32 (H, W) in [0, 1], with the runtime's pre/post-processing."""
        runner = self.runner()

        def predict(rgb: np.ndarray, coarse: np.ndarray | None = None, kind: str = "mask") -> np.ndarray:
            lhw = pp.lowres_size(*rgb.shape[:2])
            lr = torch.from_numpy(pp.lowres(rgb, lhw))
            with torch.no_grad():
                if self.mode == "mpn":
                    return pp.resize_plane(runner.mpn(lr)[0, 0].numpy(), rgb.shape[:2])
                mask = None if coarse is None else torch.from_numpy(pp.mask_lowres(coarse, lhw))
                image = torch.from_numpy(pp.to_nchw(rgb))
                return run_chain(runner, lr, image, mask, self.qun_masks, coarse_kind=kind).alpha[0, 0].numpy()

        return predict


def product_predictor(source: str | None = None, threads: int | None = None) -> Callable[..., np.ndarray]:
    """``predict(rgb, coarse=None, kind="mask") -> alpha`` as Chain.predictor, from exported weights through the product
    (``semhm_models.Matter`` on the CPU): bundled default (None), a folder or hf://org/name@rev."""
    from semhm_models import Matter

    matter = Matter.from_pretrained(source, provider="cpu", threads=threads)
    return lambda rgb, coarse=None, kind="mask": matter.matte_rgb(rgb, coarse, mask_kind=kind).alpha


def predict_dir(images: Path, out: Path, predict: Callable[..., np.ndarray]) -> Path:
    """One alpha PNG per image of ``images`` in ``out``, same size, from ``predict`` (Chain.predictor or
    product_predictor)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in progress(sorted(images.iterdir()), "predict"):
        Image.fromarray(pp.to_uint8(predict(load_rgb(f)))).save(out / f"{f.stem}.png")
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


def evaluate(val: str, out: str, predict: Callable[..., np.ndarray], alpha: str = "alpha") -> dict:
    """Predict ``val``/images with ``predict``, score against ``val``/``alpha`` (e.g. p3m-demo's alpha_p3mnet)."""
    val_dir = Path(val)
    pred = predict_dir(val_dir / "images", Path(out), predict)
    res = score_dir(pred, val_dir / alpha)
    (Path(out) / "metrics.json").write_text(json.dumps(res, indent=1) + "\n")
    return res
