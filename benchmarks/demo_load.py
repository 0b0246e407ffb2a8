"""Load test of the web demo: N simultaneous requests against `python -m semhm_models.demo` on 127.0.0.1.

Starts the demo in a subprocess (bundled weights unless --model), fires N requests at once through
gradio_client, and reports completions, latency percentiles and the server's peak RSS (VmHWM).
Only 127.0.0.1 is ever contacted; the run is bounded by --timeout.

    python -m benchmarks.demo_load --requests 20 --json docs/demo_load.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--model", default=None)
    p.add_argument("--image", default=str(ROOT / "semhm_models" / "demo" / "examples" / "p3m_p_07141906.jpg"))
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    from gradio_client import Client, handle_file

    from tests.net import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "semhm_models.demo", "--port", str(port)] + (["--model", a.model] if a.model else [])
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.monotonic()
        while True:  # ready when it answers
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if server.poll() is not None or time.monotonic() - t0 > 120:
                    print(server.stdout.read() if server.stdout else "", file=sys.stderr)
                    raise SystemExit("demo did not start") from None
                time.sleep(0.5)
        ready_s = time.monotonic() - t0
        base_rss = peak_rss_mb(server.pid)

        def one(i: int):
            c = Client(f"http://127.0.0.1:{port}/", verbose=False)
            s = time.monotonic()
            try:
                c.predict(handle_file(a.image), "blur", "#ffffff", None, api_name="/matte")
                return True, time.monotonic() - s
            except Exception as e:  # noqa: BLE001 - counted as a failure
                return False, f"{type(e).__name__}: {e}"

        start = time.monotonic()
        with ThreadPoolExecutor(a.requests) as pool:
            results = list(pool.map(one, range(a.requests), timeout=a.timeout))
        wall = time.monotonic() - start
        ok = sorted(r[1] for r in results if r[0])
        report = {
            "requests": a.requests,
            "completed": len(ok),
            "failed": [r[1] for r in results if not r[0]],
            "wall_s": wall,
            "ready_s": ready_s,
            "latency_s": {"median": statistics.median(ok), "p90": ok[int(0.9 * (len(ok) - 1))], "max": ok[-1]} if ok else {},
            "server_rss_mb": {"after_start": base_rss, "peak": peak_rss_mb(server.pid)},
            "image": Path(a.image).name,
            "cores": os.cpu_count(),
        }
        del client
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps(report, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["completed"] == a.requests else 1


if __name__ == "__main__":
    raise SystemExit(main())
