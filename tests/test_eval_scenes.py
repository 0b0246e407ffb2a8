"""The scenes split's scores (semhm_models.metrics) and `semhm eval` per subset, on a tiny synthetic tree."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("scipy")

from semhm_models.cli import main  # noqa: E402
from semhm_models.metrics import SCENE_SUBSETS, frame_scores, rates, summarise  # noqa: E402


def test_hole_and_leftover_rates():
    ref = np.zeros((10, 10), np.float32)
    ref[:5] = 1.0
    pred = ref.copy()
    pred[0, :4] = 0.2  # 4 holes
    pred[9, :3] = 0.8  # 3 leftovers
    pred[8, 0] = 0.5  # neither (not > 0.5)
    assert rates(pred, ref) == {"hole": 0.04, "leftover": 0.03}
    s = frame_scores(pred, ref)
    assert s["sad"] == pytest.approx((4 * 0.8 + 3 * 0.8 + 0.5) / 100)
    rows = [rates(np.full((10, 10), v, np.float32), np.zeros((10, 10), np.float32)) for v in (0.0, 0.9, 0.0, 0.0)]
    summary = summarise(rows, empty=True)
    assert summary["empty_frames_with_leftovers"] == 0.25 and summary["leftover"] == 0.25 and summary["count"] == 4


def scenes_tree(root, flat_pred: bool = False):
    """gt/<subset>/{images,alpha} with 3 frames per subset (40x48), and predictions that miss part of each
    person and add a blob; in one empty frame the blob covers over 1% of the image, in the others less."""
    rng = np.random.default_rng(0)
    expected = {}
    for s in SCENE_SUBSETS:
        rows = []
        for i in range(3):
            stem = f"{s}_{i:03d}"
            ref = np.zeros((40, 48), np.float32)
            if s != "empty":
                ref[8:36, 10 + i : 30 + i] = 1.0
                ref[8:36, 30 + i] = 0.5  # a soft edge
            pred = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)
            pred[10:14, 12:16] = 0.1  # a hole (in the person, where there is one)
            pred[0:2, 0 : (30 if s == "empty" and i == 1 else 5)] = 0.9  # leftovers: 60 px = 3.1% of the image, or 10 px
            ref8, pred8 = (ref * 255).round().astype(np.uint8), (pred * 255).round().astype(np.uint8)
            for kind, a in (("alpha", ref8), ("images", np.dstack([ref8] * 3))):
                (root / "gt" / s / kind).mkdir(parents=True, exist_ok=True)
                Image.fromarray(a).save(root / "gt" / s / kind / f"{stem}.png")
            folder = root / "pred" if flat_pred else root / "pred" / s
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pred8).save(folder / f"{stem}.png")
            rows.append(frame_scores(pred8 / 255.0, ref8 / 255.0))
        expected[s] = summarise(rows, empty=s == "empty")
    return expected


@pytest.mark.parametrize("flat_pred", [False, True])
def test_eval_per_subset(tmp_path, capsys, flat_pred):
    expected = scenes_tree(tmp_path, flat_pred)
    out = tmp_path / "report.json"
    assert main(["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("scenes split, 12 frames: errors per pixel; holes and leftovers as % of the image")
    for s in SCENE_SUBSETS:
        e = expected[s]
        line = re.search(rf"^  {s} .*$", text, re.M).group(0)
        numbers = [float(v) for v in re.findall(r"[\d.]+", line.split("(")[0])]
        assert numbers[0] == 3
        assert numbers[1:5] == pytest.approx([e["sad"], e["mse"], e["grad"], e["conn"]], abs=6e-6)
        assert numbers[5:7] == pytest.approx([100 * e["hole"], 100 * e["leftover"]], abs=6e-4)
    assert expected["empty"]["empty_frames_with_leftovers"] == pytest.approx(1 / 3)
    assert "(33% of the frames have leftovers over 1% of the image)" in text.splitlines()[-1]
    assert expected["wide"]["hole"] > 0 and expected["empty"]["hole"] == 0
    report = json.loads(out.read_text())
    assert report["split"] == "scenes" and report["count"] == 12 and set(report["subsets"]) == set(SCENE_SUBSETS)
    assert report["subsets"]["group"]["sad"] == pytest.approx(expected["group"]["sad"])
    assert set(report["images"]["empty"]) == {"empty_000", "empty_001", "empty_002"}


def test_eval_scenes_names_what_is_missing(tmp_path, capsys):
    scenes_tree(tmp_path)
    (tmp_path / "pred" / "wide" / "wide_001.png").unlink()
    assert main(["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]) == 1
    captured = capsys.readouterr()
    assert re.search(r"error: .*pred/wide/wide_001\.\*: missing prediction for .*gt/wide/alpha/wide_001\.png", captured.err)
    assert re.search(r"^  wide +2 ", captured.out, re.M)  # the rest is scored
    assert main(["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"), "--region", "unknown"]) == 1
    assert "--region unknown: the scenes split is scored over the whole image" in capsys.readouterr().err
