"""The fast guided filter: its coefficients' graph (semhm_models/guided.onnx, train/guided.py) in a real onnxruntime
session, then the full-size pass (processing.guided_upsample), against the formula in float64."""

from __future__ import annotations

import os

import numpy as np
import pytest

from semhm_models import processing as pp
from semhm_models.api import GUIDED_FILE
from semhm_models.runtime import create_session

guided = pytest.importorskip("train.guided")  # the graph's builder needs onnx (the train extra)


def _session(radius: int = pp.GUIDED_RADIUS, eps: float = pp.GUIDED_EPS):
    if (radius, eps) == (pp.GUIDED_RADIUS, pp.GUIDED_EPS):
        return create_session(str(GUIDED_FILE), "cpu", 1)
    import onnxruntime as ort

    return ort.InferenceSession(guided.guided_graph(radius, eps).SerializeToString(), providers=["CPUExecutionProvider"])


def upsample(alpha, fgr, image, rgb, radius=pp.GUIDED_RADIUS, eps=pp.GUIDED_EPS, threads=1, out=None):
    """As the runtime runs it: the graph's coefficients, then the numpy pass."""
    feed = {"alpha": alpha, "fgr": fgr, "image": image, "width": np.array([rgb.shape[1]], np.int64)}
    return pp.guided_upsample(*_session(radius, eps).run(None, feed), rgb, threads, out)


