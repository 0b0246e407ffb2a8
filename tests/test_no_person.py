"""Saying "no person found" (issue 13 point 6) on every surface, with the tiny real models: the score is
forced by moving the threshold (processing.NO_PERSON above 1: every photo is "no person"; below 0: none is),
so the tests do not depend on what random weights see."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semhm_models import gimp, processing
from semhm_models.api import no_person_note
from semhm_models.cli import main
from semhm_models.gimp import worker
from tests.test_gimp import load_plugin

DATA = Path(__file__).parent / "data"
EVERY, NONE = 1.01, -1.0  # NO_PERSON values: every photo / no photo is "no person"
NOTE = r"no person found \(score (0|1)\.\d\d\); the cutout is likely empty or wrong"


def cli(*args) -> int:
    return main([str(a) for a in args])


def test_the_note():
    assert no_person_note([0.9]) is None and no_person_note([]) is None
    assert no_person_note([0.123]) == "no person found (score 0.12); the cutout is likely empty or wrong"
    assert no_person_note([0.9, 0.2, 0.05]) == (
        "no person found in 2 of 3 frames (lowest score 0.05); their cutouts are likely empty or wrong"
    )


def test_matte_warns_names_the_file_writes_it_and_counts(tiny_weights, photo, tmp_path, capsys, monkeypatch):
    second = tmp_path / "second.png"
    Image.open(photo).save(second)
    out = tmp_path / "out"
    model = ("--model", tiny_weights, "--provider", "cpu")
    monkeypatch.setattr(processing, "NO_PERSON", EVERY)
    assert cli("matte", photo, second, "-o", out, *model) == 0  # a warning, not a failure
    err = capsys.readouterr().err
    for p in (photo, second):
        assert re.search(rf"^warning: {re.escape(str(p))}: {NOTE}$", err, re.M), err
        assert (out / f"{p.stem}.png").is_file()  # still written
    assert re.search(r"2 done: 2 written to .*, 0 skipped, 0 failed, 2 with no person found \(CPU", err), err
    monkeypatch.setattr(processing, "NO_PERSON", NONE)
    assert cli("matte", photo, "-o", tmp_path / "cut.png", *model) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "no person" not in err and "1 done: 1 written" in err


def test_matte_animation_and_stdin(tiny_weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(processing, "NO_PERSON", EVERY)
    assert cli("matte", DATA / "anim.gif", "-o", tmp_path, "--model", tiny_weights, "--provider", "cpu") == 0
    err = capsys.readouterr().err
    assert re.search(r"warning: .*anim\.gif: no person found in 3 of 3 frames \(lowest score \d\.\d\d\); their cutouts", err), err
    assert (tmp_path / "anim.gif").is_file() and "1 with no person found" in err


def test_refine_warns_and_writes(tiny_weights, photo, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(processing, "NO_PERSON", EVERY)
    out = tmp_path / "refined.png"
    assert cli("refine", photo, "--box", "10,10,100,180", "-o", out, "--model", tiny_weights, "--provider", "cpu") == 0
    err = capsys.readouterr().err
    refine_note = r"no person found inside the box \(score (0|1)\.\d\d\); the matte is likely empty or wrong"
    assert out.is_file() and re.search(rf"^warning: {re.escape(str(photo))}: {refine_note}$", err, re.M), err
    monkeypatch.setattr(processing, "NO_PERSON", NONE)
    assert cli("refine", photo, "--box", "10,10,100,180", "-o", out, "--overwrite", "--model", tiny_weights, "--provider", "cpu") == 0
    assert "warning" not in capsys.readouterr().err


def test_demo_status_says_so(matter, photo, monkeypatch):
    pytest.importorskip("gradio")
    from semhm_models.demo.app import Demo, status_line

    assert "no person" not in status_line((10, 10), (10, 10), 0.1, "CPUExecutionProvider", person=0.9)
    line = status_line((10, 10), (10, 10), 0.1, "CPUExecutionProvider", person=0.07)
    assert "px matted in" in line and "**Warning: no person found (score 0.07); the cutout is likely empty or wrong.**" in line
    d = Demo(matter)
    try:
        monkeypatch.setattr(processing, "NO_PERSON", EVERY)
        status = d.matte(str(photo))[-1]
        assert re.search(NOTE, status), status
        mask = np.zeros(Image.open(photo).size[::-1], np.uint8)
        mask[20:150, 20:110] = 255
        Image.fromarray(mask).save(Path(d.outputs.root) / "mask.png")
        assert re.search(NOTE, d.refine(str(photo), str(Path(d.outputs.root) / "mask.png"))[-1])
        monkeypatch.setattr(processing, "NO_PERSON", NONE)
        assert "no person" not in d.matte(str(photo))[-1]
    finally:
        d.outputs.close()


def test_gimp_worker_says_so_instead_of_an_empty_mask(tiny_weights, photo, tmp_path, capsys, monkeypatch):
    """Over files (one request), then the plug-in's own client against the long-lived worker's protocol."""
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    h, w = rgb.shape[:2]
    (tmp_path / "in.raw").write_bytes(rgb.tobytes())
    sel = np.zeros((h, w), np.float32)
    sel[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
    (tmp_path / "sel.raw").write_bytes(sel.tobytes())
    args = [str(tmp_path / "in.raw"), str(tmp_path), "--size", f"{w}x{h}", "--model", str(tiny_weights), "--provider", "cpu"]
    monkeypatch.setattr(processing, "NO_PERSON", EVERY)
    assert worker.main(args) == 1
    err = capsys.readouterr().err
    assert re.search(r"^semhm: no person found in this layer \(score \d\.\d\d\), so no mask was added; .*Refine Selection", err), err
    assert not (tmp_path / "alpha.raw").exists()
    assert worker.main([*args, "--mask", str(tmp_path / "sel.raw")]) == 0  # refine: the selection says where the person is
    assert (tmp_path / "alpha.raw").stat().st_size == w * h * 4

    dst = gimp.install(str(tmp_path / "plug-ins"), str(tiny_weights), "cpu")
    state = dst / gimp.STATE_NAME
    server = worker.Server(state, idle_timeout=600)  # in this process, so that the threshold above holds
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        while not state.exists():
            thread.join(0.05)
        plugin = load_plugin(dst)
        with pytest.raises(plugin.PluginError, match=r"^semhm: no person found in this layer \(score \d\.\d\d\), so no mask was added"):
            plugin.infer(w, h, "rgba", rgb.tobytes, folder=str(dst))
        alpha, _ = plugin.infer(w, h, "rgba", rgb.tobytes, sel.tobytes, folder=str(dst))
        assert len(alpha) == w * h * 4
        monkeypatch.setattr(processing, "NO_PERSON", NONE)
        alpha, _ = plugin.infer(w, h, "rgba", rgb.tobytes, folder=str(dst))
        assert len(alpha) == w * h * 4
    finally:
        assert worker.stop(state)
        thread.join(10)
    assert not thread.is_alive()
