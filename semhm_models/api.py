"""The public API: ``Matter.from_pretrained(source)`` then ``matter(image, coarse_mask=None) -> Matte``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from semhm_models import processing as pp
from semhm_models.contracts import STAGES
from semhm_models.errors import ImageError
from semhm_models.images import DEFAULT_MAX_PIXELS, ImageLike, load_mask, load_rgb
from semhm_models.runtime import PRECISIONS, create_session, provider_list
from semhm_models.weights import Weights, resolve

DEFAULT_MAX_SIDE = 4096  # MRN runs at full resolution up to this longer side (4K UHD included)
LARGE_PIXELS = 4_000_000  # above this, MRN runs in a session without a memory arena (bounded peak memory)


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
    """One onnxruntime session per stage, made once and reused for every image of a batch.

    ``binding``: "auto" (I/O binding on GPU providers), "on" or "off". With binding, MPN -> QUN -> MRN
    stays on the device: the images go up once and only MRN's outputs come back.

    ``precision``: "auto" (fp16 files on a GPU provider where the weights have them, fp32 otherwise),
    "fp32" or "fp16". The fp16 files keep the float32 contract (casts inside), so nothing else changes."""

    def __init__(
        self,
        weights: Weights,
        provider: str = "auto",
        threads: int | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        binding: str = "auto",
        precision: str = "auto",
    ) -> None:
        if binding not in ("auto", "on", "off"):
            raise ValueError(f"binding '{binding}': choose auto, on or off")
        if precision not in PRECISIONS:
            raise ValueError(f"precision '{precision}': choose {', '.join(PRECISIONS)}")
        self.weights = weights
        self.max_side = max_side
        self.max_pixels = max_pixels
        on_gpu = provider_list(provider)[0] != "CPUExecutionProvider"
        self.precision = precision if precision != "auto" else ("fp16" if on_gpu and "fp16" in weights.precisions else "fp32")
        self._open(provider, threads)
        if precision == "auto" and self.precision == "fp16" and self.provider == "CPUExecutionProvider":
            self.precision = "fp32"  # the GPU fell back (warned about): fp16 on a CPU is only slower
            self._open(provider, threads)
        self._provider_threads = (provider, threads)
        # Which masks QUN unifies: "all" (the paper) or "coarse" (users' masks; MPN's go straight to MRN,
        # for weights whose validation numbers are better so, see docs/results.md).
        self.qun_masks = weights.manifest.get("qun_masks", "all")
        self.device = "cpu" if self.provider == "CPUExecutionProvider" else "cuda"
        self.binding = binding == "on" or (binding == "auto" and self.device == "cuda")

    def _open(self, provider: str, threads: int | None) -> None:
        self.sessions = {s: create_session(str(self.weights.path(s, self.precision)), provider, threads) for s in STAGES}
        self.provider = self.sessions["mrn"].get_providers()[0]

    @classmethod
    def from_pretrained(
        cls,
        source: str | None = None,
        provider: str = "auto",
        threads: int | None = None,
        max_side: int | None = DEFAULT_MAX_SIDE,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        binding: str = "auto",
        precision: str = "auto",
    ) -> Matter:
        """``source``: None (bundled default), a local folder, or ``hf://org/name@revision``."""
        return cls(resolve(source), provider, threads, max_side, max_pixels, binding, precision)

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
        if mask is not None and mask.shape != (h, w):
            raise ImageError(f"mask is {mask.shape[-1]}x{mask.shape[0]} but the image is {w}x{h}; they must match")
        t0 = time.perf_counter()
        lr = pp.lowres(rgb)
        image = pp.to_nchw(pp.resize_rgb(rgb, pp.working_size(h, w, self.max_side)))
        coarse = None if mask is None else pp.mask_lowres(mask)
        t["pre"] = time.perf_counter() - t0
        unify = mask is not None or self.qun_masks == "all"
        fgr, alpha = (self._chain_bound if self.binding else self._chain)(lr, image, coarse, unify, self._mrn_for(image), t)
        t0 = time.perf_counter()
        a, f = pp.finish(alpha, fgr, (h, w))
        t["post"] = time.perf_counter() - t0
        return Matte(a, f, t)

    def _mrn_for(self, image: np.ndarray) -> str:
        """The MRN session for ``image``: on the CPU, very large images go through one without a memory
        arena (made once, on the first such image), so the peak stays bounded."""
        if self.device != "cpu" or image.shape[2] * image.shape[3] <= LARGE_PIXELS:
            return "mrn"
        if "mrn_large" not in self.sessions:
            self.sessions["mrn_large"] = create_session(str(self.weights.path("mrn", self.precision)), *self._provider_threads, arena="off")
        return "mrn_large"

    def _chain(self, lr, image, coarse, unify, mrn, t):
        s, t0 = self.sessions, time.perf_counter()
        if coarse is None:
            coarse = s["mpn"].run(["fg"], {"image_lr": lr})[0]
            t["mpn"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        unified = s["qun"].run(["unified"], {"image_lr": lr, "mask": coarse})[0] if unify else coarse
        t2 = time.perf_counter()
        fgr, alpha = s[mrn].run(["fgr", "alpha"], {"image": image, "mask": unified})
        t.update(qun=t2 - t1, mrn=time.perf_counter() - t2)
        return fgr, alpha

    def _bound(self, stage: str, inputs: dict, outputs: dict[str, str]) -> list:
        """Run one stage with I/O binding: OrtValue inputs, outputs left on their given device."""
        io = self.sessions[stage].io_binding()
        for name, value in inputs.items():
            io.bind_ortvalue_input(name, value)
        for name, device in outputs.items():
            io.bind_output(name, device)
        self.sessions[stage].run_with_iobinding(io)
        return io.get_outputs()

    def _chain_bound(self, lr, image, coarse, unify, mrn, t):
        from semhm_models.runtime import import_ort

        to_device = import_ort().OrtValue.ortvalue_from_numpy
        dev, t0 = self.device, time.perf_counter()
        lr_v = to_device(lr, dev, 0)
        if coarse is None:
            mask_v = self._bound("mpn", {"image_lr": lr_v}, {"masks": dev, "fg": dev})[1]
            t["mpn"] = time.perf_counter() - t0
        else:
            mask_v = to_device(coarse, dev, 0)
        t1 = time.perf_counter()
        unified_v = self._bound("qun", {"image_lr": lr_v, "mask": mask_v}, {"unified": dev})[0] if unify else mask_v
        t2 = time.perf_counter()
        # MRN's outputs come back to the host: the only download
        out = self._bound(mrn, {"image": to_device(image, dev, 0), "mask": unified_v}, {"fgr": "cpu", "alpha": "cpu"})
        t.update(qun=t2 - t1, mrn=time.perf_counter() - t2)
        return out[0].numpy(), out[1].numpy()
