"""A dependency-free progress bar on stderr for batches (quiet when stderr is not a terminal,
except for a final summary line; with ``name``, the current item is shown, and printed as one plain
line per item when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], label: str, total: int | None = None, name: Callable[[T], str] | None = None) -> Iterator[T]:
    """Yield ``items`` unchanged while drawing a bar with ``label`` and an ETA in seconds on a terminal's
    stderr; ``total``: the count when ``items`` has no length; ``name(item)``: the current item's name."""
    items = list(items) if total is None and not hasattr(items, "__len__") else items
    n = total if total is not None else len(items)  # type: ignore[arg-type]
    tty = sys.stderr.isatty()
    t0 = time.monotonic()
    last = 0.0
    for i, item in enumerate(items):
        now = time.monotonic()
        current = f" {name(item)}" if name else ""
        if tty and (now - last > 0.2 or i == 0 or name):
            last = now
            filled = int(30 * i / max(n, 1))
            eta = (now - t0) / i * (n - i) if i else 0.0
            line = f"{label} [{'#' * filled}{'.' * (30 - filled)}] {i}/{n} eta {eta:.0f}s{current}"
            sys.stderr.write(f"\r{line[:120]:<120}")
            sys.stderr.flush()
        elif name:
            sys.stderr.write(f"{label} {i + 1}/{n}:{current}\n")
        yield item
    if tty:
        sys.stderr.write("\r" + " " * 120 + "\r")
    if n > 1 and not name:  # with name, the caller prints its own counts
        sys.stderr.write(f"{label}: {n} done in {time.monotonic() - t0:.1f}s\n")
