"""Scene frames, user-like masks and the scenes/refine scores, on tiny synthetic persons (no shared data)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage as ndi

from semhm_models.processing import budget_size
from train import data, scene_eval, scenes
from train.cli import DEFAULT_CONFIG
from train.usermasks import MASK_KINDS, random_user_mask, user_mask


def synthetic_person(h: int = 80, w: int = 40, seed: int = 0) -> scenes.Person:
    """An upright soft-edged ellipse inside an (h, w) image with a margin, random foreground colours."""
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((yy - h / 2) / (0.42 * h), (xx - w / 2) / (0.4 * w))
    alpha = (np.clip((1.0 - r) * 12, 0, 1) * 255).astype(np.uint8)
    fg = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return scenes.Person.of(alpha, fg)


def sampler(seed: int = 0, empty: float = scenes.EMPTY_SHARE) -> scenes.SceneSampler:
    persons = [synthetic_person(seed=s) for s in range(3)]
    bgs = [np.random.default_rng(9).integers(0, 256, (30, 50, 3), dtype=np.uint8)]
    return scenes.SceneSampler(persons, bgs, np.random.default_rng(seed), empty)


def test_frame_shapes_and_person_heights(monkeypatch):
    monkeypatch.setattr(scenes, "TILTED_SHARE", 0.0)  # upright: box height is person height (tilted: the next test)
    s = sampler(1)
    heights, counts = [], []
    for _ in range(60):
        aspect = float(np.exp(s.rng.uniform(np.log(scenes.ASPECTS[0]), np.log(scenes.ASPECTS[1]))))
        hw = budget_size(320 * 320, aspect)
        assert hw[0] % 32 == 0 and hw[1] % 32 == 0
        assert scenes.ASPECTS[0] * 0.85 <= hw[1] / hw[0] <= scenes.ASPECTS[1] * 1.15
        persons, placements = s.placements(hw)
        counts.append(len(persons))
        for pe, pl in zip(persons, placements, strict=True):
            heights.append(pl.scale * (pe.box[2] - pe.box[0]) / hw[0])
    heights = np.array(heights)
    assert heights.min() >= 0.2 - 1e-6 and heights.max() <= 1 / 0.25 + 1e-6  # close-ups: the top quarter fills the frame
    assert (heights < 0.5).any() and ((heights > 1.0) & (heights <= 1.5)).any() and (heights > 1.5).any()
    assert set(counts) <= {0, 1, 2, 3, 4} and {0, 1, 2} <= set(counts)
    for _ in range(8):
        image, alpha, fg, pas = s.frame(96 * 96)
        assert image.dtype == alpha.dtype == fg.dtype == np.uint8
        assert image.shape == fg.shape == (*alpha.shape, 3) and all(p.shape == alpha.shape for p in pas)
        assert 9 / 16 * 0.7 <= alpha.shape[1] / alpha.shape[0] <= 21 / 9 * 1.4


def test_tilted_persons_keep_their_size(monkeypatch):
    """A tilted or lying person is drawn at the scale an upright one of the same height would be; some lie down
    (box wider than tall), and a turn keeps the alpha's area."""
    monkeypatch.setattr(scenes, "TILTED_SHARE", 1.0)
    s, upright = sampler(4), synthetic_person()
    tall = upright.box[2] - upright.box[0]
    wide, heights = 0, []
    for _ in range(80):
        for pe, pl in zip(*s.placements((320, 480)), strict=True):
            if pe.alpha.shape != upright.alpha.shape:  # turned (a close-up is never turned)
                heights.append(pl.scale * tall / 320)
                wide += pe.box[3] - pe.box[1] > pe.box[2] - pe.box[0]
    assert len(heights) > 40 and 0.2 - 1e-6 <= min(heights) and max(heights) <= 1.5 + 1e-6 and wide > 5
    lying, ratio = scenes.tilted(upright, 90)
    assert lying.alpha.shape == upright.alpha.shape[::-1] and ratio == (lying.box[2] - lying.box[0]) / tall
    assert abs(int(lying.alpha.sum()) - int(upright.alpha.sum())) < 0.01 * upright.alpha.sum()


def test_empty_frames_have_zero_alpha():
    s = sampler(2, empty=1.0)
    for _ in range(5):
        image, alpha, fg, pas = s.frame(64 * 64)
        assert pas == [] and not alpha.any() and not fg.any() and image.any()
    s = sampler(3)
    shares = [len(s.placements((64, 64))[0]) == 0 for _ in range(400)]
    assert 0.14 < np.mean(shares) < 0.26


