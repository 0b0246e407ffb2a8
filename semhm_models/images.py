"""Decoding at the edge: any file or PIL image -> RGB uint8 HxWx3 (EXIF orientation applied), masks ->
float32 HxW in [0, 1]. Every failure is an ImageError naming the file and the problem."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from semhm_models.errors import ImageError
from semhm_models.options import DEFAULT_MAX_PIXELS

ImageLike = str | os.PathLike | Image.Image | np.ndarray
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def _name(src: ImageLike) -> str:
    return str(src) if isinstance(src, (str, os.PathLike)) else f"<{type(src).__name__}>"


def open_image(src: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode ``src`` with EXIF orientation applied, refusing over ``max_pixels``."""
    if isinstance(src, np.ndarray):
        return Image.fromarray(_array_to_uint8(src, _name(src)))
    name = _name(src)
    if isinstance(src, Image.Image):
        im = src
    else:
        path = Path(src)
        if not path.is_file():
            raise ImageError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise ImageError(f"{name}: empty file (0 bytes)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # we check the limit ourselves
                try:
                    im = Image.open(path)
                finally:
                    Image.MAX_IMAGE_PIXELS = old
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from None
        except OSError as e:
            raise ImageError(f"{name}: cannot open: {e}") from None
    w, h = im.size
    if w * h > max_pixels:
        raise ImageError(f"{name}: {w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} (raise it with --max-pixels)")
    if w < 1 or h < 1:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})")
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{name}: truncated or corrupt image data: {e}") from None
    return im


def _array_to_uint8(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or a.size == 0:
        raise ImageError(f"{name}: array of shape {a.shape} is not an image (HxW, HxWx1, HxWx3 or HxWx4)")
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return (a.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        return (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    raise ImageError(f"{name}: unsupported array dtype {a.dtype}")


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and float grayscale modes scaled to 8 bits (Pillow's own convert('L') clips them)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        a = np.asarray(im).astype(np.uint32)
        return Image.fromarray((a * 255 // 65535).astype(np.uint8))
    if im.mode == "I":
        a = np.asarray(im).astype(np.int64)
        top = 65535 if a.max(initial=0) > 255 else 255
        return Image.fromarray((np.clip(a, 0, top) * 255 // top).astype(np.uint8))
    if im.mode == "F":
        a = np.asarray(im)
        top = 1.0 if a.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray((np.clip(a / top, 0, 1) * 255 + 0.5).astype(np.uint8))
    return im


def load_rgb(src: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a path, a PIL image or an array; any mode (RGB, RGBA, L, LA, P, CMYK,
    16-bit, float). Transparency is dropped: the matte is computed from the colours."""
    im = _to_8bit(open_image(src, max_pixels))
    if im.mode != "RGB":
        im = im.convert("RGBA").convert("RGB") if im.mode in ("P", "PA") else im.convert("RGB")
    return np.asarray(im)


def load_mask(src: ImageLike, size: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """float32 (H, W) in [0, 1] from a grayscale (or any) image; an RGBA mask uses its alpha channel.
    ``size`` = (H, W) the mask must have."""
    im = open_image(src, max_pixels)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA").getchannel("A")
    im = _to_8bit(im)
    if im.mode != "L":
        im = im.convert("L")
    m = np.asarray(im, dtype=np.float32) / 255.0
    if size is not None and m.shape != tuple(size):
        raise ImageError(f"{_name(src)}: mask is {m.shape[1]}x{m.shape[0]} but the image is {size[1]}x{size[0]}; they must match")
    return m
