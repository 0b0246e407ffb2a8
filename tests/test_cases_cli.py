"""The command-line rows of ../shared/cases/README.md, on copies of its inputs in tests/data (anim.png is
rebuilt here from anim.webp's frames; a multi-page TIFF is built here too)."""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence, features

from semhm_models.cli import main
from tests.test_cli import counts, no_temp_files, read_only_folder

DATA = Path(__file__).parent / "data"
BUNDLED = str(Path(__file__).resolve().parents[1] / "semhm_models" / "weights" / "default")


def run(*args) -> int:
    return main([str(a) for a in args])


def cli(*args, stdin: bytes | None = None, shell_tail: str = "") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "semhm_models.cli", *map(str, args)]
    if shell_tail:
        return subprocess.run(" ".join(f"'{c}'" for c in cmd) + shell_tail, shell=True, input=stdin, capture_output=True, timeout=300)
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=300)


@pytest.mark.parametrize(
    "name, fmt, mode, note",
    [
        ("cut.png", "PNG", "RGBA", None),
        ("cut.webp", "WEBP", "RGBA", None),
        ("cut.jpg", "JPEG", "RGB", "JPEG has no alpha"),
        ("cut.gif", "GIF", "P", "GIF holds 1-bit transparency"),
        ("cut.tif", "TIFF", "RGBA", None),
    ],
)
def test_output_file_format_follows_its_suffix(name, fmt, mode, note, tiny_weights, tmp_path, capsys):
    out = tmp_path / name
    assert run("matte", DATA / "photo.jpg", "-o", out, "--model", tiny_weights) == 0
    err = capsys.readouterr().err
    assert out.is_file() and (note is None or note in err)
    with Image.open(out) as im, Image.open(DATA / "photo.jpg") as src:
        assert im.format == fmt and im.mode == mode and im.size == src.size


def test_one_output_file_takes_one_input(tiny_weights, tmp_path, capsys):
    assert run("matte", DATA / "photo.jpg", DATA / "anim.gif", "-o", tmp_path / "cut.png", "--model", tiny_weights) == 1
    assert "one output file for several inputs" in capsys.readouterr().err
    assert run("matte", DATA / "mixed-formats", "-o", tmp_path / "cut.png", "--model", tiny_weights) == 1
    assert run("matte", DATA / "photo.jpg", "-o", tmp_path / "cut.bmp", "--model", tiny_weights) == 1
    assert "cannot write .bmp" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_jpeg_output_is_the_composite_over_white(tiny_weights, tmp_path):
    assert run("matte", DATA / "photo.jpg", "-o", tmp_path / "c.png", "--bg", "white", "--model", tiny_weights) == 0
    assert run("matte", DATA / "photo.jpg", "-o", tmp_path / "c.jpg", "--model", tiny_weights) == 0
    png = np.asarray(Image.open(tmp_path / "c.png"), np.float32)
    jpg = np.asarray(Image.open(tmp_path / "c.jpg"), np.float32)
    assert np.abs(png - jpg).mean() < 3  # the same composite, up to JPEG's loss


def test_stdin_to_stdout_pipe(tiny_weights, tmp_path):
    data = (DATA / "photo.jpg").read_bytes()
    r = cli("matte", "-", "-o", "-", "--model", tiny_weights, stdin=data)
    assert r.returncode == 0, r.stderr.decode()
    (tmp_path / "out.png").write_bytes(r.stdout)
    with Image.open(tmp_path / "out.png") as im:
        assert im.format == "PNG" and im.mode == "RGBA" and im.size == Image.open(DATA / "photo.jpg").size
    err = r.stderr.decode()
    assert "matte 1/1: <stdin>" in err and counts(err) == (1, 1, 0, 0)
    # the same bytes as matting the file itself
    assert run("matte", DATA / "photo.jpg", "-o", tmp_path / "file.png", "--model", tiny_weights) == 0
    assert (tmp_path / "file.png").read_bytes() == r.stdout
    bad = cli("matte", "-", "-o", "-", "--model", tiny_weights, stdin=b"not an image")
    assert bad.returncode == 1 and bad.stdout == b"" and b"error: <stdin>: not an image" in bad.stderr


