"""Exceptions with messages meant for people: each names the file or the setting and the problem."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


class SemhmError(Exception):
    """Base class of semhm's errors."""


class ImageError(SemhmError, ValueError):
    """An input image or mask cannot be used (unreadable, corrupt, too large, wrong size)."""


class WeightsError(SemhmError):
    """Weights are missing, incomplete, tampered with, or cannot be fetched."""


class RuntimeSetupError(SemhmError):
    """onnxruntime is missing, doubled, or the requested execution provider does not work."""


def unreadable(e: BaseException) -> str:
    """Why Pillow could not open a file, in words, never an exception's class name: the system's reason for
    an OSError that has one ("cannot read: Permission denied"), else "not an image Pillow can read", with
    Pillow's own reason where it gives one beyond "cannot identify image file"."""
    if isinstance(e, OSError) and e.strerror:
        return f"cannot read: {e.strerror}"
    detail = "" if type(e).__name__ == "UnidentifiedImageError" or not str(e) else f" ({e})"
    return f"not an image Pillow can read{detail}"


class NoPersonWarning(UserWarning):
    """MPN found no person in a photo (``Matte.no_person``): the output is still made, and likely empty or
    wrong. Issued by the command line's and the Ray engine's producers; :func:`no_person_notes` collects it."""


@contextmanager
def no_person_notes() -> Iterator[list[str]]:
    """Collect the messages of every NoPersonWarning issued inside the block (into the list it gives, filled
    when the block ends); other warnings go on as usual."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NoPersonWarning)
        try:
            yield notes
        finally:
            others = [w for w in caught if not issubclass(w.category, NoPersonWarning)]
            notes += [str(w.message) for w in caught if issubclass(w.category, NoPersonWarning)]
    for w in others:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
