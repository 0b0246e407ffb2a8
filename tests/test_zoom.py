"""Matting in crops: the bundled weights' locator (contracts.LOCATE) finds the persons, and the chain runs on a crop
around each, as MPN saw persons in training (processing.person_crops); a box is matted in its own crop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from semhm_models import Matter
from semhm_models import processing as pp
from semhm_models.images import load_rgb
from semhm_models.weights import resolve

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def group() -> tuple[np.ndarray, np.ndarray]:
    """Two held-out persons over a held-out background at 512x288 (a frame of the scenes split, halved) and
    its reference alpha."""
    return load_rgb(DATA / "group.jpg"), np.asarray(Image.open(DATA / "group_alpha.png"), np.float32) / 255


def test_persons_small_in_a_wide_photo_come_out_whole(group):
    """On the whole 16:9 frame MPN sees the two persons squeezed and small and loses most of them (SAD 0.07);
    in crops around them it mattes them as in training (SAD 0.003). Between them nothing is matted."""
    rgb, ref = group
    zoomed = Matter.from_pretrained(None, provider="cpu", threads=2)(rgb)
    whole = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(rgb)
    assert "locate" in zoomed.timings and "locate" not in whole.timings
    assert np.abs(zoomed.alpha - ref).mean() < 0.008 < 0.03 < np.abs(whole.alpha - ref).mean()
    assert zoomed.alpha[:, 200:330].max() < 0.05 and not zoomed.no_person
    assert zoomed.foreground.shape == (288, 512, 3) and zoomed.foreground.dtype == np.float32


def test_weights_without_a_locator_and_zoom_off_matte_the_whole_photo(group, tmp_path):
    """A weights folder without locate.onnx (every release before this one) runs as before: the same matte
    as the bundled weights with zoom "off"."""
    folder = tmp_path / "w"
    shutil.copytree(resolve(None).folder, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"][manifest["stages"].pop("locate")]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    old = Matter.from_pretrained(str(folder), provider="cpu", threads=2)
    assert "locate" not in old.sessions
    off = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")
    assert np.array_equal(old(group[0]).alpha, off(group[0]).alpha)


def test_a_box_around_one_person_of_two_is_matted_in_its_own_crop(group):
    """The box's person comes out whole (IoU at 0.5 over 0.9), its neighbour not at all; the matte is zero
    outside the box's crop."""
    rgb, ref = group
    right = np.zeros_like(ref, bool)
    right[:, 300:] = True
    person = (ref > 0.5) & right
    ys, xs = np.nonzero(person)
    box = (xs.min() - 10, ys.min() - 10, xs.max() + 10, ys.max() + 10)
    got = Matter.from_pretrained(None, provider="cpu", threads=2)(rgb, box).alpha > 0.5
    assert (got & person).sum() / (got | person).sum() > 0.9
    assert not got[:, :300].any()


def test_a_mask_around_a_small_person_is_refined_in_its_own_crop(group):
    """A user's outline (the person grown by 10 px) of a person 1/8 of a 2304x4096 photo's height: matted in a
    crop around the mask it comes out whole (IoU 0.96); on the whole photo at MPN's size MPN finds no one and
    the person comes out grey (IoU 0.75)."""
    rgb, ref = group
    person = (ref > 0.5) & (np.arange(ref.shape[1]) >= 300)
    pad = ((2304 - 288, 0), (0, 4096 - 512))  # the frame in the photo's bottom left corner
    big, person = np.pad(rgb, pad + ((0, 0),), mode="reflect"), np.pad(person, pad)
    mask = np.asarray(Image.fromarray(person).filter(ImageFilter.MaxFilter(21)), np.float32)  # grown by 10 px

    def iou(got: np.ndarray) -> float:
        return ((got > 0.5) & person).sum() / ((got > 0.5) | person).sum()

    def sad(got: np.ndarray) -> float:  # per pixel of the person
        return np.abs(got - person).sum() / person.sum()

    auto = Matter.from_pretrained(None, provider="cpu", threads=2)
    got = auto(big, mask)
    whole = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(big, mask)
    assert iou(got.alpha) > 0.9 > 0.8 > iou(whole.alpha)
    assert sad(got.alpha) < 0.15 < 0.5 < sad(whole.alpha)  # 0.06 against 0.85: the whole photo's person is grey
    y0, y1, x0, x1 = pp.mask_crop(mask)
    assert not got.alpha[:y0].any() and not got.alpha[:, x1:].any()


