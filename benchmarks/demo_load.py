"""Load test of the web demo: N simultaneous requests (and optionally B decompression bombs: 99 MP PNGs
of about 12 KB) against `python -m semhm_models.demo` on 127.0.0.1.

Starts the demo in a subprocess with its own TMPDIR (bundled weights unless --model), fires every request
at once through gradio_client, and reports completions, latency percentiles, the server's peak RSS
(VmHWM) and the files the server left in its TMPDIR after SIGTERM. Only 127.0.0.1 is ever contacted; the
run is bounded by --timeout.

    python -m benchmarks.demo_load --requests 20 --bombs 2 --json docs/demo_load.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.net import free_port

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "semhm_models" / "demo" / "examples" / "p3m_p_07141906.jpg"
BOMB_SIDE = 9950  # 99.0 MP: just under the 100 MP limit, so the demo must take it


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_bomb(path: Path, side: int = BOMB_SIDE) -> Path:
    """A ``side`` x ``side`` palette PNG of one colour: a few KB on disk, ``side``² pixels decoded."""
    from PIL import Image

    Image.new("P", (side, side), 0).save(path, optimize=True)
    return path


def latencies(times: list[float]) -> dict:
    times = sorted(times)
    return {"median": statistics.median(times), "p90": times[math.ceil(0.9 * len(times)) - 1], "max": times[-1]} if times else {}


def measure(requests: int = 20, bombs: int = 0, model: str | None = None, image: Path = PHOTO, timeout: float = 900) -> dict:
    """Run the load test; the report as a dict (see the module's docstring)."""
    from gradio_client import Client, handle_file

    tmp = Path(tempfile.mkdtemp(prefix="semhm-demo-load-"))
    server_tmp = tmp / "server"
    server_tmp.mkdir()
    bomb_files = [make_bomb(tmp / f"bomb{i}.png") for i in range(bombs)]
    port = free_port()
    cmd = [sys.executable, "-m", "semhm_models.demo", "--port", str(port)] + (["--model", model] if model else [])
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(server_tmp), "PYTHONPATH": str(ROOT)}
    env.pop("GRADIO_TEMP_DIR", None)
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.monotonic()
        while True:  # ready when it answers
            try:
                Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if server.poll() is not None or time.monotonic() - t0 > 180:
                    raise RuntimeError(f"demo did not start: {server.stdout.read() if server.stdout else ''}") from None
                time.sleep(0.5)
        ready_s = time.monotonic() - t0
        base_rss = peak_rss_mb(server.pid)

        def one(path: Path):
            c = Client(f"http://127.0.0.1:{port}/", verbose=False)
            s = time.monotonic()
            try:
                out = c.predict(handle_file(str(path)), "blur", "#ffffff", None, api_name="/matte")
                return True, time.monotonic() - s, out[-1]
            except Exception as e:  # noqa: BLE001 - counted as a failure
                return False, time.monotonic() - s, f"{type(e).__name__}: {e}"

        jobs = bomb_files + [image] * requests
        start = time.monotonic()
        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(one, jobs, timeout=timeout))
        wall = time.monotonic() - start
        peak = peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    left = [str(p.relative_to(server_tmp)) for p in server_tmp.rglob("*") if p.is_file() and p.name != ".ses"]  # .ses: onnxruntime's
    bomb_results, normal = results[:bombs], results[bombs:]
    report = {
        "requests": requests,
        "completed": sum(r[0] for r in normal),
        "bombs": bombs,
        "bombs_completed": sum(r[0] for r in bomb_results),
        "bomb_status": [r[2] for r in bomb_results],
        "failed": [r[2] for r in results if not r[0]],
        "wall_s": round(wall, 2),
        "ready_s": round(ready_s, 2),
        "latency_s": latencies([r[1] for r in normal if r[0]]),
        "bomb_latency_s": latencies([r[1] for r in bomb_results if r[0]]),
        "server_rss_mb": {"after_start": round(base_rss), "peak": round(peak)},
        "files_left_after_shutdown": left,
        "image": image.name,
        "cores": os.cpu_count(),
    }
    shutil.rmtree(tmp, ignore_errors=True)
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--bombs", type=int, default=0, help=f"also send this many {BOMB_SIDE}x{BOMB_SIDE} PNG bombs at the same moment")
    p.add_argument("--model", default=None)
    p.add_argument("--image", type=Path, default=PHOTO)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    report = measure(a.requests, a.bombs, a.model, a.image, a.timeout)
    print(json.dumps(report, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    ok = report["completed"] == a.requests and report["bombs_completed"] == a.bombs and not report["files_left_after_shutdown"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
