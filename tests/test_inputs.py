"""What the API takes: paths, bytes, file objects, PIL images and arrays of every documented shape and dtype,
for images and masks alike; `remove` returns the input's own kind; the input's own alpha bounds the output;
colour profiles are converted to sRGB; animations and multi-page files are refused by name."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image, ImageDraw

import semhm_models
from semhm_models import ImageError, Matter, processing, remove
from semhm_models.images import load_image, load_mask, load_rgb
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"
SMALL = DATA / "photo_small.jpg"  # ../shared/cases/photo_small.jpg


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    return load_rgb(SMALL)


@pytest.fixture(scope="module")
def bundled() -> Matter:
    return Matter.from_pretrained(None, provider="cpu", threads=2)


def test_photo_small_row_hxwx1_works_like_hxw_and_float_255_is_refused(matter, small):
    gray = np.asarray(Image.fromarray(small).convert("L"))
    a = matter(gray).alpha
    assert np.array_equal(matter(gray[..., None]).alpha, a)
    assert np.array_equal(matter(gray.astype(np.float32) / 255).alpha, a)
    with pytest.raises(ImageError, match=r"float values from 0 to 2\d\d; expected \[0, 1\]"):
        matter(small.astype(np.float32))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1.5, -0.25])
def test_non_finite_or_out_of_range_floats_are_refused_in_images_and_masks(matter, small, bad):
    x = small.astype(np.float32) / 255
    x[3, 4, 1] = bad
    with pytest.raises(ImageError, match=r"expected (finite values in )?\[0, 1\]"):
        matter(x)
    m = np.full(small.shape[:2], 0.5, np.float32)
    m[10, 10] = bad
    with pytest.raises(ImageError, match=r"expected (finite values in )?\[0, 1\]"):
        matter(small, m)
    with pytest.raises(ImageError, match=r"expected (finite values in )?\[0, 1\]"):
        matter(small, m[..., None].astype(np.float64))


def test_every_input_kind_gives_the_same_matte(matter, small, tmp_path):
    png = tmp_path / "p.png"
    Image.fromarray(small).save(png)
    ref = matter(png).alpha
    rgba = np.dstack([small, np.full(small.shape[:2], 255, np.uint8)])
    for x in (
        str(png),
        png.read_bytes(),
        bytearray(png.read_bytes()),
        memoryview(png.read_bytes()),
        io.BytesIO(png.read_bytes()),
        open(png, "rb"),  # noqa: SIM115 - a real file object
        Image.open(png),
        small,
        rgba,
        small.astype(np.uint16) * 257,
        small.astype(np.float64) / 255,
    ):
        assert np.array_equal(matter(x).alpha, ref), type(x)


def test_masks_of_every_kind(matter, small, tmp_path):
    h, w = small.shape[:2]
    m = np.zeros((h, w), np.uint8)
    m[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    ref = matter(small, tmp_path / "m.png").alpha
    for mask in (m, m[..., None], m.astype(bool), m.astype(np.float32) / 255, (tmp_path / "m.png").read_bytes(), Image.fromarray(m)):
        assert np.array_equal(matter(small, mask).alpha, ref), type(mask)
    assert load_mask(np.full((3, 4), 0.3, np.float64)).dtype == np.float32
    assert np.allclose(load_mask(np.full((3, 4), 0.3)), 0.3)  # float masks keep their precision


def test_other_array_kinds_are_refused_by_name():
    for a, match in (
        (np.full((4, 5), -1, np.int64), "integer values from -1 to -1; expected 0..255"),
        (np.zeros((4, 5), np.complex64), "dtype complex64 is not supported"),
        (np.zeros((4, 5, 2), np.uint8), "not an image"),
    ):
        with pytest.raises(ImageError, match=match):
            load_rgb(a)


def test_integer_arrays_and_16_bit_labels_read_as_their_values():
    """numpy's default integers hold 0..255 data as it is, 16-bit data scaled; a 0/1 label map in 16 bits
    stays 0/1 (read as a label mask by refine), as a file or as an array."""
    a = np.arange(20, dtype=np.int64).reshape(4, 5) * 13
    assert np.array_equal(load_mask(a), a.astype(np.float32) / 255)
    assert np.array_equal(load_rgb(a.astype(np.uint16) * 257), load_rgb(a.astype(np.uint8)))
    labels = (np.arange(20).reshape(4, 5) % 2).astype(np.uint16)
    assert np.array_equal(load_mask(labels), labels / np.float32(255))
    with pytest.raises(ImageError, match="not an image input"):
        load_rgb(12345)
    with pytest.raises(ImageError, match="<bytes>: empty"):
        load_rgb(b"")
    with pytest.raises(ImageError, match="<bytes>: not an image"):
        load_rgb(b"hello")


def test_remove_returns_the_inputs_own_kind(tiny_weights, small, tmp_path, monkeypatch):
    png = tmp_path / "p.png"
    Image.fromarray(small).save(png)
    kw = {"model": str(tiny_weights), "provider": "cpu", "threads": 1}
    arr = remove(small, **kw)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and arr.shape == (*small.shape[:2], 4)
    pil = remove(Image.fromarray(small), **kw)
    assert isinstance(pil, Image.Image) and pil.mode == "RGBA" and np.array_equal(np.asarray(pil), arr)
    data = remove(png.read_bytes(), **kw)
    assert isinstance(data, bytes) and data.startswith(b"\x89PNG") and np.array_equal(np.asarray(Image.open(io.BytesIO(data))), arr)
    with open(png, "rb") as f:
        assert isinstance(remove(f, **kw), bytes)
    assert isinstance(remove(png, **kw), Image.Image) and isinstance(remove(str(png), **kw), Image.Image)
    # one Matter per model and settings, made once
    made = []
    real = Matter.from_pretrained.__func__
    monkeypatch.setattr(Matter, "from_pretrained", classmethod(lambda cls, *a, **k: made.append(a) or real(cls, *a, **k)))
    semhm_models.api._cached_matter.cache_clear()
    for _ in range(3):
        remove(small, **kw)
    remove(small, **(kw | {"threads": 2}))
    assert len(made) == 2
    with pytest.raises(ValueError, match="unknown setting 'thread'"):
        remove(small, thread=1)
    with pytest.raises(ValueError, match="threads"):
        remove(small, **(kw | {"threads": 0}))


def test_composite_takes_colours_tuples_and_images(matter, small):
    m = matter(small)
    white = m.composite("white")
    assert white.dtype == np.uint8 and white.shape == small.shape
    assert np.array_equal(m.composite("#ffffff"), white) and np.array_equal(m.composite((255, 255, 255)), white)
    assert np.array_equal(m.composite("255,255,255"), white)
    bg = np.zeros((50, 60, 3), np.uint8)
    assert np.array_equal(m.composite(bg), m.composite(Image.fromarray(bg))) and np.array_equal(m.composite(bg), m.composite("black"))
    for bad in ("not-a-colour", (1, 2), (0, 0, 300)):
        with pytest.raises(ValueError, match="colour"):
            m.composite(bad)


def test_the_inputs_alpha_bounds_the_output(bundled):
    """../shared/cases/hidden_person.png (halved): its alpha hides a second person."""
    src = DATA / "hidden_person_small.png"
    hidden = np.asarray(Image.open(DATA / "hidden_person_small_mask.png").convert("L")) > 0
    own = np.asarray(Image.open(src))[..., 3].astype(np.float32) / 255
    m = bundled(src)
    assert (m.alpha <= own).all()
    assert m.alpha[hidden].max() <= 0.01 and m.alpha[own == 0].max() == 0
    # the bound is what hides it: without the input's alpha the person comes back
    assert bundled(load_rgb(src)).alpha[hidden].mean() > 0.3
    assert load_image(src)[1] is not None and load_image(load_rgb(src))[1] is None


def test_icc_profiles_are_converted_to_srgb():
    """../shared/cases/photo_wide.jpg (a wide-gamut profile) and photo_srgb.jpg: the same photo."""
    wide = load_rgb(DATA / "photo_wide.jpg").astype(int)
    srgb = load_rgb(DATA / "photo_srgb.jpg").astype(int)
    raw = np.asarray(Image.open(DATA / "photo_wide.jpg").convert("RGB")).astype(int)
    assert np.abs(wide - srgb).mean() < 1.5 < np.abs(raw - srgb).mean()
    assert abs((wide - srgb).mean()) < 0.5  # no colour cast left


def _frames(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (16, 12), (40 * i, 0, 0)) for i in range(n)]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP", "TIFF"])
def test_several_frames_are_refused_naming_the_file_and_the_count(tmp_path, fmt):
    p = tmp_path / f"anim.{fmt.lower()}"
    first, *rest = _frames(3)
    first.save(p, fmt, save_all=True, append_images=rest)
    for load in (load_rgb, load_mask):
        with pytest.raises(ImageError, match=f"{p}: 3 frames"):
            load(p)
    with pytest.raises(ImageError, match="<bytes>: 3 frames"):
        load_rgb(p.read_bytes())
    first.save(tmp_path / "one.gif")
    assert load_rgb(tmp_path / "one.gif").shape == (12, 16, 3)


def test_pixel_limit_is_read_from_the_header_and_pillow_is_left_alone(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    p = tmp_path / "big.png"
    Image.new("1", (12000, 12000)).save(p)  # 144 MP in a few KB
    errors: list[str] = []

    def decode(i: int) -> None:
        for _ in range(5):
            try:
                load_rgb(p if i % 2 else SMALL, max_pixels=50_000_000)
            except ImageError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=decode, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 20 and all("over the limit of 50,000,000" in e for e in errors)
    assert Image.MAX_IMAGE_PIXELS == limit


def test_refine_with_strokes_an_outline_or_a_box_gives_the_persons_matte(bundled):
    """With the bundled weights on a real photo: a dashed stroke painted down the person, thin and broad
    strokes across it that stray past its sides, a straight stroke, a square mark and a mark around its head,
    rough painting that misses its head, a 20 px outline around it, a closed ring drawn round it and a loose box
    all come back as the automatic chain's matte of that person (the user's mask says which person, MPN's mask
    where its edges are), not as the strokes or the outline."""
    photo = load_rgb(DATA / "photo.jpg")
    auto = bundled(photo).alpha
    person = auto > 0.5
    ys, xs = np.nonzero(person)
    strokes = np.zeros_like(auto)
    for y0 in range(ys.min() + 10, ys.max() - 10, 30):
        strokes[y0 : y0 + 18, int(np.median(xs)) - 2 : int(np.median(xs)) + 3] = 1
    strokes *= person
    outline = processing.dilate(person, 20).astype(np.float32)
    box = (xs.min() - 15, ys.min() - 15, xs.max() + 15, ys.max() + 15)
    sloppy = np.zeros_like(auto)  # three strokes across the person, 20 px past it on both sides
    for y0 in np.linspace(ys.min() + 40, ys.max() - 60, 3).astype(int):
        sloppy[y0 : y0 + 10, xs.min() - 20 : xs.max() + 20] = 1
    head = Image.new("L", auto.shape[::-1])  # a mark around the head alone
    top = ys.min() + (ys.max() - ys.min()) // 8
    cols = np.nonzero(person[ys.min() : top].any(0))[0]
    ImageDraw.Draw(head).ellipse((cols.min() - 8, ys.min() - 8, cols.max() + 8, top), fill=255)
    wide = np.zeros_like(auto)  # three broad brush strokes across the person, 20 px past it
    for y0 in np.linspace(ys.min() + 30, ys.max() - 70, 3).astype(int):
        wide[y0 : y0 + 28, xs.min() - 20 : xs.max() + 20] = 1
    painting = processing.dilate(person, 10).astype(np.float32)  # painted roughly over it, its head missed
    painting[: ys.min() + (ys.max() - ys.min()) * 15 // 100] = 0
    masks = {"strokes": strokes, "outline": outline, "box": box, "sloppy strokes": sloppy, "head": np.asarray(head) / 255.0}
    straight = np.zeros_like(auto)  # a straight stroke and a square mark: filled rectangles, not boxes
    straight[ys.min() + 10 : ys.max() - 10, int(np.median(xs)) - 3 : int(np.median(xs)) + 3] = 1
    square = np.zeros_like(auto)
    square[ys.min() + 8 : ys.min() + 22, int(np.median(xs)) - 7 : int(np.median(xs)) + 7] = 1
    ring = (processing.dilate(person, 9) & ~processing.dilate(person, 5)).astype(np.float32)  # drawn round it, closed
    masks |= {"wide strokes": wide, "painting without the head": painting, "straight stroke": straight, "square mark": square}
    masks |= {"ring around it": ring}
    for name, mask in masks.items():
        sad = np.abs(bundled(photo, mask).alpha - auto).mean()
        assert sad < 0.002, (name, sad)  # the masks themselves are 0.23-0.30 from it


def test_a_refine_says_whether_a_person_is_inside_the_mask(bundled):
    """Matte.person of a refine is MPN's confidence inside the user's mask or box: a box over the background
    of a real photo (the person in columns 55-130) is 'no person', a box around the person is not."""
    photo = load_rgb(DATA / "photo.jpg")
    assert not bundled(photo).no_person
    background = bundled(photo, (0, 0, 40, 40))
    assert background.no_person and background.alpha.max() < 0.5
    assert not bundled(photo, (40, 0, 150, 277)).no_person
