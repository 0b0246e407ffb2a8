"""Our matting errors against an independent implementation: open-mmlab's mmeval."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from semhm_models.metrics import matting_errors, unknown_region
from tests.conftest import need_shared

mmeval = pytest.importorskip("mmeval")


def mmeval_errors(pred: np.ndarray, gt: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """mmeval's four metrics, on the same region, turned into per-pixel errors."""
    tri = np.where(region, 128.0, 0.0)
    n = region.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {}
        m = mmeval.MattingMeanSquaredError()
        m.add([pred], [gt], [tri])
        out["mse"] = m.compute()["matting_mse"]
        m = mmeval.GradientError()
        m.add([pred * 255], [gt * 255], [tri])
        out["grad"] = m.compute()["gradient_error"] * 1000 / n
        m = mmeval.ConnectivityError()
        m.add([pred], [gt], [tri])
        out["conn"] = m.compute()["connectivity_error"] * 1000 / n
    out["sad"] = float(np.abs(pred - gt)[region].sum() / n)  # mmeval's SAD has no region
    m = mmeval.SumAbsoluteDifferences()
    m.add([pred], [gt])
    assert np.isclose(m.compute()["sad"] * 1000 / pred.size, np.abs(pred - gt).mean())
    return out


def compare(pred, gt, region=None):
    ours = matting_errors(pred, gt, region)
    theirs = mmeval_errors(pred, gt, np.ones(gt.shape, bool) if region is None else region)
    for k in ("sad", "mse", "grad", "conn"):
        assert np.isclose(ours[k], theirs[k], rtol=1e-6, atol=1e-12), (k, ours[k], theirs[k])
    return ours


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_mattes(seed):
    rng = np.random.default_rng(seed)
    gt = np.round(np.clip(gaussian_filter(rng.random((57, 83)), 3) * 3 - 1, 0, 1) * 255) / 255
    pred = np.round(np.clip(gt + rng.normal(0, 0.15, gt.shape), 0, 1) * 255) / 255
    e = compare(pred, gt)
    assert e["sad"] > 0
    compare(pred, gt, unknown_region(gt))


def test_identical_mattes_have_zero_error():
    gt = np.linspace(0, 1, 400).reshape(20, 20)
    assert matting_errors(gt, gt) == {"sad": 0.0, "mse": 0.0, "grad": 0.0, "conn": 0.0}


def test_real_mattes():
    data = need_shared() / "p3m-demo" / "alpha_p3mnet"
    for f in sorted(data.iterdir())[:2]:
        gt = np.asarray(Image.open(f).convert("L").resize((240, 180)), dtype=np.float64) / 255
        pred = np.round(gaussian_filter(gt, 2) * 255) / 255  # a blurred matte: a realistic error
        e = compare(pred, gt)
        assert 0 < e["sad"] < 0.1
        compare(pred, gt, unknown_region(gt))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="prediction is 3x2 but the reference is 2x3"):
        matting_errors(np.zeros((2, 3)), np.zeros((3, 2)))


def test_unknown_region_is_a_band_around_the_edge():
    gt = np.zeros((60, 60))
    gt[20:40, 20:40] = 1
    r = unknown_region(gt, width=3)
    assert r[20, 30] and r[17, 30] and not r[0, 0] and not r[30, 30]
    assert 0 < r.mean() < 0.5
