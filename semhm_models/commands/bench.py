"""`semhm bench`: end-to-end latency (decode excluded and included), per-stage time and peak memory.

Each (provider, size) runs in a fresh subprocess so that its peak RSS is its own. The input is a real
photo resized to each size and JPEG-encoded in memory, so "decode" is a real JPEG decode."""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from semhm_models.commands.common import max_side
from semhm_models.errors import RuntimeSetupError, SemhmError
from semhm_models.images import load_rgb
from semhm_models.options import DEFAULT_MAX_PIXELS, DEFAULT_MRN_SIDE, PRECISION_CHOICES, PROVIDER_CHOICES, ZOOM_CHOICES, RuntimeOptions

SIZES = ((512, 512), (800, 800), (1920, 1080), (3840, 2160))  # (width, height)
BIG_PIXELS = 2_100_000  # above this (about 1920x1080), a row times a third of --repeats: each run takes seconds
TIMINGS = ("decode", "locate", "pre", "mpn", "qun", "mrn", "upsample", "post")  # the columns of the per-stage timing table
SETUP_FAILED = 3  # a size's subprocess exits so when its provider cannot be set up (RuntimeSetupError)
PHOTO = Path(__file__).resolve().parent / "data" / "bench.jpg"  # package data, see data/ATTRIBUTION.md


def photo(w: int, h: int, path: str | os.PathLike = PHOTO) -> bytes:
    """The benchmark photo (by default a real portrait, a person beside a poster's lettering; any photo with
    ``--photo``, decoded as semhm decodes it) as an encoded file ``w`` x ``h`` pixels large: the file itself when
    that is its size (so "decode" times its own format), else resized (stretched) and saved as JPEG (quality 92;
    PNG over 65500 px a side, JPEG's limit)."""
    rgb = load_rgb(path)
    if rgb.shape[1::-1] == (w, h):
        return Path(path).read_bytes()
    buf = io.BytesIO()
    Image.fromarray(rgb).resize((w, h), Image.BICUBIC).save(buf, "JPEG" if max(w, h) < 65500 else "PNG", quality=92)
    return buf.getvalue()


def _stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": 1000 * statistics.median(xs), "p90_ms": 1000 * xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]}


def run_one(
    w: int,
    h: int,
    provider: str,
    repeats: int,
    warmup: int,
    model: str | None,
    threads: int | None,
    precision: str,
    mrn_side: int | None,
    path: str | os.PathLike = PHOTO,
    zoom: str = "auto",
) -> dict:
    """Measure one size in this process (called in a subprocess by ``bench``)."""
    from semhm_models.api import Matter

    data = photo(w, h, path)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    matter = Matter.from_pretrained(
        model, RuntimeOptions(provider=provider, threads=threads, precision=precision, mrn_side=mrn_side, zoom=zoom)
    )
    rows = []
    for i in range(warmup + repeats):
        if i == warmup:
            start = time.perf_counter()
        t0 = time.perf_counter()
        rgb = load_rgb(Image.open(io.BytesIO(data)))
        t1 = time.perf_counter()
        m = matter.matte_rgb(rgb)
        t2 = time.perf_counter()
        if i >= warmup:
            rows.append({"decode": t1 - t0, "model": t2 - t1, "total": t2 - t0, **m.timings})
    wall = time.perf_counter() - start
    return {
        "size": f"{w}x{h}",
        "photo": Path(path).name,
        "zoom": zoom,
        "provider": matter.provider,
        "precision": matter.precision,
        "mrn_side": mrn_side,
        "repeats": repeats,
        "end_to_end_excl_decode": _stats([r["model"] for r in rows]),
        "end_to_end_incl_decode": _stats([r["total"] for r in rows]),
        "throughput_images_per_s": repeats / wall,  # the repeats as a batch of photos, decode included
        "stages_median_ms": {s: 1000 * statistics.median(r.get(s, 0.0) for r in rows) for s in TIMINGS},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_session_mb": rss0 / 1024,
    }


