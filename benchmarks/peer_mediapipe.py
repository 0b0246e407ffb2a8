"""MediaPipe selfie segmentation, timed and scored the way benchmarks.peers does for the others.
Runs as a script in its own venv (mediapipe==0.10.14 needs numpy<2; no semhm there), as a child of
``python -m benchmarks.peers``.
Reads a JSON job on stdin, prints a JSON result."""

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    job = json.loads(sys.stdin.read())
    import mediapipe as mp

    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)

    def alpha(rgb):
        return seg.process(rgb).segmentation_mask.astype(np.float32)

    speed = {}
    for path in job["photos"]:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        for _ in range(job["warmup"]):
            alpha(rgb)
        ts = []
        for _ in range(job["repeats"]):
            t0 = time.perf_counter()
            alpha(rgb)
            ts.append(time.perf_counter() - t0)
        speed[f"{rgb.shape[1]}x{rgb.shape[0]}"] = 1000 * statistics.median(ts)
    out = Path(job["pred_dir"])
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(job["val_images"]).iterdir()):
        a = alpha(np.asarray(Image.open(f).convert("RGB")))
        Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)).save(out / f"{f.stem}.png")
    print(json.dumps({"median_ms": speed, "mediapipe": mp.__version__}))


if __name__ == "__main__":
    main()
