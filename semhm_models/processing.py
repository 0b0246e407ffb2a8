"""Pre- and post-processing in numpy (no onnxruntime, no torch): testable alone."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image, ImageColor

from semhm_models.contracts import MPN_INPUTS, MPN_MULTIPLE, MPN_PIXELS, MPN_SIZE, MPN_TTA


def to_nchw(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (1, 3, H, W) in [0, 1]."""
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def resize_rgb(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of uint8 RGB (Pillow's, which torch's antialias=True matches)."""
    return resize_many(rgb, [hw])[0]


def resize_many(rgb: np.ndarray, sizes: Sequence[tuple[int, int]], threads: int | None = 1) -> list[np.ndarray]:
    """``rgb`` (uint8 (H, W, 3)) resized as :func:`resize_rgb` does to each (h, w) of ``sizes`` (``rgb`` itself
    where the size is its own), from one Pillow copy of the photo (each copy of a 4K photo costs about as much
    as a resize), the resizes shared by up to ``threads`` threads (Pillow releases the GIL while it resizes;
    None: one per CPU core)."""
    todo = [hw for hw in dict.fromkeys(map(tuple, sizes)) if hw != rgb.shape[:2]]
    photo = Image.fromarray(rgb) if todo else None

    def resized(hw: tuple[int, int]) -> np.ndarray:
        return np.asarray(photo.resize((hw[1], hw[0]), Image.BILINEAR))

    n = min(len(todo), threads or os.cpu_count() or 1)
    if n > 1:  # no thread is started for one resize (resize_rgb)
        with ThreadPoolExecutor(n) as pool:
            done = dict(zip(todo, pool.map(resized, todo), strict=True))
    else:
        done = {hw: resized(hw) for hw in todo}
    return [done.get(tuple(hw), rgb) for hw in sizes]


def resize_plane(a: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float32 (H, W) plane."""
    if a.shape == tuple(hw):
        return a
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((hw[1], hw[0]), Image.BILINEAR))


