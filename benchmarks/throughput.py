"""Batch throughput: the local engine (one Matter, a plain loop) and the Ray engine with 1 and 2 workers,
back to back in one run, on the same photos, decode and encode included, and where the time goes.

Each engine gets the same CPU threads in total (--cores): the local engine and Ray's one worker use them
all, each of two workers half. Per image, the actors log decode (file -> RGB), model (pre-processing,
MPN, QUN, MRN, post-processing) and encode (PNG bytes); the driver writes the files. overhead = wall -
(decode + model + encode + write summed over the images) / workers: Ray's scheduling, transfers and
the actors' model loading, or for the local engine the loop and the model loading.

    nice python -m benchmarks.throughput /work/shared/data/ccp-photos --count 100 --json docs/throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from semhm_models.api import Matter
from semhm_models.commands.bench import commit
from semhm_models.images import IMAGE_EXTS
from semhm_models.options import RuntimeOptions
from semhm_models.ray_engine import encode, matte_jobs

STEPS = ("decode", "model", "encode")


class _Timed:
    """A Matter that keeps the timings of its last image (decode, and the model's stages)."""

    def __init__(self, matter: Matter) -> None:
        self.matter, self.timings = matter, {}

    def __call__(self, image):
        matte = self.matter(image)
        self.timings = matte.timings
        return matte


def timed_produce(log: str):
    """``produce`` for the engines: ``encode``, with each image's step times appended to ``log`` (JSON
    lines; the actors run on this machine)."""

    def produce(matter: Matter, path: str) -> bytes:
        timed, t0 = _Timed(matter), time.perf_counter()
        data = encode(timed, path)
        total = time.perf_counter() - t0
        decode = timed.timings["decode"]
        model = sum(v for k, v in timed.timings.items() if k != "decode")
        with open(log, "a") as f:
            f.write(json.dumps({"path": path, "decode": decode, "model": model, "encode": total - decode - model}) + "\n")
        return data

    return produce


def run_engine(name: str, workers: int, jobs: list[tuple[str, str]], source: str | None, cores: int, tmp: Path) -> dict:
    log = str(tmp / f"{name}.jsonl")
    produce = timed_produce(log)
    writes: list[float] = []

    def write(data: bytes, out: str) -> None:
        t0 = time.perf_counter()
        part = out + ".part"
        Path(part).write_bytes(data)
        os.replace(part, out)
        writes.append(time.perf_counter() - t0)

    options = RuntimeOptions(provider="cpu", threads=max(1, cores // workers))
    load_before = os.getloadavg()[0]
    start = 0.0
    t0 = time.perf_counter()
    if name == "local":
        matter = Matter.from_pretrained(source, options)
        load = time.perf_counter() - t0
        errors = []
        for inp, out in jobs:
            write(produce(matter, inp), out)
    else:
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=workers * options.threads, num_gpus=0, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        start = time.perf_counter() - t0  # Ray itself: the engine's local start, timed apart
        t0 = time.perf_counter()
        try:
            errors = [e for _, e in matte_jobs(jobs, produce, write, source, options, workers=workers) if e]
        finally:
            ray.shutdown()
        load = None
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in open(log)]
    sums = {k: sum(r[k] for r in rows) for k in STEPS}
    busy = sum(sums.values()) + sum(writes)
    return {
        "engine": name,
        "workers": workers,
        "threads_per_worker": options.threads,
        "images": len(rows),
        "errors": errors,
        "ray_start_s": start,
        "model_load_s": load,
        "wall_s": wall,
        "images_per_s": len(rows) / wall,
        "images_per_s_with_start": len(rows) / (wall + start),
        "median_ms": {k: 1000 * statistics.median(r[k] for r in rows) for k in STEPS} | {"write": 1000 * statistics.median(writes)},
        "total_s": sums | {"write": sum(writes)},
        "overhead_s": wall - busy / workers,
        "load_average_1min": [load_before, os.getloadavg()[0]],  # the machine's other work, before and after
    }


def hardware() -> str:
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    return f"{len(names)} logical cores, {names[0] if names else platform.processor()}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="folder of photos")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--model", default=None, help="weights (default: bundled)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="CPU threads in total per engine")
    p.add_argument("--rounds", type=int, default=1, help="rounds, every other one in reverse order (the machine's load drifts)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    photos = sorted(f for f in Path(a.folder).iterdir() if f.suffix.lower() in IMAGE_EXTS)[: a.count]
    results = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        engines = [("local", 1), ("ray", 1), ("ray", 2)]
        for rnd in range(a.rounds):
            for name, workers in engines[:: -1 if rnd % 2 else 1]:
                out = tmp / f"{name}{workers}-{rnd}"
                out.mkdir()
                jobs = [(str(f), str(out / f"{f.stem}.png")) for f in photos]
                r = run_engine(name, workers, jobs, a.model, a.cores, out) | {"round": rnd}
                results.append(r)
                m = r["median_ms"]
                print(
                    f"round {rnd} {name:5} x{workers}: {r['images']} images in {r['wall_s']:.1f} s = {r['images_per_s']:.2f} img/s "
                    f"(Ray start {r['ray_start_s']:.1f} s); median ms decode {m['decode']:.1f} model {m['model']:.1f} "
                    f"encode {m['encode']:.1f} write {m['write']:.1f}; overhead {r['overhead_s']:.1f} s; errors {len(r['errors'])}; "
                    f"load {r['load_average_1min'][0]:.1f}-{r['load_average_1min'][1]:.1f}",
                    flush=True,
                )
    report = {"hardware": hardware(), "cores": a.cores, "photos": len(photos), "folder": a.folder, "commit": commit(), "results": results}
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
