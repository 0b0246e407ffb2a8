"""How much of the chain's error is MPN's: MRN given the reference alpha's own 192x160 mask, against MRN
given MPN's mask, on the validation composites (SAD per pixel over the whole image).

    python benchmarks/mrn_oracle.py --run runs/soupj23 --mpn-from runs/soupj23
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semhm_models import processing as pp  # noqa: E402
from semhm_models.contracts import MPN_SIZE  # noqa: E402
from semhm_models.images import load_mask, load_rgb  # noqa: E402
from train.export import as_exported, load_stage  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="folder with mrn.safetensors")
    p.add_argument("--mpn-from", required=True, help="folder with mpn.safetensors")
    p.add_argument("--val", default="data/val")
    a = p.parse_args()
    mrn, mpn = load_stage("mrn", a.run), as_exported("mpn", load_stage("mpn", a.mpn_from))
    sad: dict[str, list[float]] = {"reference mask upsampled": [], "MRN on the reference mask": [], "MRN on MPN's mask": []}
    for f in sorted((Path(a.val) / "images").iterdir()):
        rgb, ref = load_rgb(f), load_mask(Path(a.val) / "alpha" / f"{f.stem}.png")
        small = pp.resize_plane(ref, MPN_SIZE)
        with torch.no_grad():
            image = torch.from_numpy(pp.to_nchw(rgb))
            on_ref = mrn(image, torch.from_numpy(small.copy())[None, None])[1][0, 0].numpy()
            on_mpn = mrn(image, mpn(torch.from_numpy(pp.lowres(rgb)))[1])[1][0, 0].numpy()
        for name, pred in zip(sad, (pp.resize_plane(small, ref.shape), on_ref, on_mpn), strict=True):
            sad[name].append(float(np.abs(pred - ref).mean()))
    for name, xs in sad.items():
        print(f"{name}: SAD {np.mean(xs):.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