def test_refine_reads_stdin_and_writes_stdout(tiny_weights, tmp_path):
    """`semhm refine - --box ... -o -` and `--mask -`: the same bytes as the files; one stdin for both refused."""
    data = (DATA / "photo.jpg").read_bytes()
    w, h = Image.open(DATA / "photo.jpg").size
    box = f"{w // 4},{h // 8},{3 * w // 4},{h - 1}"
    r = cli("refine", "-", "--box", box, "-o", "-", "--model", tiny_weights, stdin=data)
    assert r.returncode == 0, r.stderr.decode()
    assert run("refine", DATA / "photo.jpg", "--box", box, "-o", tmp_path / "file.png", "--model", tiny_weights) == 0
    assert (tmp_path / "file.png").read_bytes() == r.stdout
    mask = np.zeros((h, w), np.uint8)
    mask[h // 8 :, w // 4 : 3 * w // 4] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    piped = cli(
        "refine",
        DATA / "photo.jpg",
        "--mask",
        "-",
        "-o",
        tmp_path / "m.png",
        "--model",
        tiny_weights,
        stdin=(tmp_path / "mask.png").read_bytes(),
    )
    assert piped.returncode == 0, piped.stderr.decode()
    assert run("refine", DATA / "photo.jpg", "--mask", tmp_path / "mask.png", "-o", tmp_path / "m2.png", "--model", tiny_weights) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "m.png")), np.asarray(Image.open(tmp_path / "m2.png")))
    both = cli("refine", "-", "--mask", "-", "-o", "-", "--model", tiny_weights, stdin=data)
    assert both.returncode == 1 and b"stdin holds one file" in both.stderr and b"Traceback" not in both.stderr
    bad = cli("refine", "-", "--box", box, "-o", "-", "--model", tiny_weights, stdin=b"not an image")
    assert bad.returncode == 1 and bad.stdout == b"" and b"error: <stdin>: " in bad.stderr and b"Traceback" not in bad.stderr


def test_a_terminal_on_stdin_is_refused_not_waited_on(tiny_weights, tmp_path):
    """`-` with stdin a terminal (a real pseudo-terminal here): nothing would ever come, so it is refused."""
    master, slave = os.openpty()
    try:
        for args in (("matte", "-", "-o", tmp_path / "a.png"), ("refine", "-", "--box", "1,1,9,9", "-o", tmp_path / "b.png")):
            cmd = [sys.executable, "-m", "semhm_models.cli", *map(str, args), "--model", str(tiny_weights)]
            r = subprocess.run(cmd, stdin=slave, capture_output=True, timeout=60)
            assert r.returncode == 1 and b"error: -: stdin is a terminal" in r.stderr, r.stderr
    finally:
        os.close(master)
        os.close(slave)


def test_a_reader_that_goes_away_ends_quietly(tiny_weights):
    r = cli("matte", "-", "-o", "-", "--model", tiny_weights, stdin=(DATA / "photo.jpg").read_bytes(), shell_tail=" | head -c 100")
    assert len(r.stdout) == 100 and b"Traceback" not in r.stderr and b"Broken pipe" not in r.stderr


def test_read_only_output_folder_refused_before_any_work(tmp_path, capsys):
    ro = read_only_folder(tmp_path)
    # the weights do not exist: had the model loaded, the error would be about them
    assert run("matte", DATA / "photo.jpg", "-o", ro, "--model", tmp_path / "none") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {ro}: output folder is not writable") and err.count("\n") == 1


def test_reruns_with_the_output_inside_the_input_folder(tiny_weights, tmp_path, capsys):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    shutil.copy(DATA / "photo.jpg", photos / "a.jpg")
    shutil.copy(DATA / "photo.jpg", photos / "sub" / "b.jpg")
    for i in range(3):
        assert run("matte", photos, "-o", photos / "cut", "--recursive", "--model", tiny_weights) == 0
        err = capsys.readouterr().err
        assert counts(err) == ((2, 2, 0, 0) if i == 0 else (2, 0, 2, 0))
        assert "error" not in err and (i == 0 or f"skipped: {photos / 'cut' / 'a.png'} exists" in err)
    assert sorted(str(p.relative_to(photos)) for p in photos.rglob("*") if p.is_file()) == [
        "a.jpg",
        "cut/a.png",
        "cut/sub/b.png",
        "sub/b.jpg",
    ]


def test_mixed_formats_folder(tiny_weights, tmp_path, capsys):
    src = tmp_path / "mixed"
    shutil.copytree(DATA / "mixed-formats", src)
    (src / "README").write_text("not an image")
    (src / "photo_without_suffix").write_bytes((DATA / "photo.jpg").read_bytes())
    out = tmp_path / "out"
    assert run("matte", src, "-o", out, "--model", tiny_weights) == 0
    err = capsys.readouterr().err
    avif = features.check("avif")
    written = ["a.png", "c.png", "d.png", "photo_without_suffix.png"] + (["b.png"] if avif else [])
    assert sorted(p.name for p in out.iterdir()) == sorted(written)
    assert f"skipped: {src / 'README'} (not an image Pillow can open)" in err
    assert counts(err) == (6, len(written), 6 - len(written), 0)
    if not avif:  # listed by name, never silently dropped
        assert f"{src / 'b.avif'}" in err