def bench(
    providers: list[str],
    sizes=SIZES,
    repeats: int = 10,
    warmup: int = 2,
    model: str | None = None,
    threads: int | None = None,
    precisions: tuple[str, ...] = ("auto",),
    mrn_sides: tuple[int | None, ...] = (None, DEFAULT_MRN_SIDE),
    path: str | os.PathLike = PHOTO,
    zoom: str = "auto",
) -> dict:
    """Each (provider, precision, MRN side, size) in a fresh subprocess, in that order, on ``path`` resized to each
    size: a report of the host and one result per combination (or its error; a provider that cannot be set up is
    tried once)."""
    results, cannot = [], set()
    for provider, precision, mrn_side in itertools.product(providers, precisions, mrn_sides):
        for w, h in sizes:
            if provider in cannot:  # its setup failed (no CUDA): said once, in its first row
                continue
            reps = repeats if w * h <= BIG_PIXELS else max(3, repeats // 3)
            cmd = [
                sys.executable,
                "-m",
                "semhm_models.commands.bench",
                "--one",
                f"{w}x{h}",
                "--provider",
                provider,
                "--repeats",
                str(reps),
                "--warmup",
                str(warmup),
                "--precision",
                precision,
                "--mrn-side",
                str(mrn_side).lower(),
                "--photo",
                str(path),
                "--zoom",
                zoom,
            ]
            cmd += ["--model", model] if model else []
            cmd += ["--threads", str(threads)] if threads else []
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
                error = last.removeprefix("error: ")
                if r.returncode == SETUP_FAILED:  # every size would fail alike
                    cannot.add(provider)
                results.append({"size": f"{w}x{h}", "provider": provider, "precision": precision, "mrn_side": mrn_side, "error": error})
                continue
            results.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return {"host": host_info(), "results": results}


def host_info() -> dict:
    from semhm_models.runtime import installed_ort

    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "onnxruntime": installed_ort(), "commit": commit()}


def commit() -> str | None:
    """The git commit semhm runs from (with "+changes" when its files differ from it), or None outside a checkout."""
    here = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def table(report: dict) -> str:
    head = "| provider | precision | MRN side | size | runs | e2e excl. decode median / p90 (ms) | incl. decode median (ms) | "
    lines = [head + " | ".join(TIMINGS) + " | images/s | peak RSS (MB) |", "|---" * (9 + len(TIMINGS)) + "|"]
    for r in report["results"]:
        side = r.get("mrn_side") or "none"  # reports from before the option ran MRN at full size
        first = f"| {r['provider']} | {r.get('precision', '')} | {side} | {r['size']} |"
        if "error" in r:
            lines.append(f"{first} | error: {r['error']} |")
            continue
        s, ex, inc = r["stages_median_ms"], r["end_to_end_excl_decode"], r["end_to_end_incl_decode"]
        stages = " | ".join(f"{s[k]:.1f}" for k in TIMINGS)
        cells = f"{r.get('repeats', '')} | {ex['median_ms']:.1f} / {ex['p90_ms']:.1f} | {inc['median_ms']:.1f} | {stages}"
        cells += f" | {r['throughput_images_per_s']:.1f} | {r['peak_rss_mb']:.0f}"
        lines.append(f"{first} {cells} |")
    return "\n".join(lines)


def size(v: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in v.lower().split("x"))
        if w > 0 and h > 0:
            return w, h
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{v!r}: expected WIDTHxHEIGHT in pixels, e.g. 1920x1080")


