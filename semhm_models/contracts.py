"""Tensor contracts: the one place that says what every model input and output is.

Inside semhm everything is float32, NCHW, in [0, 1]; uint8 and file formats exist only at the edges.
``TENSORS`` is the table as data: it generates the README's ONNX table (:func:`markdown_table`, appended
below), the export's input/output names (``INPUTS``, ``OUTPUTS``), its dynamic axes (:func:`dynamic_axes`)
and the shapes parity checks and tests feed (:func:`example_shapes`). In a shape, ``N`` is the batch, ``H, W``
the working resolution and ``h, w`` a mask's own size; numbers are fixed.

"""

from __future__ import annotations

from dataclasses import dataclass

MPN_PIXELS = 192 * 160  # MPN and QUN see the photo at its own aspect ratio in about this many pixels ...
MPN_MULTIPLE = 32  # ... with both sides multiples of this (see processing.lowres_size)
MPN_SIZE: tuple[int, int] = (192, 160)  # (height, width) every photo was squeezed to before (mpn_input "fixed")
MPN_INPUTS = ("aspect", "fixed")
"""How a weights folder's MPN and QUN take the photo (manifest ``mpn_input``): ``aspect`` (its own aspect
ratio, about ``MPN_PIXELS`` pixels, sides multiples of ``MPN_MULTIPLE``) or ``fixed`` (squeezed to
``MPN_SIZE``: weights exported before aspect-keeping, whose graphs have that size built in)."""
STAGES: tuple[str, ...] = ("mpn", "qun", "mrn")
"""The three exported graphs, in chain order (one ONNX file each)."""
GUIDED = "guided"
"""The fast guided filter's coefficients (``semhm_models/guided.onnx``, written by ``python -m train guided``): no
weights, the same for every weights folder. Where MRN runs below the photo's working size
(``RuntimeOptions.mrn_side``), they and ``processing.guided_upsample`` bring MRN's alpha and foreground up to that
size with the photo's own edges."""
LOCATE = "locate"
"""An optional fourth graph: an MPN trained on scene frames (any aspect, 0-4 persons, animals), which takes the
photo at its own aspect ratio. Where a weights folder has one, automatic matting first asks it where the persons
are and runs the chain on a crop around each (``processing.person_crops``): the chain's MPN then sees each person
large and unsqueezed, as in its training. A locator exported with one pass (manifest ``locate_tta`` "none") gets
its ``LOCATE_TTA`` passes from the runtime, which skips the second and third where the first settles the answer
(``processing.locator_settled``) or its crops give a clean matte, and, where only the first pass makes crops,
mattes both ways and keeps the surer matte (``api.Matter._located``); a file whose manifest has no ``locate_tta``
(session 9's, its passes inside) runs once."""

MPN_TTA: dict[str, tuple[tuple[float, bool], ...]] = {
    "flip-scale": ((1.0, False), (1.0, True), (1.5, True)),
    "flip": ((1.0, False), (1.0, True)),
    "none": ((1.0, False),),
}
"""Test-time passes averaged for MPN's mask (and the locator's), each (scale of the input, mirrored): a pass at
1.5x runs on the input upscaled bilinearly (half-pixel centres, no antialiasing) and its mask is scaled back the
same way. flip-scale costs 2.1x flip's arithmetic (docs/results.md). MPN's passes run inside mpn.onnx (manifest
``mpn_tta``)."""
DEFAULT_TTA = "flip-scale"
LOCATE_TTA = "flip-scale"  # the passes the runtime runs for a one-pass locator (the ones its crop rules were chosen with)

