"""The public API: ``Matter.from_pretrained(source)`` then ``matter(image, coarse_mask=None) -> Matte``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from semhm_models import processing as pp
from semhm_models.images import DEFAULT_MAX_PIXELS, ImageLike, load_mask, load_rgb
from semhm_models.runtime import create_session
from semhm_models.weights import Weights, resolve

DEFAULT_MAX_SIDE = 4096  # MRN runs at full resolution up to this longer side (4K UHD included)


@dataclass
class Matte:
    """alpha: float32 (H, W) in [0, 1]; foreground: float32 (H, W, 3) in [0, 1], MRN's colours with the
    background removed (use them, not the photo's, for cutouts without colour spill)."""

    alpha: np.ndarray
    foreground: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)

    def cutout(self) -> np.ndarray:
        """RGBA uint8 (H, W, 4)."""
        return pp.cutout(self.alpha, self.foreground)

    def composite(self, background: tuple[int, int, int] | np.ndarray) -> np.ndarray:
        """RGB uint8 (H, W, 3) over an RGB triple or an RGB uint8 image (resized to cover)."""
        return pp.composite(self.alpha, self.foreground, background)


class Matter:
    """One onnxruntime session per stage, made once and reused for every image of a batch."""

    def __init__(
        self,
        weights: Weights,
        provider: str = "auto",
        threads: int | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.weights = weights
        self.max_side = max_side
        self.max_pixels = max_pixels
        self.sessions = {s: create_session(str(weights.path(s)), provider, threads) for s in ("mpn", "qun", "mrn")}
        self.provider = self.sessions["mrn"].get_providers()[0]

    @classmethod
    def from_pretrained(
        cls,
        source: str | None = None,
        provider: str = "auto",
        threads: int | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> Matter:
        """``source``: None (bundled default), a local folder, or ``hf://org/name@revision``."""
        return cls(resolve(source), provider, threads, max_side, max_pixels)

    def __call__(self, image: ImageLike, coarse_mask: ImageLike | None = None) -> Matte:
        """Matte one image of any size and mode. With ``coarse_mask`` (same size, white = person) the
        mask goes through QUN + MRN and MPN is skipped (the paper's refinement of coarse annotations)."""
        t: dict[str, float] = {}
        t0 = time.perf_counter()
        rgb = load_rgb(image, self.max_pixels)
        mask = None if coarse_mask is None else load_mask(coarse_mask, rgb.shape[:2], self.max_pixels)
        t["decode"] = time.perf_counter() - t0
        return self.matte_rgb(rgb, mask, t)

    def matte_rgb(self, rgb: np.ndarray, mask: np.ndarray | None = None, timings: dict[str, float] | None = None) -> Matte:
        """As ``__call__`` on already decoded RGB uint8 (H, W, 3) and an optional float32 (H, W) mask."""
        t = timings if timings is not None else {}
        h, w = rgb.shape[:2]
        t0 = time.perf_counter()
        lr = pp.lowres(rgb)
        wh = pp.working_size(h, w, self.max_side)
        image = pp.to_nchw(pp.resize_rgb(rgb, wh))
        t1 = time.perf_counter()
        if mask is None:
            coarse = self.sessions["mpn"].run(["masks"], {"image_lr": lr})[0][:, :1]
            t2 = time.perf_counter()
            t["mpn"] = t2 - t1
        else:
            coarse, t2 = pp.mask_lowres(mask), t1
        unified = self.sessions["qun"].run(["unified"], {"image_lr": lr, "mask": coarse})[0]
        t3 = time.perf_counter()
        fgr, alpha = self.sessions["mrn"].run(["fgr", "alpha"], {"image": image, "mask": unified})
        t4 = time.perf_counter()
        a, f = pp.finish(alpha, fgr, (h, w))
        t5 = time.perf_counter()
        t.update(pre=t1 - t0, qun=t3 - t2, mrn=t4 - t3, post=t5 - t4)
        return Matte(a, f, t)