def test_render_exact_at_scale_one_and_cut_by_the_frame():
    pe = synthetic_person()
    a, f = scenes.render(pe, scenes.Placement(1.0, 5, 7), (100, 60))
    assert np.allclose(a[5:85, 7:47], pe.alpha / 255.0, atol=1e-6) and a[:5].sum() == 0
    assert np.allclose(f[5:85, 7:47], pe.fg / 255.0, atol=1e-6)
    a, _ = scenes.render(pe, scenes.Placement(2.0, -30.0, -10.0), (100, 60))  # bigger than the frame: cut
    assert a.shape == (100, 60) and a[0].max() > 0.9 and a[-1].max() > 0.9
    pl = scenes.place(pe, (200, 300), 0.5, 0.5, 0.25)  # box height = 0.5 x 200, top at 50, centred
    a, _ = scenes.render(pe, pl, (200, 300))
    ys, xs = np.nonzero(a > 12 / 255)
    assert abs(ys.min() - 50) <= 2 and abs((ys.max() + 1 - ys.min()) - 100) <= 3 and abs((xs.min() + xs.max()) / 2 - 150) <= 2


def test_over_two_persons():
    hw = (4, 4)
    bg = np.full((*hw, 3), 0.2, np.float32)
    back = (np.full(hw, 0.5, np.float32), np.broadcast_to(np.array([1.0, 0.0, 0.0], np.float32), (*hw, 3)))
    front = (np.full(hw, 0.5, np.float32), np.broadcast_to(np.array([0.0, 0.0, 1.0], np.float32), (*hw, 3)))
    image, alpha, fg = scenes.over([back, front], bg)
    assert np.allclose(alpha, 0.75)
    assert np.allclose(fg[0, 0], [0.25 / 0.75, 0.0, 0.5 / 0.75])  # premultiplied: 0.5 blue + 0.25 red
    assert np.allclose(image, fg * alpha[..., None] + bg * (1 - alpha[..., None]))
    assert np.allclose(image[0, 0], [0.25 + 0.05, 0.05, 0.5 + 0.05])  # sequential 'over' by hand
    # an opaque front person hides the back one's colours completely
    image, alpha, fg = scenes.over([back, (np.ones(hw, np.float32), front[1])], bg)
    assert np.allclose(alpha, 1.0) and np.allclose(fg, [0.0, 0.0, 1.0])


def test_compose_frame_is_its_own_composite():
    pe = [synthetic_person(seed=1), synthetic_person(seed=2)]
    pls = [scenes.Placement(1.2, 10, 10), scenes.Placement(1.0, 20, 40)]
    bg = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    image, alpha, fg, pas = scenes.compose(pe, pls, bg, (120, 100))
    rebuilt = fg / 255.0 * (alpha[..., None] / 255.0) + scenes.cover(bg, (120, 100)) / 255.0 * (1 - alpha[..., None] / 255.0)
    assert np.abs(rebuilt * 255 - image).max() <= 3  # uint8 rounding of three arrays
    vis = scenes.visible(pas)
    assert np.allclose(sum(vis), alpha / 255.0, atol=0.02)  # visible parts add up to the frame's alpha


def test_sampler_is_deterministic_and_needs_data():
    a = sampler(5).frame(80 * 80)
    b = sampler(5).frame(80 * 80)
    assert all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3], strict=True))
    with pytest.raises(ValueError, match="background"):
        scenes.SceneSampler([synthetic_person()], [], np.random.default_rng(0))


# -- user-like masks ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref() -> np.ndarray:
    """A person-like reference alpha: a tall ellipse with an arm, 200x160, float in [0, 1]."""
    yy, xx = np.mgrid[:200, :160]
    body = ((yy - 110) / 80) ** 2 + ((xx - 80) / 30) ** 2 <= 1
    arm = (yy > 70) & (yy < 85) & (xx > 80) & (xx < 140)
    return ndi.uniform_filter((body | arm).astype(np.float32), 3)