AXIS_NAMES = {"N": "batch", "H": "height", "W": "width", "h": "mask_height", "w": "mask_width", "X": "photo_width"}
# h, w: MPN's input size; X: the photo's working width, where the guided filter brings MRN's outputs
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
    Tensor(
        "mpn", "image_lr", "input", ("N", 3, "h", "w"), "RGB resized (antialiased): 192x160, or its own aspect in ~30720 px (mpn_input)"
    ),
    Tensor("mpn", "masks", "output", ("N", 2, "h", "w"), "channel 0 foreground, channel 1 background"),
    Tensor("mpn", "fg_mask", "output", ("N", 1, "h", "w"), "channel 0 alone: where the persons are (QUN's fg_mask)"),
    Tensor("qun", "image_lr", "input", ("N", 3, "h", "w"), "as above"),
    Tensor("qun", "mask", "input", ("N", 1, "h", "w"), "MPN's foreground or a user's coarse mask, box or strokes"),
    Tensor("qun", "fg_mask", "input", ("N", 1, "h", "w"), "MPN's foreground mask: the persons the user's mask may pick from"),
    Tensor("qun", "unified", "output", ("N", 1, "h", "w"), "quality-unified mask"),
    Tensor("mrn", "image", "input", ("N", 3, "H", "W"), "RGB at working resolution, any H, W >= 1"),
    Tensor("mrn", "mask", "input", ("N", 1, "h", "w"), "unified mask, any size (usually MPN's)"),
    Tensor("mrn", "fgr", "output", ("N", 3, "H", "W"), "foreground colours, free of background"),
    Tensor("mrn", "alpha", "output", ("N", 1, "H", "W"), "alpha matte"),
    Tensor("locate", "image_lr", "input", ("N", 3, "h", "w"), "RGB at its own aspect in ~30720 px (optional graph, see LOCATE)"),
    Tensor("locate", "fg_mask", "output", ("N", 1, "h", "w"), "where the persons are, in any framing"),
    Tensor("guided", "alpha", "input", (1, 1, "H", "W"), "MRN's alpha (the guided filter: no weights, shipped with the package)"),
    Tensor("guided", "fgr", "input", (1, 3, "H", "W"), "MRN's foreground colours"),
    Tensor("guided", "image", "input", (1, 3, "H", "W"), "MRN's input image"),
    Tensor("guided", "width", "input", (1,), "the photo's working width X, X >= W", "int64", ">= 1"),
    Tensor("guided", "coef_fg", "output", (2, "H", "X", 3), "A / 255 and b of the foreground's R, G, B, at width X", range="any"),
    Tensor("guided", "coef_alpha", "output", (2, "H", "X"), "A / 255 and b of alpha, at width X", range="any"),
)

MPN_MASK_OLD = "fg"  # mpn.onnx's foreground-mask output before it was named "fg_mask": such files still load
QUN_FG_MASK = "fg_mask"  # qun.onnx files before aspect-keeping lack this input: they run without it


def tensors(stage: str, direction: str | None = None) -> tuple[Tensor, ...]:
    """The rows of ``stage`` ("mpn", "qun", "mrn", "locate", "guided"), optionally only "input" or "output", in graph order."""
    return tuple(t for t in TENSORS if t.stage == stage and direction in (None, t.direction))


INPUTS: dict[str, tuple[str, ...]] = {s: tuple(t.name for t in tensors(s, "input")) for s in STAGES}
OUTPUTS: dict[str, tuple[str, ...]] = {s: tuple(t.name for t in tensors(s, "output")) for s in STAGES}


def dynamic_axes(stage: str) -> dict[str, dict[int, str]]:
    """For ``torch.onnx.export(dynamic_axes=...)``: tensor name -> {axis: name} for every symbolic dimension."""
    return {t.name: {i: AXIS_NAMES[d] for i, d in enumerate(t.shape) if isinstance(d, str)} for t in tensors(stage)}


def example_shapes(
    stage: str, image_hw: tuple[int, int] = (96, 80), batch: int = 1, lowres_hw: tuple[int, int] = MPN_SIZE
) -> list[tuple[int, ...]]:
    """Concrete shapes of ``stage``'s inputs, in order: N = ``batch``, (H, W) = ``image_hw`` (MRN's working
    resolution), MPN's input and the masks' (h, w) = ``lowres_hw``."""
    dims = {"N": batch, "H": image_hw[0], "W": image_hw[1], "h": lowres_hw[0], "w": lowres_hw[1]}
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
