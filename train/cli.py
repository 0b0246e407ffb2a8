"""`python -m train COMMAND`: build-fine, build-val, train, average, evaluate, export, guided, publish.

Training on several processes: `torchrun --nproc_per_node N -m train train ...` (docs/training.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from semhm_models.chain import QUN_MASKS, qun_policy
from semhm_models.contracts import DEFAULT_TTA, MPN_INPUTS, MPN_TTA, STAGES
from semhm_models.errors import SemhmError

DEFAULT_CONFIG = str(Path(__file__).parent / "configs" / "default.json")
QUN_HELP = "which masks go through QUN: all (MPN's too, the paper), coarse (users' only), none (the 'without QUN' ablation)"


def _qun_alias(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qun", dest="qun_masks", type=qun_policy, choices=QUN_MASKS, help="deprecated: --qun-masks (use = all)")


def _config(p: argparse.ArgumentParser, cache: bool = True) -> None:
    p.add_argument("--config", default=DEFAULT_CONFIG)
    if cache:
        p.add_argument("--cache", default="data/cache")


def add_build_fine(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("--limit", type=int, default=None, help="only the first N persons of each split")


def run_build_fine(args: argparse.Namespace) -> str:
    from train import data

    return f"fine labels in {data.build_fine(data.load_config(args.config), args.cache, args.limit)}"


def add_build_val(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("--out", default="data/val")
    p.add_argument("--scenes", default=None, metavar="DIR", help="also the scenes split (portrait, wide, group, empty), e.g. data/scenes")
    p.add_argument("--refine", default=None, metavar="DIR", help="also the refine split (--out's composites x mask kinds, boxes)")
    p.add_argument("--seed", type=int, default=None, help="scenes and refine splits: another seed makes a check split")


def run_build_val(args: argparse.Namespace) -> str:
    from train import data, scene_eval

    cfg = data.load_config(args.config)
    seed = scene_eval.SEED if args.seed is None else args.seed
    lines = [f"validation composites in {data.build_val(cfg, args.cache, args.out)}"]
    if args.scenes:
        lines.append(f"scenes split in {scene_eval.build_scenes(cfg, args.cache, args.scenes, seed=seed)}")
    if args.refine:
        lines.append(f"refine split in {scene_eval.build_refine(cfg, args.cache, args.out, args.refine, seed=seed)}")
    return "\n".join(lines)


def add_train(p: argparse.ArgumentParser) -> None:
    from train.stages import FRAMES, QUN_FG, TRAINING_STAGES, StageArgs

    defaults = StageArgs(stage="mpn", run="", config=DEFAULT_CONFIG)
    p.add_argument("--stage", required=True, choices=list(TRAINING_STAGES))
    p.add_argument("--run", required=True, help="folder for checkpoints and logs")
    _config(p)
    for name in ("coarse", "mpn_from", "qun_from", "pretrained", "init_from", "mrn_masks", "mpn_tta"):
        p.add_argument("--" + name.replace("_", "-"), default=getattr(defaults, name))
    p.add_argument("--qun-masks", type=qun_policy, choices=QUN_MASKS, default=defaults.qun_masks, help="mrn: " + QUN_HELP)
    p.add_argument(
        "--frames", choices=FRAMES, default=defaults.frames, help="mpn, qun: scenes (any aspect, 0-4 persons, user masks) or crops"
    )
    fg_help = "qun: MPN's mask input simulated or from the frozen MPN (--mpn-from)"
    p.add_argument("--qun-fg", choices=QUN_FG, default=defaults.qun_fg, help=fg_help)
    p.add_argument("--mpn-input", choices=MPN_INPUTS, default=defaults.mpn_input, help="qun, mrn: MPN's low-res input as exported")
    _qun_alias(p)
    for name in ("steps", "batch", "seed", "threads", "log_every", "save_every", "limit"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(defaults, name))
    p.add_argument("--lr", type=float, default=defaults.lr)


def run_train(args: argparse.Namespace) -> str:
    from train.loop import train
    from train.stages import StageArgs

    return f"checkpoint: {train(StageArgs(**{k: v for k, v in vars(args).items() if k != 'cmd'}))}"


def add_average(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", required=True, choices=list(STAGES))
    p.add_argument("--out", required=True, help="run folder for the averaged checkpoint")
    p.add_argument("sources", nargs="+", help="run folders or .safetensors files sharing a start")


def run_average(args: argparse.Namespace) -> str:
    from train.checkpoints import average

    return f"checkpoint: {average(args.stage, args.sources, args.out)}"


def add_evaluate(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", help="folder of checkpoints (torch)")
    what.add_argument("--model", help="exported weights through the product (onnxruntime): a folder, hf://..., or 'default'")
    p.add_argument("--scenes", default=None, metavar="DIR", help="score the scenes split per subset instead (build-val --scenes)")
    p.add_argument("--refine", default=None, metavar="DIR", help="score the refine split per mask kind instead (build-val --refine)")
    p.add_argument("--val", default="data/val", help="folder with images/ and the reference alphas")
    p.add_argument("--alpha", default="alpha", help="sub-folder of --val with the reference alphas")
    p.add_argument("--out", default=None, help="folder for predicted alphas and metrics.json (required for --val)")
    p.add_argument("--mode", default="chain", choices=["chain", "mpn"])
    p.add_argument("--qun-masks", type=qun_policy, choices=QUN_MASKS, default="all", help=QUN_HELP)
    _qun_alias(p)
    p.add_argument("--mpn-from", default=None)
    p.add_argument("--qun-from", default=None)
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16"], help="fp16: half-precision arithmetic")
    p.add_argument("--mpn-tta", default=DEFAULT_TTA, choices=list(MPN_TTA), help="MPN test-time augmentation, as exported")


def run_evaluate(args: argparse.Namespace) -> str:
    from train import scene_eval
    from train.evaluate import Chain, evaluate, product_predictor

    if args.model:
        predict = product_predictor(None if args.model == "default" else args.model)
    else:
        predict = Chain(args.run, args.mode, args.qun_masks, args.mpn_from, args.qun_from, args.precision, args.mpn_tta).predictor()
    if args.scenes or args.refine:
        res = {"scenes": scene_eval.evaluate_scenes(args.scenes, predict, args.out)} if args.scenes else {}
        res |= {"refine": scene_eval.evaluate_refine(args.refine, predict)} if args.refine else {}
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "metrics.json").write_text(json.dumps(res, indent=1) + "\n")
    else:
        if not args.out:
            raise ValueError("evaluate: give --out, the folder for the predicted alphas")
        res = evaluate(args.val, args.out, predict, args.alpha)
    return json.dumps(res, indent=1)


def add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mpn-from", default=None)
    p.add_argument("--qun-from", default=None)
    p.add_argument("--info", default=None, help="JSON file merged into the manifest (training, licences, metrics)")
    p.add_argument("--precisions", default="fp32,fp16", help="comma-separated: fp32 (always written) and fp16 (for GPUs)")
    p.add_argument("--mpn-tta", default=DEFAULT_TTA, choices=list(MPN_TTA), help="MPN passes averaged in the graph, see MPN_TTA")
    p.add_argument("--qun-masks", type=qun_policy, choices=QUN_MASKS, default="all", help="for the runtime: " + QUN_HELP)
    p.add_argument(
        "--mpn-input", choices=MPN_INPUTS, default="aspect", help="MPN/QUN input: the photo's aspect (aspect) or 192x160 (fixed)"
    )
    p.add_argument("--locate-from", default=None, help="a run whose scene-trained MPN becomes the locator, locate.onnx (optional)")
    p.add_argument(
        "--locate-tta", default="none", choices=list(MPN_TTA), help="passes inside locate.onnx; none: the runtime runs them, see LOCATE"
    )


def run_export(args: argparse.Namespace) -> str:
    from train.export import export, parity

    info = json.loads(Path(args.info).read_text()) if args.info else None
    precisions = tuple(p.strip() for p in args.precisions.split(",") if p.strip())
    export(
        args.run,
        args.out,
        args.mpn_from,
        args.qun_from,
        info,
        precisions,
        args.mpn_tta,
        args.qun_masks,
        args.mpn_input,
        args.locate_from,
        args.locate_tta,
    )
    # fp32 must match torch; fp16 only within its rounding (its quality is measured on validation)
    report = {}
    for precision, limit in (("fp32", 1e-4), ("fp16", 5e-2)):
        if precision == "fp32" or precision in precisions:
            report[precision] = diffs = parity(
                args.run, args.out, mpn_from=args.mpn_from, qun_from=args.qun_from, precision=precision, locate_from=args.locate_from
            )
            if max(diffs.values()) > limit:
                raise ValueError(f"ONNX {precision} parity check failed: {diffs}")
    return json.dumps({"parity_max_abs_diff": report}, indent=1)


def add_import_onnx(p: argparse.ArgumentParser) -> None:
    _config(p)
    p.add_argument("--weights", required=True, help="exported weights folder (manifest.json and ONNX files)")
    p.add_argument("--out", required=True, help="run folder for mpn/qun/mrn.safetensors")


def run_import_onnx(args: argparse.Namespace) -> str:
    from train import data
    from train.onnx_import import import_weights

    return f"checkpoints in {import_weights(args.weights, args.out, data.load_config(args.config), args.cache)}"


def add_guided(p: argparse.ArgumentParser) -> None:
    from semhm_models.processing import GUIDED_EPS, GUIDED_RADIUS

    p.add_argument("--out", default=None, help="where to write it (default: the package's semhm_models/guided.onnx)")
    p.add_argument("--radius", type=int, default=GUIDED_RADIUS, help=f"window radius, pixels of MRN's size (default {GUIDED_RADIUS})")
    p.add_argument("--eps", type=float, default=GUIDED_EPS, help=f"regularisation, > 0; larger smooths more (default {GUIDED_EPS:g})")


def run_guided(args: argparse.Namespace) -> str:
    from train import guided

    return f"guided filter graph in {guided.write(args.out or guided.GUIDED_FILE, args.radius, args.eps)}"


def add_publish(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", required=True, help="exported weights folder")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME")
    p.add_argument("--revision", default=None)


def run_publish(args: argparse.Namespace) -> str:
    from train.publish import publish

    return f"published {args.repo_id} at commit {publish(args.weights, args.repo_id, args.revision)}"


COMMANDS = {  # name: (help, add arguments, run -> the line(s) printed)
    "build-fine": ("fine alphas + foregrounds from masks (cached, resumable)", add_build_fine, run_build_fine),
    "train": (
        "train one stage (mpn, qun, mrn) or fine-tune MPN and MRN together (joint); resumes where it stopped",
        add_train,
        run_train,
    ),
    "average": ("uniform weight average of checkpoints of one stage (a model soup)", add_average, run_average),
    "build-val": ("write the fixed validation composites as PNG files", add_build_val, run_build_val),
    "evaluate": ("score a run's checkpoints or exported weights on the validation, scenes or refine split", add_evaluate, run_evaluate),
    "export": ("ONNX files + manifest for the runtime, with a parity check", add_export, run_export),
    "import-onnx": ("torch checkpoints back from exported ONNX weights, to fine-tune them", add_import_onnx, run_import_onnx),
    "guided": ("write the fast guided filter's ONNX graph (no weights; shipped with the package)", add_guided, run_guided),
    "publish": ("upload ONNX, manifest and a model card to the Hugging Face Hub", add_publish, run_publish),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, (help_, add, _) in COMMANDS.items():
        add(sub.add_parser(name, help=help_))
    args = p.parse_args(argv)
    from train.data import DataError

    try:
        out = COMMANDS[args.cmd][2](args)
    except (DataError, FileNotFoundError, ValueError, SemhmError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if out:
        print(out)
    return 0
