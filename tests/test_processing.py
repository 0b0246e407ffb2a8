"""Pre/post-processing alone: numpy in, numpy out."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from semhm_models import processing as pp
from semhm_models.contracts import MPN_SIZE


def test_to_nchw_and_lowres_follow_the_contract():
    rgb = np.random.default_rng(0).integers(0, 256, (301, 199, 3), dtype=np.uint8)
    x = pp.to_nchw(rgb)
    assert x.shape == (1, 3, 301, 199) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.allclose(x[0, :, 5, 7], rgb[5, 7] / 255)
    lr = pp.lowres(rgb, pp.lowres_size(301, 199))
    assert lr.shape == (1, 3, 224, 160) and lr.dtype == np.float32
    assert pp.lowres(rgb, pp.lowres_size(301, 199, "fixed")).shape == (1, 3, *MPN_SIZE)


@pytest.mark.parametrize(
    ("hw", "want"),
    [
        ((1080, 1920), (128, 224)),
        ((1920, 1080), (224, 128)),
        ((500, 500), (160, 160)),
        ((400, 4000), (64, 640)),
        ((3, 9000), (32, 960)),
        ((9000, 3), (960, 32)),
    ],
)
def test_lowres_size_keeps_the_aspect_in_about_30720_pixels(hw, want):
    """Landscape, portrait, square and extreme panoramas: sides multiples of 32, the aspect kept as far as
    that allows, about 192 x 160 pixels (a strip cannot go below one multiple)."""
    got = pp.lowres_size(*hw)
    assert got == want and got[0] % 32 == 0 and got[1] % 32 == 0
    if min(want) > 32:
        assert abs(got[0] * got[1] / (192 * 160) - 1) < 0.35
        assert abs(np.log((got[1] / got[0]) / (hw[1] / hw[0]))) < 0.25
    with pytest.raises(ValueError, match="mpn input 'squeeze'"):
        pp.lowres_size(*hw, "squeeze")


def test_person_score_is_the_confidence_of_the_most_person_like_half_percent():
    m = np.zeros((128, 224), np.float32)
    assert pp.person_score(m) == 0.0
    m[:20, :20] = 0.9  # 1.4% of the image at 0.9: a person
    assert pp.person_score(m) == pytest.approx(0.9)
    m[:] = 0
    m[:5, :5] = 0.9  # 0.09%: a speck, not a person
    assert pp.person_score(m) < pp.NO_PERSON


def test_lowres_matches_torch_antialiased_resize_used_in_training():
    torch = pytest.importorskip("torch")
    from semhm_models.nets.models import resize_lr

    rgb = np.random.default_rng(1).integers(0, 256, (416, 276, 3), dtype=np.uint8)
    hw = pp.lowres_size(416, 276)
    ours = pp.lowres(rgb, hw)
    theirs = resize_lr(torch.from_numpy(pp.to_nchw(rgb)), hw).numpy()
    assert np.abs(ours - theirs).mean() < 2 / 255


def test_working_size():
    assert pp.working_size(800, 600, 4096) == (800, 600)
    assert pp.working_size(8000, 4000, 4096) == (4096, 2048)
    assert pp.working_size(3, 9000, 4096) == (1, 4096)
    assert pp.working_size(5000, 5000, None) == (5000, 5000)


def test_finish_resizes_to_input_and_clips():
    alpha = np.full((1, 1, 10, 8), 1.5, np.float32)
    fgr = np.full((1, 3, 10, 8), 0.5, np.float32)
    a, f = pp.finish(alpha, fgr, (20, 16))
    assert a.shape == (20, 16) and f.shape == (20, 16, 3) and a.max() == 1.0


def test_cutout_and_composite():
    alpha = np.array([[0.0, 1.0], [0.5, 1.0]], np.float32)
    fg = np.ones((2, 2, 3), np.float32)
    rgba = pp.cutout(alpha, fg)
    assert rgba.dtype == np.uint8 and rgba.shape == (2, 2, 4) and rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 255
    comp = pp.composite(alpha, fg, (0, 0, 0))
    assert comp[0, 0].tolist() == [0, 0, 0] and comp[1, 0].tolist() == [128, 128, 128]
    bg = np.zeros((7, 9, 3), np.uint8)
    assert pp.composite(alpha, fg, bg).shape == (2, 2, 3)


def test_parse_color():
    assert pp.parse_color("white") == (255, 255, 255)
    assert pp.parse_color("#00ff00") == (0, 255, 0)
    assert pp.parse_color("1,2,3") == (1, 2, 3)
    for bad in ("nocolour", "1,2", "0,0,300", "#00ff0080", "0,255,0,128"):  # a background has no alpha
        with pytest.raises(ValueError, match="background colour"):
            pp.parse_color(bad)


def test_resize_many_is_resize_rgb_for_each_size_from_one_copy():
    rgb = np.random.default_rng(6).integers(0, 256, (301, 199, 3), dtype=np.uint8)
    sizes = [(64, 48), (301, 199), (200, 150), (64, 48)]
    for threads in (1, 2, None):
        out = pp.resize_many(rgb, sizes, threads)
        assert out[1] is rgb and out[0] is out[3]  # its own size: the photo itself; a repeated size: resized once
        for got, hw in zip(out, sizes, strict=True):
            assert got.shape == (*hw, 3) and np.array_equal(got, np.asarray(Image.fromarray(rgb).resize(hw[::-1], Image.BILINEAR)))


def test_dilate_and_reconstruct():
    m = np.zeros((9, 9), bool)
    m[4, 4] = True
    assert pp.dilate(m, 2).sum() == 25 and pp.dilate(m, 2)[2:7, 2:7].all() and pp.dilate(m, 0).sum() == 1
    region = np.zeros((9, 9), bool)
    region[1, 1:8] = region[1:8, 7] = True  # an L from (1, 1) to (7, 7)
    region[5:8, 1:3] = True  # apart from it (not even diagonally touching)
    seed = np.zeros((9, 9), bool)
    seed[7, 7] = True
    picked = pp.reconstruct(seed, region)
    assert picked[1, 1] and picked.sum() == 13 and not picked[5:8, 1:3].any()


def _two_persons() -> np.ndarray:
    """MPN's mask (1, 1, 60, 80): two persons (soft-edged boxes) side by side, touching, and a third apart."""
    fg = np.zeros((1, 1, 60, 80), np.float32)
    fg[0, 0, 10:58, 10:30] = 0.9  # A
    fg[0, 0, 14:58, 30:45] = 0.8  # B, touching A
    fg[0, 0, 20:58, 60:75] = 0.95  # C, apart
    fg[0, 0, 9, 10:30] = 0.3  # a soft edge above A
    return fg


