"""`semhm eval`: the paper's SAD, MSE, gradient and connectivity errors per pixel; on the scenes split, per
subset with the hole and leftover rates. Needs scipy (``pip install 'semhm[eval]'``)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path

from semhm_models.errors import ImageError, SemhmError


def add_parser(sub) -> None:
    e = sub.add_parser(
        "eval",
        help="the paper's SAD, MSE, gradient and connectivity errors per pixel; per subset on the scenes split (needs semhm[eval])",
        description="Compare predicted alphas with reference alphas of the same stems. When --gt is the scenes split "
        "(GT/<subset>/alpha/ for portrait, wide, group, empty: `python -m train build-val --scenes`), it reports per subset, "
        "with the hole and leftover rates and, for empty, the share of frames with leftovers over 1% of the image; the "
        "predictions are then in PRED/<subset>/ or all in PRED (`semhm matte GT/*/images -o PRED --format alpha`).",
    )
    e.add_argument("--pred", required=True, help="folder of predicted alpha images")
    e.add_argument("--gt", required=True, help="folder of reference alpha images (same stems), or the scenes split's folder")
    e.add_argument("--region", default="whole", choices=["whole", "unknown"], help="whole image (paper) or trimap unknown band (DIM)")
    e.add_argument("--json", default=None, help="also write per-image and mean errors to this file")
    e.set_defaults(run=run)


def _alphas(folder: Path) -> dict[str, Path]:
    from PIL import Image

    if not folder.is_dir():
        raise SemhmError(f"{folder}: no such folder")
    exts = Image.registered_extensions()
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in exts}


def _score(pred: Path, gt: Path, score: Callable, label: str) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``score(pred, ref)`` of each reference alpha in ``gt`` against the prediction of its stem in ``pred``:
    (rows by stem, error messages for missing or unreadable files)."""
    from semhm_models.images import load_mask
    from semhm_models.progress import progress

    preds, gts = _alphas(pred), _alphas(gt)
    if not gts:
        raise SemhmError(f"{gt}: holds no reference alphas (give a folder of alpha images, or the scenes split with <subset>/alpha/)")
    rows, failed = {}, []
    for stem, g in progress(list(gts.items()), label, name=lambda item: item[0]):  # counts: run's last line
        if stem not in preds:
            failed.append(f"{pred}/{stem}.*: missing prediction for {g}")
            continue
        try:
            ref, p = load_mask(g), load_mask(preds[stem])
        except ImageError as e:
            failed.append(str(e))
            continue
        if p.shape != ref.shape:
            (h, w), (rh, rw) = p.shape, ref.shape
            failed.append(f"{preds[stem]}: prediction is {w}x{h} but the reference alpha {g} is {rw}x{rh}; they must match")
            continue
        rows[stem] = score(p, ref)
    return rows, failed


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("scipy") is None:
        raise SemhmError("semhm eval needs scipy: pip install 'semhm[eval]'")
    import numpy as np

    from semhm_models.metrics import SCENE_SUBSETS

    if args.json:
        from semhm_models.commands.common import check_writable

        if Path(args.json).is_dir():
            raise SemhmError(f"--json {args.json}: is a folder; give a file name")
        check_writable(Path(args.json).parent)  # before the work, not after it
    gt, pred = Path(args.gt), Path(args.pred)
    subsets = [s for s in SCENE_SUBSETS if (gt / s / "alpha").is_dir()]
    if subsets:
        if args.region != "whole":
            raise ValueError(f"--region {args.region}: the scenes split is scored over the whole image (the empty frames have no edge)")
        report, failed = _scenes(pred, gt, subsets)
    else:
        from semhm_models.metrics import matting_errors, unknown_region

        def score(p, ref):
            return matting_errors(p, ref, unknown_region(ref) if args.region == "unknown" else None)

        rows, failed = _score(pred, gt, score, "eval")
        mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in ("sad", "mse", "grad", "conn")} if rows else {}
        report = {"region": args.region, "count": len(rows), "mean": mean, "images": rows}
    report["failed"] = failed
    for f in failed:
        print(f"error: {f}", file=sys.stderr)
    print(f"eval: {report['count']} scored, {len(failed)} failed", file=sys.stderr)
    if not subsets and report["count"]:
        print(f"{report['count']} image{'s' if report['count'] != 1 else ''}, region={args.region}, errors per pixel:")
        print("  " + "  ".join(f"{k.upper()} {v:.5f}" for k, v in report["mean"].items()))
    if args.json:
        from semhm_models.commands.common import write_file

        write_file((json.dumps(report, indent=1) + "\n").encode(), args.json)  # with its failures, even when none scored
    return 1 if failed or not report["count"] else 0


def _scenes(pred: Path, gt: Path, subsets: list[str]) -> tuple[dict, list[str]]:
    """Scores per subset of the scenes split at ``gt``, printed as a table: (the report, error messages)."""
    from semhm_models.metrics import EMPTY_LEFTOVER, frame_scores, summarise

    report: dict = {"split": "scenes", "count": 0, "subsets": {}, "images": {}}
    failed: list[str] = []
    for s in subsets:
        rows, bad = _score(pred / s if (pred / s).is_dir() else pred, gt / s / "alpha", frame_scores, f"eval {s}")
        failed += bad
        if rows:
            report["subsets"][s] = summarise(list(rows.values()), empty=s == "empty")
            report["images"][s] = rows
            report["count"] += len(rows)
    if report["count"]:
        print(f"scenes split, {report['count']} frames: errors per pixel; holes and leftovers as % of the image")
        print(f"  {'subset':<9} {'frames':>6} {'SAD':>8} {'MSE':>8} {'Grad':>8} {'Conn':>8} {'holes':>8} {'leftovers':>9}")
        for s, m in report["subsets"].items():
            line = f"  {s:<9} {m['count']:>6} " + " ".join(f"{m[k]:8.5f}" for k in ("sad", "mse", "grad", "conn"))
            line += f" {m['hole']:8.3%} {m['leftover']:9.3%}"
            if "empty_frames_with_leftovers" in m:
                line += f"  ({m['empty_frames_with_leftovers']:.0%} of the frames have leftovers over {EMPTY_LEFTOVER:.0%} of the image)"
            print(line)
    return report, failed
