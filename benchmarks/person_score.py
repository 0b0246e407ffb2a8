"""How well ``Matte.person`` tells photos with a person from photos without: the score of every frame of
the scenes split (build-val --scenes), per subset, and the share of frames called "no person found" at
thresholds around ``processing.NO_PERSON``. Frames of ``empty`` should be called so, the others not.

    python -m benchmarks.person_score --model runs/weights --scenes data/scenes --json docs/person_score.json

With ``--empty DIR`` (photos with no person, e.g. ../shared/data/backgrounds) it scores those instead: how many
are called "no person found", how many get a cutout (alpha > 0.5) over 1% of the photo, and how many of those
are not called so.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from semhm_models import Matter
from semhm_models.processing import NO_PERSON
from semhm_models.progress import progress
from train.scene_eval import SUBSETS

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        "python -m benchmarks.person_score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="weights folder (default: the bundled weights)")
    p.add_argument("--scenes", default="data/scenes")
    p.add_argument("--empty", default=None, help="a folder of photos with no person, scored instead of --scenes")
    p.add_argument("--json", default=None, help="also write the scores and rates here")
    a = p.parse_args(argv)
    matter = Matter.from_pretrained(a.model, provider="cpu")
    if a.empty:
        return _empty(matter, Path(a.empty), a.json)
    scores = {s: [matter(f).person for f in progress(sorted((Path(a.scenes) / s / "images").iterdir()), s)] for s in SUBSETS}
    rates = {s: {str(t): float(np.mean(np.asarray(v) < t)) for t in THRESHOLDS} for s, v in scores.items()}
    for s in SUBSETS:
        v = np.asarray(scores[s])
        called = ", ".join(f"<{t}: {100 * r:.0f}%" for t, r in rates[s].items())
        print(f"{s:9s} median score {np.median(v):.3f}  min {v.min():.3f}  max {v.max():.3f}  'no person' {called}")
    print(f"the runtime's threshold: processing.NO_PERSON = {NO_PERSON}")
    if a.json:
        Path(a.json).write_text(
            json.dumps({"model": a.model or "default", "no_person": NO_PERSON, "rates": rates, "scores": scores}, indent=1) + "\n"
        )
    return 0


def _empty(matter: Matter, folder: Path, out: str | None) -> int:
    rows = []
    for f in progress(sorted(p for p in folder.iterdir() if p.is_file()), "empty"):
        m = matter(f)
        rows.append({"photo": f.name, "person": m.person, "cutout_share": float((m.alpha > 0.5).mean())})
    said = sum(r["person"] < NO_PERSON for r in rows)
    cut = [r for r in rows if r["cutout_share"] > 0.01]
    silent = sum(r["person"] >= NO_PERSON for r in cut)
    print(f"{len(rows)} photos: {said} called 'no person found'; {len(cut)} with a cutout over 1% of the photo, {silent} not called so")
    if out:
        report = {"no_person": NO_PERSON, "said": said, "cutouts": len(cut), "silent": silent, "photos": rows}
        Path(out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
