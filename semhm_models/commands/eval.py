"""`semhm eval`: the paper's SAD, MSE, gradient and connectivity errors per pixel. Needs scipy
(``pip install 'semhm[eval]'``)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from semhm_models.errors import ImageError, SemhmError


def add_parser(sub) -> None:
    e = sub.add_parser("eval", help="the paper's SAD, MSE, gradient and connectivity errors per pixel (needs semhm[eval])")
    e.add_argument("--pred", required=True, help="folder of predicted alpha images")
    e.add_argument("--gt", required=True, help="folder of reference alpha images (same stems)")
    e.add_argument("--region", default="whole", choices=["whole", "unknown"], help="whole image (paper) or trimap unknown band (DIM)")
    e.add_argument("--json", default=None, help="also write per-image and mean errors to this file")
    e.set_defaults(run=run)


def _alphas(folder: Path) -> dict[str, Path]:
    from PIL import Image

    if not folder.is_dir():
        raise SemhmError(f"{folder}: no such folder")
    exts = Image.registered_extensions()
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in exts}


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("scipy") is None:
        raise SemhmError("semhm eval needs scipy: pip install 'semhm[eval]'")
    import numpy as np

    from semhm_models.images import load_mask
    from semhm_models.metrics import matting_errors, unknown_region
    from semhm_models.progress import progress

    if args.json:
        from semhm_models.commands.common import check_writable

        if Path(args.json).is_dir():
            raise SemhmError(f"--json {args.json}: is a folder; give a file name")
        check_writable(Path(args.json).parent)  # before the work, not after it
    preds, gts = _alphas(Path(args.pred)), _alphas(Path(args.gt))
    if not gts:
        raise SemhmError(f"{args.gt}: holds no reference alphas")
    rows, failed = {}, []
    for stem, g in progress(list(gts.items()), "eval"):
        if stem not in preds:
            failed.append(f"{args.pred}/{stem}.*: missing prediction for {g}")
            continue
        try:
            gt = load_mask(g)
            pred = load_mask(preds[stem], gt.shape)
        except ImageError as e:
            failed.append(str(e))
            continue
        rows[stem] = matting_errors(pred, gt, unknown_region(gt) if args.region == "unknown" else None)
    for f in failed:
        print(f"error: {f}", file=sys.stderr)
    if not rows:
        return 1
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in ("sad", "mse", "grad", "conn")}
    print(f"{len(rows)} images, region={args.region}, errors per pixel:")
    print("  " + "  ".join(f"{k.upper()} {v:.5f}" for k, v in mean.items()))
    if args.json:
        from semhm_models.commands.common import write_file

        report = {"region": args.region, "count": len(rows), "mean": mean, "images": rows}
        write_file((json.dumps(report, indent=1) + "\n").encode(), args.json)
    return 1 if failed else 0