def _step(h: int, w: int, edge: int) -> np.ndarray:
    """A photo: black left of column ``edge``, white from it on; RGB uint8 (h, w, 3)."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, edge:] = 255
    return rgb


def _low(rgb: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MRN's view of ``rgb`` at ``hw``: its input image, an alpha that is the image's grey and fg = image."""
    image = pp.to_nchw(pp.resize_rgb(rgb, hw))
    return image[:, :1].copy(), image.copy(), image


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the (2r+1)^2 window clipped at the borders, float64."""
    h, w = x.shape
    return np.array([[x[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].mean() for j in range(w)] for i in range(h)])


def _bilinear(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Half-pixel centres, edges clamped, float64."""

    def taps(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(src).astype(int)
        return i0, np.minimum(i0 + 1, n_in - 1), src - i0

    (y0, y1, ty), (x0, x1, tx) = taps(x.shape[0], hw[0]), taps(x.shape[1], hw[1])
    rows = x[y0] * (1 - ty)[:, None] + x[y1] * ty[:, None]
    return rows[:, x0] * (1 - tx) + rows[:, x1] * tx


def _reference(alpha, fgr, image, rgb, radius, eps) -> np.ndarray:
    """He and Sun's fast guided filter written out plainly: (H, W, 4) foreground R, G, B and alpha."""
    img = image[0].astype(np.float64)
    planes = [(fgr[0, c], img[c], rgb[..., c]) for c in range(3)]
    luma = np.tensordot(pp.LUMA, img, 1)
    full_luma = (rgb.astype(np.int64) @ [19595, 38470, 7471] + 0x8000) >> 16  # Pillow's convert("L")
    planes.append((alpha[0, 0], luma, full_luma))
    out = []
    for p, g, full in planes:
        p = p.astype(np.float64)
        mean_g, mean_p = _box(g, radius), _box(p, radius)
        a = (_box(g * p, radius) - mean_g * mean_p) / (_box(g * g, radius) - mean_g**2 + eps)
        b = mean_p - a * mean_g
        out.append(np.clip(_bilinear(a, rgb.shape[:2]) * full / 255 + _bilinear(b, rgb.shape[:2]), 0, 1))
    return np.stack(out, -1)


@pytest.mark.parametrize(
    ("low", "full", "radius", "eps"), [((17, 13), (61, 40), 2, 1e-4), ((9, 20), (9, 77), 1, 1e-2), ((12, 12), (100, 100), 3, 1e-4)]
)
def test_the_filter_is_the_formula(low, full, radius, eps):
    rng = np.random.default_rng(sum(full))
    rgb = rng.integers(0, 256, (*full, 3), dtype=np.uint8)
    _, _, image = _low(rgb, low)
    alpha, fgr = rng.random((1, 1, *low), dtype=np.float32), rng.random((1, 3, *low), dtype=np.float32)
    a, f = upsample(alpha, fgr, image, rgb, radius, eps)
    ref = _reference(alpha, fgr, image, rgb, radius, eps)
    assert np.abs(f - ref[..., :3]).max() < 2e-3 and np.abs(a - ref[..., 3]).max() < 2e-3  # float32 against float64
    assert np.abs(a - ref[..., 3]).mean() < 1e-5


def test_the_packaged_graph_is_the_one_the_builder_writes():
    assert GUIDED_FILE.read_bytes() == guided.guided_graph().SerializeToString()


def test_bad_radius_or_eps_is_refused(tmp_path):
    for radius, eps in ((-1, 1e-4), (2, 0.0), (2, float("inf")), (2, float("nan"))):
        with pytest.raises(ValueError, match="radius must be >= 0 and eps > 0 and finite"):
            guided.guided_graph(radius, eps)
    with pytest.raises(ValueError, match="is a folder"):
        guided.write(tmp_path)
    umask = os.umask(0o022)  # the usual one: the file is written as the umask allows
    try:
        assert guided.write(tmp_path / "g.onnx", 3, 1e-3).read_bytes() == guided.guided_graph(3, 1e-3).SerializeToString()
    finally:
        os.umask(umask)
    assert (tmp_path / "g.onnx").stat().st_mode & 0o777 == 0o644  # package data: readable by every user
    assert [p.name for p in tmp_path.iterdir()] == ["g.onnx"]  # no temporary file left


def test_shapes_dtypes_and_range():
    rgb = np.random.default_rng(3).integers(0, 256, (90, 70, 3), dtype=np.uint8)
    alpha, fgr, image = _low(rgb, (30, 23))
    a, f = upsample(alpha * 3 - 1, fgr, image, rgb)  # alpha outside [0, 1]: clipped
    assert a.shape == (90, 70) and f.shape == (90, 70, 3) and a.dtype == f.dtype == np.float32
    assert a.flags.c_contiguous and f.flags.c_contiguous
    assert a.min() >= 0 and a.max() <= 1 and f.min() >= 0 and f.max() <= 1
    big_a, big_f = np.full((100, 90), 7, np.float32), np.full((100, 90, 3), 7, np.float32)  # a larger photo's planes
    got = upsample(alpha * 3 - 1, fgr, image, rgb, out=(big_a[5:95, 10:80], big_f[5:95, 10:80]))
    assert got[0].base is big_a and np.array_equal(big_a[5:95, 10:80], a) and np.array_equal(big_f[5:95, 10:80], f)
    assert (big_a[:5] == 7).all() and (big_f[:, :10] == 7).all()  # only the view is written


def test_constants_stay_constant():
    rgb = np.random.default_rng(4).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    _, _, image = _low(rgb, (16, 12))
    a, f = upsample(np.full((1, 1, 16, 12), 0.3, np.float32), np.full((1, 3, 16, 12), 0.6, np.float32), image, rgb)
    assert np.abs(a - 0.3).max() < 1e-4 and np.abs(f - 0.6).max() < 1e-4  # float32 rounding


def test_a_step_edge_comes_out_sharp_at_full_size():
    """Alpha and foreground follow the full-size photo's edge (one pixel wide), where plain bilinear
    upsampling of the same low-resolution outputs spreads it over the upsampling factor (8 here)."""
    rgb = _step(96, 256, 125)  # the edge falls between low-resolution pixels 15 and 16 (x 8)
    alpha, fgr, image = _low(rgb, (12, 32))
    a, f = upsample(alpha, fgr, image, rgb)
    bilinear = pp.resize_plane(alpha[0, 0], (96, 256))
    assert np.abs(a[:, :125]).max() < 0.02 and np.abs(a[:, 125:] - 1).max() < 0.02
    assert np.abs(f[..., 1] - a).max() < 1e-5  # each foreground channel follows its own guide channel
    assert np.abs(bilinear[:, 119:131] - (rgb[:, 119:131, 0] / 255)).max() > 0.3  # what the filter saved


def test_radius_and_eps():
    """Large eps makes A vanish: the output is the window mean of the low-resolution plane, upsampled; a
    larger radius averages over more pixels. Tiny eps follows the photo."""
    rgb = _step(96, 256, 125)
    alpha, fgr, image = _low(rgb, (12, 32))
    smooth, _ = upsample(alpha, fgr, image, rgb, radius=2, eps=1e6)
    assert np.abs(smooth - _bilinear(_box(alpha[0, 0], 2), (96, 256))).max() < 1e-3
    wide, _ = upsample(alpha, fgr, image, rgb, radius=4, eps=1e6)
    assert 0.05 < wide[0, 100] - smooth[0, 100]  # left of the edge, a wider window reaches more of the white
    sharp, _ = upsample(alpha, fgr, image, rgb, radius=4, eps=1e-6)
    assert np.abs(sharp - rgb[..., 0] / 255).max() < 0.02


def test_threads_share_the_rows_exactly():
    rgb = np.random.default_rng(5).integers(0, 256, (301, 150, 3), dtype=np.uint8)
    alpha, fgr, image = _low(rgb, (40, 20))
    one, two = upsample(alpha, fgr, image, rgb, threads=1), upsample(alpha, fgr, image, rgb, threads=3)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