def test_select_person_keeps_whole_the_persons_strokes_are_painted_on():
    fg, unified = _two_persons(), np.full((1, 1, 60, 80), 0.5, np.float32)
    strokes = np.zeros_like(fg)
    strokes[0, 0, 20:22, 62:70] = strokes[0, 0, 40:50, 66] = 1  # on C only, with gaps
    out = pp.select_person(strokes, fg, unified)
    assert out.dtype == np.float32 and out.shape == fg.shape
    assert np.array_equal(out[0, 0, :, 55:], fg[0, 0, :, 55:]) and not out[0, 0, :, :50].any()  # C whole, with MPN's values
    assert np.array_equal(pp.select_person(strokes * 0.3, fg, unified), out)  # painted in grey: the same strokes


def test_a_box_is_said_by_the_input_not_guessed_from_the_mask():
    """A straight stroke on a person is a filled rectangle, like a box: as a mask it keeps the whole person,
    only a box given as one cuts to itself."""
    fg, unified = _two_persons(), np.full((1, 1, 60, 80), 0.5, np.float32)
    stroke = np.zeros_like(fg)
    stroke[0, 0, 20:50, 18:22] = 1  # a vertical stroke down A
    assert np.array_equal(pp.select_person(stroke, fg, unified)[0, 0, :, :50], fg[0, 0, :, :50])  # A (and B, touching)
    assert not pp.select_person(stroke, fg, unified, "box")[0, 0, :10].any()  # as a box: A's head is cut off
    with pytest.raises(ValueError, match="mask kind 'lasso': choose mask, box"):
        pp.select_person(stroke, fg, unified, "lasso")


