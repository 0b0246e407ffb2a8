"""User-like coarse masks made from a reference alpha at the photo's resolution (issue 14 point 1).

Each kind imitates what people hand to a refine tool; all return float32 (H, W) in [0, 1] (binary but
for ``paper``) from a reference alpha (H, W) (float in [0, 1] or uint8) and a ``np.random.Generator``:

- ``dilate`` / ``erode``: the outline grown or shrunk by ``radius`` px (5-60 at random);
- ``ellipse``: an ellipse through the corners of the person's bounding box, with a random margin;
- ``box``: the bounding box with a random margin (0-10% of its size per side);
- ``lasso``: a polygon of 6-20 vertices around the outline, which cuts corners and concave parts;
- ``scribble``: 2-5 thick strokes inside the person, some broken by gaps;
- ``holes`` / ``blobs``: the mask with holes punched in it / with extra blobs of background added;
- ``paper``: the paper's degradations (3x3/5x5 mean filters, binarisation, dilation, erosion, each at
  random, in random order) at MPN's resolution, as ``train.stages.degrade`` does in torch.

"A mask that covers one person of a group" is any kind made from that one person's alpha, with that
person's alpha as the reference (``train.scene_eval`` builds such frames with boxes).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from semhm_models.processing import lowres_size, resize_plane

MASK_KINDS = ("dilate", "erode", "ellipse", "box", "lasso", "scribble", "holes", "blobs", "paper")
RADII = (5, 60)  # dilation / erosion range in pixels


def _binary(alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32) / (255.0 if alpha.dtype == np.uint8 else 1.0)
    m = a > 0.5
    if not m.any():
        raise ValueError("reference alpha has no person (no pixel above 0.5)")
    return m


def _bbox(m: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(m)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def _draw(shape: tuple[int, int], fn) -> np.ndarray:
    im = Image.new("L", (shape[1], shape[0]), 0)
    fn(ImageDraw.Draw(im))
    return np.asarray(im) > 127


def dilate(m: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` (Euclidean) of the mask."""
    return ndi.distance_transform_edt(~m) <= radius


def erode(m: np.ndarray, radius: float) -> np.ndarray:
    """Pixels farther than ``radius`` from the outside."""
    return ndi.distance_transform_edt(m) > radius


def ellipse(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    t, lft, b, r = _bbox(m)
    cy, cx = (t + b) / 2, (lft + r) / 2
    k = np.sqrt(2.0) * rng.uniform(1.0, 1.15)  # through the box corners, or a little beyond
    ry, rx = (b - t) / 2 * k, (r - lft) / 2 * k
    return _draw(m.shape, lambda d: d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255))