def test_every_mask_kind_has_its_property(ref):
    m = ref > 0.5
    ys, xs = np.nonzero(m)
    t, lft, b, r = ys.min(), xs.min(), ys.max() + 1, xs.max() + 1
    out = {k: user_mask(k, ref, np.random.default_rng(1), radius=12) for k in MASK_KINDS}
    for k, v in out.items():
        assert v.shape == ref.shape and v.dtype == np.float32 and 0 <= v.min() and v.max() <= 1, k
    dist_out = ndi.distance_transform_edt(~m)
    dist_in = ndi.distance_transform_edt(m)
    d, e = out["dilate"] > 0.5, out["erode"] > 0.5
    assert d[dist_out <= 12].all() and not d[dist_out > 13].any()  # grown by the asked radius
    assert m[e].all() and e[dist_in > 13].all() and not e[dist_in <= 11].any()
    assert out["box"][t:b, lft:r].all()  # the box covers the bounding box
    assert (out["ellipse"] > 0.5)[m].mean() > 0.99 and out["ellipse"].sum() > 1.2 * m.sum()
    lasso = out["lasso"] > 0.5
    assert lasso[m].mean() > 0.85 and lasso.sum() > m.sum()  # a loose polygon around the person
    sc = out["scribble"] > 0.5
    assert sc.any() and m[sc].all() and sc.sum() < 0.7 * m.sum()  # strokes inside the person, not all of it
    holes, blobs = out["holes"] > 0.5, out["blobs"] > 0.5
    assert m[holes].all() and holes.sum() < m.sum()
    assert blobs[m].all() and blobs.sum() > m.sum()
    assert np.abs(out["paper"] - ref).mean() < 0.1  # a small degradation


