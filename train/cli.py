"""`python -m train COMMAND`: build-fine, train, export, evaluate, publish."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_CONFIG = str(Path(__file__).parent / "configs" / "default.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build-fine", help="fine alphas + foregrounds from masks (cached, resumable)")
    b.add_argument("--config", default=DEFAULT_CONFIG)
    b.add_argument("--cache", default="data/cache")
    b.add_argument("--limit", type=int, default=None, help="only the first N persons of each split")
    t = sub.add_parser("train", help="train one stage (mpn, qun, mrn) or fine-tune MPN and MRN together (joint); resumes where it stopped")
    from semhm_models.weights import QUN_MASKS
    from train.export import DEFAULT_TTA, MPN_TTA
    from train.stages import STAGES, StageArgs

    defaults = StageArgs(stage="mpn", run="", config=DEFAULT_CONFIG)
    t.add_argument("--stage", required=True, choices=list(STAGES))
    t.add_argument("--run", required=True, help="folder for checkpoints and logs")
    t.add_argument("--config", default=DEFAULT_CONFIG)
    for name in ("cache", "coarse", "qun", "mpn_from", "qun_from", "pretrained", "init_from", "mrn_masks", "mpn_tta"):
        t.add_argument("--" + name.replace("_", "-"), default=getattr(defaults, name))
    for name in ("steps", "batch", "seed", "threads", "log_every", "save_every", "limit"):
        t.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    t.add_argument("--lr", type=float, default=defaults.lr)
    av = sub.add_parser("average", help="uniform weight average of checkpoints of one stage (a model soup)")
    av.add_argument("--stage", required=True, choices=["mpn", "qun", "mrn"])
    av.add_argument("--out", required=True, help="run folder for the averaged checkpoint")
    av.add_argument("sources", nargs="+", help="run folders or .safetensors files sharing a start")
    v = sub.add_parser("build-val", help="write the fixed validation composites as PNG files")
    v.add_argument("--config", default=DEFAULT_CONFIG)
    v.add_argument("--cache", default="data/cache")
    v.add_argument("--out", default="data/val")
    ev = sub.add_parser("evaluate", help="predict the validation composites with a run's checkpoints and score them")
    ev.add_argument("--run", required=True)
    ev.add_argument("--val", default="data/val", help="folder with images/ and the reference alphas")
    ev.add_argument("--alpha", default="alpha", help="sub-folder of --val with the reference alphas")
    ev.add_argument("--out", required=True, help="folder for predicted alphas and metrics.json")
    ev.add_argument("--mode", default="chain", choices=["chain", "mpn"])
    ev.add_argument("--qun", default="use", choices=["use", "none"])
    ev.add_argument("--mpn-from", default=None)
    ev.add_argument("--qun-from", default=None)
    ev.add_argument("--precision", default="fp32", choices=["fp32", "fp16"], help="fp16: half-precision arithmetic")
    ev.add_argument("--mpn-tta", default=DEFAULT_TTA, choices=list(MPN_TTA), help="MPN test-time augmentation, as exported")
    ex = sub.add_parser("export", help="ONNX files + manifest for the runtime, with a parity check")
    ex.add_argument("--run", required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--mpn-from", default=None)
    ex.add_argument("--qun-from", default=None)
    ex.add_argument("--info", default=None, help="JSON file merged into the manifest (training, licences, metrics)")
    ex.add_argument("--precisions", default="fp32,fp16", help="comma-separated: fp32 (always written) and fp16 (for GPUs)")
    ex.add_argument(
        "--mpn-tta", default=DEFAULT_TTA, choices=list(MPN_TTA), help="MPN passes averaged in the graph, see train.export.MPN_TTA"
    )
    ex.add_argument(
        "--qun-masks", default="all", choices=list(QUN_MASKS), help="masks the runtime sends through QUN: all (paper) or users' only"
    )
    pb = sub.add_parser("publish", help="upload ONNX, manifest and a model card to the Hugging Face Hub")
    pb.add_argument("--weights", required=True, help="exported weights folder")
    pb.add_argument("--repo-id", required=True, metavar="ORG/NAME")
    pb.add_argument("--revision", default=None)
    args = p.parse_args(argv)
    from train import data

    try:
        if args.cmd == "build-fine":
            cfg = data.load_config(args.config)
            out = data.build_fine(cfg, args.cache, args.limit)
            print(f"fine labels in {out}")
        elif args.cmd == "train":
            from train.stages import train_stage

            kw = {k: v for k, v in vars(args).items() if k != "cmd"}
            print(f"checkpoint: {train_stage(StageArgs(**kw))}")
        elif args.cmd == "average":
            from train.stages import average_checkpoints

            print(f"checkpoint: {average_checkpoints(args.stage, args.sources, args.out)}")
        elif args.cmd == "build-val":
            print(f"validation composites in {data.build_val(data.load_config(args.config), args.cache, args.out)}")
        elif args.cmd == "evaluate":
            from train.evaluate import Chain, evaluate

            chain = Chain(args.run, args.mode, args.qun, args.mpn_from, args.qun_from, args.precision, args.mpn_tta)
            res = evaluate(args.val, args.out, chain, args.alpha)
            print(json.dumps(res, indent=1))
        elif args.cmd == "export":
            from train.export import export, parity

            info = json.loads(Path(args.info).read_text()) if args.info else None
            precisions = tuple(p.strip() for p in args.precisions.split(",") if p.strip())
            export(args.run, args.out, args.mpn_from, args.qun_from, info, precisions, args.mpn_tta, args.qun_masks)
            # fp32 must match torch; fp16 only within its rounding (its quality is measured on validation)
            report = {}
            for precision, limit in (("fp32", 1e-4), ("fp16", 5e-2)):
                if precision == "fp32" or precision in precisions:
                    diffs = parity(args.run, args.out, mpn_from=args.mpn_from, qun_from=args.qun_from, precision=precision)
                    report[precision] = diffs
                    if max(diffs.values()) > limit:
                        raise ValueError(f"ONNX {precision} parity check failed: {diffs}")
            print(json.dumps({"parity_max_abs_diff": report}, indent=1))
        elif args.cmd == "publish":
            from train.publish import publish

            print(f"published {args.repo_id} at commit {publish(args.weights, args.repo_id, args.revision)}")
    except (data.DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
