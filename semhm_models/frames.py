"""Animated and multi-page images (GIF, WebP, APNG, TIFF): every frame read, every frame written back
as the same kind of file, with each frame's duration and the loop count kept.

GIF holds 1-bit transparency and 256 colours per frame: a matted GIF is opaque where alpha >= 0.5 and
fully transparent elsewhere. WebP (lossless) and PNG keep 8-bit alpha."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from semhm_models.errors import ImageError, unreadable
from semhm_models.options import DEFAULT_MAX_PIXELS

# Pillow format -> (file suffix of a matted copy, save options)
ANIMATED = {
    "GIF": (".gif", {"disposal": 2, "optimize": False}),
    "WEBP": (".webp", {"lossless": True}),
    "PNG": (".png", {"disposal": 0, "blend": 0}),  # each frame replaces its region; dispose-to-background fails on L frames
    "TIFF": (".tif", {"compression": "tiff_adobe_deflate"}),
}


@dataclass
class Frames:
    """``images``: each frame fully composed, RGBA or RGB; ``durations``: milliseconds per frame (None
    for a multi-page TIFF); ``loop``: 0 = forever; ``format``: Pillow's name of the input's format."""

    images: list[Image.Image]
    durations: list[int | None]
    loop: int
    format: str


def open_lazy(src) -> Image.Image:
    """``Image.open`` (header only, nothing decoded) without Pillow's bomb warning: sizes are checked
    against ``max_pixels`` before decoding. No process-wide setting is changed. Raises ImageError when
    Pillow cannot identify the file, Image.DecompressionBombError over Pillow's own hard limit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(src)
    except Image.DecompressionBombError:
        raise
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{_name(src)}: {unreadable(e)}") from None


def probe(src) -> tuple[str, int]:
    """(Pillow format name, frame count) from the header of a path or file object. Raises ImageError
    when Pillow cannot identify it. A file over Pillow's hard pixel limit counts as one frame of
    unknown format: the library refuses it by its size, with its own message."""
    try:
        with open_lazy(src) as im:
            return im.format or "", int(getattr(im, "n_frames", 1))
    except Image.DecompressionBombError:
        return "", 1


def _name(src) -> str:
    return str(src) if isinstance(src, (str, Path)) else "<stdin>"


def read_frames(path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Frames:
    """Every frame of an animated or multi-page image (a path or a file object). Raises ImageError naming the file when it
    cannot be read, holds more than ``max_pixels`` over all frames, or is a kind not in ``ANIMATED``."""
    try:
        with open_lazy(path) as im:
            if im.format not in ANIMATED:
                raise ImageError(f"{_name(path)}: {im.format} with several frames is not supported (GIF, WebP, PNG and TIFF are)")
            n = int(getattr(im, "n_frames", 1))
            if im.width * im.height * n > max_pixels:
                raise ImageError(f"{_name(path)}: {n} frames of {im.width}x{im.height} are over the limit of {max_pixels:,} pixels")
            loop = int(im.info.get("loop", 0) or 0)
            images, durations = [], []
            for frame in ImageSequence.Iterator(im):
                frame.load()
                d = frame.info.get("duration", im.info.get("duration"))
                durations.append(None if im.format == "TIFF" or d is None else int(round(d)))
                images.append(frame.convert("RGBA" if frame.mode in ("RGBA", "LA", "PA", "P") else "RGB"))
            return Frames(images, durations, loop, im.format)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise ImageError(f"{_name(path)}: cannot read its frames: {e}") from None


def encode_frames(frames: list[Image.Image], durations: list[int | None], loop: int, fmt: str) -> bytes:
    """One file of Pillow format ``fmt`` (a key of ``ANIMATED``) holding ``frames`` (RGBA, RGB or L)."""
    if fmt == "GIF":
        frames = [gif_frame(f) for f in frames]
    options = dict(ANIMATED[fmt][1])
    if fmt != "TIFF":
        options.update(duration=[d or 100 for d in durations], loop=loop)
    buf = io.BytesIO()
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], **options)
    return buf.getvalue()


def gif_frame(im: Image.Image) -> Image.Image:
    """A GIF's palette frame: 255 adaptive colours, index 255 transparent where alpha < 0.5 (GIF has 1-bit
    transparency)."""
    if im.mode != "RGBA":
        return im.convert("RGB").quantize(256)
    p = im.convert("RGB").quantize(255)
    idx = np.asarray(p).copy()
    idx[np.asarray(im.getchannel("A")) < 128] = 255
    out = Image.fromarray(idx, "P")
    palette = p.getpalette()[: 255 * 3]
    out.putpalette(palette + [0] * (768 - len(palette)))
    out.info["transparency"] = 255
    return out
