"""Tensor contracts: the one place that says what every model input and output is.

Inside semhm everything is float32, NCHW, in [0, 1]; uint8 and file formats exist only at the edges.
``TENSORS`` is the table as data: it generates the README's ONNX table (:func:`markdown_table`, appended
below), the export's input/output names (``INPUTS``, ``OUTPUTS``), its dynamic axes (:func:`dynamic_axes`)
and the shapes parity checks and tests feed (:func:`example_shapes`). In a shape, ``N`` is the batch, ``H, W``
the working resolution and ``h, w`` a mask's own size; numbers are fixed.

"""

from __future__ import annotations

from dataclasses import dataclass

MPN_SIZE: tuple[int, int] = (192, 160)  # (height, width) of MPN and QUN inputs
STAGES: tuple[str, ...] = ("mpn", "qun", "mrn")
"""The three exported graphs, in chain order (one ONNX file each)."""

AXIS_NAMES = {"N": "batch", "H": "height", "W": "width", "h": "mask_height", "w": "mask_width"}
"""Symbolic dimensions of ``TENSORS``' shapes -> the dynamic axis names written into the ONNX files."""


@dataclass(frozen=True)
class Tensor:
    """One input or output of one stage's graph. ``shape``: numbers (fixed) and letters of ``AXIS_NAMES``."""

    stage: str
    name: str
    direction: str  # "input" or "output"
    shape: tuple[int | str, ...]
    meaning: str
    dtype: str = "float32"
    range: str = "[0, 1]"


TENSORS: tuple[Tensor, ...] = (
    Tensor("mpn", "image_lr", "input", ("N", 3, *MPN_SIZE), "RGB resized (antialiased) to 192x160"),
    Tensor("mpn", "masks", "output", ("N", 2, *MPN_SIZE), "channel 0 foreground, channel 1 background"),
    Tensor("mpn", "fg_mask", "output", ("N", 1, *MPN_SIZE), "channel 0 alone: feeds QUN on the device"),
    Tensor("qun", "image_lr", "input", ("N", 3, *MPN_SIZE), "as above"),
    Tensor("qun", "mask", "input", ("N", 1, *MPN_SIZE), "MPN foreground or a user's coarse mask"),
    Tensor("qun", "unified", "output", ("N", 1, *MPN_SIZE), "quality-unified mask"),
    Tensor("mrn", "image", "input", ("N", 3, "H", "W"), "RGB at working resolution, any H, W >= 1"),
    Tensor("mrn", "mask", "input", ("N", 1, "h", "w"), "unified mask, any size (usually 192x160)"),
    Tensor("mrn", "fgr", "output", ("N", 3, "H", "W"), "foreground colours, free of background"),
    Tensor("mrn", "alpha", "output", ("N", 1, "H", "W"), "alpha matte"),
)

MPN_MASK_OLD = "fg"  # mpn.onnx's foreground-mask output before it was named "fg_mask": such files still load


def tensors(stage: str, direction: str | None = None) -> tuple[Tensor, ...]:
    """The rows of ``stage`` ("mpn", "qun", "mrn"), optionally only "input" or "output", in graph order."""
    return tuple(t for t in TENSORS if t.stage == stage and direction in (None, t.direction))


INPUTS: dict[str, tuple[str, ...]] = {s: tuple(t.name for t in tensors(s, "input")) for s in STAGES}
OUTPUTS: dict[str, tuple[str, ...]] = {s: tuple(t.name for t in tensors(s, "output")) for s in STAGES}


def dynamic_axes(stage: str) -> dict[str, dict[int, str]]:
    """For ``torch.onnx.export(dynamic_axes=...)``: tensor name -> {axis: name} for every symbolic dimension."""
    return {t.name: {i: AXIS_NAMES[d] for i, d in enumerate(t.shape) if isinstance(d, str)} for t in tensors(stage)}


def example_shapes(stage: str, image_hw: tuple[int, int] = (96, 80), batch: int = 1) -> list[tuple[int, ...]]:
    """Concrete shapes of ``stage``'s inputs, in order: N = ``batch``, (H, W) = ``image_hw`` (MRN's working
    resolution), a mask's (h, w) = ``MPN_SIZE``."""
    dims = {"N": batch, "H": image_hw[0], "W": image_hw[1], "h": MPN_SIZE[0], "w": MPN_SIZE[1]}
    return [tuple(dims[d] if isinstance(d, str) else d for d in t.shape) for t in tensors(stage, "input")]


def markdown_table() -> str:
    """The table of ``TENSORS`` in Markdown, as the README shows it (one line per tensor, padded columns)."""
    head = ("file", "name", "direction", "shape", "dtype", "range", "meaning")
    rows = [(f"{t.stage}.onnx", t.name, t.direction, f"({', '.join(map(str, t.shape))})", t.dtype, t.range, t.meaning) for t in TENSORS]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


__doc__ += markdown_table() + "\n"
