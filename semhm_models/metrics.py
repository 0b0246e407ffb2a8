"""The paper's matting errors on alpha mattes in [0, 1]: SAD, MSE, gradient and connectivity.

``matting_errors`` returns each as a sum over a region and divided by that region's pixel count: the whole
image (the paper's numbers) or the unknown region of a trimap (Deep Image Matting's variant, where the
sums are usually quoted / 1000). Gradient and connectivity need scipy (installed with ``[eval]``).

The scenes split (``python -m train build-val --scenes``) adds ``rates``: holes and leftovers as shares of
the image, and ``summarise`` per subset, with the share of ``empty`` frames that have leftovers.
"""

from __future__ import annotations

import numpy as np


def _gauss_derivative_kernels(sigma: float, eps: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """2-D kernels: Gaussian along one axis times its derivative along the other, unit L2 norm; the
    half width is where the Gaussian falls below ``eps`` of its peak-normalised value."""
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * eps))))
    t = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(t**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    dg = -t * g / sigma**2
    kx = np.outer(g, dg)  # rows: Gaussian, columns: derivative -> d/dx
    kx /= np.sqrt((kx**2).sum())
    return kx, kx.T


def gradient_magnitude(a: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """Gaussian-derivative gradient magnitude of ``a`` stretched to [0, 1] first (MATLAB's mat2gray, as in
    Deep Image Matting's reference code and mmeval)."""
    from scipy.ndimage import correlate

    a = a.astype(np.float64)
    span = a.max() - a.min()
    a = (a - a.min()) / span if span > 0 else np.zeros_like(a)
    kx, ky = _gauss_derivative_kernels(sigma)
    gx = correlate(a, kx, mode="nearest")
    gy = correlate(a.astype(np.float64), ky, mode="nearest")
    return np.sqrt(gx**2 + gy**2)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import label

    lab, n = label(mask)  # 4-connectivity
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(lab.ravel())[1:]
    return lab == (int(np.argmax(sizes)) + 1)


def connectivity_map(pred: np.ndarray, gt: np.ndarray, step: float = 0.1, theta: float = 0.15) -> np.ndarray:
    """Per-pixel |phi(gt) - phi(pred)| (Rhemann et al. 2009): for each pixel, the highest threshold at which
    it still belongs to the largest connected region where both mattes are above the threshold."""
    levels = np.arange(0.0, 1.0 + step / 2, step)
    level = np.full(gt.shape, -1.0)
    for lo, hi in zip(levels[:-1], levels[1:], strict=False):
        connected = _largest_component((gt >= hi) & (pred >= hi))
        drop = (level < 0) & ~connected
        level[drop] = lo
    level[level < 0] = 1.0
    d_gt, d_pred = gt - level, pred - level
    phi_gt = 1 - d_gt * (d_gt >= theta)
    phi_pred = 1 - d_pred * (d_pred >= theta)
    return np.abs(phi_gt - phi_pred)


def matting_errors(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> dict[str, float]:
    """SAD, MSE, gradient and connectivity error, each summed over ``region`` (default: the whole image)
    and divided by its pixel count. ``pred`` and ``gt``: float (H, W) in [0, 1]."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction is {pred.shape[1]}x{pred.shape[0]} but the reference is {gt.shape[1]}x{gt.shape[0]}")
    pred, gt = pred.astype(np.float64), gt.astype(np.float64)
    r = np.ones(gt.shape, bool) if region is None else region.astype(bool)
    n = max(int(r.sum()), 1)
    diff = pred - gt
    grad = (gradient_magnitude(pred) - gradient_magnitude(gt)) ** 2
    return {
        "sad": float(np.abs(diff)[r].sum() / n),
        "mse": float((diff**2)[r].sum() / n),
        "grad": float(grad[r].sum() / n),
        "conn": float(connectivity_map(pred, gt)[r].sum() / n),
    }


def unknown_region(gt: np.ndarray, width: int = 10) -> np.ndarray:
    """A Deep-Image-Matting style trimap's unknown band: pixels that are not pure fg or bg, dilated."""
    from scipy.ndimage import binary_dilation

    soft = (gt > 0.01) & (gt < 0.99)
    edge = binary_dilation(gt > 0.5, iterations=1) & binary_dilation(gt <= 0.5, iterations=1)
    return binary_dilation(soft | edge, iterations=width)


SCENE_SUBSETS = ("portrait", "wide", "group", "empty")
"""The scenes split's subsets, in report order: ``<root>/<subset>/{images,alpha}/``; "empty" has no person."""
EMPTY_LEFTOVER = 0.01  # an empty frame "has leftovers" when over 1% of it is predicted > 0.5


def rates(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Shares of the image (float in [0, 1]): ``hole`` (reference > 0.95, prediction < 0.5) and
    ``leftover`` (reference < 0.05, prediction > 0.5). ``pred`` and ``ref``: float (H, W) in [0, 1]."""
    n = ref.size
    return {"hole": float(((ref > 0.95) & (pred < 0.5)).sum() / n), "leftover": float(((ref < 0.05) & (pred > 0.5)).sum() / n)}


def frame_scores(pred: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """SAD, MSE, Grad, Conn (``matting_errors``, whole image) and the hole and leftover rates."""
    return matting_errors(pred, ref) | rates(pred, ref)


def summarise(rows: list[dict[str, float]], empty: bool = False) -> dict[str, float]:
    """Means over frames plus ``count``; for an empty subset also ``empty_frames_with_leftovers``: the share
    of frames with leftovers over ``EMPTY_LEFTOVER`` of the image. ``rows``: ``frame_scores`` (or ``rates``)
    of each frame, at least one."""
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {"count": len(rows)}
    if empty:
        out["empty_frames_with_leftovers"] = float(np.mean([r["leftover"] > EMPTY_LEFTOVER for r in rows]))
    return out