def budget_size(pixels: int, aspect: float, multiple: int = MPN_MULTIPLE) -> tuple[int, int]:
    """(H, W) of about ``pixels`` pixels at width/height ``aspect``, both sides multiples of ``multiple``,
    from one multiple up to ``pixels / multiple`` (a strip keeps the pixel budget, not its aspect)."""
    most = max(multiple, pixels // multiple // multiple * multiple)
    h = min(most, max(multiple, int(round(np.sqrt(pixels / aspect) / multiple)) * multiple))
    w = min(most, max(multiple, int(round(h * aspect / multiple)) * multiple))
    return h, w


def lowres_size(h: int, w: int, mpn_input: str = "aspect") -> tuple[int, int]:
    """(h, w) of MPN's and QUN's input for an (H, W) photo: the photo's aspect ratio in about ``MPN_PIXELS``
    pixels, sides multiples of 32 (``mpn_input`` "aspect"), or ``MPN_SIZE`` for weights of ``mpn_input``
    "fixed" (contracts.MPN_INPUTS). ValueError for another ``mpn_input``."""
    if mpn_input not in MPN_INPUTS:
        raise ValueError(f"mpn input {mpn_input!r}: choose {', '.join(MPN_INPUTS)}")
    return budget_size(MPN_PIXELS, w / h) if mpn_input == "aspect" else MPN_SIZE


def lowres(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """The MPN/QUN input at ``hw`` (``lowres_size``): float32 (1, 3, h, w) in [0, 1]."""
    return to_nchw(resize_rgb(rgb, hw))


def resize_linear(x: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float32 (N, C, h, w) to (N, C, ``hw``) as torch's ``F.interpolate(mode="bilinear")`` and
    ONNX Resize compute it (half-pixel centres, edges clamped, no antialiasing): the scaled test-time passes."""
    (yi0, yi1, wy), (xi0, xi1, wx) = _linear_taps(x.shape[2], hw[0]), _linear_taps(x.shape[3], hw[1])
    rows = x[:, :, yi0] * (1 - wy)[:, None] + x[:, :, yi1] * wy[:, None]
    return rows[..., xi0] * (1 - wx) + rows[..., xi1] * wx


def tta_masks(run: Callable[[np.ndarray], np.ndarray], image_lr: np.ndarray, tta: str, passes: range | None = None) -> list[np.ndarray]:
    """``run``'s mask for each test-time pass of ``tta`` (``contracts.MPN_TTA``) in ``passes`` (default: all), each in
    ``image_lr``'s frame; over all passes, ``sum(masks) / len(masks)`` is the mean ``MPNGraph`` computes inside a
    graph. ``run`` maps float32 (1, 3, h', w') in [0, 1] to a float32 mask (1, C, h', w'). A pass at scale s sees
    ``image_lr`` (1, 3, h, w) resized to (h s, w s), and its mask is resized back to (h, w); a mirrored pass sees the
    input mirrored left to right, and its mask is mirrored back. ValueError for an unknown ``tta``."""
    if tta not in MPN_TTA:
        raise ValueError(f"tta {tta!r}: choose {', '.join(MPN_TTA)}")
    h, w = image_lr.shape[2:]
    masks = []
    for scale, mirrored in (MPN_TTA[tta][i] for i in passes or range(len(MPN_TTA[tta]))):
        x = image_lr if scale == 1.0 else resize_linear(image_lr, (int(h * scale), int(w * scale)))
        m = run(np.ascontiguousarray(x[..., ::-1]))[..., ::-1] if mirrored else run(x)
        masks.append(m if scale == 1.0 else resize_linear(m, (h, w)))
    return masks


def mask_lowres(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A user's (H, W) mask in [0, 1] -> float32 (1, 1, h, w) at ``hw`` (``lowres_size``)."""
    return np.clip(resize_plane(mask, hw), 0.0, 1.0)[None, None]


def person_score(fg_mask: np.ndarray) -> float:
    """How sure MPN is that a person is in the photo, in [0, 1]: the 99.5th percentile of its foreground
    mask (any shape, float in [0, 1]), i.e. the confidence MPN gives to the most person-like 0.5% of
    the photo. Below ``NO_PERSON`` semhm says "no person found"."""
    return float(np.clip(np.quantile(fg_mask, 0.995), 0.0, 1.0))


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """bool (h, w) ``mask`` grown by ``r`` pixels in every direction (a (2r+1) x (2r+1) square), as bool."""
    out = np.asarray(mask, bool)
    for axis in (0, 1):
        n = out.shape[axis]
        padded = np.pad(out, [(r, r) if a == axis else (0, 0) for a in (0, 1)])
        out = np.logical_or.reduce([np.take(padded, np.arange(k, k + n), axis) for k in range(2 * r + 1)])
    return out


def reconstruct(seed: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Binary morphological reconstruction by dilation: the parts of ``region`` (bool (h, w)) 8-connected to
    ``seed`` (bool (h, w)) inside it, as bool (h, w)."""
    picked = seed & region
    while True:
        grown = dilate(picked, 1) & region
        if np.array_equal(grown, picked):
            return picked
        picked = grown


def marked(mask: np.ndarray) -> np.ndarray:
    """Where a user's ``mask`` (float, any shape, in [0, 1]) marks a person: above half its own maximum, so
    that a mask painted in grey or a label map counts. bool, ``mask``'s shape; all False for an empty mask."""
    return mask > 0.5 * mask.max()


OUTLINE_GRID = 256  # closed outlines are found on a grid of at most this many cells a side


def fill_outlines(mask: np.ndarray) -> np.ndarray:
    """A user's float (H, W) ``mask`` with what its closed outlines enclose set to its maximum, so that a ring
    drawn around a person marks the person, as a filled outline does. Enclosed is what no 4-connected path of
    unmarked cells (:func:`marked`, on a grid of at most ``OUTLINE_GRID`` cells a side) joins to the photo's
    border: a gap in a ring narrower than a cell (about 1/256 of the photo) still closes it, and cells the
    outline crosses count as inside. The mask itself is returned when it encloses nothing."""
    m = marked(mask)
    if not m.any():
        return mask
    h, w = mask.shape
    k = -(-max(h, w) // OUTLINE_GRID)  # cell side in pixels
    padded = np.pad(m, ((0, -h % k), (0, -w % k)))
    free = ~padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k).any((1, 3))
    outside = np.zeros_like(free)
    outside[[0, -1]], outside[:, [0, -1]] = free[[0, -1]], free[:, [0, -1]]
    while True:  # flood the unmarked cells from the border, 4-connected (a diagonal ring stays closed)
        grown = outside.copy()
        grown[1:] |= outside[:-1]
        grown[:-1] |= outside[1:]
        grown[:, 1:] |= outside[:, :-1]
        grown[:, :-1] |= outside[:, 1:]
        grown &= free
        if np.array_equal(grown, outside):
            break
        outside = grown
    enclosed = free & ~outside
    if not enclosed.any():
        return mask
    inside = np.repeat(np.repeat(enclosed, k, 0), k, 1)[:h, :w]
    return np.where(inside, mask.max(), mask).astype(np.float32)


PICK_GROW = 2  # low-resolution pixels the picked persons grow by, so that MPN's soft edge around them stays
AROUND_MARGIN = 6  # low-resolution pixels beyond a box still kept (about 15 px of a 500 px photo)
MASK_KINDS = ("mask", "box")
"""What a user's coarse mask is: ``mask`` (a mask, strokes, an outline: the persons it touches are kept
whole) or ``box`` (a box given as one, ``box_mask``: also cut to itself, so that a touching neighbour stays
out). Only the input says which: a straight stroke or a square mark looks like a box."""


def select_person(coarse: np.ndarray, fg_mask: np.ndarray, unified: np.ndarray, kind: str = "mask") -> np.ndarray:
    """The mask MRN refines when a user gave a ``coarse`` mask (a mask, box or strokes): MPN's own mask,
    ``fg_mask``, cut to the persons the user's mask points at. The user's mask says which persons, MPN's
    where their edges are; QUN's ``unified`` mask is kept where the user's mask touches none of MPN's persons.

    Per image: the persons are the 8-connected parts of ``fg_mask`` > 0.5 that the user's mask touches
    where it is :func:`marked` (:func:`reconstruct`), grown by ``PICK_GROW``: strokes, a mark, rough painting
    or an outline keep the whole persons they touch. A ``kind`` "box" (``MASK_KINDS``) also cuts them to the
    box grown by ``AROUND_MARGIN``, which keeps its person apart from a neighbour it touches. All three arrays
    float32 (N, 1, h, w) in [0, 1] at MPN's resolution; returns the same. ValueError for another ``kind``.
    Measured on the refine split: docs/results.md."""
    if kind not in MASK_KINDS:
        raise ValueError(f"mask kind {kind!r}: choose {', '.join(MASK_KINDS)}")
    out = np.array(unified, np.float32)
    for i in range(out.shape[0]):
        user, fg = marked(coarse[i, 0]), fg_mask[i, 0]
        seed = user & (fg > 0.5)
        if not seed.any():
            continue
        picked = dilate(reconstruct(seed, fg > 0.5), PICK_GROW)
        if kind == "box":
            picked &= dilate(user, AROUND_MARGIN)
        out[i, 0] = fg * picked
    return out


Crop = tuple[int, int, int, int]  # (y0, y1, x0, x1) in pixels: top, bottom, left, right (exclusive)
CROP_MARGIN = 0.1  # each side of a crop grows by this share of the person's box ...
CROP_ASPECT = MPN_SIZE[0] / MPN_SIZE[1]  # ... and then towards the height/width MPN was trained at (6:5)
LOCATE_PERSON, LOCATE_EDGE, LOCATE_SURE = 0.5, 0.2, 0.8  # the locator's mask: a person, its soft edge, sure
SURE_SHARE = 0.65  # the locator is sure when this share of its located pixels (> LOCATE_EDGE) is sure (> LOCATE_SURE) ...
UNSURE_CROP = 0.35  # ... and when it is not, it crops only to crops this small (each person zoomed 1.7x or more)
SURE_BOX = 0.3  # from this share of sure pixels on, crops hold the sure pixels grown by SURE_GROW, not all located ones
SURE_GROW = 2  # low-resolution pixels
SMALL_PART = 0.2  # a part under this share of the largest (arms, bags) joins the nearest larger part's crop ...
NEAR = 2  # ... when at most this many columns away; a farther one under
TINY_PART = 0.05  # this share of the largest is left out, else it is a person of its own
MAX_CROPS = 6  # more persons than this: the whole photo (each crop costs a run of the chain)
MAX_CROP = 0.65  # no crop when one would cover more of the photo than this: the persons already fill it
MIN_CROP_SIDE = 32  # nor when a crop would be smaller than this many pixels a side: MRN needs 1/4-scale features
FIT_TOUCH = 0.01  # a crop grows when over this share of an edge inside the photo has alpha > 0.5 (top and bottom; a refine's, every edge)
FIT_ROUNDS = 3  # a refine's crop grows at most this many times (each up to twice as high and wide)


def overlap(p: Crop, q: Crop) -> bool:
    """Whether two (y0, y1, x0, x1) crops share a pixel."""
    return p[0] < q[1] and q[0] < p[1] and p[2] < q[3] and q[2] < p[3]


def grow_crop(y0: float, y1: float, x0: float, x1: float, hw: tuple[int, int], margin: float = CROP_MARGIN) -> Crop:
    """A box around a person (pixels, float) grown by ``margin`` of its size on each side, then towards MPN's
    ``CROP_ASPECT`` (height / width), clipped to the (H, W) image: integer (y0, y1, x0, x1)."""
    bh, bw = y1 - y0, x1 - x0
    y0, y1, x0, x1 = y0 - margin * bh, y1 + margin * bh, x0 - margin * bw, x1 + margin * bw
    bh, bw = y1 - y0, x1 - x0
    if bh > CROP_ASPECT * bw:
        x0, x1 = x0 - (bh / CROP_ASPECT - bw) / 2, x1 + (bh / CROP_ASPECT - bw) / 2
    else:
        y0, y1 = y0 - (CROP_ASPECT * bw - bh) / 2, y1 + (CROP_ASPECT * bw - bh) / 2
    return max(0, int(y0)), min(hw[0], int(np.ceil(y1))), max(0, int(x0)), min(hw[1], int(np.ceil(x1)))


MASK_MIN_CROP = 1 / 5  # a refine's larger crop spans at least this share of the photo's height (a dot on the face)


def mask_crop(mask: np.ndarray) -> Crop | None:
    """The crop a refine runs on, so that a small person reaches MPN as large as MPN learnt persons: the box of a
    user's float (H, W) ``mask`` where it marks a person (:func:`marked`: a mask painted in grey counts) grown by
    :func:`grow_crop`. None for an empty mask."""
    inside = marked(mask)
    ys, xs = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    return grow_crop(ys[0], ys[-1] + 1, xs[0], xs[-1] + 1, mask.shape) if len(ys) else None


def crop_at_least(crop: Crop, hw: tuple[int, int], share: float) -> Crop:
    """``crop`` widened about its centre, inside the (H, W) photo, to at least ``share`` of the photo's height and
    that over ``CROP_ASPECT`` in width (``MASK_MIN_CROP``: a mark on its person, a dot on the face, whose box holds
    too little of the person for MPN)."""
    (y0, y1, x0, x1), (h, w) = crop, hw
    return *_span_at_least(y0, y1, h, share * h), *_span_at_least(x0, x1, w, share * h / CROP_ASPECT)


def _span_at_least(a: int, b: int, n: int, size: float) -> tuple[int, int]:
    """[a, b) widened about its centre to ``size`` (rounded up) inside [0, n)."""
    size = min(n, int(np.ceil(size)))
    if b - a >= size:
        return a, b
    a = min(max(0, (a + b - size) // 2), n - size)
    return a, a + size


def person_crops(fg_mask: np.ndarray, hw: tuple[int, int]) -> list[Crop]:
    """Where to run the chain on an (H, W) photo, from the locator's mask (``contracts.LOCATE``; float (h, w) in
    [0, 1] at its own low resolution), as (y0, y1, x0, x1) pixel boxes sorted left to right.

    The located pixels are those above ``LOCATE_EDGE`` connected to sure ones (above ``LOCATE_SURE``); where at
    least ``SURE_BOX`` of them are sure, only the sure ones grown by ``SURE_GROW`` (a grey animal beside a person
    stays out). One crop per run of columns they occupy with a person (above ``LOCATE_PERSON``) in it: persons
    side by side apart, touching ones together; a run under ``SMALL_PART`` of the largest joins the nearest when it
    is within ``NEAR`` columns (an arm, a bag), else it is a person of its own (left out under ``TINY_PART``). Each
    crop is its pixels' box grown by :func:`grow_crop`; :func:`fit_crop` grows it further where the matte runs
    out of it.

    Empty (matte the whole photo) when the locator finds no person (``person_score`` below ``NO_PERSON``), when it
    finds more than ``MAX_CROPS`` persons, when the crops would leave out more than ``TINY_PART`` of the largest
    person's worth of pixels it calls a person (above ``LOCATE_PERSON``: persons it is less sure of), when a
    crop would be under ``MIN_CROP_SIDE`` a side or cover more than ``MAX_CROP`` of the photo (the persons fill
    it), or more than ``UNSURE_CROP`` of it while the locator is unsure (under ``SURE_SHARE`` of the located
    pixels sure: close-ups in dark clothes, which it sees in part, and animals). Chosen on the scenes split and a
    second one, with the validation split and the P3M portraits; confirmed on a third: docs/results.md."""
    return crop_plan(fg_mask, hw)[0]


SETTLED_CROP = 0.75  # a crop over this share of the photo: one locator pass settles that the persons fill it


def locator_settled(crops: list[Crop], largest: float | None) -> bool:
    """Whether one pass of the locator, planned as ``crops, largest`` (:func:`crop_plan`), already settles that the
    whole photo is matted: it finds no person, or a crop would cover over ``SETTLED_CROP`` of the photo (the persons
    fill it). The runtime then skips the locator's further passes (``contracts.LOCATE_TTA``). On the three scenes
    splits, the validation split and P3M no answer differs from all three passes' (a person it is less sure of, or
    a crop just over ``MAX_CROP``, still gets all three): docs/results.md, session 10."""
    return not crops and (largest is None or largest > SETTLED_CROP)


def crop_plan(fg_mask: np.ndarray, hw: tuple[int, int]) -> tuple[list[Crop], float | None]:
    """:func:`person_crops`' crops, and the share of the photo its largest crop covers (None when it finds no
    person, 0 when it stops before making crops)."""
    if person_score(fg_mask) < NO_PERSON:
        return [], None
    sure_px, edge_px = fg_mask > LOCATE_SURE, fg_mask > LOCATE_EDGE
    located = reconstruct(sure_px, edge_px)  # what it is sure of with its soft edges
    if not located.any():
        return [], None
    sure = sure_px.sum() >= SURE_SHARE * located.sum()
    if sure_px.sum() >= SURE_BOX * located.sum():  # a grey animal beside a person stays out of its crop
        located = dilate(sure_px, SURE_GROW) & edge_px
    person_px = fg_mask > LOCATE_PERSON
    held = located & person_px
    runs = np.flatnonzero(np.diff(np.r_[0, located.any(0).astype(np.int8), 0]))  # starts and ends of located columns
    parts = [(a, b) for a, b in zip(runs[::2], runs[1::2], strict=True) if held[:, a:b].any()]
    sizes = [int(held[:, a:b].sum()) for a, b in parts]
    big = [i for i, n in enumerate(sizes) if n >= SMALL_PART * max(sizes)]
    cols = {i: [parts[i]] for i in big}

    def gap(p: tuple[int, int], q: tuple[int, int]) -> int:  # columns between two runs
        return max(p[0] - q[1], q[0] - p[1])

    for i in sorted(set(range(len(parts))) - set(big)):  # an arm or a bag joins its person; a far small person is one
        j = min(big, key=lambda k: gap(parts[k], parts[i]))
        if gap(parts[j], parts[i]) <= NEAR:
            cols[j].append(parts[i])
        elif sizes[i] >= TINY_PART * max(sizes):
            cols[i] = [parts[i]]
    if len(cols) > MAX_CROPS:
        return [], 0.0
    lh, lw = fg_mask.shape
    crops = []
    for spans in cols.values():  # a run's columns are all located, so its box spans them whole
        ys = np.flatnonzero(np.logical_or.reduce([located[:, a:b].any(1) for a, b in spans]))
        x0, x1 = min(a for a, _ in spans), max(b for _, b in spans)
        crops.append(grow_crop(ys[0] * hw[0] / lh, (ys[-1] + 1) * hw[0] / lh, x0 * hw[1] / lw, x1 * hw[1] / lw, hw))
    largest = max((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in crops) / (hw[0] * hw[1])
    if largest > (MAX_CROP if sure else UNSURE_CROP) or min(min(y1 - y0, x1 - x0) for y0, y1, x0, x1 in crops) < MIN_CROP_SIDE:
        return [], largest
    covered = np.zeros_like(located)
    for y0, y1, x0, x1 in crops:
        covered[y0 * lh // hw[0] : -(-y1 * lh // hw[0]), x0 * lw // hw[1] : -(-x1 * lw // hw[1])] = True
    if (person_px & ~covered).sum() > TINY_PART * max(sizes):  # a person it is less sure of: keep it
        return [], largest
    return sorted(crops, key=lambda c: c[2]), largest


def fit_crop(alpha: np.ndarray, crop: Crop, hw: tuple[int, int], sides: str = "top-bottom") -> Crop | None:
    """``crop`` (y0, y1, x0, x1) of an (H, W) photo grown by half its height upwards and downwards where its matte
    ``alpha`` (float (h, w) in [0, 1], the crop's) runs into its top or bottom edge inside the photo (over
    ``FIT_TOUCH`` of the edge above 0.5: a head or feet the locator missed), clipped to the photo; None when the
    matte fits. ``sides`` "top-bottom": only up and down, since a neighbour at a locator crop's side is no reason
    to grow it; "all": by half its width to the left and right too (a refine's crop, where the user's mask covers
    only part of its person: a scribble, an eroded outline). Raises ValueError for other ``sides``."""
    if sides not in ("top-bottom", "all"):
        raise ValueError(f"sides {sides!r}: choose top-bottom or all")
    y0, y1, x0, x1 = crop
    gy, gx = (y1 - y0) // 2, (x1 - x0) // 2 if sides == "all" else 0
    top = y0 - gy if y0 > 0 and (alpha[0] > 0.5).mean() > FIT_TOUCH else y0
    bottom = y1 + gy if y1 < hw[0] and (alpha[-1] > 0.5).mean() > FIT_TOUCH else y1
    left = x0 - gx if x0 > 0 and (alpha[:, 0] > 0.5).mean() > FIT_TOUCH else x0
    right = x1 + gx if x1 < hw[1] and (alpha[:, -1] > 0.5).mean() > FIT_TOUCH else x1
    grown = max(0, top), min(hw[0], bottom), max(0, left), min(hw[1], right)
    return None if grown == crop else grown


ALPHA_ZERO = 0.5 / 255  # alpha under this is 0 in 8 bits (to_uint8 rounds)
GREY = (0.1, 0.9)  # alpha strictly between these is grey: the chain is unsure there
CLEAN = 0.25  # a matte under this grey_share is clean: the locator's first pass's crops need no more passes


def grey_share(alpha: np.ndarray) -> float:
    """How unsure a matte is: its grey pixels (alpha strictly inside ``GREY``) per pixel above 0.5 (the persons'
    area), from 0 (hard edges only) up; inf for a matte with no pixel above 0.5. ``alpha``: float (H, W) in [0, 1].
    A person the chain sees whole comes out solid with a thin grey edge; one it sees in part, or squeezed, has
    grey patches (docs/results.md, session 10)."""
    solid = int(np.count_nonzero(alpha > 0.5))
    return np.inf if solid == 0 else int(np.count_nonzero((alpha > GREY[0]) & (alpha < GREY[1]))) / solid


LYING = (50.0, 1.6)  # a located person whose long axis is this many degrees or more off vertical, and this elongated


def largest_part(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected part of bool (h, w) ``mask`` (the first found of equal ones), as bool (h, w); all
    False where ``mask`` is."""
    rest, best = np.array(mask, bool), np.zeros(np.shape(mask), bool)
    while np.count_nonzero(rest) > np.count_nonzero(best):
        seed = np.zeros_like(rest)
        seed[np.unravel_index(np.argmax(rest), rest.shape)] = True
        part = reconstruct(seed, rest)
        best = part if np.count_nonzero(part) > np.count_nonzero(best) else best
        rest &= ~part
    return best


def lying(fg_mask: np.ndarray) -> bool:
    """Whether the largest person the locator finds lies down (or the photo is turned sideways): the largest
    connected part of its pixels above ``LOCATE_PERSON`` has its long axis (second moments) at least ``LYING[0]``
    degrees off vertical, and is at least ``LYING[1]`` times as long as wide. ``fg_mask``: the locator's mask,
    float (h, w) in [0, 1]. Upright persons, groups side by side, close-ups cut by the frame and a head of hair
    flying apart from its body are not (docs/results.md, session 14)."""
    ys, xs = np.nonzero(largest_part(fg_mask > LOCATE_PERSON))
    if ys.size < 3:
        return False
    (vy, cov), (_, vx) = np.cov(np.stack([ys, xs]).astype(np.float64))
    ev, vec = np.linalg.eigh(np.array([[vy, cov], [cov, vx]]))
    off_vertical = np.degrees(np.arctan2(abs(vec[1, 1]), abs(vec[0, 1])))
    return bool(off_vertical >= LYING[0] and ev[1] >= LYING[1] ** 2 * max(ev[0], 1e-9))


UNSEEN = 0.2  # a whole-photo matte with more of its solid pixels than this where the locator sees no one loses


def unseen_share(alpha: np.ndarray, fg_mask: np.ndarray) -> float:
    """The share of a matte's solid pixels (``alpha`` float (H, W) in [0, 1], above 0.5) where the locator's mask
    (``fg_mask``, float (h, w) in [0, 1] at its own low resolution, nearest pixel) is under ``LOCATE_EDGE``: where
    it sees no person at all, not even an edge. 0 for a matte with no solid pixel. An animal or a wall that the chain
    mattes whole is unseen; a person it mattes is not (docs/results.md, session 14)."""
    solid = alpha > 0.5
    if not solid.any():
        return 0.0
    (h, w), (lh, lw) = alpha.shape, fg_mask.shape
    unseen = (fg_mask < LOCATE_EDGE)[(np.arange(h) * lh // h)[:, None], (np.arange(w) * lw // w)[None, :]]
    return float(np.count_nonzero(solid & unseen) / np.count_nonzero(solid))


NO_PERSON = 0.5  # person_score below this: no person found (docs/results.md: measured on the scenes split)


def working_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """The size MRN runs at: the input's own, or scaled down so its longer side is ``max_side``."""
    if not max_side or max(h, w) <= max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def finish(alpha: np.ndarray, fgr: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """MRN outputs (1,1,h,w), (1,3,h,w) -> alpha float32 (H, W), foreground float32 (H, W, 3) at ``hw``."""
    a = np.clip(resize_plane(alpha[0, 0], hw), 0.0, 1.0)
    f = fgr[0]
    if f.shape[1:] != tuple(hw):
        f = np.stack([resize_plane(c, hw) for c in f])
    return a, np.clip(f.transpose(1, 2, 0), 0.0, 1.0)


GUIDED_RADIUS = 2  # the fast guided filter's window radius, in pixels of MRN's working resolution (train/guided.py)
GUIDED_EPS = 1e-4  # its regularisation: larger smooths more, smaller follows the photo's edges more
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as Pillow's convert("L"): the grey that guides alpha


ROWS_PER_BLOCK = 32  # full-size rows per step of the guided filter's full-size pass (the block stays in cache)


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear upsampling from ``n_in`` to ``n_out`` samples (half-pixel centres, edges clamped): for each
    output sample, its two input indices and the float32 weight of the second."""
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(src).astype(np.intp)
    return i0, np.minimum(i0 + 1, n_in - 1), (src - i0).astype(np.float32)


def guided_upsample(
    coef_fg: np.ndarray,
    coef_alpha: np.ndarray,
    guide: np.ndarray,
    threads: int | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The fast guided filter's full-size pass (He and Sun 2015, arXiv:1505.00996; as in RobustVideoMatting's refiner,
    without learned parts): alpha float32 (H, W) and foreground float32 (H, W, 3) in [0, 1] at the size of ``guide``.

    ``coef_fg`` float32 (2, h, W, 3) and ``coef_alpha`` float32 (2, h, W): the coefficients A / 255 and b of the
    foreground's R, G, B and of alpha at MRN's working height h, already at the photo's width (``guided.onnx``,
    contracts stage "guided", train/guided.py); ``guide``: the photo, RGB uint8 (H, W, 3), H >= h. Each plane is
    A G + b, A and b resized bilinearly along the height (half-pixel centres, edges clamped), G the photo's channel
    for the foreground's and its luma (Pillow's convert("L"), ``LUMA``) for alpha, clipped to [0, 1]. ``out``: the
    (alpha, foreground) arrays to write, e.g. views into a larger photo's (default: new ones). The pass runs in
    blocks of ``ROWS_PER_BLOCK`` rows (the memory beyond the output stays a few blocks), shared by ``threads``
    threads (None: one per CPU core)."""
    hw = guide.shape[:2]
    alpha, fg = out if out is not None else (np.empty(hw, np.float32), np.empty((*hw, 3), np.float32))
    r0, r1, rt = _linear_taps(coef_fg.shape[1], hw[0])

    def rows_from(start: int, stop: int) -> None:
        luma = np.asarray(Image.fromarray(guide[start:stop]).convert("L"))  # exactly Pillow's 8-bit grey
        for y in range(start, stop, ROWS_PER_BLOCK):
            rows = slice(y, min(y + ROWS_PER_BLOCK, stop))
            for coef, g, dest in ((coef_fg, guide[rows], fg), (coef_alpha, luma[y - start : rows.stop - start], alpha)):
                x, x1 = coef[:, r0[rows]], coef[:, r1[rows]]
                x1 -= x
                x1 *= rt[rows].reshape(-1, *[1] * (x.ndim - 2))
                x += x1  # A and b at these rows
                a, b = x
                a *= g
                a += b
                np.clip(a, 0.0, 1.0, out=dest[rows])

    n = max(1, min(threads or os.cpu_count() or 1, hw[0] // (4 * ROWS_PER_BLOCK) or 1))  # the threads share the rows
    edges = [hw[0] * i // n for i in range(n + 1)]
    if n == 1:
        rows_from(0, hw[0])
    else:
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(rows_from, edges[:-1], edges[1:]))
    return alpha, fg


def to_uint8(a: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] (clipped) -> uint8 0..255, rounded to nearest; any shape."""
    return (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def cutout(alpha: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """RGBA uint8 (H, W, 4): MRN's foreground colours (no background spill) with the alpha."""
    return np.dstack([to_uint8(fg), to_uint8(alpha)])


def parse_color(spec: str) -> tuple[int, int, int]:
    """A colour name ('white'), '#rrggbb' or 'r,g,b' (0..255 each) -> an (r, g, b) tuple of ints 0..255.

    Raises ValueError naming the colour when it cannot be read, or when it has an alpha ('#rrggbbaa')."""
    try:
        if "," in spec:
            r, g, b = (int(v) for v in spec.split(","))
            if not all(0 <= v <= 255 for v in (r, g, b)):
                raise ValueError
            return r, g, b
        rgb = ImageColor.getrgb(spec)
        if len(rgb) == 4:  # '#rrggbbaa', 'rgba(...)': a background is opaque
            raise ValueError
        return rgb
    except ValueError:
        raise ValueError(f"background colour '{spec}': use a name (white), #rrggbb or r,g,b") from None


def composite(alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray | tuple[int, int, int]) -> np.ndarray:
    """RGB uint8 (H, W, 3): ``fg`` (float32 (H, W, 3) in [0, 1]) over ``bg`` with ``alpha`` (float32 (H, W) in
    [0, 1]); ``bg`` an (r, g, b) tuple of 0..255, or an RGB uint8 (h, w, 3) image resized to cover."""
    h, w = alpha.shape
    if isinstance(bg, tuple):
        back = np.broadcast_to(np.asarray(bg, np.float32) / 255, (h, w, 3))
    else:
        back = np.divide(cover(bg, (h, w)), np.float32(255), dtype=np.float32)
    a = alpha[..., None]
    return to_uint8(fg * a + back * (1 - a))


def cover(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """RGB uint8 (h, w, 3) resized (antialiased) to cover ``hw`` = (H, W) and centre-cropped: (H, W, 3)."""
    h, w = rgb.shape[:2]
    s = max(hw[0] / h, hw[1] / w)
    nh, nw = max(hw[0], round(h * s)), max(hw[1], round(w * s))
    r = resize_rgb(rgb, (nh, nw))
    y, x = (nh - hw[0]) // 2, (nw - hw[1]) // 2
    return r[y : y + hw[0], x : x + hw[1]]


Box = tuple[float, float, float, float]  # (x0, y0, x1, y1) in pixels: left, top, right, bottom (exclusive)


def box_mask(box: Box, hw: tuple[int, int]) -> np.ndarray:
    """float32 (H, W) in {0, 1}: 1 inside ``box`` (x0, y0, x1, y1) in pixels, clipped to the image, for
    refining "the person in this box". Raises ValueError for anything but four finite numbers with
    x0 < x1, y0 < y1 that overlap the image."""
    h, w = hw
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box {box!r}: expected four numbers (x0, y0, x1, y1) in pixels") from None
    shown = ",".join(f"{v:g}" for v in (x0, y0, x1, y1))
    if not all(np.isfinite((x0, y0, x1, y1))) or x0 >= x1 or y0 >= y1:
        raise ValueError(f"box {shown}: expected x0 < x1 and y0 < y1, in pixels")
    c0, r0, c1, r1 = max(0, round(x0)), max(0, round(y0)), min(w, round(x1)), min(h, round(y1))
    if c0 >= c1 or r0 >= r1:
        raise ValueError(f"box {shown} lies outside the {w}x{h} image")
    m = np.zeros((h, w), np.float32)
    m[r0:r1, c0:c1] = 1.0
    return m