def test_a_dot_on_a_small_persons_head_gives_the_person(group):
    """A dot (9 px) on the head of a person a fifth of the photo's height: its own box holds too little of the
    person for MPN, so the refine also runs on a crop of a fifth of the photo (processing.MASK_MIN_CROP), grown
    where the matte runs out of it, and keeps the less grey matte."""
    rgb, ref = group
    person = (ref > 0.5) & (np.arange(ref.shape[1]) >= 300)
    pad = ((864 - 288, 0), (0, 1536 - 512))
    big, person = np.pad(rgb, pad + ((0, 0),), mode="reflect"), np.pad(person, pad)
    ys, xs = np.nonzero(person)
    mask = np.zeros(person.shape, np.float32)
    head = ys.min() + 12
    mask[head - 4 : head + 5, int(np.median(xs[ys < head + 10])) - 4 : int(np.median(xs[ys < head + 10])) + 5] = 1
    auto = Matter.from_pretrained(None, provider="cpu", threads=2)
    got = auto(big, mask).alpha > 0.5
    whole = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(big, mask).alpha > 0.5
    assert (got & person).sum() / (got | person).sum() > 0.8 > 0.2 > (whole & person).sum() / max((whole | person).sum(), 1)
    assert np.array_equal(auto(big, 0.3 * mask).alpha > 0.5, got)  # painted in grey: the same mark


def test_where_a_crop_leaves_alpha_at_0_the_foreground_is_the_photos(group):
    """No crop's rectangle shows in the foreground colours (``semhm matte --format fg``)."""
    rgb = group[0]
    matte = Matter.from_pretrained(None, provider="cpu", threads=2)(rgb)
    clear = np.asarray(matte.image("alpha")) == 0
    assert clear.mean() > 0.5
    assert np.array_equal(np.asarray(matte.image("fg"))[clear], rgb[clear])


def test_where_the_locator_finds_no_one_the_photo_is_said_to_have_no_person():
    """A wall with a door and no one: MPN alone calls it a person (0.67), the locator does not (0.38), so the
    matte says "no person found" (`semhm matte` warns, GIMP adds no mask) and its score is the locator's."""
    rgb = load_rgb(DATA / "empty_door.jpg")
    auto = Matter.from_pretrained(None, provider="cpu", threads=2)(rgb)
    whole = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(rgb)
    assert auto.no_person and not whole.no_person
    assert np.array_equal(auto.alpha, whole.alpha) and auto.person < 0.5 <= whole.person


def test_a_photo_with_no_one_in_it_is_matted_whole_and_said(group, tmp_path, capsys):
    """The background between the two persons: the locator finds no one, so the whole photo goes through the
    chain as with --zoom off (a person the locator misses, lying or turned, is not dropped), and the command
    line warns, naming the file, and exits 0; --zoom takes auto or off only."""
    from semhm_models.cli import main

    background = np.ascontiguousarray(group[0][:, 200:330])
    m = Matter.from_pretrained(None, provider="cpu", threads=2)(background)
    off = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(background)
    assert m.no_person and "mpn" in m.timings and np.array_equal(m.alpha, off.alpha)
    Image.fromarray(background).save(tmp_path / "street.png")
    assert main(["matte", str(tmp_path / "street.png"), "-o", str(tmp_path / "out"), "--format", "alpha"]) == 0
    assert "street.png: no person found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["matte", str(tmp_path / "street.png"), "-o", str(tmp_path / "x"), "--zoom", "on"])


@pytest.mark.parametrize("turn", [1, -1])
def test_a_person_lying_down_is_matted_turned_upright(turn):
    """A photo of a person turned a quarter (the person lies across it): the locator's largest person lies across
    (processing.lying), so the photo is matted turned both ways and the matte with less grey kept, here the upright
    photo's matte turned back. As it is (--zoom off), the chain, which learned upright persons, loses most of the
    person. Not every turned photo is caught: turned with its head to the left, the locator takes the ground of
    photo_small.jpg for a standing person (docs/results.md, session 14)."""
    rgb = load_rgb(DATA / "photo_wide.jpg")
    matter = Matter.from_pretrained(None, provider="cpu", threads=2)
    upright, turned = matter(rgb), np.ascontiguousarray(np.rot90(rgb, turn))
    lying = matter(turned)
    assert not lying.no_person and np.abs(lying.alpha - np.rot90(upright.alpha, turn)).mean() < 0.002
    as_it_is = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(turned)
    assert np.abs(as_it_is.alpha - np.rot90(upright.alpha, turn)).mean() > 0.1


