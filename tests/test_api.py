"""Matter on real onnxruntime sessions over tiny real models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from semhm_models import Matter, processing
from semhm_models.chain import run_chain
from semhm_models.errors import ImageError, WeightsError
from semhm_models.images import load_rgb
from semhm_models.runtime import session_options
from train import checkpoints


def test_alpha_at_full_resolution_any_mode(matter, photo, tmp_path):
    for mode in ("RGB", "L", "CMYK", "P", "RGBA"):
        with Image.open(photo) as im:
            src = im.convert(mode)
        m = matter(src)
        assert m.alpha.shape == (205, 137) and m.alpha.dtype == np.float32
        assert m.foreground.shape == (205, 137, 3) and m.foreground.dtype == np.float32
        assert 0 <= m.alpha.min() and m.alpha.max() <= 1 and 0 <= m.foreground.min() and m.foreground.max() <= 1


def test_matches_torch_chain(matter, tiny_run, photo):
    """The runtime's answer is the torch chain's answer (pre/post-processing included, MPN's passes
    averaged as exported)."""
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    m = matter(photo)
    with torch.no_grad():
        lr = torch.from_numpy(processing.lowres(rgb, processing.lowres_size(*rgb.shape[:2])))
        assert lr.shape[2:] == (224, 160)  # the photo's own aspect ratio (205 x 137)
        fgr, alpha, fg_mask = run_chain(checkpoints.runner(tiny_run), lr, torch.from_numpy(processing.to_nchw(rgb)))
    assert np.abs(m.alpha - alpha[0, 0].numpy()).max() <= 1e-4
    assert m.person == pytest.approx(processing.person_score(fg_mask.numpy()), abs=1e-4)
    assert np.abs(m.foreground - fgr[0].permute(1, 2, 0).numpy()).max() <= 1e-4


def test_coarse_mask_goes_through_qun_with_mpns_mask_and_changes_the_result(matter, photo, tmp_path):
    full = np.ones((205, 137), np.float32)
    empty = np.zeros((205, 137), np.float32)
    a = matter.matte_rgb(np.asarray(Image.open(photo).convert("RGB")), full)
    b = matter.matte_rgb(np.asarray(Image.open(photo).convert("RGB")), empty)
    assert {"mpn", "qun", "mrn"} <= set(a.timings)  # MPN runs: the user's mask picks its persons out of MPN's mask
    assert np.abs(a.alpha - b.alpha).mean() > 0.01
    Image.fromarray((full * 255).astype(np.uint8)).save(tmp_path / "m.png")
    assert np.array_equal(matter(photo, coarse_mask=tmp_path / "m.png").alpha, a.alpha)
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(ImageError, match="mask is 9x9 but the image is 137x205"):
        matter(photo, coarse_mask=tmp_path / "small.png")


def test_sessions_are_made_once_and_reused(matter, photo):
    ids = {k: id(v) for k, v in matter.sessions.items()}
    for _ in range(3):
        matter(photo)
    assert {k: id(v) for k, v in matter.sessions.items()} == ids
    assert matter.provider == "CPUExecutionProvider"
    # idle threads sleep instead of spinning into the next stage's session (docs/benchmarks.md)
    assert session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_tiny_and_odd_sizes(matter):
    for h, w in ((1, 1), (2, 3), (67, 93)):
        m = matter(np.full((h, w, 3), 128, np.uint8))
        assert m.alpha.shape == (h, w)


def test_max_side_caps_mrn_but_output_is_full_size(tiny_weights):
    small = Matter.from_pretrained(str(tiny_weights), provider="cpu", max_side=64)
    m = small(np.full((300, 200, 3), 90, np.uint8))
    assert m.alpha.shape == (300, 200)


def test_mrn_side_runs_mrn_smaller_and_the_guided_filter_brings_it_to_full_size(tiny_weights, photo):
    rgb = np.asarray(Image.open(photo).convert("RGB"))  # 137x205
    full = Matter.from_pretrained(str(tiny_weights), provider="cpu", mrn_side=None)(rgb)
    assert "upsample" not in full.timings
    same = Matter.from_pretrained(str(tiny_weights), provider="cpu", mrn_side=205)(rgb)  # not below the photo: as before
    assert np.array_equal(same.alpha, full.alpha) and np.array_equal(same.foreground, full.foreground)
    small = Matter.from_pretrained(str(tiny_weights), provider="cpu", mrn_side=64)(rgb)
    assert small.alpha.shape == (205, 137) and small.foreground.shape == (205, 137, 3) and small.timings["upsample"] > 0
    assert small.alpha.dtype == np.float32 and 0 <= small.alpha.min() and small.alpha.max() <= 1
    assert 0 < np.abs(small.alpha - full.alpha).mean() < 0.1
    # with max_side too: MRN at 64, the guided filter up to 100, then bilinear to the photo's size
    both = Matter.from_pretrained(str(tiny_weights), provider="cpu", mrn_side=64, max_side=100)(rgb)
    assert both.alpha.shape == (205, 137) and both.foreground.shape == (205, 137, 3)
    hidden = np.zeros((205, 137), np.float32)  # the input's alpha still bounds the result
    assert Matter.from_pretrained(str(tiny_weights), provider="cpu", mrn_side=64).matte_rgb(rgb, input_alpha=hidden).alpha.max() == 0


def test_cutout_and_composite_helpers(matter, photo):
    m = matter(photo)
    rgba = m.cutout()
    assert rgba.shape == (205, 137, 4) and rgba.dtype == np.uint8
    assert np.array_equal(rgba[..., 3], processing.to_uint8(m.alpha))
    assert np.array_equal(np.asarray(m.image("rgba")), rgba) and np.array_equal(np.asarray(m.image("alpha")), rgba[..., 3])
    assert m.image("fg").mode == "RGB"
    with pytest.raises(ValueError, match="choose rgba, alpha or fg"):
        m.image("composite")
    assert m.composite((0, 255, 0)).shape == (205, 137, 3)


def test_io_binding_path_gives_the_same_matte(tiny_weights, photo):
    """The GPU path (MPN -> QUN -> MRN kept on the device with I/O binding), exercised on the CPU device."""
    plain = Matter.from_pretrained(str(tiny_weights), provider="cpu", binding="off")
    bound = Matter.from_pretrained(str(tiny_weights), provider="cpu", binding="on")
    assert bound.binding and not plain.binding
    a, b = plain(photo), bound(photo)
    assert np.abs(a.alpha - b.alpha).max() <= 1e-6 and np.abs(a.foreground - b.foreground).max() <= 1e-6
    mask = np.ones((205, 137), np.float32)
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    assert np.abs(plain.matte_rgb(rgb, mask).alpha - bound.matte_rgb(rgb, mask).alpha).max() <= 1e-6
    with pytest.raises(ValueError, match="binding 'maybe'"):
        Matter.from_pretrained(str(tiny_weights), binding="maybe")


def test_large_images_use_an_arena_free_session(tiny_weights, monkeypatch):
    import semhm_models.api as api

    monkeypatch.setattr(api, "LARGE_PIXELS", 1000)
    m = Matter.from_pretrained(str(tiny_weights), provider="cpu")
    small = m(np.full((20, 30, 3), 100, np.uint8))
    assert "mrn_large" not in m.sessions
    big = m(np.full((60, 40, 3), 100, np.uint8))
    assert "mrn_large" in m.sessions and big.alpha.shape == (60, 40) and small.alpha.shape == (20, 30)
    ref = Matter.from_pretrained(str(tiny_weights), provider="cpu")(np.full((60, 40, 3), 100, np.uint8))
    assert np.abs(big.alpha - ref.alpha).max() <= 1e-5  # same model, same answer


def test_precision_choice(tiny_weights, photo, tmp_path):
    """auto is fp32 on the CPU; fp16 on request runs the half-precision files through the same API (with
    I/O binding too: the fp16 files keep the float32 contract); weights without fp16 say so."""
    auto = Matter.from_pretrained(str(tiny_weights), provider="cpu")
    assert auto.precision == "fp32" and auto.sessions["mrn"]._model_path.endswith("mrn.onnx")
    half = Matter.from_pretrained(str(tiny_weights), provider="cpu", precision="fp16", binding="on")
    assert half.sessions["mrn"]._model_path.endswith("mrn.fp16.onnx")
    a, b = auto(photo).alpha, half(photo).alpha
    assert 0 < np.abs(a - b).max() <= 2e-2
    with pytest.raises(ValueError, match="precision 'fp8'"):
        Matter.from_pretrained(str(tiny_weights), precision="fp8")
    only32 = shutil.copytree(tiny_weights, tmp_path / "w")
    m = json.loads((only32 / "manifest.json").read_text())
    del m["precisions"]
    (only32 / "manifest.json").write_text(json.dumps(m))
    assert Matter.from_pretrained(str(only32), provider="cpu").precision == "fp32"
    with pytest.raises(WeightsError, match="no fp16 files"):
        Matter.from_pretrained(str(only32), provider="cpu", precision="fp16")


def test_weights_can_send_only_coarse_masks_through_qun(tiny_weights, tiny_run, photo, tmp_path):
    """qun_masks "coarse" in the manifest: MPN's mask goes straight to MRN (both chain paths), a user's
    coarse mask still goes through QUN."""
    folder = shutil.copytree(tiny_weights, tmp_path / "w")
    m = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(m | {"qun_masks": "coarse"}))
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    with torch.no_grad():
        lr = torch.from_numpy(processing.lowres(rgb, processing.lowres_size(*rgb.shape[:2])))
        direct = (
            run_chain(checkpoints.runner(tiny_run), lr, torch.from_numpy(processing.to_nchw(rgb)), qun_masks="coarse").alpha[0, 0].numpy()
        )
    user = np.zeros(rgb.shape[:2], np.float32)
    user[50:150, 30:100] = 1
    full = Matter.from_pretrained(str(tiny_weights), provider="cpu")
    for binding in ("off", "on"):
        matter = Matter.from_pretrained(str(folder), provider="cpu", binding=binding)
        auto = matter(photo)
        assert np.abs(auto.alpha - direct).max() <= 1e-4 and "qun" in auto.timings
        assert np.abs(matter.matte_rgb(rgb, user).alpha - full.matte_rgb(rgb, user).alpha).max() <= 1e-6


def test_a_box_is_refined_as_a_filled_rectangle(matter, photo):
    """coarse_mask=(x0, y0, x1, y1) in pixels: the same matte as the rectangle given as a mask of kind "box"
    (a rectangle given as a plain mask is a mask: a straight stroke looks like one); bad boxes are ValueErrors
    that say what a box is."""
    rect = np.zeros((205, 137), np.float32)
    rect[20:180, 30:110] = 1
    boxed = matter(photo, coarse_mask=(30, 20, 110, 180))
    assert "mpn" in boxed.timings
    assert np.array_equal(boxed.alpha, matter.matte_rgb(load_rgb(photo), rect, mask_kind="box").alpha)
    assert np.array_equal(boxed.alpha, matter(photo, coarse_mask=[30, 20, 110, 180]).alpha)  # a list is a box too
    assert np.array_equal(matter(photo, coarse_mask=(-50, -9, 500, 999)).alpha, matter(photo, coarse_mask=np.ones_like(rect)).alpha)
    bad_boxes = {(1, 2, 3): "four numbers", (50, 20, 40, 90): "x0 < x1", (0, 0, np.nan, 9): "x0 < x1"}
    bad_boxes[(200, 10, 300, 50)] = "outside the 137x205"
    for bad, msg in bad_boxes.items():
        with pytest.raises(ValueError, match=msg):
            matter(photo, coarse_mask=bad)


class _QunWithoutFgMask(torch.nn.Module):
    """A qun.onnx as exported before aspect-keeping: two inputs (here: the new QUN with an empty fg_mask)."""

    def __init__(self, qun) -> None:
        super().__init__()
        self.qun = qun

    def forward(self, image_lr, mask):
        return self.qun(image_lr, mask, torch.zeros_like(mask))


def test_weights_from_before_aspect_keeping_still_run(tiny_run, tiny_weights, photo, tmp_path):
    """Old weights (mpn.onnx and qun.onnx with 192x160 built in, qun.onnx without fg_mask, no mpn_input in
    the manifest) load and run as before: the photo squeezed to 192x160, QUN on the image and the mask."""
    from semhm_models.nets.graphs import MPNGraph
    from semhm_models.weights import write_manifest

    mpn, qun, mrn = (checkpoints.load_stage(s, tiny_run) for s in ("mpn", "qun", "mrn"))
    old = tmp_path / "old"
    old.mkdir()
    lr0, m0 = torch.rand(1, 3, 192, 160), torch.rand(1, 1, 192, 160)
    for name, net, inputs, names in (
        ("mpn", MPNGraph(mpn).eval(), (lr0,), ["image_lr"]),  # eval: export restores a wrapper's mode on its children
        ("qun", _QunWithoutFgMask(qun).eval(), (lr0, m0), ["image_lr", "mask"]),
    ):
        outputs = ["masks", "fg_mask"] if name == "mpn" else ["unified"]
        axes = {n: {0: "batch"} for n in names + outputs}
        torch.onnx.export(net, inputs, str(old / f"{name}.onnx"), input_names=names, output_names=outputs, dynamic_axes=axes, dynamo=False)
    shutil.copy(tiny_weights / "mrn.onnx", old)
    write_manifest(old, {s: f"{s}.onnx" for s in ("mpn", "qun", "mrn")}, {"mpn_tta": "flip-scale", "qun_masks": "all"})
    matter = Matter.from_pretrained(str(old), provider="cpu")
    assert matter.mpn_input == "fixed"
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    user = np.zeros(rgb.shape[:2], np.float32)
    user[50:150, 30:100] = 1
    lr, image = torch.from_numpy(processing.lowres(rgb, (192, 160))), torch.from_numpy(processing.to_nchw(rgb))
    with torch.no_grad():
        fg = MPNGraph(mpn)(lr)[1]
        for coarse, mask in ((None, fg), (user, torch.from_numpy(processing.mask_lowres(user, (192, 160))))):
            unified = qun(lr, mask, torch.zeros_like(mask))
            if coarse is not None:  # then the persons of MPN's mask that the user's mask points at
                unified = torch.from_numpy(processing.select_person(mask.numpy(), fg.numpy(), unified.numpy()))
            want = mrn(image, unified)[1][0, 0].numpy()
            assert np.abs(matter.matte_rgb(rgb, coarse).alpha - want).max() <= 1e-4