def box(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    t, lft, b, r = _bbox(m)
    h, w = b - t, r - lft
    my, mx = rng.uniform(0, 0.1, 2) * (h, w), rng.uniform(0, 0.1, 2) * (h, w)
    out = np.zeros_like(m)
    out[max(0, int(t - my[0])) : int(np.ceil(b + my[1])), max(0, int(lft - mx[0])) : int(np.ceil(r + mx[1]))] = True
    return out


def lasso(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertices at 6-20 jittered angles around the centroid, each just outside the farthest mask pixel in
    its direction: straight edges between them cut the corners and fill the concave parts."""
    n = int(rng.integers(6, 21))
    ys, xs = np.nonzero(m)
    cy, cx = ys.mean(), xs.mean()
    ang = np.arctan2(ys - cy, xs - cx)
    dist = np.hypot(ys - cy, xs - cx)
    edges = np.sort((np.arange(n) + rng.uniform(-0.3, 0.3, n)) * 2 * np.pi / n - np.pi)
    size = max(m.shape) * 0.01
    pts = []
    for a0, a1 in zip(edges, np.roll(edges, -1) + np.r_[np.zeros(n - 1), 2 * np.pi], strict=True):
        a = (a0 + a1) / 2
        sel = ((ang - a0) % (2 * np.pi)) < ((a1 - a0) % (2 * np.pi))
        d = (dist[sel].max() if sel.any() else 0.0) + rng.uniform(0, 3) * size
        pts.append((cx + d * np.cos(a), cy + d * np.sin(a)))
    return _draw(m.shape, lambda dr: dr.polygon(pts, fill=255))


def scribble(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """2-5 thick strokes zigzagging down the person between random points of it, some segments broken
    by a gap, kept inside the person."""
    t, _, b, _ = _bbox(m)
    width = max(3, int((b - t) * rng.uniform(0.03, 0.07)))
    inner = erode(m, width / 2)
    ys, xs = np.nonzero(inner if inner.any() else m)
    segments = []
    for _ in range(int(rng.integers(2, 6))):
        idx = rng.integers(len(ys), size=int(rng.integers(3, 8)))
        pts = np.stack([xs[idx], ys[idx]], 1).astype(float)
        pts = pts[np.argsort(pts[:, 1])]  # top to bottom, as a hand paints a standing person
        for p, q in zip(pts[:-1], pts[1:], strict=True):
            if rng.random() < 0.35:  # a gap somewhere along this segment
                u0 = rng.uniform(0.2, 0.6)
                u1 = u0 + rng.uniform(0.1, 0.3)
                segments += [(p, p + u0 * (q - p)), (p + u1 * (q - p), q)]
            else:
                segments.append((p, q))

    def draw(d):
        for p, q in segments:
            d.line([tuple(p), tuple(q)], fill=255, width=width)

    return _draw(m.shape, draw) & m


def _spots(m: np.ndarray, rng: np.random.Generator, inside: bool) -> np.ndarray:
    """2-6 random ellipses centred inside (or outside, near) the person, 4-20% of its height across."""
    t, lft, b, r = _bbox(m)
    h = b - t
    pool = m if inside else dilate(m, 0.15 * h) & ~m
    ys, xs = np.nonzero(pool)
    if ys.size == 0:  # a person filling the whole frame leaves no room for blobs around it
        return np.zeros_like(m)
    spots = []
    for i in rng.integers(len(ys), size=int(rng.integers(2, 7))):
        ry, rx = h * rng.uniform(0.04, 0.2, 2) / 2
        spots.append([xs[i] - rx, ys[i] - ry, xs[i] + rx, ys[i] + ry])

    def draw(d):
        for s in spots:
            d.ellipse(s, fill=255)

    return _draw(m.shape, draw)


def paper(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The paper's degradations at MPN's resolution, back at the mask's (soft values kept)."""
    lr = resize_plane(m.astype(np.float32), lowres_size(*m.shape))
    for op in rng.permutation(4):
        if rng.random() < 0.5:
            continue
        k, reps = (3 if rng.random() < 0.5 else 5), int(rng.integers(1, 4))
        if op == 1:
            lr = (lr > rng.uniform(0.3, 0.7)).astype(np.float32)
            continue
        for _ in range(reps):
            if op == 0:
                lr = ndi.uniform_filter(lr, k, mode="nearest")
            elif op == 2:
                lr = ndi.grey_dilation(lr, size=(k, k))
            else:
                lr = ndi.grey_erosion(lr, size=(k, k))
    return np.clip(resize_plane(lr, m.shape), 0.0, 1.0)


def user_mask(kind: str, alpha: np.ndarray, rng: np.random.Generator, radius: float | None = None) -> np.ndarray:
    """A coarse mask of ``kind`` (one of ``MASK_KINDS``) made from the reference ``alpha`` (H, W): float32
    (H, W) in [0, 1]. ``radius`` (pixels) for dilate/erode, else drawn from ``RADII``. Raises ValueError
    for an unknown kind or an alpha with no person."""
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind '{kind}': use one of {', '.join(MASK_KINDS)}")
    m = _binary(alpha)
    if kind in ("dilate", "erode"):
        r = float(radius if radius is not None else rng.uniform(*RADII))
        out = dilate(m, r) if kind == "dilate" else erode(m, r)
    elif kind == "holes":
        out = m & ~_spots(m, rng, inside=True)
    elif kind == "blobs":
        out = m | _spots(m, rng, inside=False)
    elif kind == "paper":
        return paper(m, rng)
    else:
        out = {"ellipse": ellipse, "box": box, "lasso": lasso, "scribble": scribble}[kind](m, rng)
    return out.astype(np.float32)


def random_user_mask(alpha: np.ndarray, rng: np.random.Generator, kinds: tuple[str, ...] = MASK_KINDS) -> tuple[str, np.ndarray]:
    """A mask of a kind drawn uniformly from ``kinds``, for training: (kind, mask)."""
    kind = kinds[int(rng.integers(len(kinds)))]
    return kind, user_mask(kind, alpha, rng)
