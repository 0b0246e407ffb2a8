"""The runtime settings, typed and checked where they enter: one object shared by the API, the command
line, the web demo and the GIMP worker."""

from __future__ import annotations

import os
from dataclasses import dataclass

PROVIDER_CHOICES = ("auto", "cpu", "cuda", "tensorrt")
PRECISION_CHOICES = ("auto", "fp32", "fp16")  # auto: fp16 on a GPU provider where the weights have it
BINDING_CHOICES = ("auto", "on", "off")  # I/O binding: auto = on for GPU providers
ZOOM_CHOICES = ("auto", "off")  # auto: crop to the persons the weights' locator finds (contracts.LOCATE)
DEFAULT_MAX_SIDE = None  # the matte is computed at the photo's full size (MRN's own size is bounded by mrn_side)
DEFAULT_MRN_SIDE = 512  # MRN's network runs at most at this longer side; a guided filter does the rest (docs/benchmarks.md)
MIN_MAX_SIDE = 32  # below this MRN has no 1/4-scale features left to refine
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 12k x 8k photo still opens; a decompression bomb does not
THREADS_ENV = "SEMHM_THREADS"


def max_threads() -> int:
    """The most CPU threads a session may ask for: 4 per logical core (more only costs memory)."""
    return 4 * (os.cpu_count() or 1)


def env_threads() -> int | None:
    """``SEMHM_THREADS`` as a thread count, or None when unset or empty; ValueError naming the variable."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"{THREADS_ENV}={raw!r}: expected a whole number of CPU threads (1 to {max_threads()})") from None
    return None if n == 0 else _check_threads(n, THREADS_ENV)


def _check_threads(n: int, what: str) -> int:
    if not 1 <= n <= max_threads():
        raise ValueError(f"{what} {n}: choose 1 to {max_threads()} CPU threads (4 per core on this machine)")
    return n


@dataclass(frozen=True)
class RuntimeOptions:
    """How a ``Matter`` runs. Every field is checked on creation (ValueError with the field and the
    allowed values).

    - ``provider``: "auto" (CUDA where it works, else CPU), "cpu", "cuda" or "tensorrt";
    - ``precision``: "auto" (fp16 files on a GPU provider where the weights have them), "fp32", "fp16";
    - ``threads``: CPU threads per session, 1 to 4 per core; None: ``SEMHM_THREADS`` or all cores;
    - ``max_side``: longest side in pixels the matte is computed at (>= 32); larger photos are matted
      smaller and their matte upsampled bilinearly. None: no limit;
    - ``mrn_side``: longest side in pixels MRN's network runs at (>= 32); above it, the fast guided filter
      (its coefficients from ``guided.onnx``, then :func:`semhm_models.processing.guided_upsample`) brings alpha
      and foreground up to the working size (the photo's, up to ``max_side``) with the photo's own edges. None:
      MRN runs at the working size (slower, and MRN's memory grows with the photo: about 1.6 GB at 3840x2160);
    - ``max_pixels``: photos with more pixels are refused before decoding (decompression bombs);
    - ``binding``: I/O binding, "auto" (on for GPU providers), "on" or "off";
    - ``zoom``: "auto" (where the weights have a locator, ``contracts.LOCATE``, automatic matting runs the chain
      on a crop around each person it finds; a box refine runs on a crop around the box, and a mask refine whose
      matte on the whole photo is small or grey once more on a crop around the mask) or "off" (the whole photo,
      always).
    """

    provider: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    max_side: int | None = DEFAULT_MAX_SIDE
    mrn_side: int | None = DEFAULT_MRN_SIDE
    max_pixels: int = DEFAULT_MAX_PIXELS
    binding: str = "auto"
    zoom: str = "auto"

    def __post_init__(self) -> None:
        choices_of = {"provider": PROVIDER_CHOICES, "precision": PRECISION_CHOICES, "binding": BINDING_CHOICES, "zoom": ZOOM_CHOICES}
        for name, choices in choices_of.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} {getattr(self, name)!r}: choose {', '.join(choices)}")
        if self.threads is not None:
            _check_threads(_as_int(self.threads, "threads"), "threads")
        for name in ("max_side", "mrn_side"):
            v = getattr(self, name)
            if v is not None and _as_int(v, name) < MIN_MAX_SIDE:
                raise ValueError(f"{name} {v}: must be at least {MIN_MAX_SIDE} pixels (or None for no limit)")
        if _as_int(self.max_pixels, "max_pixels") < 1:
            raise ValueError(f"max_pixels {self.max_pixels}: must be at least 1")

    def session_threads(self) -> int | None:
        """The thread count sessions use: ``threads``, else ``SEMHM_THREADS``, else None (all cores)."""
        return self.threads if self.threads is not None else env_threads()


def _as_int(v: object, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name} {v!r}: expected a whole number")
    return v