def apng(tmp_path: Path) -> Path:
    """anim.png of the cases, rebuilt from anim.webp's frames (same frames, 300 ms each)."""
    with Image.open(DATA / "anim.webp") as im:
        frames = [f.convert("RGB") for f in ImageSequence.Iterator(im)]
    p = tmp_path / "anim.png"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=[300, 200, 100], loop=0)
    return p


def tiff(tmp_path: Path) -> Path:
    with Image.open(DATA / "anim.webp") as im:
        frames = [f.convert("RGB") for f in ImageSequence.Iterator(im)]
    p = tmp_path / "pages.tif"
    frames[0].save(p, save_all=True, append_images=frames[1:])
    return p


def frames_of(path: Path) -> list[tuple[np.ndarray, int | None]]:
    with Image.open(path) as im:
        return [(np.asarray(f.convert("RGBA")), f.info.get("duration")) for f in ImageSequence.Iterator(im)]


def test_animations_keep_every_frame_their_kind_and_durations(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DATA / "anim.gif", src)
    shutil.copy(DATA / "anim.webp", src)
    apng(src)
    tiff(src)
    out = tmp_path / "out"
    assert run("matte", src, "-o", out, "--model", BUNDLED, "--provider", "cpu") == 0  # the real model: people are found
    assert counts(capsys.readouterr().err) == (4, 4, 0, 0)
    for name, fmt, durations in (
        ("anim.gif", "GIF", [300, 300, 300]),
        ("anim.webp", "WEBP", [300, 300, 300]),
        ("anim.png", "PNG", [300, 200, 100]),
        ("pages.tif", "TIFF", [None, None, None]),
    ):
        with Image.open(out / name) as im:
            assert im.format == fmt and im.n_frames == 3
        frames = frames_of(out / name)
        assert [d if d is None else round(d) for _, d in frames] == durations, name
        coverage = [f[..., 3].mean() / 255 for f, _ in frames]
        assert coverage[0] < 0.02 and min(coverage[1:]) > 0.1, (name, coverage)  # frame 1 has no person; 2 and 3 do
        if fmt == "GIF":  # 1-bit transparency
            assert set(np.unique(np.concatenate([f[..., 3].ravel() for f, _ in frames]))) <= {0, 255}
    alpha = tmp_path / "alpha"  # greyscale animations too, the same alpha frame by frame (lossless kinds)
    assert run("matte", src, "-o", alpha, "--format", "alpha", "--model", BUNDLED, "--provider", "cpu") == 0
    assert counts(capsys.readouterr().err) == (4, 4, 0, 0)
    for name in ("anim.webp", "anim.png", "pages.tif"):
        assert [f[..., 3].tolist() for f, _ in frames_of(out / name)] == [f[..., 0].tolist() for f, _ in frames_of(alpha / name)], name


def test_animation_into_one_file_of_another_kind_or_refused(tiny_weights, tmp_path, capsys):
    assert run("matte", DATA / "anim.gif", "-o", tmp_path / "a.webp", "--model", tiny_weights) == 0
    with Image.open(tmp_path / "a.webp") as im:
        assert im.n_frames == 3
    assert run("matte", DATA / "anim.gif", "-o", tmp_path / "a.jpg", "--model", tiny_weights) == 1
    err = capsys.readouterr().err
    assert f"error: {DATA / 'anim.gif'}: has 3 frames and .jpg holds one" in err
    assert not (tmp_path / "a.jpg").exists() and no_temp_files(tmp_path)