def test_an_empty_matte_is_never_silent(group):
    """However small the photo (crops under MIN_CROP_SIDE are not made), a matte with nothing above 0.5 comes
    with no_person, so the command line warns."""
    matter = Matter.from_pretrained(None, provider="cpu", threads=2)
    for width in (40, 64, 96, 128, 256):
        m = matter(np.asarray(Image.fromarray(group[0]).resize((width, width * 288 // 512), Image.LANCZOS)))
        assert m.no_person or m.alpha.max() > 0.5, width


def _counting(matter: Matter) -> list[int]:
    """The locator's runs from now on, one item each."""
    session, calls = matter.sessions["locate"], []
    real = session.run
    session.run = lambda *a, **k: calls.append(1) or real(*a, **k)
    return calls


def _scene(name: str) -> tuple[np.ndarray, np.ndarray]:
    return load_rgb(DATA / f"{name}.jpg"), np.asarray(Image.open(DATA / f"{name}_alpha.png"), np.float32) / 255


def test_the_first_passs_crops_are_kept_where_their_matte_is_clean():
    """Three persons before a koala: the locator's first pass puts a crop on each, and their matte is clean
    (processing.grey_share under CLEAN), so the other two passes never run. Together they would have been unsure
    (the grey koala) and matted the whole photo, koala included (SAD 0.34)."""
    rgb, ref = _scene("group3")
    matter = Matter.from_pretrained(None, provider="cpu", threads=2)
    calls = _counting(matter)
    got = matter(rgb).alpha
    whole = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(rgb).alpha
    assert len(calls) == 1 and pp.grey_share(got) < pp.CLEAN
    assert np.abs(got - ref).mean() < 0.015 < 0.2 < np.abs(whole - ref).mean()


def test_where_the_locators_passes_disagree_the_surer_matte_is_kept():
    """A person small in a wide frame: the first pass's crop gives a matte with some grey, so all three passes
    run; together they would matte the whole photo. Both are matted, and the crop's, with less grey per solid
    pixel, is kept (SAD 0.005 against 0.025)."""
    rgb, ref = _scene("wide2")
    matter = Matter.from_pretrained(None, provider="cpu", threads=2)
    calls = _counting(matter)
    got = matter(rgb).alpha
    whole = Matter.from_pretrained(None, provider="cpu", threads=2, zoom="off")(rgb).alpha
    assert len(calls) == 3 and pp.CLEAN < pp.grey_share(got) < pp.grey_share(whole)
    assert np.abs(got - ref).mean() < 0.01 < 0.02 < np.abs(whole - ref).mean()


def test_a_locator_without_locate_tta_runs_once_as_before(tmp_path):
    """Session 9's manifests have no locate_tta: their locate.onnx (the passes inside) runs once, whatever mpn_tta
    says, and its crops or the whole photo are matted; "none" gets the runtime's passes."""
    folder = tmp_path / "w"
    shutil.copytree(resolve(None).folder, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest.pop("locate_tta") == "none"
    manifest["mpn_tta"] = "none"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    rgb = _scene("wide2")[0]
    for source, runs in ((str(folder), 1), (None, 3)):
        matter = Matter.from_pretrained(source, provider="cpu", threads=2)
        calls = _counting(matter)
        matter(rgb)
        assert len(calls) == runs


@pytest.mark.parametrize("name", ["group3", "bench"])
def test_the_matte_does_not_depend_on_the_thread_count(name):
    """Every step splits its work so that the threads only share it: crops, resizes, the guided filter's rows and
    onnxruntime's sessions give the same bits with 1, 2 or 3 threads (a resize cut into bands of rows did not,
    on Pillow 13)."""
    rgb = _scene(name)[0] if name != "bench" else load_rgb(Path(pp.__file__).parent / "commands" / "data" / "bench.jpg")
    one, *more = (Matter.from_pretrained(None, provider="cpu", threads=n)(rgb) for n in (1, 2, 3))
    for m in more:
        assert np.array_equal(one.alpha, m.alpha) and np.array_equal(one.foreground, m.foreground)
