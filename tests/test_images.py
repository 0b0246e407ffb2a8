"""Decoding at the edge: modes, EXIF orientation, and every kind of bad input gets a clear message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from semhm_models.errors import ImageError, unreadable
from semhm_models.images import load_mask, load_rgb

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (30, 20, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_becomes_rgb_uint8(tmp_path, mode):
    im = Image.fromarray(RGB)
    if mode == "I;16":
        im = Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257)
    elif mode == "F":
        im = Image.fromarray(np.asarray(im.convert("L")).astype(np.float32) / 255)
    else:
        im = im.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I", "F", "I;16") else "x.png")
    im.save(path)
    rgb = load_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (30, 20, 3)
    if mode in ("L", "I;16", "F", "I"):
        gray = np.asarray(Image.fromarray(RGB).convert("L")).astype(int)
        assert np.abs(rgb[..., 0].astype(int) - gray).max() <= 1  # 16-bit and float scaled, not clipped


def test_16bit_rgb_png_keeps_its_range(tmp_path):
    a = RNG.integers(0, 65536, (12, 9), dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    rgb = load_rgb(tmp_path / "g16.png")
    assert np.abs(rgb[..., 0].astype(int) - (a.astype(int) * 255 // 65535)).max() <= 1


def test_exif_orientation_is_applied(tmp_path):
    im = Image.fromarray(RGB)  # 20 wide, 30 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(tmp_path / "r.jpg", exif=exif.tobytes())
    assert load_rgb(tmp_path / "r.jpg").shape == (20, 30, 3)


def test_arrays_and_pil_images(tmp_path):
    assert load_rgb(RGB).shape == (30, 20, 3)
    assert load_rgb(RGB[..., 0]).shape == (30, 20, 3)
    assert load_rgb(RGB.astype(np.float32) / 255).dtype == np.uint8
    assert load_rgb(Image.fromarray(RGB)).shape == (30, 20, 3)
    with pytest.raises(ImageError, match="not an image"):
        load_rgb(np.zeros((3, 4, 7), np.uint8))


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1), (10, 20, 30)).save(tmp_path / "one.png")
    assert load_rgb(tmp_path / "one.png").tolist() == [[[10, 20, 30]]]


@pytest.mark.parametrize(
    "content,match",
    [(b"", "empty file"), (b"hello, I am text", "not an image"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an image|corrupt")],
)
def test_bad_files_name_the_file(tmp_path, content, match):
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageError, match=match) as e:
        load_rgb(p)
    assert str(p) in str(e.value)


def test_why_a_file_cannot_be_read_is_said_in_words(tmp_path):
    """The system's reason or Pillow's, never an exception's class name (frames.probe reads folders' files)."""
    from semhm_models.frames import probe

    (tmp_path / "folder.png").mkdir()
    (tmp_path / "text.png").write_text("hello")
    cases = [
        (load_rgb, tmp_path / "text.png", "not an image Pillow can read"),
        (probe, tmp_path / "text.png", "not an image Pillow can read"),
        (probe, tmp_path / "folder.png", "cannot read: Is a directory"),
    ]
    for read, f, said in cases:
        with pytest.raises(ImageError) as e:
            read(f)
        assert str(e.value) == f"{f}: {said}"
    assert unreadable(PermissionError(13, "Permission denied")) == "cannot read: Permission denied"
    assert unreadable(SyntaxError("not a TIFF file")) == "not an image Pillow can read (not a TIFF file)"


def test_truncated_jpeg(tmp_path):
    p = tmp_path / "t.jpg"
    Image.fromarray(RNG.integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(p, quality=95)
    p.write_bytes(p.read_bytes()[:2000])
    with pytest.raises(ImageError, match="truncated or corrupt") as e:
        load_rgb(p)
    assert str(p) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_rgb(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="a folder, not an image file"):
        load_rgb(tmp_path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(p)  # 400 MP, a few tens of KB on disk
    assert p.stat().st_size < 200_000
    with pytest.raises(ImageError, match="over the limit of 100,000,000"):
        load_rgb(p)
    with pytest.raises(ImageError, match="over the limit"):
        load_rgb(tmp_path / "bomb.png", max_pixels=1000)


def test_masks(tmp_path):
    Image.fromarray(np.full((30, 20), 255, np.uint8)).save(tmp_path / "m.png")
    m = load_mask(tmp_path / "m.png", (30, 20))
    assert m.dtype == np.float32 and m.shape == (30, 20) and m.max() == 1.0
    rgba = np.zeros((30, 20, 4), np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert np.allclose(load_mask(tmp_path / "a.png"), 128 / 255)  # a transparent layer: its alpha is the mask
    with pytest.raises(ImageError, match="mask is 20x30 but the image is 21x30"):
        load_mask(tmp_path / "m.png", (30, 21))
