"""Progress for batches on stderr: tqdm's bar on a terminal (it fits the terminal's width), nothing but a final
summary line elsewhere; with ``name``, the current item is shown, and printed as one plain line per item when
stderr is not a terminal. Messages printed while a bar runs go through :func:`say`, which keeps them off the
bar's line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], label: str, total: int | None = None, name: Callable[[T], str] | None = None) -> Iterator[T]:
    """Yield ``items`` unchanged while drawing a bar with ``label`` and an ETA on a terminal's stderr; ``total``:
    the count when ``items`` has no length; ``name(item)``: the current item's name."""
    from tqdm import tqdm  # here: the command line starts without it

    items = list(items) if total is None and not hasattr(items, "__len__") else items
    n = total if total is not None else len(items)  # type: ignore[arg-type]
    tty = sys.stderr.isatty()
    t0 = time.monotonic()
    shown = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} eta {remaining}{postfix}"
    with tqdm(total=n, desc=label, bar_format=shown, file=sys.stderr, disable=not tty, dynamic_ncols=True, leave=False) as bar:
        for i, item in enumerate(items):
            if name and tty:
                bar.set_postfix_str(name(item))  # drawn now: the item in progress, beside the count of those done
            elif name:
                sys.stderr.write(f"{label} {i + 1}/{n}: {name(item)}\n")
            yield item
            bar.update()
    if n > 1 and not name:  # with name, the caller prints its own counts
        sys.stderr.write(f"{label}: {n} done in {time.monotonic() - t0:.1f}s\n")


def say(message: str) -> None:
    """``message`` as a line on stderr, above a running bar (the bar is redrawn below it)."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)
