"""The `semhm` command line, run as a user would, on tiny real models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from semhm_models.cli import main


def run(*args) -> int:
    return main([str(a) for a in args])


def test_matte_batch_formats_and_bad_files(tiny_weights, photo, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo, src / "a.jpg")
    Image.open(photo).convert("L").save(src / "b.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("not an image, not listed")
    out = tmp_path / "out"
    code = run("matte", src, "-o", out, "--model", tiny_weights, "--provider", "cpu")
    err = capsys.readouterr().err
    assert code == 1  # some files failed
    assert f"{src / 'broken.jpg'}" in err and f"{src / 'empty.png'}: empty file" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]  # the rest still ran
    with Image.open(out / "a.png") as im:
        assert im.mode == "RGBA" and im.size == (137, 205)
    for fmt, mode in (("alpha", "L"), ("fg", "RGB"), ("composite", "RGB")):
        o = tmp_path / fmt
        assert run("matte", src / "a.jpg", "-o", o, "--format", fmt, "--model", tiny_weights, "--bg", "#00ff00") == 0
        with Image.open(o / "a.png") as im:
            assert im.mode == mode and im.size == (137, 205)
    rgba = np.asarray(Image.open(out / "a.png"))
    alpha = np.asarray(Image.open(tmp_path / "alpha" / "a.png"))
    assert np.array_equal(rgba[..., 3], alpha)


def test_existing_outputs_skipped_unless_overwrite_and_inputs_never_replaced(tiny_weights, photo, tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    Image.open(photo).save(d / "p.png")
    before = (d / "p.png").read_bytes()
    assert run("matte", d / "p.png", "-o", d, "--model", tiny_weights, "--overwrite") == 1
    assert "would replace an input file" in capsys.readouterr().err
    assert (d / "p.png").read_bytes() == before
    out = tmp_path / "o"
    out.mkdir()
    (out / "p.png").write_bytes(b"keep me")
    assert run("matte", d / "p.png", "-o", out, "--model", tiny_weights) == 0
    assert "skipped" in capsys.readouterr().err and (out / "p.png").read_bytes() == b"keep me"
    assert run("matte", d / "p.png", "-o", out, "--model", tiny_weights, "--overwrite") == 0
    assert (out / "p.png").read_bytes() != b"keep me"


def test_globs_recursion_and_name_clashes(tiny_weights, photo, tmp_path, capsys):
    root = tmp_path / "r"
    (root / "sub").mkdir(parents=True)
    shutil.copy(photo, root / "x.jpg")
    shutil.copy(photo, root / "sub" / "y.jpg")
    shutil.copy(photo, root / "x.jpeg")
    out = tmp_path / "o"
    code = run("matte", root, "-o", out, "--recursive", "--model", tiny_weights, "--format", "alpha")
    assert code == 1 and "already the output of" in capsys.readouterr().err  # x.jpg and x.jpeg -> x.png
    assert (out / "x.png").exists() and (out / "sub" / "y.png").exists()
    out2 = tmp_path / "o2"
    assert run("matte", str(root / "*.jpg"), "-o", out2, "--model", tiny_weights) == 0
    assert [p.name for p in out2.iterdir()] == ["x.png"]
    assert run("matte", str(root / "*.gif"), "-o", out2, "--model", tiny_weights) == 1
    assert "no files match" in capsys.readouterr().err
    assert run("matte", tmp_path / "missing.jpg", "-o", out2, "--model", tiny_weights) == 1


def test_bad_options_fail_before_work(tiny_weights, photo, tmp_path, capsys):
    assert run("matte", photo, "-o", tmp_path / "o", "--format", "composite", "--bg", "notacolour", "--model", tiny_weights) == 1
    assert "background colour 'notacolour'" in capsys.readouterr().err
    assert run("matte", photo, "-o", tmp_path / "o", "--model", tmp_path / "nope") == 1
    assert "no such weights folder" in capsys.readouterr().err


def test_refine(tiny_weights, photo, tmp_path, capsys):
    mask = np.zeros((205, 137), np.uint8)
    mask[40:180, 30:110] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "refined.png"
    assert run("refine", photo, "--mask", tmp_path / "mask.png", "-o", out, "--model", tiny_weights, "--format", "alpha") == 0
    assert np.asarray(Image.open(out)).shape == (205, 137)
    assert run("refine", photo, "--mask", tmp_path / "mask.png", "-o", out, "--model", tiny_weights) == 1
    assert "exists" in capsys.readouterr().err
    assert run("refine", photo, "--mask", tmp_path / "mask.png", "-o", photo, "--model", tiny_weights, "--overwrite") == 1
    assert "is an input file" in capsys.readouterr().err
    Image.fromarray(mask[:100]).save(tmp_path / "short.png")
    assert run("refine", photo, "--mask", tmp_path / "short.png", "-o", tmp_path / "r2.png", "--model", tiny_weights) == 1
    assert "mask is 137x100 but the image is 137x205" in capsys.readouterr().err


def test_eval(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        a = rng.integers(0, 256, (40, 30), dtype=np.uint8)
        Image.fromarray(a).save(tmp_path / "gt" / f"{i}.png")
        Image.fromarray(a).save(tmp_path / "pred" / f"{i}.png")
    assert run("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt", "--json", tmp_path / "m.json") == 0
    assert "SAD 0.00000  MSE 0.00000" in capsys.readouterr().out
    (tmp_path / "pred" / "2.png").unlink()
    assert run("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt") == 1
    assert "missing prediction" in capsys.readouterr().err


def test_doctor_and_console_script(tiny_weights):
    exe = shutil.which("semhm", path=os.path.dirname(sys.executable))
    assert exe, "the semhm console script is installed beside this Python"
    r = subprocess.run([exe, "doctor", "--model", str(tiny_weights)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for text in ("onnxruntime packages: onnxruntime==", "provider CPUExecutionProvider: ok", "sha256 ok", "device:"):
        assert text in r.stdout