def test_select_person_keeps_the_whole_persons_rough_painting_or_an_outline_touch():
    fg, unified = _two_persons(), np.full((1, 1, 60, 80), 0.5, np.float32)
    painting = np.zeros_like(fg)
    painting[0, 0, 25:60, 0:38] = 1  # roughly over A, missing its head, past its side, onto B's edge
    out = pp.select_person(painting, fg, unified)[0, 0]
    assert np.array_equal(out[:, :50], fg[0, 0, :, :50]) and not out[:, 55:].any()  # A with its head, and B (touching)


def test_select_person_cuts_a_drawn_around_box_to_its_person():
    fg, unified = _two_persons(), np.full((1, 1, 60, 80), 0.5, np.float32)
    box = np.zeros_like(fg)
    box[0, 0, 5:59, 5:32] = 1  # around A; B touches A, C is apart
    out = pp.select_person(box, fg, unified, "box")[0, 0]
    assert np.array_equal(out[10:58, 10:30], fg[0, 0, 10:58, 10:30]) and out[9, 15] == np.float32(0.3)  # A and its soft edge
    assert not out[:, 39:].any()  # B beyond the box's margin, and C, are gone
    # a mask on none of MPN's persons: QUN's mask stays
    nowhere = np.zeros_like(fg)
    nowhere[0, 0, 0:5, 50:58] = 1
    assert np.array_equal(pp.select_person(nowhere, fg, unified, "box"), unified)


def _locator_mask(h: int, w: int, persons: list[tuple[int, int, int, int]], value: float = 1.0) -> np.ndarray:
    """A locator's low-resolution mask with a filled box (y0, y1, x0, x1) of ``value`` per person."""
    m = np.zeros((h, w), np.float32)
    for y0, y1, x0, x1 in persons:
        m[y0:y1, x0:x1] = value
    return m


def test_person_crops_put_each_side_by_side_person_in_its_own_crop_at_mpns_shape():
    """Two persons apart in a 16:9 photo get one crop each, grown by CROP_MARGIN and towards 6:5 (height /
    width), in pixels of the photo; an arm apart from its person (under SMALL_PART of it) joins its crop."""
    fg = _locator_mask(72, 128, [(20, 70, 30, 45), (15, 70, 80, 100), (40, 44, 48, 51)])  # two persons and an arm
    crops = pp.person_crops(fg, (720, 1280))
    assert len(crops) == 2
    (y0, y1, x0, x1), second = crops
    assert x0 < 300 and x1 > 510 and y0 < 200 and y1 == 720  # the first person's crop holds its arm (x 480-510)
    assert 1.0 < (y1 - y0) / (x1 - x0) <= pp.CROP_ASPECT + 0.01
    assert second[2] < 800 < 1000 < second[3]