def test_masks_are_seeded_and_checked(ref):
    for k in MASK_KINDS:
        assert np.array_equal(user_mask(k, ref, np.random.default_rng(3)), user_mask(k, ref, np.random.default_rng(3))), k
    kinds = {random_user_mask(ref, np.random.default_rng(s))[0] for s in range(40)}
    assert kinds == set(MASK_KINDS)
    radii = [(user_mask("dilate", ref, np.random.default_rng(s)) > 0.5).sum() for s in range(4)]
    assert len(set(radii)) > 1  # a random radius when none is asked
    with pytest.raises(ValueError, match="unknown mask kind"):
        user_mask("brush", ref, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no person"):
        user_mask("box", np.zeros((8, 8), np.float32), np.random.default_rng(0))
    u8 = (ref * 255).astype(np.uint8)
    assert np.array_equal(user_mask("box", u8, np.random.default_rng(2)), user_mask("box", ref, np.random.default_rng(2)))


# -- scores --------------------------------------------------------------------------------------------


def test_real_config_keeps_validation_out_of_training():
    cfg = data.load_config(DEFAULT_CONFIG)
    val = set(cfg["val"]["ids"])
    assert not val & set(cfg["fine"]["ids"]) and not val & set(cfg["coarse"]["ids"])
    assert not set(cfg["backgrounds"]["val"]) & set(cfg["backgrounds"]["train"])


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A config whose cache holds only the validation persons and whose background folder holds only the
    validation backgrounds: building a split that reached for training data would fail."""
    root = tmp_path_factory.mktemp("scenes_data")
    cfg = {
        "resolution": [80, 40],
        "sources": {"ccp": {"layout": "ccp", "root": str(root / "ccp")}, "bg": {"layout": "backgrounds", "root": str(root / "bg")}},
        "fine": {"source": "ccp", "ids": ["t1", "t2"]},
        "coarse": {"source": "ccp", "ids": ["t3"]},
        "val": {"source": "ccp", "ids": ["v1", "v2", "v3"]},
        "backgrounds": {"source": "bg", "train": ["btrain"], "val": ["bval1", "bval2"]},
    }
    fine = root / "cache" / "80x40" / "fine"
    fine.mkdir(parents=True)
    for i, pid in enumerate(cfg["val"]["ids"]):
        pe = synthetic_person(seed=i)
        np.savez(fine / f"ccp_{pid}.npz", image=pe.fg, alpha=pe.alpha, fg=pe.fg)
    (root / "bg").mkdir()
    for i, name in enumerate(cfg["backgrounds"]["val"]):
        Image.fromarray(np.full((30, 45, 3), 60 * (i + 1), np.uint8)).save(root / "bg" / f"{name}.jpg")
    with pytest.raises(data.DataError):
        data.load_split(cfg, root / "cache", "fine")
    with pytest.raises(data.DataError, match="btrain"):
        scenes.load_background_images(cfg, "train")
    return cfg, root


@pytest.fixture(scope="module")
def tiny_scenes(tiny_dataset):
    cfg, root = tiny_dataset
    return scene_eval.build_scenes(cfg, root / "cache", root / "scenes", per_subset=2)


def test_scenes_split_from_validation_data_only(tiny_scenes):
    out = tiny_scenes
    for subset in scene_eval.SUBSETS:
        names = sorted(p.name for p in (out / subset / "images").iterdir())
        assert names == sorted(p.name for p in (out / subset / "alpha").iterdir()) and len(names) == 2
        a = np.asarray(Image.open(out / subset / "alpha" / names[0]))
        size = Image.open(out / subset / "images" / names[0]).size
        assert a.shape == size[::-1]
        if subset == "portrait":
            assert size == (512, 640)
        if subset == "wide":
            assert size == (1024, 576)
        assert (a.max() == 0) == (subset == "empty")


def test_refine_split_and_scores(tiny_dataset, tmp_path, matter):
    cfg, root = tiny_dataset
    val = tmp_path / "val"
    for i in range(2):
        pe = synthetic_person(160, 96, seed=i)
        alpha = np.zeros((192, 128), np.uint8)
        alpha[16:176, 16:112] = pe.alpha
        img = np.full((192, 128, 3), 90, np.uint8)
        img[alpha > 127] = 200
        for sub, arr in (("images", img), ("alpha", alpha)):
            (val / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(val / sub / f"c{i}.png")
    out = scene_eval.build_refine(cfg, root / "cache", val, tmp_path / "refine", box_frames=2)
    for kind in scene_eval.REFINE_KINDS:
        assert sorted(p.name for p in (out / "masks" / kind).iterdir()) == ["c0.png", "c1.png"]
    boxes = json.loads((out / "box" / "boxes.json").read_text())
    assert len(boxes) == 2
    for stem, (x0, y0, x1, y1) in boxes.items():
        a = np.asarray(Image.open(out / "box" / "alpha" / f"{stem}.png"))
        ys, xs = np.nonzero(a > 127)
        assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1  # the box holds the chosen person
        assert list((out / "box" / "others").glob(f"{stem}_*.png"))
    res = scene_eval.evaluate_refine(out, lambda rgb, m=None, kind="mask": matter.matte_rgb(rgb, m, mask_kind=kind).alpha)
    assert set(res) == set(scene_eval.REFINE_KINDS) | {"box_one_of_group"}
    d60 = res["dilate60"]
    assert d60["count"] == 2 and d60["mask"]["sad"] > res["dilate10"]["mask"]["sad"] > 0
    assert d60["auto"] == res["box"]["auto"]  # one automatic matte per image, shared by every kind
    for what in ("mask", "refined", "auto"):
        assert 0 <= d60[what]["mse"] <= d60[what]["sad"] <= 1
    box = res["box_one_of_group"]
    assert 0 <= box["iou"] <= 1 and 0 <= box["other_covered_mean"] <= 1 and box["count"] == 2
    assert 0 <= box["auto_covers_person"] <= 1 and 0 <= box["auto_in_box_iou"] <= 1
    # the ceiling the automatic chain sets: a perfect automatic matte covers the person and, cut to the box, is it
    oracle = {}
    for stem in boxes:
        rgb = np.asarray(Image.open(out / "box" / "images" / f"{stem}.png").convert("RGB"))
        oracle[rgb.tobytes()] = np.asarray(Image.open(out / "box" / "alpha" / f"{stem}.png")) / 255.0
    perfect = scene_eval.evaluate_refine(out, lambda rgb, m=None, kind="mask": oracle.get(rgb.tobytes(), np.zeros(rgb.shape[:2])))
    assert perfect["box_one_of_group"]["auto_covers_person"] == 1.0 and perfect["box_one_of_group"]["auto_in_box_iou"] == 1.0


def test_evaluate_scenes_with_a_known_predictor(tiny_scenes, tmp_path):
    out = tiny_scenes
    perfect = {}

    def oracle(rgb):  # the reference itself, looked up by image: every error must be 0
        return perfect[rgb.tobytes()]

    for subset in scene_eval.SUBSETS:
        for f in (out / subset / "images").iterdir():
            perfect[np.asarray(Image.open(f).convert("RGB")).tobytes()] = np.asarray(Image.open(out / subset / "alpha" / f.name)) / 255.0
    res = scene_eval.evaluate_scenes(out, oracle, save=tmp_path / "pred")
    assert set(res) == set(scene_eval.SUBSETS)
    for subset, r in res.items():
        assert r["sad"] < 1e-6 and r["hole"] == 0 and r["leftover"] == 0 and r["count"] == 2, subset
    assert res["empty"]["empty_frames_with_leftovers"] == 0
    everything = scene_eval.evaluate_scenes(out, lambda rgb: np.ones(rgb.shape[:2], np.float32))
    assert everything["empty"]["empty_frames_with_leftovers"] == 1.0 and everything["empty"]["leftover"] == 1.0
    assert (tmp_path / "pred" / "wide").is_dir()


def test_blobs_around_a_person_who_fills_the_frame_is_the_person_alone():
    """A close-up covering the whole frame leaves no room for extra blobs: the mask is the person (the
    QUN training batches met such frames)."""
    full = np.ones((40, 30), np.float32)
    assert np.array_equal(user_mask("blobs", full, np.random.default_rng(0)), full)
