"""Pre- and post-processing in numpy (no onnxruntime, no torch): testable alone."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageColor

from semhm_models.contracts import MPN_INPUTS, MPN_MULTIPLE, MPN_PIXELS, MPN_SIZE


def to_nchw(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (1, 3, H, W) in [0, 1]."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def resize_rgb(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of uint8 RGB (Pillow's, which torch's antialias=True matches)."""
    if rgb.shape[:2] == tuple(hw):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((hw[1], hw[0]), Image.BILINEAR))


def resize_plane(a: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float32 (H, W) plane."""
    if a.shape == tuple(hw):
        return a
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((hw[1], hw[0]), Image.BILINEAR))


def budget_size(pixels: int, aspect: float, multiple: int = MPN_MULTIPLE) -> tuple[int, int]:
    """(H, W) of about ``pixels`` pixels at width/height ``aspect``, both sides multiples of ``multiple``,
    from one multiple up to ``pixels / multiple`` (a strip keeps the pixel budget, not its aspect)."""
    most = max(multiple, pixels // multiple // multiple * multiple)
    h = min(most, max(multiple, int(round(np.sqrt(pixels / aspect) / multiple)) * multiple))
    w = min(most, max(multiple, int(round(h * aspect / multiple)) * multiple))
    return h, w


def lowres_size(h: int, w: int, mpn_input: str = "aspect") -> tuple[int, int]:
    """(h, w) of MPN's and QUN's input for an (H, W) photo: the photo's aspect ratio in about ``MPN_PIXELS``
    pixels, sides multiples of 32 (``mpn_input`` "aspect"), or ``MPN_SIZE`` for weights of ``mpn_input``
    "fixed" (contracts.MPN_INPUTS). ValueError for another ``mpn_input``."""
    if mpn_input not in MPN_INPUTS:
        raise ValueError(f"mpn input {mpn_input!r}: choose {', '.join(MPN_INPUTS)}")
    return budget_size(MPN_PIXELS, w / h) if mpn_input == "aspect" else MPN_SIZE


def lowres(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """The MPN/QUN input at ``hw`` (``lowres_size``): float32 (1, 3, h, w) in [0, 1]."""
    return to_nchw(resize_rgb(rgb, hw))


def mask_lowres(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A user's (H, W) mask in [0, 1] -> float32 (1, 1, h, w) at ``hw`` (``lowres_size``)."""
    return np.clip(resize_plane(mask, hw), 0.0, 1.0)[None, None]


def person_score(fg_mask: np.ndarray) -> float:
    """How sure MPN is that a person is in the photo, in [0, 1]: the 99.5th percentile of its foreground
    mask (any shape, float in [0, 1]), i.e. the confidence MPN gives to the most person-like 0.5% of
    the photo. Below ``NO_PERSON`` semhm says "no person found"."""
    return float(np.clip(np.quantile(fg_mask, 0.995), 0.0, 1.0))


NO_PERSON = 0.5  # person_score below this: no person found (docs/results.md: measured on the scenes split)


def working_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """The size MRN runs at: the input's own, or scaled down so its longer side is ``max_side``."""
    if not max_side or max(h, w) <= max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def finish(alpha: np.ndarray, fgr: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """MRN outputs (1,1,h,w), (1,3,h,w) -> alpha float32 (H, W), foreground float32 (H, W, 3) at ``hw``."""
    a = np.clip(resize_plane(alpha[0, 0], hw), 0.0, 1.0)
    f = fgr[0]
    if f.shape[1:] != tuple(hw):
        f = np.stack([resize_plane(c, hw) for c in f])
    return a, np.clip(f.transpose(1, 2, 0), 0.0, 1.0)


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] (clipped) -> uint8 0..255, rounded to nearest; any shape."""
    return (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def cutout(alpha: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """RGBA uint8 (H, W, 4): MRN's foreground colours (no background spill) with the alpha."""
    return np.dstack([to_uint8(fg), to_uint8(alpha)])


def parse_color(spec: str) -> tuple[int, int, int]:
    """A colour name ('white'), '#rrggbb' or 'r,g,b' (0..255 each) -> an (r, g, b) tuple of ints 0..255.

    Raises ValueError naming the colour when it cannot be read."""
    try:
        if "," in spec:
            r, g, b = (int(v) for v in spec.split(","))
            if not all(0 <= v <= 255 for v in (r, g, b)):
                raise ValueError
            return r, g, b
        return ImageColor.getrgb(spec)[:3]
    except ValueError:
        raise ValueError(f"background colour '{spec}': use a name (white), #rrggbb or r,g,b") from None


def composite(alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    """RGB uint8 (H, W, 3): ``fg`` (float32 (H, W, 3) in [0, 1]) over ``bg`` with ``alpha`` (float32 (H, W) in
    [0, 1]); ``bg`` an (r, g, b) tuple of 0..255, or an RGB uint8 (h, w, 3) image resized to cover."""
    h, w = alpha.shape
    if isinstance(bg, tuple):
        back = np.broadcast_to(np.asarray(bg, np.float32) / 255, (h, w, 3))
    else:
        back = cover(bg, (h, w)).astype(np.float32) / 255
    a = alpha[..., None]
    return to_uint8(fg * a + back * (1 - a))


def cover(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """RGB uint8 (h, w, 3) resized (antialiased) to cover ``hw`` = (H, W) and centre-cropped: (H, W, 3)."""
    h, w = rgb.shape[:2]
    s = max(hw[0] / h, hw[1] / w)
    nh, nw = max(hw[0], round(h * s)), max(hw[1], round(w * s))
    r = resize_rgb(rgb, (nh, nw))
    y, x = (nh - hw[0]) // 2, (nw - hw[1]) // 2
    return r[y : y + hw[0], x : x + hw[1]]


Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels: left, top, right, bottom (exclusive)


def box_mask(box: Box, hw: tuple[int, int]) -> np.ndarray:
    """float32 (H, W) in {0, 1}: 1 inside ``box`` (x0, y0, x1, y1) in pixels, clipped to the image, for
    refining "the person in this box". Raises ValueError for anything but four finite numbers with
    x0 < x1, y0 < y1 that overlap the image."""
    h, w = hw
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box {box!r}: expected four numbers (x0, y0, x1, y1) in pixels") from None
    if not all(np.isfinite((x0, y0, x1, y1))) or x0 >= x1 or y0 >= y1:
        raise ValueError(f"box {box!r}: expected x0 < x1 and y0 < y1, in pixels")
    c0, r0, c1, r1 = max(0, round(x0)), max(0, round(y0)), min(w, round(x1)), min(h, round(y1))
    if c0 >= c1 or r0 >= r1:
        raise ValueError(f"box {box!r} lies outside the {w}x{h} image")
    m = np.zeros((h, w), np.float32)
    m[r0:r1, c0:c1] = 1.0
    return m