def test_person_crops_are_empty_where_the_chain_should_see_the_whole_photo():
    """No crop when the locator finds no person, when the persons fill the photo, or when it is unsure of what it
    finds (mostly grey: a close-up it sees in part) and the crop would not zoom much (over UNSURE_CROP of the
    photo); persons touching each other share a crop."""
    hw = (720, 1280)
    assert pp.person_crops(np.zeros((72, 128), np.float32), hw) == []
    assert pp.person_crops(_locator_mask(72, 128, [(0, 72, 20, 110)]), hw) == []
    assert len(pp.person_crops(_locator_mask(72, 128, [(20, 70, 10, 25), (20, 70, 25, 40)]), hw)) == 1

    def grey_with_a_sure_core(person, core):
        return np.maximum(_locator_mask(72, 128, [person], 0.6), _locator_mask(72, 128, [core]))

    big = (10, 72, 40, 70)  # its crop covers 46% of the photo
    assert len(pp.person_crops(_locator_mask(72, 128, [big]), hw)) == 1
    assert pp.person_crops(grey_with_a_sure_core(big, (30, 40, 50, 60)), hw) == []
    ((y0, y1, x0, x1),) = pp.person_crops(grey_with_a_sure_core((40, 70, 10, 25), (50, 55, 15, 20)), hw)
    assert y0 < 400 and y1 == 720 and x0 < 100 and x1 > 250  # the whole grey person, not its core


def test_a_grey_animal_beside_a_person_stays_out_of_the_persons_crop():
    fg = np.maximum(_locator_mask(72, 128, [(20, 70, 30, 45)]), _locator_mask(72, 128, [(20, 70, 45, 80)], 0.5))
    ((_, _, x0, x1),) = pp.person_crops(fg, (720, 1280))
    assert x0 < 300 and 450 < x1 < 700  # the animal reaches x = 800


def test_grow_crop_grows_towards_mpns_shape_and_stays_inside_the_image():
    assert pp.grow_crop(100, 200, 100, 200, (1000, 1000), margin=0.0) == (90, 210, 100, 200)
    assert pp.grow_crop(0, 1000, 450, 550, (1000, 1000), margin=0.1) == (0, 1000, 0, 1000)


def test_no_person_is_left_out_of_the_crops():
    """A small person a few columns from a big one is not an arm: it gets its own crop (and the big person's crop
    stays under MAX_CROP); a tiny blob is left out. A person the locator is less sure of (0.6, no sure pixel),
    more than MAX_CROPS persons, or crops under MIN_CROP_SIDE: the whole photo."""
    hw = (720, 1280)
    fg = _locator_mask(72, 128, [(0, 72, 10, 40), (50, 70, 45, 51)])
    assert len(pp.person_crops(fg, hw)) == 2
    assert len(pp.person_crops(_locator_mask(72, 128, [(0, 72, 10, 40), (68, 70, 100, 102)]), hw)) == 1
    assert pp.person_crops(fg, (40, 71)) == []
    unsure = np.maximum(_locator_mask(72, 128, [(20, 70, 10, 25)]), _locator_mask(72, 128, [(20, 70, 80, 95)], 0.6))
    assert pp.person_crops(unsure, hw) == []
    crowd = _locator_mask(72, 128, [(30, 70, 2 + 18 * i, 12 + 18 * i) for i in range(7)])
    assert pp.person_crops(crowd, hw) == [] and len(pp.person_crops(crowd[:, :90], (720, 900))) == 5


def test_one_locator_pass_settles_only_no_one_and_a_photo_the_persons_fill():
    """No person, or a crop over SETTLED_CROP of the photo: the whole photo, whatever the other passes say. Persons
    apart, a crop just over MAX_CROP (whole now, but other passes may shrink it), a less sure person left out, or
    a crowd: not settled."""
    hw = (720, 1280)
    assert pp.locator_settled(*pp.crop_plan(np.zeros((72, 128), np.float32), hw))
    assert pp.locator_settled(*pp.crop_plan(_locator_mask(72, 128, [(0, 72, 20, 110)]), hw))
    assert not pp.locator_settled(*pp.crop_plan(_locator_mask(72, 128, [(20, 70, 30, 45), (15, 70, 80, 100)]), hw))
    just_over = _locator_mask(72, 128, [(0, 72, 24, 100)])  # its crop covers 71% of the photo
    assert pp.person_crops(just_over, hw) == [] and not pp.locator_settled(*pp.crop_plan(just_over, hw))
    unsure = np.maximum(_locator_mask(72, 128, [(20, 70, 10, 25)]), _locator_mask(72, 128, [(20, 70, 80, 95)], 0.6))
    assert not pp.locator_settled(*pp.crop_plan(unsure, hw))
    assert not pp.locator_settled(*pp.crop_plan(_locator_mask(72, 128, [(30, 70, 2 + 18 * i, 12 + 18 * i) for i in range(7)]), hw))


