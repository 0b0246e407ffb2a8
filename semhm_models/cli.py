"""The ``semhm`` command line: matte, refine, eval, doctor, download."""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from semhm_models import __version__
from semhm_models import processing as pp
from semhm_models.errors import ImageError, SemhmError
from semhm_models.images import IMAGE_EXTS, load_mask, load_rgb
from semhm_models.options import DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, PRECISION_CHOICES, PROVIDER_CHOICES
from semhm_models.progress import progress

FORMATS = ("rgba", "alpha", "fg", "composite")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, metavar="SOURCE", help="weights: a folder, hf://org/name@rev; default: bundled")
    p.add_argument("--provider", default="auto", choices=PROVIDER_CHOICES, help="execution provider (default: auto)")
    p.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help="longest side MRN runs at; larger inputs are matted smaller and upsampled (default: 4096)",
    )
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse images with more pixels (decompression bombs)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for onnxruntime (default: all cores)")
    p.add_argument(
        "--precision", default="auto", choices=PRECISION_CHOICES, help="weights: auto (fp16 on a GPU where the weights have it), fp32, fp16"
    )


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="rgba", choices=FORMATS, help="rgba cutout (default), 8-bit alpha, foreground colours, or composite")
    p.add_argument("--bg", default="white", help="composite background: a colour (white, #rrggbb, r,g,b) or an image file")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semhm", description="Semantic human matting: photo of a person in, alpha matte out.")
    p.add_argument("--version", action="version", version=f"semhm {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("matte", help="matte files, folders and globs into OUTDIR/<stem>.png")
    m.add_argument("inputs", nargs="+", metavar="INPUT")
    m.add_argument("-o", "--output", required=True, metavar="OUTDIR")
    m.add_argument("--recursive", action="store_true", help="descend into sub-folders (mirrored under OUTDIR)")
    _add_output_args(m)
    _add_model_args(m)

    r = sub.add_parser("refine", help="refine a rough mask into an alpha matte (QUN + MRN; MPN skipped)")
    r.add_argument("image")
    r.add_argument("--mask", required=True, help="rough mask, same size as the image, white = person")
    r.add_argument("-o", "--output", required=True, metavar="OUT.png")
    _add_output_args(r)
    _add_model_args(r)

    e = sub.add_parser("eval", help="the paper's SAD, MSE, gradient and connectivity errors per pixel")
    e.add_argument("--pred", required=True, help="folder of predicted alpha PNGs")
    e.add_argument("--gt", required=True, help="folder of reference alpha PNGs (same stems)")
    e.add_argument("--region", default="whole", choices=["whole", "unknown"], help="whole image (paper) or trimap unknown band (DIM)")
    e.add_argument("--json", default=None, help="also write per-image and mean errors to this file")

    d = sub.add_parser("doctor", help="versions, providers that really work, the device, the weights and their check")
    d.add_argument("--model", default=None, metavar="SOURCE")

    sub.add_parser("demo", help="start the Gradio web demo on 127.0.0.1 (see semhm demo -h)", add_help=False)
    sub.add_parser("bench", help="latency per stage and peak memory at 512x512 .. 3840x2160 (see semhm bench -h)", add_help=False)
    g = sub.add_parser("gimp", help="install or remove the GIMP 3 plug-in")
    g.add_argument("action", choices=["install", "uninstall", "status"])
    g.add_argument("--gimp-dir", default=None, help="GIMP's plug-ins folder (default: the user's GIMP 3.0 folder)")
    g.add_argument("--model", default=None, metavar="SOURCE", help="weights the plug-in uses (default: bundled)")
    g.add_argument("--provider", default="auto", choices=PROVIDER_CHOICES)
    dl = sub.add_parser("download", help="fetch and verify weights into the local cache (then they work offline)")
    dl.add_argument("source", help="hf://org/name@revision")
    dl.add_argument("--cache-dir", default=None)
    return p


def expand_inputs(inputs: list[str], recursive: bool) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(file, relative output stem) pairs, and errors for inputs that match nothing."""
    files: list[tuple[Path, Path]] = []
    errors = []
    for spec in inputs:
        p = Path(spec)
        if p.is_dir():
            found = sorted(p.rglob("*") if recursive else p.iterdir())
            found = [f for f in found if f.is_file() and f.suffix.lower() in IMAGE_EXTS]
            if not found:
                errors.append(f"{spec}: folder holds no images" + ("" if recursive else " (use --recursive for sub-folders)"))
            files += [(f, f.relative_to(p).with_suffix("")) for f in found]
        elif p.exists():
            files.append((p, Path(p.stem)))
        elif glob.has_magic(spec):
            found = sorted(Path(f) for f in glob.glob(spec, recursive=recursive) if Path(f).is_file())
            if not found:
                errors.append(f"{spec}: no files match")
            files += [(f, Path(f.stem)) for f in found]
        else:
            errors.append(f"{spec}: no such file or folder")
    return files, errors


def render(matte, fmt: str, bg_spec: str, max_pixels: int) -> Image.Image:
    if fmt == "rgba":
        return Image.fromarray(matte.cutout(), "RGBA")
    if fmt == "alpha":
        return Image.fromarray(pp.to_uint8(matte.alpha), "L")
    if fmt == "fg":
        return Image.fromarray(pp.to_uint8(matte.foreground), "RGB")
    if Path(bg_spec).is_file():
        bg = load_rgb(bg_spec, max_pixels)
    else:
        bg = pp.parse_color(bg_spec)
    return Image.fromarray(matte.composite(bg), "RGB")


def save_atomic(im: Image.Image, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    im.save(tmp, format="PNG")
    os.replace(tmp, out)


def _check_bg(args) -> None:
    if args.format == "composite" and not Path(args.bg).is_file():
        pp.parse_color(args.bg)  # fail before any work


def _matter(args):
    from semhm_models.api import Matter

    return Matter.from_pretrained(
        args.model,
        provider=args.provider,
        threads=args.threads,
        max_side=args.max_side,
        max_pixels=args.max_pixels,
        precision=args.precision,
    )


def cmd_matte(args) -> int:
    _check_bg(args)
    errors: list[str] = []

    def fail(msg: str) -> None:
        errors.append(msg)
        print(f"error: {msg}", file=sys.stderr)

    files, bad = expand_inputs(args.inputs, args.recursive)
    for msg in bad:
        fail(msg)
    outdir = Path(args.output)
    inputs = {f.resolve() for f, _ in files}
    plan: dict[Path, Path] = {}  # output -> input
    for f, rel in files:
        out = outdir / rel.with_suffix(".png")
        if out.resolve() in inputs:
            fail(f"{f}: output {out} would replace an input file; choose another -o")
        elif out in plan:
            fail(f"{f}: output {out} is already the output of {plan[out]}; rename one of them")
        elif out.exists() and not args.overwrite:
            print(f"skipped: {out} exists (use --overwrite)", file=sys.stderr)
        else:
            plan[out] = f
    done, provider = 0, "no session"
    if plan:
        matter = _matter(args)
        provider = matter.provider
        for out, f in progress(list(plan.items()), "matte"):
            try:
                save_atomic(render(matter(f), args.format, args.bg, args.max_pixels), out)
                done += 1
            except (SemhmError, OSError, ValueError) as e:
                fail(str(e) if str(f) in str(e) else f"{f}: {e}")
    print(f"{done} written to {outdir}, {len(errors)} failed ({provider})", file=sys.stderr)
    return 1 if errors else 0


def cmd_refine(args) -> int:
    _check_bg(args)
    out = Path(args.output)
    if out.resolve() in (Path(args.image).resolve(), Path(args.mask).resolve()):
        raise SemhmError(f"{out}: is an input file; choose another -o")
    if out.exists() and not args.overwrite:
        raise SemhmError(f"{out}: exists (use --overwrite)")
    matte = _matter(args)(args.image, coarse_mask=args.mask)
    save_atomic(render(matte, args.format, args.bg, args.max_pixels), out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _read_alpha_dir(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise SemhmError(f"{folder}: no such folder")
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTS}


def cmd_eval(args) -> int:
    from semhm_models.metrics import matting_errors, unknown_region

    preds, gts = _read_alpha_dir(Path(args.pred)), _read_alpha_dir(Path(args.gt))
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
        Path(args.json).write_text(json.dumps({"region": args.region, "count": len(rows), "mean": mean, "images": rows}, indent=1) + "\n")
    return 1 if failed else 0


def cmd_doctor(args) -> int:
    from semhm_models import runtime, weights

    ok = True
    print(f"semhm {__version__} on Python {platform.python_version()} ({sys.executable})")
    print(f"platform: {platform.platform()}")
    import huggingface_hub
    import PIL

    print(f"numpy {np.__version__}, pillow {PIL.__version__}, huggingface_hub {huggingface_hub.__version__}")
    print(f"onnxruntime packages: {', '.join(runtime.installed_ort()) or 'none'}")
    try:
        w = weights.resolve(args.model)
        print(
            f"weights: {w.source} at {w.folder}: {len(w.manifest['files'])} files, sha256 ok, "
            f"version {w.manifest.get('version')}, precisions {', '.join(w.precisions)}"
        )
        met = w.manifest.get("metrics", {}).get("validation", {})
        if met:
            print(f"weights metrics (validation): {json.dumps(met)}")
    except SemhmError as e:
        print(f"weights: FAILED: {e}")
        ok, w = False, None
    try:
        runtime.import_ort()
        if w is not None:
            for name, state in runtime.working_providers(str(w.path("mrn"))).items():
                print(f"provider {name}: {state}")
            from semhm_models.api import Matter

            m = Matter(w)
            print(f"default session runs on: {m.provider}, {m.precision}")
    except SemhmError as e:
        print(f"onnxruntime: FAILED: {e}")
        ok = False
    print(f"device: {_device_name()}")
    from semhm_models.gimp import status

    print(f"GIMP plug-in: {status()}")
    return 0 if ok else 1


def _device_name() -> str:
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):
        try:
            r = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
            )
            if r.returncode == 0 and r.stdout.strip():
                return "GPU " + r.stdout.strip().replace("\n", "; ")
        except (OSError, subprocess.SubprocessError):
            pass
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, no NVIDIA GPU found"


def cmd_download(args) -> int:
    from semhm_models import weights

    w = weights.resolve(args.source, cache_dir=args.cache_dir) if args.source.startswith("hf://") else None
    if w is None:
        raise SemhmError(f"{args.source}: download takes hf://org/name@revision")
    print(f"{w.source}: verified {len(w.manifest['files'])} files in {w.folder}")
    return 0


def cmd_gimp(args) -> int:
    from semhm_models import gimp

    if args.action == "install":
        dst = gimp.install(args.gimp_dir, args.model, args.provider)
        print(f"installed the plug-in in {dst}; it runs {sys.executable}. Restart GIMP: Layer > Transparency > Remove Background (semhm)")
    elif args.action == "uninstall":
        dst = gimp.uninstall(args.gimp_dir)
        print(f"removed {dst}" if dst else "the plug-in was not installed")
    else:
        print(gimp.status(args.gimp_dir))
    return 0


COMMANDS = {"gimp": cmd_gimp, "matte": cmd_matte, "refine": cmd_refine, "eval": cmd_eval, "doctor": cmd_doctor, "download": cmd_download}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its own parser: it re-runs itself per size in subprocesses
        from semhm_models.bench import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["demo"]:  # the web demo (needs gradio)
        try:
            from semhm_models.demo.app import main as demo_main
        except ImportError as e:
            print(f"error: the demo needs gradio: pip install -e '.[demo]' ({e})", file=sys.stderr)
            return 1
        return demo_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except (SemhmError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