def test_symlinked_output_folder_inside_input_is_still_excluded(tiny_weights, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(DATA / "photo.jpg", photos / "a.jpg")
    (tmp_path / "real_out").mkdir()
    os.symlink(tmp_path / "real_out", photos / "cut")
    for expected in ((1, 1, 0, 0), (1, 0, 1, 0)):
        assert run("matte", photos, "-o", photos / "cut", "--recursive", "--model", tiny_weights) == 0
        assert counts(capsys.readouterr().err) == expected
    assert [p.name for p in (tmp_path / "real_out").iterdir()] == ["a.png"]


def test_a_gif_file_is_transparent_where_alpha_is_below_half(tiny_weights, tmp_path):
    """`-o cut.gif` (one frame): transparent exactly where the PNG's alpha is below 128, as the note says."""
    common = ["--model", tiny_weights, "--provider", "cpu"]
    assert run("matte", DATA / "photo.jpg", "-o", tmp_path / "cut.gif", *common) == 0
    assert run("matte", DATA / "photo.jpg", "-o", tmp_path / "cut.png", *common) == 0
    with Image.open(tmp_path / "cut.gif") as gif, Image.open(tmp_path / "cut.png") as png:
        hidden = np.asarray(gif) == gif.info["transparency"]
        assert np.array_equal(hidden, np.asarray(png)[..., 3] < 128)


def test_a_folder_scan_names_what_it_does_not_read(tiny_weights, tmp_path, capsys):
    """A broken link, two links in a loop, a FIFO and a sub-folder (without --recursive) are listed as skipped and
    counted; an output folder that is a link in a loop is one line too."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(DATA / "photo.jpg", src)
    (src / "dangling.jpg").symlink_to(tmp_path / "nonexistent.jpg")
    (src / "a.jpg").symlink_to(src / "b.jpg")
    (src / "b.jpg").symlink_to(src / "a.jpg")
    os.mkfifo(src / "fifo.png")
    assert run("matte", src, "-o", tmp_path / "out", "--model", tiny_weights, "--provider", "cpu") == 0
    err = capsys.readouterr().err
    assert f"skipped: {src / 'dangling.jpg'} (a broken link)" in err and f"skipped: {src / 'fifo.png'} (not a regular file)" in err
    assert f"skipped: {src / 'a.jpg'} (a link in a loop)" in err and f"skipped: {src / 'b.jpg'} (a link in a loop)" in err
    assert f"skipped: {src / 'sub'}{os.sep} (a sub-folder; use --recursive)" in err
    assert "6 done: 1 written" in err and "5 skipped, 0 failed" in err
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert run("matte", src / "photo.jpg", "-o", tmp_path / "loop", "--model", tiny_weights) == 1
    said = f"error: {tmp_path / 'loop'}: cannot be created: {tmp_path / 'loop'} is a broken link or a link in a loop\n"
    assert capsys.readouterr().err == said


def test_a_recursive_scan_names_a_sub_folder_it_cannot_read(tiny_weights, tmp_path, capsys, monkeypatch):
    """--recursive: a sub-folder that cannot be listed (permissions; root reads everything, so the refusal is made
    here) fails by name and the batch exits 1; the other folders' photos are still matted."""
    src = tmp_path / "in"
    for sub in ("open", "locked"):
        (src / sub).mkdir(parents=True)
        shutil.copy(DATA / "photo.jpg", src / sub)
    scandir = os.scandir

    def refuse(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    assert run("matte", src, "-o", tmp_path / "out", "--recursive", "--model", tiny_weights, "--provider", "cpu") == 1
    err = capsys.readouterr().err
    assert f"error: {src / 'locked'}{os.sep}: cannot read: Permission denied" in err and "1 failed" in err
    assert (tmp_path / "out" / "open" / "photo.png").is_file()


def test_a_closed_stdout_or_stdin_is_one_line(tiny_weights, tmp_path):
    """`semhm matte photo -o - >&-` and `semhm refine - ... <&-`: Python gets None for a closed stream; each is
    said in one line, no traceback."""
    photo = str(DATA / "photo.jpg")
    for args, closed, said in (
        (("matte", photo, "-o", "-"), "stdout", "error: -o -: stdout is closed"),
        (("refine", photo, "--box", "1,1,9,9", "-o", "-"), "stdout", "error: -o -: stdout is closed"),
        (("matte", "-", "-o", str(tmp_path / "out.png")), "stdin", "error: -: stdin is closed"),
    ):
        cmd = [sys.executable, "-m", "semhm_models.cli", *args, "--model", str(tiny_weights)]
        r = subprocess.run(f"{shlex.join(cmd)} {'>&-' if closed == 'stdout' else '<&-'}", shell=True, stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == 1 and said in r.stderr.decode() and b"Traceback" not in r.stderr, r.stderr


def test_what_the_user_may_not_read_is_one_line_and_the_batch_goes_on(tiny_weights, tmp_path, capsys, monkeypatch):
    """A folder this user may not list, and a photo under a folder it may not search (as for any user but root:
    the suite runs as root, so the system's refusal is played by the Path calls that meet it)."""
    locked, other = tmp_path / "locked", tmp_path / "ok"
    for d in (locked, other):
        d.mkdir()
        shutil.copy(DATA / "photo.jpg", d)
    denied = lambda p: PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))  # noqa: E731
    real_iterdir, real_is_dir = Path.iterdir, Path.is_dir

    def iterdir(self):
        if self == locked:
            raise denied(self)
        return real_iterdir(self)

    def is_dir(self):
        if self.parent == locked / "hidden":
            raise denied(self)
        return real_is_dir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    monkeypatch.setattr(Path, "is_dir", is_dir)
    assert run("matte", locked, other, "-o", tmp_path / "out", "--model", tiny_weights) == 1
    err = capsys.readouterr().err
    assert f"error: {locked}: cannot read: Permission denied\n" in err and "Traceback" not in err
    assert "2 done: 1 written" in err and (tmp_path / "out" / "photo.png").is_file()
    photo = locked / "hidden" / "in.jpg"
    assert run("refine", photo, "--box", "1,1,50,50", "-o", tmp_path / "r.png", "--model", tiny_weights) == 1
    assert capsys.readouterr().err == f"error: {photo}: Permission denied\n"