def test_tta_masks_bring_mirrored_and_scaled_passes_back_and_run_the_passes_asked_for():
    """Each pass's mask comes back in the input's frame; ``passes`` runs some of them (the first, then the rest)."""
    image = np.random.default_rng(3).random((1, 3, 32, 64), dtype=np.float32)
    seen = []

    def run(x: np.ndarray) -> np.ndarray:  # a "mask" that is the input's red plane: mirroring and scaling undo
        seen.append(x.shape)
        return x[:, :1].copy()

    masks = pp.tta_masks(run, image, "flip-scale")
    assert seen == [(1, 3, 32, 64), (1, 3, 32, 64), (1, 3, 48, 96)]
    assert np.array_equal(masks[0], image[:, :1]) and np.array_equal(masks[1], image[:, :1])
    np.testing.assert_allclose(masks[2], pp.resize_linear(pp.resize_linear(image[:, :1], (48, 96)), (32, 64)), atol=1e-6)
    seen.clear()
    first, rest = pp.tta_masks(run, image, "flip-scale", range(1)), pp.tta_masks(run, image, "flip-scale", range(1, 3))
    assert seen == [(1, 3, 32, 64), (1, 3, 32, 64), (1, 3, 48, 96)] and len(first) == 1 and len(rest) == 2
    assert all(np.array_equal(a, b) for a, b in zip(first + rest, masks, strict=True))
    with pytest.raises(ValueError, match="tta 'zoom': choose flip-scale, flip, none"):
        pp.tta_masks(run, image, "zoom")


def test_grey_share_is_grey_pixels_per_solid_pixel():
    alpha = np.zeros((10, 10), np.float32)
    assert pp.grey_share(alpha) == np.inf  # nothing matted: never the surer matte
    alpha[2:8, 2:8] = 1.0
    alpha[2:8, 8] = 0.5  # a grey edge of 6 pixels beside 36 solid ones
    assert pp.grey_share(alpha) == pytest.approx(6 / 36)
    alpha[0] = 0.95  # above GREY: solid
    assert pp.grey_share(alpha) == pytest.approx(6 / 46)


def test_fit_crop_grows_a_crop_up_and_down_where_the_matte_runs_out_of_it():
    alpha = np.zeros((100, 80), np.float32)
    alpha[40:, 30:50] = 1  # legs through the crop's bottom edge
    assert pp.fit_crop(alpha, (100, 200, 50, 130), (1000, 800)) == (100, 250, 50, 130)
    assert pp.fit_crop(alpha, (900, 1000, 50, 130), (1000, 800)) is None  # the photo's own edge
    alpha[:] = 0
    alpha[20:80, :3] = 1  # a neighbour cut by the crop's side is no reason
    assert pp.fit_crop(alpha, (100, 200, 50, 130), (1000, 800)) is None


def test_a_refines_crop_grows_on_every_side_its_matte_runs_out_of():
    """A refine's crop (``sides`` "all") also grows by half its width at a side its matte crosses, up to the photo."""
    alpha = np.zeros((100, 80), np.float32)
    alpha[20:80, :3] = 1  # an arm through the left edge
    assert pp.fit_crop(alpha, (100, 200, 50, 130), (1000, 800), "all") == (100, 200, 10, 130)
    alpha[1:, -3:] = alpha[-1] = 1  # and through the right and bottom edges, the right one at the photo's
    assert pp.fit_crop(alpha, (100, 200, 50, 800), (1000, 800), "all") == (100, 250, 0, 800)
    with pytest.raises(ValueError, match="sides 'left'"):
        pp.fit_crop(alpha, (100, 200, 50, 130), (1000, 800), "left")


