"""How much of the chain's error is MPN's: MRN given the reference alpha's own 192x160 mask, against MRN
given MPN's mask, on the validation composites (SAD per pixel over the whole image).

    python -m benchmarks.mrn_oracle --run runs/soupj23 --mpn-from runs/soupj23
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from semhm_models import processing as pp
from semhm_models.chain import run_chain
from semhm_models.images import load_mask, load_rgb
from train import checkpoints


def main(argv: list[str] | None = None) -> int:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser("python -m benchmarks.mrn_oracle", description=__doc__, formatter_class=fmt)
    p.add_argument("--run", required=True, help="folder with mrn.safetensors")
    p.add_argument("--mpn-from", required=True, help="folder with mpn.safetensors")
    p.add_argument("--val", default="data/val")
    a = p.parse_args(argv)
    runner = checkpoints.runner(a.run, a.mpn_from, stages=("mpn", "mrn"))
    sad: dict[str, list[float]] = {"reference mask upsampled": [], "MRN on the reference mask": [], "MRN on MPN's mask": []}
    for f in sorted((Path(a.val) / "images").iterdir()):
        rgb, ref = load_rgb(f), load_mask(Path(a.val) / "alpha" / f"{f.stem}.png")
        lhw = pp.lowres_size(*rgb.shape[:2])
        small = pp.resize_plane(ref, lhw)
        image, lr = torch.from_numpy(pp.to_nchw(rgb)), torch.from_numpy(pp.lowres(rgb, lhw))
        on_ref = run_chain(runner, lr, image, coarse=torch.from_numpy(small.copy())[None, None], qun_masks="none")[1]
        on_mpn = run_chain(runner, lr, image, qun_masks="none")[1]
        for name, pred in zip(sad, (pp.resize_plane(small, ref.shape), on_ref[0, 0].numpy(), on_mpn[0, 0].numpy()), strict=True):
            sad[name].append(float(np.abs(pred - ref).mean()))
    for name, xs in sad.items():
        print(f"{name}: SAD {np.mean(xs):.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