def add_args(p: argparse.ArgumentParser) -> None:
    where = "repeatable (default: cpu, and cuda where onnxruntime has it)"
    p.add_argument("--provider", action="append", default=None, choices=PROVIDER_CHOICES[1:], help=where)
    p.add_argument("--size", action="append", type=size, default=None, help="WxH, repeatable (default: 512x512 .. 3840x2160)")
    p.add_argument(
        "--repeats",
        type=int,
        default=10,
        help=f"timed runs per row, a third of them (at least 3) above {BIG_PIXELS / 1e6:g} MP; medians are reported (default: 10)",
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default: 2)")
    p.add_argument("--model", default=None, help="weights folder or Hub repo id (default: the bundled weights)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for onnxruntime (default: $SEMHM_THREADS, else all cores)")
    p.add_argument("--precision", action="append", default=None, choices=PRECISION_CHOICES, help="repeatable; default: auto")
    p.add_argument(
        "--mrn-side",
        action="append",
        type=max_side,
        default=None,
        metavar="N|none",
        help=f"repeatable: MRN's longest side in pixels, or none for MRN at full size (default: both none and {DEFAULT_MRN_SIDE}, "
        "one row each, to compare)",
    )
    p.add_argument(
        "--photo", default=None, help="an image file, resized to each --size (default: the bundled portrait; given alone: its own size)"
    )
    p.add_argument("--zoom", choices=ZOOM_CHOICES, default="auto", help="as semhm matte's --zoom (default: auto)")
    p.add_argument("--json", default=None, help="write the report here too")
    p.add_argument("--one", type=size, default=None, help=argparse.SUPPRESS)


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="latency per stage and peak memory at 512x512 .. 3840x2160", description=__doc__.split(": ", 1)[1])
    add_args(p)
    p.set_defaults(run=run)


def run(a: argparse.Namespace) -> int:
    if a.repeats < 1 or a.warmup < 0:
        raise ValueError("--repeats must be at least 1 and --warmup at least 0")
    mrn_sides = tuple(a.mrn_side or [None, DEFAULT_MRN_SIDE])
    for precision, mrn_side in itertools.product(a.precision or ["auto"], mrn_sides):
        RuntimeOptions(threads=a.threads, precision=precision, mrn_side=mrn_side)  # one-line errors before any subprocess
    for w, h in a.size or []:
        if w * h > DEFAULT_MAX_PIXELS:
            raise ValueError(
                f"--size {w}x{h}: {w * h / 1e6:.0f} MP is over semhm's limit of {DEFAULT_MAX_PIXELS / 1e6:.0f} MP (max_pixels)"
            )
    if a.photo is not None and not Path(a.photo).is_file():
        raise ValueError(f"--photo {a.photo}: not a file; give an image file's path")
    path = a.photo or str(PHOTO)
    if a.one:  # a subprocess of bench(): the parent checked the photo
        print(
            json.dumps(run_one(*a.one, a.provider[0], a.repeats, a.warmup, a.model, a.threads, a.precision[0], mrn_sides[0], path, a.zoom))
        )
        return 0
    own = load_rgb(path).shape[1::-1]  # ImageError naming it before any subprocess
    providers = a.provider or default_providers(a.model)
    sizes = a.size or ([own] if a.photo else SIZES)
    report = bench(providers, sizes, a.repeats, a.warmup, a.model, a.threads, tuple(a.precision or ["auto"]), mrn_sides, path, a.zoom)
    print(table(report))
    host = report["host"]
    print(f"commit {host['commit'] or 'unknown (not a git checkout)'}, {host['cpu']}, {host['cores']} cores, photo {Path(path).name}")
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 1 if any("error" in r for r in report["results"]) else 0


def default_providers(model: str | None) -> list[str]:
    from semhm_models import runtime, weights

    works = runtime.working_providers(str(weights.resolve(model).path("mrn")))
    return ["cpu"] + (["cuda"] if works.get("CUDAExecutionProvider") == "ok" else [])


if __name__ == "__main__":  # one size in a fresh process, run by bench()
    parser = argparse.ArgumentParser(prog="semhm bench")
    add_args(parser)
    try:
        raise SystemExit(run(parser.parse_args()))
    except (SemhmError, ValueError) as e:  # one line for the parent's table, as cli.main prints it
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(SETUP_FAILED if isinstance(e, RuntimeSetupError) else 1) from None