def test_mask_crop_is_the_masks_box_grown_as_a_persons():
    mask = np.zeros((1000, 2000), np.float32)
    assert pp.mask_crop(mask) is None
    mask[400:600, 1000:1100] = 0.3  # painted in grey: it still marks the person
    assert pp.mask_crop(mask) == pp.grow_crop(400, 600, 1000, 1100, (1000, 2000))
    mask[:] = 0
    mask[990:1000, 0:10] = 1  # a dot in a corner: at least a fifth of the height, MPN's shape, inside the photo
    assert pp.crop_at_least(pp.mask_crop(mask), mask.shape, 0.2) == (800, 1000, 0, 167)


def test_fill_outlines_marks_what_a_closed_ring_encloses():
    ring = Image.new("L", (600, 400))
    ImageDraw.Draw(ring).ellipse((200, 50, 400, 350), outline=255, width=6)
    mask = np.asarray(ring, np.float32) / 255
    filled = pp.fill_outlines(mask)
    assert filled[200, 300] == 1 and filled[200, 100] == 0 and filled.dtype == np.float32
    assert abs(filled.sum() - np.pi * 100 * 150) < 0.05 * np.pi * 100 * 150  # the ellipse's area
    open_line = np.zeros((400, 600), np.float32)
    open_line[100:300, 300:306] = 0.4  # a stroke, painted in grey: nothing enclosed, the mask as it is
    assert pp.fill_outlines(open_line) is open_line
    diagonal = Image.new("L", (600, 400))  # a ring of diagonal steps still closes (4-connected flood)
    ImageDraw.Draw(diagonal).polygon([(300, 20), (580, 200), (300, 380), (20, 200)], outline=255, width=1)
    assert pp.fill_outlines(np.asarray(diagonal, np.float32) / 255)[200, 300] == 1


def test_lying_is_a_located_person_long_across():
    """The largest part the locator calls a person, by its second moments: long and at least 50 degrees off
    vertical."""
    mask = np.zeros((60, 80), np.float32)
    mask[10:50, 35:45] = 0.9  # standing: long and vertical
    assert not pp.lying(mask)
    mask[:] = 0
    mask[25:35, 10:70] = 0.9  # lying: long and horizontal
    assert pp.lying(mask)
    mask[:] = 0
    mask[15:45, 25:55] = 0.9  # a close-up's head and shoulders: not elongated
    assert not pp.lying(mask)
    mask[:] = 0
    for i in range(40):  # tilted 45 degrees: not yet lying
        mask[10 + i, 20 + i : 26 + i] = 0.9
    assert not pp.lying(mask)
    mask[:] = 0
    mask[18:60, 35:45] = 0.9  # a body standing, its hair flying wide apart from it (and surer)
    mask[5:14, 20:60] = 1.0
    assert not pp.lying(mask)
    mask[:] = 0
    mask[10:50, 10:20] = mask[10:50, 40:50] = 0.9  # two persons side by side
    assert not pp.lying(mask)
    assert not pp.lying(np.zeros((60, 80), np.float32))


def test_unseen_share_is_solid_alpha_where_the_locator_sees_no_one():
    fg_mask = np.zeros((10, 20), np.float32)  # low resolution: each pixel is 4x4 of the matte
    fg_mask[:, :10] = 0.9
    alpha = np.zeros((40, 80), np.float32)
    assert pp.unseen_share(alpha, fg_mask) == 0.0  # nothing solid
    alpha[:, 20:60] = 1.0  # half where the person is, half where no one is
    alpha[0, :] = 0.4  # grey: not counted
    assert pp.unseen_share(alpha, fg_mask) == pytest.approx(0.5)
    fg_mask[:, 10:13] = pp.LOCATE_EDGE  # an edge of the person counts as seen: columns 40-51 of the matte
    assert pp.unseen_share(alpha, fg_mask) == pytest.approx(0.2)
