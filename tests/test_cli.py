"""The `semhm` command line, run as a user would, on tiny real models."""

from __future__ import annotations

import errno
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semhm_models import Matter, SemhmError
from semhm_models.cli import main

BUNDLED = str(Path(__file__).resolve().parents[1] / "semhm_models" / "weights" / "default")


def run(*args) -> int:
    return main([str(a) for a in args])


def counts(err: str) -> tuple[int, int, int, int]:
    """(done, written, skipped, failed) from the summary line, which must add up."""
    m = re.search(r"(\d+) done: (\d+) written to .*, (\d+) skipped, (\d+) failed", err)
    assert m, err
    done, written, skipped, failed = map(int, m.groups())
    assert done == written + skipped + failed
    return done, written, skipped, failed


def no_temp_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_importing_the_cli_loads_no_heavy_dependency():
    code = (
        "import sys, semhm_models.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('onnxruntime', 'gradio', 'torch', 'scipy', 'semhm_models.demo') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_matte_batch_formats_and_bad_files(tiny_weights, photo, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo, src / "a.jpg")
    Image.open(photo).convert("L").save(src / "b.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "empty.png").write_bytes(b"")
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    code = run("matte", src, "-o", out, "--model", tiny_weights, "--provider", "cpu")
    err = capsys.readouterr().err
    assert code == 1  # image files that cannot be read fail; the rest still run
    assert f"error: {src / 'broken.jpg'}" in err and f"{src / 'empty.png'}: empty file" in err
    assert f"skipped: {src / 'notes.txt'} (not an image Pillow can open)" in err
    assert counts(err) == (5, 2, 1, 2)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    with Image.open(out / "a.png") as im:
        assert im.mode == "RGBA" and im.size == (137, 205)
    for fmt, mode, extra in (("alpha", "L", []), ("fg", "RGB", []), ("composite", "RGB", ["--bg", "#00ff00"])):
        o = tmp_path / fmt
        assert run("matte", src / "a.jpg", "-o", o, "--format", fmt, "--model", tiny_weights, *extra) == 0
        with Image.open(o / "a.png") as im:
            assert im.mode == mode and im.size == (137, 205)
    rgba = np.asarray(Image.open(out / "a.png"))
    alpha = np.asarray(Image.open(tmp_path / "alpha" / "a.png"))
    assert np.array_equal(rgba[..., 3], alpha)
    # --bg alone implies a composite: the same file as --format composite --bg
    assert run("matte", src / "a.jpg", "-o", tmp_path / "implied", "--bg", "#00ff00", "--model", tiny_weights) == 0
    assert (tmp_path / "implied" / "a.png").read_bytes() == (tmp_path / "composite" / "a.png").read_bytes()
    # an image as the background, loaded once for the batch
    Image.new("RGB", (40, 30), (0, 0, 255)).save(tmp_path / "blue.png")
    on_image = tmp_path / "on_image"
    assert run("matte", src / "a.jpg", src / "b.png", "-o", on_image, "--bg", tmp_path / "blue.png", "--model", tiny_weights) == 0
    green = np.asarray(Image.open(tmp_path / "composite" / "a.png"), np.int16)
    blue = np.asarray(Image.open(tmp_path / "on_image" / "a.png"), np.int16)
    assert blue[..., 2].mean() > green[..., 2].mean() and green[..., 1].mean() > blue[..., 1].mean()


def test_existing_outputs_skipped_unless_overwrite_and_inputs_never_replaced(tiny_weights, photo, tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    Image.open(photo).save(d / "p.png")
    before = (d / "p.png").read_bytes()
    assert run("matte", d / "p.png", "-o", d, "--model", tiny_weights, "--overwrite") == 1
    assert "would replace an input file" in capsys.readouterr().err
    assert (d / "p.png").read_bytes() == before
    shutil.copy(photo, d / "q.jpg")  # the output folder is the input folder: its images are still inputs
    assert run("matte", d, "-o", d, "--model", tiny_weights) == 1
    err = capsys.readouterr().err
    assert "p.png would replace an input file" in err and counts(err) == (2, 1, 0, 1) and (d / "q.png").exists()
    out = tmp_path / "o"
    out.mkdir()
    (out / "p.png").write_bytes(b"keep me")
    assert run("matte", d / "p.png", "-o", out, "--model", tiny_weights) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and counts(err) == (1, 0, 1, 0) and (out / "p.png").read_bytes() == b"keep me"
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


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--format", "composite", "--bg", "notacolour"], {}, "background colour 'notacolour'"),
        (["--format", "alpha", "--bg", "red"], {}, "--bg red goes with --format composite, not --format alpha"),
        (["--max-side", "16"], {}, "--max-side 16: must be at least 32"),
        (["--max-side", "0"], {}, "--max-side 0: must be at least 32"),
        (["--threads", "0"], {}, "--threads 0: choose 1 to"),
        (["--threads", "-5"], {}, "threads -5: choose 1 to"),
        (["--threads", "100000"], {}, "threads 100000: choose 1 to"),
        ([], {"SEMHM_THREADS": "abc"}, "SEMHM_THREADS='abc': expected a whole number"),
        (["--bg", "/nonexistent/bg.png"], {}, "--bg /nonexistent/bg.png: no such file"),
        (["--bg", __file__], {}, f"--bg {__file__}: not an image Pillow can read"),
    ],
)
def test_bad_options_are_one_line_before_any_model_loads(args, env, message, photo, tmp_path, capsys, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # a missing model folder: had anything loaded, the error would be about the weights
    assert run("matte", photo, "-o", tmp_path / "o", "--model", tmp_path / "nope", *args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "o").exists()


def test_max_side_none_means_full_size(tiny_weights, photo, tmp_path):
    assert run("matte", photo, "-o", tmp_path / "o.png", "--max-side", "none", "--model", tiny_weights) == 0
    assert Image.open(tmp_path / "o.png").size == (137, 205)


def test_mrn_side(tiny_weights, photo, tmp_path, capsys):
    for side in ("64", "none"):
        assert run("matte", photo, "-o", tmp_path / f"{side}.png", "--mrn-side", side, "--model", tiny_weights, "--format", "alpha") == 0
    small, full = (np.asarray(Image.open(tmp_path / f"{side}.png")) for side in ("64", "none"))
    assert small.shape == full.shape == (205, 137) and not np.array_equal(small, full)
    capsys.readouterr()
    assert run("matte", photo, "-o", tmp_path / "x.png", "--mrn-side", "16", "--model", tiny_weights) == 1
    assert capsys.readouterr().err.startswith("error: --mrn-side 16: must be at least 32")


def test_bad_weights_fail_cleanly(photo, tmp_path, capsys):
    assert run("matte", photo, "-o", tmp_path / "o", "--model", tmp_path / "nope") == 1
    assert "no such weights folder" in capsys.readouterr().err


def test_refine(tiny_weights, photo, tmp_path, capsys):
    mask = np.zeros((205, 137), np.uint8)
    mask[40:180, 30:110] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "refined.png"
    assert run("refine", photo, "--mask", tmp_path / "mask.png", "-o", out, "--model", tiny_weights, "--format", "alpha") == 0
    assert np.asarray(Image.open(out)).shape == (205, 137)
    before = out.read_bytes()
    assert run("refine", photo, "--mask", tmp_path / "mask.png", "-o", out, "--model", tiny_weights) == 0  # a rerun, as matte's
    assert f"skipped: {out} exists (use --overwrite)" in capsys.readouterr().err and out.read_bytes() == before
    assert run("refine", photo, "--mask", tmp_path / "mask.png", "-o", photo, "--model", tiny_weights, "--overwrite") == 1
    assert "is an input file" in capsys.readouterr().err
    assert run("refine", photo, "--mask", photo, "-o", tmp_path / "self.png", "--model", tiny_weights) == 1
    assert f"{photo}: is the photo itself" in capsys.readouterr().err and not (tmp_path / "self.png").exists()
    Image.fromarray(mask[:100]).save(tmp_path / "short.png")
    assert run("refine", photo, "--mask", tmp_path / "short.png", "-o", tmp_path / "r2.png", "--model", tiny_weights) == 1
    assert "mask is 137x100 but the image is 137x205" in capsys.readouterr().err
    assert run("refine", photo, "--mask", tmp_path / "mask.png", "-o", tmp_path / "r.webp", "--model", tiny_weights) == 0
    with Image.open(tmp_path / "r.webp") as im:
        assert im.format == "WEBP" and im.mode == "RGBA"


def test_refine_label_masks_empty_masks_and_empty_mattes(tiny_weights, photo, tmp_path, capsys):
    """A 0/1 label mask refines as its 0/255 twin; an all-black mask is refused naming the file; a box with no
    person in it is written with a warning that the matte is empty, before the "wrote" line."""
    mask = np.zeros((205, 137), np.uint8)
    mask[40:180, 30:110] = 1
    Image.fromarray(mask).save(tmp_path / "labels.png")
    Image.fromarray(mask * 255).save(tmp_path / "white.png")
    common = ["--model", tiny_weights, "--format", "alpha"]
    assert run("refine", photo, "--mask", tmp_path / "labels.png", "-o", tmp_path / "a.png", *common) == 0
    assert run("refine", photo, "--mask", tmp_path / "white.png", "-o", tmp_path / "b.png", *common) == 0
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    Image.fromarray(mask.astype(np.uint16)).save(tmp_path / "labels16.png")  # 16 bits, 0 and 1: the same labels
    assert Image.open(tmp_path / "labels16.png").mode.startswith("I;16")
    assert run("refine", photo, "--mask", tmp_path / "labels16.png", "-o", tmp_path / "a16.png", *common) == 0
    assert (tmp_path / "a16.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    Image.fromarray(mask * 255).convert("RGBA").save(tmp_path / "opaque.png")  # alpha 255 everywhere: the grey levels count
    assert run("refine", photo, "--mask", tmp_path / "opaque.png", "-o", tmp_path / "o.png", *common) == 0
    assert (tmp_path / "o.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    capsys.readouterr()
    assert run("refine", tmp_path / "nosuch.jpg", "--box", "1,1,9,9", "-o", tmp_path / "b.png", *common) == 1  # not "skipped: exists"
    assert run("refine", photo, "--mask", tmp_path / "nosuch.png", "-o", tmp_path / "b.png", *common) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'nosuch.jpg'}: no such file" in err and f"error: {tmp_path / 'nosuch.png'}: no such file" in err
    Image.fromarray(np.zeros_like(mask)).save(tmp_path / "black.png")
    capsys.readouterr()
    assert run("refine", photo, "--mask", tmp_path / "black.png", "-o", tmp_path / "c.png", *common) == 1
    assert f"error: {tmp_path / 'black.png'}: the mask is empty (all black)" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()
    m = Matter.from_pretrained(str(tiny_weights), provider="cpu")
    box = m(photo, coarse_mask=np.array([30, 40, 110, 180]))  # a box as an array, as a tuple
    assert np.array_equal(box.alpha, m(photo, coarse_mask=(30, 40, 110, 180)).alpha)
    with pytest.raises(ValueError, match=r"box 300,20,400,180 lies outside the 137x205 image"):
        m(photo, coarse_mask=(300, 20, 400, 180.0))


def test_refine_warns_when_nothing_is_left_inside_the_box(tmp_path, capsys):
    """With the bundled weights on a real photo (the person in columns 55-130): a box over the background in
    its top-left corner comes back empty, said before "wrote"."""
    photo, out = Path(__file__).parent / "data" / "photo.jpg", tmp_path / "corner.png"
    assert run("refine", photo, "--box", "0,0,40,40", "-o", out, "--model", BUNDLED, "--format", "alpha") == 0
    err = capsys.readouterr().err
    assert np.asarray(Image.open(out)).max() < 128
    assert err.index(f"warning: {photo}: no person found inside the box (score 0.") < err.index(f"wrote {out}")


def read_only_folder(tmp_path):
    """A folder nobody may write in: chmod for a user; root writes anywhere, but not into /sys."""
    if os.geteuid() == 0:
        return "/sys/semhm-test-out"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro


def test_refine_unwritable_outputs_one_line_nothing_left(tiny_weights, photo, tmp_path, capsys, monkeypatch):
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((205, 137), 255, np.uint8)).save(mask)
    (tmp_path / "file.txt").write_text("a file")
    (tmp_path / "folder.png").mkdir()
    cases = [
        (f"{read_only_folder(tmp_path)}/r.png", "not writable"),
        (tmp_path / "folder.png", "is a folder; give a file name"),
        (tmp_path / "file.txt" / "r.png", "file.txt: is not a folder"),
    ]
    for out, message in cases:
        assert run("refine", photo, "--mask", mask, "-o", out, "--model", tiny_weights) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    assert run("refine", photo, "--mask", mask, "-o", tmp_path / "full.png", "--model", tiny_weights) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: {tmp_path / 'full.png'}: cannot write: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder.png", "mask.png", "photo.jpg"]


def test_a_link_at_the_old_temp_name_is_not_followed(tiny_weights, photo, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(photo, src / "x.jpg")
    before = (src / "x.jpg").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / ".x.png.part").symlink_to(src / "x.jpg")
    assert run("matte", src / "x.jpg", "-o", out, "--model", tiny_weights) == 0
    assert (src / "x.jpg").read_bytes() == before
    assert (out / ".x.png.part").is_symlink() and Image.open(out / "x.png").mode == "RGBA"


def test_ctrl_c_exits_130_and_leaves_no_temp_file(tiny_weights, photo, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    assert run("matte", photo, "-o", out, "--model", tiny_weights) == 130
    assert "interrupted" in capsys.readouterr().err
    assert out.is_dir() and list(out.iterdir()) == []


def test_progress_names_each_file_in_plain_lines_off_a_terminal(tiny_weights, photo, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for n in ("a", "b"):
        shutil.copy(photo, src / f"{n}.jpg")
    assert run("matte", src, "-o", tmp_path / "o", "--model", tiny_weights) == 0
    err = capsys.readouterr().err
    assert f"matte 1/2: {src / 'a.jpg'}\nmatte 2/2: {src / 'b.jpg'}\n" in err and "\r" not in err
    assert counts(err) == (2, 2, 0, 0)


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
    err = capsys.readouterr().err
    assert "missing prediction" in err and err.endswith("eval: 2 scored, 1 failed\n") and "done" not in err  # counts come last
    assert run("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt", "--json", tmp_path / "m2.json") == 1
    report = json.loads((tmp_path / "m2.json").read_text())
    assert report["count"] == 2 and len(report["failed"]) == 1 and "missing prediction" in report["failed"][0]
    (tmp_path / "none").mkdir()  # nothing scored: the report with its failures is still written
    assert run("eval", "--pred", tmp_path / "none", "--gt", tmp_path / "gt", "--json", tmp_path / "m3.json") == 1
    report = json.loads((tmp_path / "m3.json").read_text())
    assert report["count"] == 0 and len(report["failed"]) == 3
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "pred" / "2.png")
    assert run("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt") == 1
    assert "2.png: prediction is 30x20 but the reference alpha" in capsys.readouterr().err


def test_eval_reads_faint_predictions_as_they_are(tmp_path, capsys):
    """A prediction whose brightest pixel is 1 (of 255) is 1/255 there, not a 0/1 label mask: only refine's
    coarse masks are read as labels."""
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    Image.fromarray(np.zeros((40, 30), np.uint8)).save(tmp_path / "gt" / "e.png")
    Image.fromarray(np.ones((40, 30), np.uint8)).save(tmp_path / "pred" / "e.png")
    assert run("eval", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt", "--json", tmp_path / "m.json") == 0
    assert json.loads((tmp_path / "m.json").read_text())["mean"]["sad"] == pytest.approx(1 / 255, rel=1e-4)


def without(monkeypatch, module: str) -> None:
    """Pretend ``module`` is not installed."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else find_spec(name, *a))


def test_eval_without_scipy_names_the_extra(tmp_path, capsys, monkeypatch):
    without(monkeypatch, "scipy")
    assert run("eval", "--pred", tmp_path, "--gt", tmp_path) == 1
    assert capsys.readouterr().err == "error: semhm eval needs scipy: pip install 'semhm[eval]'\n"


def test_demo_without_gradio_says_how_to_install_it(capsys, monkeypatch):
    without(monkeypatch, "gradio")
    monkeypatch.delitem(sys.modules, "semhm_models.demo.app", raising=False)  # other tests may have loaded it
    assert run("demo", "--port", "7861") == 1
    assert capsys.readouterr().err == "error: the web demo needs gradio: pip install 'semhm[demo]'\n"
    assert "semhm_models.demo.app" not in sys.modules


@pytest.mark.parametrize("command", [["matte", "x.jpg"], ["refine", "x.jpg", "--box", "0,0,5,5"]])
def test_an_empty_output_is_refused_not_read_as_the_current_folder(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        run(*command, "-o", "")
    assert e.value.code == 2 and "argument -o/--output: empty: give a file, a folder, or - for stdout" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_unknown_arguments_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        run("refine", "photo.jpg", "--mask", "m.png", "-o", "out.png", "--nope")
    err = capsys.readouterr().err
    assert e.value.code == 2 and "semhm refine: error: unrecognized arguments: --nope" in err  # the command's own usage
    assert err.startswith("usage: semhm refine ")


def semhm_exe() -> str:
    exe = shutil.which("semhm", path=os.path.dirname(sys.executable))
    assert exe, "the semhm console script is installed beside this Python"
    return exe


def test_doctor_and_console_script(tiny_weights):
    r = subprocess.run([semhm_exe(), "doctor", "--model", str(tiny_weights)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for text in ("onnxruntime packages: onnxruntime==", "provider CPUExecutionProvider: ok", "sha256 ok", "device:"):
        assert text in r.stdout


def test_a_closed_pipe_ends_quietly(tiny_weights):
    r = subprocess.run(
        f"'{semhm_exe()}' doctor --model '{tiny_weights}' | head -1", shell=True, capture_output=True, text=True, timeout=120
    )
    assert r.stdout.startswith("semhm ") and r.stdout.count("\n") == 1 and r.stderr == ""


def test_ray_engine_without_ray_names_the_extra(photo, tmp_path, capsys, monkeypatch):
    without(monkeypatch, "ray")
    assert run("matte", photo, "-o", tmp_path / "o", "--engine", "ray", "--model", tmp_path / "none") == 1
    assert capsys.readouterr().err == "error: --engine ray needs Ray: pip install 'semhm[ray]'\n"
    assert not (tmp_path / "o").exists()


def test_produce_and_write_are_apart_and_picklable(matter, photo, tmp_path):
    """What a Ray worker runs (produce: file in, bytes out) and what the driver runs (write)."""
    import pickle

    from semhm_models.commands.common import write_file
    from semhm_models.commands.matte import Producer

    produce = pickle.loads(pickle.dumps(Producer("alpha", None, "PNG", None, 100_000_000)))
    data = produce(matter, str(photo))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    write_file(data, tmp_path / "sub" / "a.png")
    assert (tmp_path / "sub" / "a.png").read_bytes() == data and no_temp_files(tmp_path)
    with Image.open(tmp_path / "sub" / "a.png") as im:
        assert im.mode == "L" and im.size == (137, 205)


def DEFAULT_SIGINT() -> None:  # noqa: N802 (a constant-like hook for Popen's preexec_fn)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_in_a_real_batch_exits_130_with_no_temp_files(tiny_weights, photo, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    # two small photos, then large ones: the batch outlasts a test process that reads stderr late
    Image.open(photo).resize((2000, 3000)).save(src / "big.jpg")
    for i in range(12):
        shutil.copy(photo if i < 2 else src / "big.jpg", src / f"p{i:02d}.jpg")
    (src / "big.jpg").unlink()
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "semhm_models.cli", "matte", str(src), "-o", str(out), "--model", str(tiny_weights)]
    # SIGINT as a terminal sends it: a run started in the background by a shell (CI under nohup ... &)
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt; a user's terminal does not
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=DEFAULT_SIGINT)
    for line in p.stderr:
        if line.startswith("matte 2/12"):
            p.send_signal(signal.SIGINT)
            break
    rest = p.stderr.read()
    assert p.wait(timeout=60) == 130 and "interrupted" in rest and "Traceback" not in rest
    assert no_temp_files(out) and 0 < len(list(out.iterdir())) < 12
    assert counts(rest)[1] == len(list(out.iterdir()))  # what was finished is said before "interrupted"


def test_refine_takes_a_box(tiny_weights, photo, tmp_path, capsys):
    """`semhm refine IMAGE --box X0,Y0,X1,Y1`: the same alpha as the filled rectangle refined as a box (the
    API's mask_kind "box"); a bad box is one line."""
    from semhm_models import processing
    from semhm_models.images import load_rgb

    matter = Matter.from_pretrained(str(tiny_weights), provider="cpu")
    rgb = load_rgb(photo)
    rect = np.zeros((205, 137), np.float32)
    rect[20:180, 30:110] = 1
    common = ["--model", str(tiny_weights), "--provider", "cpu", "--format", "alpha"]
    assert run("refine", photo, "--box", "30,20,110,180", "-o", tmp_path / "box.png", *common) == 0
    want = processing.to_uint8(matter.matte_rgb(rgb, rect, mask_kind="box").alpha)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "box.png")), want)
    # a box spilling past the left and top edges, negative numbers first: clipped, as the rectangle from 0
    rect[:] = 0
    rect[:180, :110] = 1
    assert run("refine", photo, "--box", "-10,-5,110,180", "-o", tmp_path / "neg.png", *common) == 0
    want = processing.to_uint8(matter.matte_rgb(rgb, rect, mask_kind="box").alpha)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "neg.png")), want)
    capsys.readouterr()
    assert run("refine", photo, "--box", "300,20,400,180", "-o", tmp_path / "out.png", *common) == 1
    assert capsys.readouterr().err.strip().endswith("lies outside the 137x205 image")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_refine_to_a_full_stdout_is_one_line_not_a_traceback(tiny_weights, photo):
    with open("/dev/full", "wb") as full:
        r = subprocess.run(
            [semhm_exe(), "refine", str(photo), "--box", "30,40,110,180", "-o", "-", "--model", str(tiny_weights)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert r.returncode == 1 and "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    assert r.stderr.strip().endswith("-: cannot write to stdout: No space left on device"), r.stderr


def test_a_closed_stdout_is_left_to_end_quietly_and_a_full_one_is_an_error(monkeypatch):
    """write_file("-"): a reader that went away (BrokenPipeError) goes up to cli.main, which ends quietly; any
    other failure to write is a one-line SemhmError."""
    from semhm_models.commands import common

    class Failing(io.RawIOBase):
        def __init__(self, error):
            self.error = error

        def write(self, b):
            raise self.error

    monkeypatch.setattr(common, "drop_stdout", lambda: None)  # the test's own stdout stays
    for error, raised in ((BrokenPipeError(errno.EPIPE, "Broken pipe"), BrokenPipeError), (OSError(errno.ENOSPC, "No space"), SemhmError)):
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(Failing(error)))
        with pytest.raises(raised):
            common.write_file(b"x" * 10, "-")


def test_refine_names_a_folder_given_as_input_or_output(tiny_weights, photo, tmp_path, capsys):
    assert run("refine", tmp_path, "--box", "1,1,5,5", "-o", tmp_path / "r.png", "--model", tiny_weights) == 1
    assert f"{tmp_path}: is a folder; give an image file" in capsys.readouterr().err
    (tmp_path / "out").mkdir()
    assert run("refine", photo, "--box", "1,1,5,5", "-o", tmp_path / "out", "--model", tiny_weights) == 1
    assert f"{tmp_path / 'out'}: is a folder; give a file name" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_given_as_a_file_is_named_not_misread(tiny_weights, photo, tmp_path, capsys):
    """`<(cat photo.jpg)` gives a pipe's path (/dev/fd/63): read once, it would be gone for the matte; both
    commands say so and point at '-'."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert run("matte", fifo, "-o", tmp_path / "out.png", "--model", tiny_weights) == 1
    assert run("refine", photo, "--mask", fifo, "-o", tmp_path / "r.png", "--model", tiny_weights) == 1
    err = capsys.readouterr().err
    assert err.count(f"{fifo}: not a regular file (a pipe or a device); pipe it into - instead") == 2, err


def test_ray_settings_without_the_ray_engine_are_refused(photo, tmp_path, capsys):
    assert run("matte", photo, "-o", tmp_path / "o", "--workers", "3", "--ray-address", "auto") == 1
    assert capsys.readouterr().err == "error: --ray-address, --workers: only with --engine ray (this run is --engine local)\n"
    assert not (tmp_path / "o").exists()


def test_an_output_that_is_neither_a_folder_nor_an_image_name_is_said(photo, tmp_path, capsys):
    (tmp_path / "notes").write_text("a file without a suffix")
    for out in (tmp_path / "notes", Path("/dev/stdout")):
        assert run("matte", photo, "-o", out) == 1
        said = f"error: -o {out}: is neither a folder nor a file name with an image suffix (.png, .webp, ...); - is stdout\n"
        assert capsys.readouterr().err == said
    assert (tmp_path / "notes").read_text() == "a file without a suffix"


def test_ray_settings_out_of_range_name_the_one_that_is(photo, tmp_path, capsys):
    assert run("matte", photo, "-o", tmp_path / "o", "--engine", "ray", "--workers", "0") == 1
    assert capsys.readouterr().err == "error: --workers 0: give at least 1\n"
    assert run("matte", photo, "-o", tmp_path / "o", "--engine", "ray", "--num-gpus-per-worker", "-0.5") == 1
    assert capsys.readouterr().err == "error: --num-gpus-per-worker -0.5: give 0 or more\n"
