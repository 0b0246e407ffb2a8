"""Decoding at the edge: a path, bytes, a binary file object, a PIL image or a numpy array -> RGB uint8
(H, W, 3) in sRGB with EXIF orientation applied (plus the input's own alpha), and masks -> float32 (H, W)
in [0, 1]. Every failure is an ImageError naming the input and the problem.

The pixel limit is checked from the header, before any pixel is decoded, without touching Pillow's
process-wide ``Image.MAX_IMAGE_PIXELS`` (so concurrent decodes are safe). Pillow's own guard stays on:
above 2 x ``Image.MAX_IMAGE_PIXELS`` (179 MP by default) it refuses whatever ``max_pixels`` says.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageOps

from semhm_models.errors import ImageError, unreadable
from semhm_models.options import DEFAULT_MAX_PIXELS

ImageLike = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray
"""What every image or mask argument accepts: a file path, the encoded file's bytes, a binary file object
(read from its current position), a PIL image, or a numpy array (see :func:`array_to_uint8`)."""
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")

# Pillow warns between MAX_IMAGE_PIXELS and twice that; semhm applies its own max_pixels from the header
# right after opening, so the warning is noise. Installed once, at import, never per call.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


ONE_FRAME = "give one frame (`semhm matte` mattes every frame; in Python, Image.seek(i) then copy() picks one)"


def source_name(src: object) -> str:
    """How errors name an image source: its path, or its kind (<bytes>, <array>, <PIL image>, a file's name)."""
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(src, np.ndarray):
        return "<array>"
    if isinstance(src, Image.Image):
        return "<PIL image>"
    name = getattr(src, "name", None)
    return str(name) if isinstance(name, (str, os.PathLike)) else f"<{type(src).__name__}>"


def open_image(src: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode one image with EXIF orientation applied.

    ``src``: see ``ImageLike``. ``max_pixels``: width x height above which the image is refused, checked
    from the header before decoding. Returns a PIL image in its own mode (RGB, L, RGBA, I;16, F, ...).

    Raises ImageError naming the input: no such file, empty, not an image, truncated or corrupt, more
    pixels than ``max_pixels``, several frames (an animation or multi-page file: the library mattes one
    image), or an array of another shape, dtype or range."""
    name = source_name(src)
    if isinstance(src, np.ndarray):
        a = array_to_uint8(src, name)
        _check_size(name, a.shape[1], a.shape[0], max_pixels)
        return Image.fromarray(a)
    if isinstance(src, Image.Image):
        im = src
    else:
        if isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if path.is_dir():
                raise ImageError(f"{name}: a folder, not an image file")
            if not path.is_file():
                raise ImageError(f"{name}: no such file")
            if path.stat().st_size == 0:
                raise ImageError(f"{name}: empty file (0 bytes)")
        elif isinstance(src, (bytes, bytearray, memoryview)):
            if len(src) == 0:
                raise ImageError(f"{name}: empty (0 bytes)")
            src = io.BytesIO(bytes(src))
        elif not callable(getattr(src, "read", None)):
            raise ImageError(f"{name}: not an image input (give a path, bytes, a binary file object, a PIL image or a numpy array)")
        try:
            im = Image.open(src)
        except Image.DecompressionBombError as e:
            raise ImageError(f"{name}: over the limit of {min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0)):,} pixels ({e})") from None
        except (OSError, ValueError, SyntaxError) as e:
            raise ImageError(f"{name}: {unreadable(e)}") from None
    w, h = im.size
    _check_size(name, w, h, max_pixels)
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise ImageError(f"{name}: {frames} frames (an animation or a multi-page file); {ONE_FRAME}")
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageError(f"{name}: truncated or corrupt image data: {e}") from None
    return im


def _check_size(name: str, w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise ImageError(
            f"{name}: {w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} (max_pixels; semhm matte and refine: --max-pixels)"
        )
    if w < 1 or h < 1:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})")


def array_to_uint8(a: np.ndarray, name: str = "<array>") -> np.ndarray:
    """An image array as uint8: (H, W), (H, W, 1) (taken as (H, W)), (H, W, 3) RGB or (H, W, 4) RGBA, of
    dtype uint8 (as is), another integer dtype (values 0..255 as they are, or 0..65535 scaled to 0..255 when
    any is above 255: 16-bit data), bool (0 or 255) or float in [0, 1] (scaled by 255).

    Raises ImageError for another shape or dtype, for integers outside 0..65535, and for floats that are NaN,
    infinite or outside [0, 1] (data in 0..255 must be divided by 255 first, or passed as uint8)."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise ImageError(f"{name}: array of shape {a.shape} is not an image (HxW, HxWx1, HxWx3 or HxWx4)")
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        return _ints_to_uint8(a, name)
    if np.issubdtype(a.dtype, np.floating):
        return (_unit_floats(a, name) * 255 + 0.5).astype(np.uint8)
    raise ImageError(f"{name}: array dtype {a.dtype} is not supported (integers, bool, or float in [0, 1])")


def _ints_to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    """Integers as uint8: 0..255 as they are (8-bit data, label maps), 0..65535 scaled when any is above 255
    (16-bit data). ImageError for values outside 0..65535."""
    lo, hi = int(a.min()), int(a.max())
    if lo < 0 or hi > 65535:
        raise ImageError(f"{name}: integer values from {lo} to {hi}; expected 0..255, or 0..65535 for 16-bit data")
    return (a.astype(np.int64) * 255 // (65535 if hi > 255 else 255)).astype(np.uint8)


def _unit_floats(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` checked to be finite and within [0, 1]; ImageError stating the expected range otherwise."""
    if not np.isfinite(a).all():
        raise ImageError(f"{name}: float array holds NaN or infinite values; expected finite values in [0, 1]")
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        raise ImageError(f"{name}: float values from {lo:g} to {hi:g}; expected [0, 1] (divide 0..255 data by 255, or pass uint8)")
    return a


def _to_8bit(im: Image.Image, name: str) -> Image.Image:
    """16-bit, 32-bit integer and float grayscale modes scaled to 8 bits (Pillow's own convert('L') clips them).
    Integer files whose values all fit in 0..255 (label maps saved as 16 bits) keep those values."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return Image.fromarray(_ints_to_uint8(np.clip(np.asarray(im), 0, 65535), name))
    if im.mode == "F":
        a = np.asarray(im)
        if not np.isfinite(a).all():
            raise ImageError(f"{name}: float image holds NaN or infinite values")
        top = 1.0 if a.max(initial=0) <= 1.0 else 255.0  # float files: [0, 1] or 0..255 data, by their maximum
        return Image.fromarray((np.clip(a / top, 0, 1) * 255 + 0.5).astype(np.uint8))
    return im


def _to_srgb(im: Image.Image) -> Image.Image:
    """An image with an embedded ICC profile converted to sRGB (RGB mode; a broken profile is ignored)."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return im
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
    base = im.convert("RGB" if im.mode == "RGBA" else "L") if alpha is not None else im
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if ImageCms.getProfileDescription(profile).startswith("sRGB") and im.mode in ("RGB", "RGBA"):
            return im  # already sRGB: the common camera JPEG, left bit for bit
        out = ImageCms.profileToProfile(base, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im
    if alpha is not None:
        out.putalpha(alpha)
    return out


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info)


def load_image(src: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, np.ndarray | None]:
    """The colours and the input's own alpha of one image: (RGB uint8 (H, W, 3) in sRGB, alpha float32
    (H, W) in [0, 1] or None when the input has no transparency). Any mode: RGB, RGBA, L, LA, P (with its
    transparency), CMYK, 16-bit, float; an embedded ICC profile is converted to sRGB.

    Raises ImageError as :func:`open_image`."""
    im = _to_srgb(_to_8bit(open_image(src, max_pixels), source_name(src)))
    alpha = None
    if _has_alpha(im):
        im = im.convert("RGBA")
        a = np.asarray(im.getchannel("A"))
        alpha = None if a.min() == 255 else np.divide(a, np.float32(255), dtype=np.float32)
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im), alpha


def load_rgb(src: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """RGB uint8 (H, W, 3) in sRGB from any input and mode (see :func:`load_image`); transparency is dropped.

    Raises ImageError as :func:`open_image`."""
    return load_image(src, max_pixels)[0]


def load_mask(src: ImageLike, size: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A mask as float32 (H, W) in [0, 1] (white = person): a grayscale image (any bit depth), a colour
    image (its luminance), an image with transparency (its alpha; an alpha opaque everywhere is ignored), or
    an array as :func:`array_to_uint8`
    (float arrays (H, W) or (H, W, 1) are kept at full precision). ``size``: the (H, W) it must have.

    Raises ImageError as :func:`open_image`, and when the mask's size is not ``size``."""
    name = source_name(src)
    if isinstance(src, np.ndarray) and np.issubdtype(src.dtype, np.floating) and (src.ndim == 2 or src.shape[2:] == (1,)):
        _check_size(name, src.shape[1], src.shape[0], max_pixels)
        m = _unit_floats(src.reshape(src.shape[:2]), name).astype(np.float32)
    else:
        im = open_image(src, max_pixels)
        if _has_alpha(im):
            a = im.convert("RGBA").getchannel("A")
            if a.getextrema()[0] < 255:  # an opaque alpha says nothing (as in load_image): then the grey levels are the mask
                im = a
        im = _to_8bit(im, name)
        if im.mode != "L":
            im = im.convert("L")
        m = np.asarray(im, dtype=np.float32) / 255.0
    if size is not None and m.shape != tuple(size):
        raise ImageError(f"{name}: mask is {m.shape[1]}x{m.shape[0]} but the image is {size[1]}x{size[0]}; they must match")
    return m
