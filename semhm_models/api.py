"""The public API: ``Matter.from_pretrained(source)`` then ``matter(image, coarse_mask=None) -> Matte``."""

from __future__ import annotations

import functools
import io
import os
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
from PIL import Image

from semhm_models import processing as pp
from semhm_models.chain import run_chain
from semhm_models.contracts import GUIDED, LOCATE, LOCATE_TTA, MPN_TTA, QUN_FG_MASK, STAGES
from semhm_models.errors import ImageError, NoPersonWarning
from semhm_models.images import ImageLike, load_image, load_mask, load_rgb, source_name
from semhm_models.options import RuntimeOptions
from semhm_models.runtime import CPU, create_session, mpn_mask_output, provider_list
from semhm_models.weights import Weights, resolve

GUIDED_FILE = Path(__file__).parent / "guided.onnx"  # the guided filter's coefficients (contracts.GUIDED)
EXTENDED = ("mrn", GUIDED)  # sessions without onnxruntime's NCHWc layouts (runtime.session_options' optimization)
LARGE_PIXELS = 4_000_000  # above this, MRN runs in a session without a memory arena (bounded peak memory)
WITHIN = 0.9  # a refine whose whole-photo matte has this share of its solid pixels inside the mask's larger crop is zoomed


@dataclass
class Matte:
    """The result of matting one image.

    - ``alpha``: float32 (H, W) in [0, 1], the input's own size; never above the input's own alpha (what
      the input hid stays hidden);
    - ``foreground``: float32 (H, W, 3) in [0, 1], MRN's colours with the background removed (use them,
      not the photo's, for cutouts without colour spill); undefined where alpha is 0 in 8 bits (there it holds
      the photo's colours, or the filter's on a photo matted whole). Either array may be strided:
      ``np.ascontiguousarray`` where a buffer is needed;
    - ``person``: how sure the chain is that a person is in the photo, in [0, 1]
      (:func:`semhm_models.processing.person_score` of MPN's mask, the highest of its crops' for a photo matted
      in crops, or the locator's where it is lower and finds no one), or inside the user's mask or box for a
      refine; see ``no_person``;
    - ``timings``: seconds per step ("decode", "locate" (where the weights have a locator), "pre", "mpn", "qun",
      "mrn", "upsample" (the guided filter, when MRN ran below the working size), "post"; summed over the crops
      of a photo matted in crops)."""

    alpha: np.ndarray
    foreground: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    person: float = 1.0

    @property
    def no_person(self) -> bool:
        """True when MPN found no person (``person`` below ``processing.NO_PERSON``): the alpha is then
        mostly empty, and what it keeps is likely not a person."""
        return self.person < pp.NO_PERSON

    def cutout(self) -> np.ndarray:
        """The cutout: RGBA uint8 (H, W, 4), foreground colours with the alpha."""
        return pp.cutout(self.alpha, self.foreground)

    def image(self, kind: str = "rgba") -> Image.Image:
        """The matte as a PIL image: "rgba" the cutout (mode RGBA), "alpha" the 8-bit alpha (mode L), "fg" the
        foreground colours (mode RGB). Raises ValueError for another ``kind``."""
        if kind == "rgba":
            return Image.fromarray(self.cutout(), "RGBA")
        if kind in ("alpha", "fg"):
            return Image.fromarray(pp.to_uint8(self.alpha if kind == "alpha" else self.foreground), "L" if kind == "alpha" else "RGB")
        raise ValueError(f"matte image {kind!r}: choose rgba, alpha or fg")

    def composite(self, background: str | tuple[int, int, int] | ImageLike) -> np.ndarray:
        """The person over ``background``: RGB uint8 (H, W, 3).

        ``background``: a colour name ("white"), "#rrggbb", "r,g,b" or an (r, g, b) tuple of 0..255, or an
        image (a path, a PIL image or an RGB/RGBA array as :func:`semhm_models.images.load_rgb` takes it),
        resized to cover and centre-cropped. A string is a colour unless it names an existing file.

        Raises ValueError for a colour that cannot be read, ImageError for an image that cannot."""
        if isinstance(background, str) and not os.path.isfile(background):
            return pp.composite(self.alpha, self.foreground, pp.parse_color(background))
        if isinstance(background, (tuple, list)):
            if len(background) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in background):
                raise ValueError(f"background colour {background!r}: give (r, g, b) with whole numbers 0..255")
            return pp.composite(self.alpha, self.foreground, tuple(background))
        return pp.composite(self.alpha, self.foreground, load_rgb(background))


LABEL_ONE = np.float32(1) / np.float32(255)  # how load_mask reads the value 1 of an 8-bit mask


def no_person_note(scores: Sequence[float]) -> str | None:
    """What to tell a user when MPN found no person: ``scores`` are ``Matte.person`` of one photo, or of an
    animation's frames. None when every one is at least ``processing.NO_PERSON``; else e.g. "no person found
    (score 0.12); the cutout is likely empty or wrong", or for frames "no person found in 3 of 10 frames
    (lowest score 0.08); ...". The command line prints it as a warning; the output is still written."""
    missing = [s for s in scores if s < pp.NO_PERSON]
    if not missing:
        return None
    if len(scores) == 1:
        return f"no person found (score {missing[0]:.2f}); the cutout is likely empty or wrong"
    lowest = min(missing)
    return f"no person found in {len(missing)} of {len(scores)} frames (lowest score {lowest:.2f}); their cutouts are likely empty or wrong"


def warn_no_person(scores: Sequence[float]) -> None:
    """Issue a :class:`~semhm_models.errors.NoPersonWarning` with ``no_person_note(scores)``, if there is one
    (the command line's and the Ray engine's producers; :func:`semhm_models.errors.no_person_notes` collects it)."""
    note = no_person_note(scores)
    if note:
        warnings.warn(NoPersonWarning(note), stacklevel=3)


class Matter:
    """One onnxruntime session per stage, made once and reused for every image of a batch.

    ``binding``: "auto" (I/O binding on GPU providers), "on" or "off". With binding, MPN -> QUN -> MRN
    stays on the device: the images go up once and only MRN's outputs come back.

    ``precision``: "auto" (fp16 files on a GPU provider where the weights have them, fp32 otherwise),
    "fp32" or "fp16". The fp16 files keep the float32 contract (casts inside), so nothing else changes."""

    def __init__(self, weights: Weights, options: RuntimeOptions | None = None, **settings) -> None:
        """``options`` (default ``RuntimeOptions()``), with any of its fields overridden by keyword, e.g.
        ``Matter(w, provider="cpu", threads=2)``. Raises ValueError for an unknown setting or one out of
        range, RuntimeSetupError when onnxruntime cannot run the weights."""
        opts = _options(options, settings)
        self.options, self.weights = opts, weights
        self.max_side, self.max_pixels = opts.max_side, opts.max_pixels
        threads = opts.session_threads()
        gpu_wanted = provider_list(opts.provider)[0] != CPU
        precision = opts.precision
        if precision == "auto":
            precision = "fp16" if gpu_wanted and "fp16" in weights.precisions else "fp32"
        # The first session shows which provider really runs; only then is the precision final, and every
        # other session opens once, on that provider.
        first = create_session(str(weights.path("mpn", precision)), opts.provider, threads)
        self.provider = first.get_providers()[0]
        if self.provider == CPU and gpu_wanted and opts.precision == "auto" and precision == "fp16":
            precision = "fp32"  # the GPU fell back (warned about once): fp16 on a CPU is only slower
            first = create_session(str(weights.path("mpn", precision)), "cpu", threads)
        provider = "cpu" if self.provider == CPU else opts.provider
        self.precision = precision
        self._provider_threads = (provider, threads)
        paths = {**{s: str(weights.path(s, precision)) for s in STAGES[1:]}, GUIDED: str(GUIDED_FILE)}
        self.sessions = {"mpn": first, **{s: create_session(p, provider, threads, optimization=_optimization(s)) for s, p in paths.items()}}
        self.mpn_mask = mpn_mask_output(first)
        if LOCATE in weights.manifest.stages and opts.zoom == "auto":
            self.sessions[LOCATE] = create_session(str(weights.path(LOCATE, precision)), provider, threads)
            self.locate_mask = mpn_mask_output(self.sessions[LOCATE])
            self.locate_tta = weights.manifest.locate_tta  # None: session 9's file, run once, as it is
        self.mpn_input = weights.manifest.mpn_input
        # Which masks QUN unifies: "all" (the paper) or "coarse" (users' masks; MPN's go straight to MRN,
        # for weights whose validation numbers are better so, see docs/results.md).
        self.qun_masks = weights.manifest.qun_masks
        self.device = "cpu" if self.provider == CPU else "cuda"
        self.binding = opts.binding == "on" or (opts.binding == "auto" and self.device == "cuda")

    @classmethod
    def from_pretrained(
        cls, source: str | os.PathLike | None = None, options: RuntimeOptions | None = None, revision: str | None = None, **settings
    ) -> Matter:
        """``source``: None (the bundled default), a local weights folder, ``hf://org/name[@revision]``, or
        ``org/name`` on the Hugging Face Hub with ``revision`` (a branch, tag or full commit hash; default
        "main"). An existing local path always wins over a Hub repo of the same name. ``options`` and
        ``settings`` as for ``Matter``.

        Raises WeightsError (not found, not downloadable, failing its sha256 check), ValueError (a setting out
        of range), RuntimeSetupError (onnxruntime cannot run the weights)."""
        return cls(resolve(source, revision=revision), options, **settings)

    def __call__(self, image: ImageLike, coarse_mask: ImageLike | pp.Box | None = None) -> Matte:
        """Matte one image of any size and mode.

        ``image``: a path, bytes, a binary file object, a PIL image or a numpy array ((H, W), (H, W, 1),
        (H, W, 3) or (H, W, 4); uint8, other integers (0..255, or 0..65535 for 16-bit data), or float in
        [0, 1]); colour profiles are converted to sRGB, EXIF orientation applied, and the input's own alpha
        bounds the result. ``coarse_mask``: the same kinds, the image's size, white = person (float arrays in
        [0, 1]); it says which persons of MPN's mask to keep (:func:`semhm_models.processing.select_person`;
        through QUN where it touches none), then MRN mattes them (the paper's refinement of coarse
        annotations). A tuple, list or array (x0, y0, x1, y1) in pixels is a box around the person, refined
        as a filled rectangle mask (clipped to the image). A mask of only 0 and 1 is a label mask (1 = person).

        Raises ImageError (unreadable, corrupt, several frames, over ``max_pixels``, a float array with
        NaN, inf or values outside [0, 1], a mask of another size, an empty mask); ValueError for a box that
        is not four numbers overlapping the image."""
        t: dict[str, float] = {}
        t0 = time.perf_counter()
        rgb, own_alpha = load_image(image, self.max_pixels)
        box = isinstance(coarse_mask, (tuple, list)) or (isinstance(coarse_mask, np.ndarray) and coarse_mask.shape == (4,))
        if box:  # (x0, y0, x1, y1); no image is a list or 4 numbers
            mask = pp.box_mask(coarse_mask, rgb.shape[:2])
        else:
            mask = None if coarse_mask is None else load_mask(coarse_mask, rgb.shape[:2], self.max_pixels)
            top = None if mask is None else mask.max()
            if top == 0:
                raise ImageError(f"{source_name(coarse_mask)}: the mask is empty (all black); white marks the person to refine")
            if top == LABEL_ONE:  # an 8-bit label mask, 1 = person: not a 1/255 grey
                mask = (mask > 0).astype(np.float32)
        t["decode"] = time.perf_counter() - t0
        return self.matte_rgb(rgb, mask, t, own_alpha, "box" if box else "mask")

    def matte_rgb(
        self,
        rgb: np.ndarray,
        mask: np.ndarray | None = None,
        timings: dict[str, float] | None = None,
        input_alpha: np.ndarray | None = None,
        mask_kind: str = "mask",
    ) -> Matte:
        """As ``__call__`` on already decoded RGB uint8 (H, W, 3), an optional float32 (H, W) mask in [0, 1]
        and the input's own alpha, float32 (H, W) in [0, 1] (the result never exceeds it: what the input
        hid stays hidden); ``timings`` receives the seconds of each step. ``mask_kind``: "mask", or "box" for
        a box's filled mask (``processing.box_mask``; see ``processing.MASK_KINDS``).

        With ``zoom`` "auto" (``RuntimeOptions``) the chain runs on crops: without a mask, around each person the
        weights' locator finds (``processing.person_crops``; the whole photo where it finds none, is unsure, or
        the persons fill the photo); for a box, around the box (``processing.mask_crop``); for a mask, on the whole
        photo, and where that matte is small or grey once more on crops around the mask (``_zoomed_refine``). A
        locator's crop whose matte runs into its top or bottom edge is matted once more, taller; a refine's crop,
        into any edge, up to ``processing.FIT_ROUNDS`` times, larger (``processing.fit_crop``). Alpha is 0
        outside the crops, and where crops overlap each pixel comes from the crop with the higher alpha. A photo
        may be matted more than once (the locator's first pass's crops, then those of its three passes or the
        whole photo, ``_located``); ``timings`` then count every run.

        Raises ImageError when the mask's or the alpha's size is not the image's, ValueError for another
        ``mask_kind``."""
        t = timings if timings is not None else {}
        h, w = rgb.shape[:2]
        for name, plane in (("mask", mask), ("alpha", input_alpha)):
            if plane is not None and plane.shape != (h, w):
                raise ImageError(f"{name} is {plane.shape[-1]}x{plane.shape[0]} but the image is {w}x{h}; they must match")
        if mask_kind not in pp.MASK_KINDS:
            raise ValueError(f"mask kind {mask_kind!r}: choose {', '.join(pp.MASK_KINDS)}")
        if mask is not None and mask_kind == "mask":
            mask = pp.fill_outlines(mask)  # a ring drawn around a person marks the person
        if self.options.zoom == "auto" and mask is not None and mask_kind == "box":  # the box is its person's extent
            a, f, person = self._in_crops(rgb, mask, [pp.mask_crop(mask)], t, mask_kind, sides="all")
        elif mask is None and LOCATE in self.sessions:
            a, f, person = self._located(rgb, t)
        else:
            a, f, person = self._whole(rgb, mask, t, mask_kind)
            if self.options.zoom == "auto" and mask is not None:
                a, f, person = self._zoomed_refine(rgb, mask, t, mask_kind, (a, f, person))
        if input_alpha is not None:
            np.minimum(a, input_alpha, out=a)
        return Matte(a, f, t, person)

    def _zoomed_refine(self, rgb: np.ndarray, mask: np.ndarray, t: dict[str, float], mask_kind: str, whole: tuple) -> tuple:
        """A mask's refine once more where its person may be small for MPN: where the whole photo's matte ``whole``
        (alpha, foreground, person) lies within the crop of at least ``processing.MASK_MIN_CROP`` of the photo
        around the mask (``WITHIN`` of it, or none), or is grey (``processing.grey_share`` from
        ``processing.CLEAN``). It runs on that crop (``processing.crop_at_least``) and on the mask's own box
        (``processing.mask_crop``: a dot on the face needs the first, an outline of a tiny person the second), and
        the less grey of the two replaces ``whole`` where ``whole`` lies within, or where it is less grey."""
        h, w = rgb.shape[:2]
        if (own := pp.mask_crop(mask)) is None:
            return whole
        larger, solid = pp.crop_at_least(own, (h, w), pp.MASK_MIN_CROP), whole[0] > 0.5
        if larger == (0, h, 0, w):
            return whole
        y0, y1, x0, x1 = larger
        within = np.count_nonzero(solid[y0:y1, x0:x1]) >= WITHIN * np.count_nonzero(solid)
        if not (within or (grey := pp.grey_share(whole[0])) >= pp.CLEAN):
            return whole
        crops = dict.fromkeys([own, larger])  # the same crop once
        zoomed = min((self._in_crops(rgb, mask, [c], t, mask_kind, sides="all") for c in crops), key=lambda z: pp.grey_share(z[0]))
        return zoomed if within or pp.grey_share(zoomed[0]) < grey else whole

    def _in_crops(
        self,
        rgb: np.ndarray,
        mask: np.ndarray | None,
        crops: list[pp.Crop],
        t: dict[str, float],
        mask_kind: str,
        colours: np.ndarray | None = None,
        sides: str = "top-bottom",
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The chain on each (y0, y1, x0, x1) crop of ``rgb``, written into alpha 0 and the photo's colours
        (``colours``, rgb / 255 float32, is written into when given): alpha (H, W), foreground (H, W, 3), the
        highest crop's person score. A crop whose matte runs out of it is matted once more, taller (``sides``
        "top-bottom"), or up to ``FIT_ROUNDS`` times, larger on every side it runs out of ("all"; see
        ``processing.fit_crop``)."""
        h, w = rgb.shape[:2]
        a = np.zeros((h, w), np.float32)
        f = np.divide(rgb, np.float32(255), dtype=np.float32) if colours is None else colours  # one pass, no uint8 -> float copy
        scores, done = [], []

        def matte(crop: pp.Crop) -> tuple[np.ndarray, np.ndarray, float, bool]:
            y0, y1, x0, x1 = crop
            fresh = not any(pp.overlap(crop, c) for c in done)  # alpha is 0 there: the chain writes its matte in place
            return *self._crop(rgb, mask, crop, t, mask_kind, (a[y0:y1, x0:x1], f[y0:y1, x0:x1]) if fresh else None), fresh

        for crop in crops:
            ca, cf, score, fresh = matte(crop)
            for _ in range(1 if sides == "top-bottom" else pp.FIT_ROUNDS):  # the matte runs out of it: once more, larger
                if (grown := pp.fit_crop(ca, crop, (h, w), sides)) is None:
                    break
                if fresh:  # undo its alpha (its colours are written over, or made the photo's below where alpha is 0)
                    y0, y1, x0, x1 = crop
                    a[y0:y1, x0:x1] = 0
                crop, (ca, cf, score, fresh) = grown, matte(grown)
            if not fresh:  # overlapping crops: each pixel from the crop that sees most of a person
                y0, y1, x0, x1 = crop
                ahead = ca > a[y0:y1, x0:x1]
                np.copyto(f[y0:y1, x0:x1], cf, where=ahead[..., None])
                np.copyto(a[y0:y1, x0:x1], ca, where=ahead)
            scores.append(score)
            done.append(crop)
        for y0, y1, x0, x1 in done:  # no crop's edge in the colours: the photo's wherever alpha is 0 in 8 bits
            clear = a[y0:y1, x0:x1] < pp.ALPHA_ZERO
            np.divide(rgb[y0:y1, x0:x1], np.float32(255), out=f[y0:y1, x0:x1], where=clear[..., None])
        return a, f, max(scores)

    def _located(self, rgb: np.ndarray, t: dict[str, float]) -> tuple[np.ndarray, np.ndarray, float]:
        """As ``_whole``, where the locator (``contracts.LOCATE``) says: on crops around the persons it finds
        (``processing.person_crops``), or on the whole photo. A one-pass graph (manifest ``locate_tta`` "none")
        gets its ``LOCATE_TTA`` passes here, the second and third only where the first leaves the answer open:

        1. its largest person lies across the photo (``processing.lying``): the photo is matted turned a quarter
           each way (``_turned``) and the matte with less grey kept;
        2. it settles the whole photo (``processing.locator_settled``): the whole photo, its person score no
           higher than the locator's where the locator finds no one (never nothing: a close-up it misses, or a
           person turned sideways, is matted all the same; docs/results.md, session 14);
        3. its crops give a clean matte (``processing.grey_share`` under ``processing.CLEAN``): that matte;
        4. else all three passes decide: their crops, or the whole photo, or, where only the first pass made
           crops, the matte with less grey of the two, unless over ``processing.UNSEEN`` of the whole photo's
           solid pixels are where the locator sees no one (``processing.unseen_share``): then the crops'.

        Any other graph runs once, as it is (session 9's weights), and its crops or the whole photo are matted.
        ``t["locate"]`` gets the time outside the chain's own steps."""
        t0, steps = time.perf_counter(), sum(t.values())
        try:
            return self._locate_and_matte(rgb, t)
        finally:
            t["locate"] = time.perf_counter() - t0 - (sum(t.values()) - steps)

    def _locate_and_matte(self, rgb: np.ndarray, t: dict[str, float], turned: bool = False) -> tuple[np.ndarray, np.ndarray, float]:
        """``_located``'s work; ``turned``: the photo is already turned for a lying person (it is not turned again)."""
        h, w = rgb.shape[:2]
        session = self.sessions[LOCATE]

        def run(x: np.ndarray) -> np.ndarray:
            return session.run([self.locate_mask], {"image_lr": x})[0]

        def locate(passes: range) -> list[np.ndarray]:  # a graph with its passes inside runs as one pass
            return pp.tta_masks(run, lr, LOCATE_TTA if self.locate_tta == "none" else "none", passes)

        lr_size, colours = pp.lowres_size(h, w, "aspect"), None
        if (self._provider_threads[1] or os.cpu_count() or 1) > 1:  # the photo's colours for its crops, on a second
            with ThreadPoolExecutor(1) as pool:  # core while Pillow shrinks it; with one thread, _in_crops makes them
                future = pool.submit(np.divide, rgb, np.float32(255), dtype=np.float32)
                lr = pp.lowres(rgb, lr_size)
            colours = future.result()
        else:
            lr = pp.lowres(rgb, lr_size)
        first = locate(range(1))
        if self.locate_tta != "none":  # its passes (the manifest's mpn_tta) run inside the graph
            crops = pp.person_crops(first[0][0, 0], (h, w))
            return self._in_crops(rgb, None, crops, t, "mask", colours) if crops else self._whole(rgb, None, t, "mask")
        first_crops, largest = pp.crop_plan(first[0][0, 0], (h, w))
        if not turned and largest is not None and pp.lying(first[0][0, 0]):
            del colours  # the turned photo makes its own
            return self._turned(rgb, t)
        if pp.locator_settled(first_crops, largest):
            del colours  # not needed: no crops
            a, f, person = self._whole(rgb, None, t, "mask")
            if largest is None:  # the locator found no one: MPN's own "person" is often an animal or an object
                person = min(person, pp.person_score(first[0][0, 0]))
            return a, f, person
        early = self._in_crops(rgb, None, first_crops, t, "mask", colours) if first_crops else None
        if early is not None and pp.grey_share(early[0]) < pp.CLEAN:
            return early
        masks = first + locate(range(1, len(MPN_TTA[LOCATE_TTA])))
        seen = (sum(masks) / len(masks))[0, 0]  # what all three passes see
        crops = pp.person_crops(seen, (h, w))
        if crops:
            return early if crops == first_crops else self._in_crops(rgb, None, crops, t, "mask")
        whole = self._whole(rgb, None, t, "mask")
        if early is None:
            return whole
        if pp.unseen_share(whole[0], seen) > pp.UNSEEN:  # the whole photo's matte is mostly where no one is
            return early
        return early if pp.grey_share(early[0]) < pp.grey_share(whole[0]) else whole

    def _turned(self, rgb: np.ndarray, t: dict[str, float]) -> tuple[np.ndarray, np.ndarray, float]:
        """A lying person (``processing.lying``): the photo located and matted turned a quarter left and a quarter
        right (the chain learned upright persons), each turned back; the matte with less grey of the two."""
        mattes = []
        for k in (1, -1):
            a, f, person = self._locate_and_matte(np.ascontiguousarray(np.rot90(rgb, k)), t, turned=True)
            mattes.append((np.ascontiguousarray(np.rot90(a, -k)), np.ascontiguousarray(np.rot90(f, -k)), person))
        return min(mattes, key=lambda m: pp.grey_share(m[0]))

    def _crop(
        self,
        rgb: np.ndarray,
        mask: np.ndarray | None,
        crop: pp.Crop,
        t: dict[str, float],
        mask_kind: str,
        out: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """``_whole`` on the (y0, y1, x0, x1) ``crop`` of ``rgb`` and of ``mask``, written into ``out`` if given."""
        y0, y1, x0, x1 = crop
        crop_mask = None if mask is None else mask[y0:y1, x0:x1]
        return self._whole(np.ascontiguousarray(rgb[y0:y1, x0:x1]), crop_mask, t, mask_kind, out)

    def _whole(
        self,
        rgb: np.ndarray,
        mask: np.ndarray | None,
        t: dict[str, float],
        mask_kind: str,
        out: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The chain on all of ``rgb``: alpha (H, W), foreground (H, W, 3), person score; adds each step's
        seconds to ``t`` (a photo matted in crops runs this once per crop). ``out``: the (alpha, foreground)
        arrays to write, e.g. views into a larger photo's (default: new ones)."""
        h, w = rgb.shape[:2]
        t0 = time.perf_counter()
        lhw = pp.lowres_size(h, w, self.mpn_input)
        work = pp.working_size(h, w, self.max_side)
        small, mrn_rgb, guide = pp.resize_many(rgb, [lhw, pp.working_size(*work, self.options.mrn_side), work], self._provider_threads[1])
        lr, image = pp.to_nchw(small), pp.to_nchw(mrn_rgb)
        coarse = None if mask is None else pp.mask_lowres(mask, lhw)
        steps: dict[str, float] = {"pre": time.perf_counter() - t0}
        chain = run_chain(self._runner(self._mrn_for(image)), lr, image, coarse, self.qun_masks, steps, mask_kind)
        t0 = time.perf_counter()
        if image.shape[2:] == work:
            a, f = pp.finish(chain.alpha, chain.fgr, (h, w))
        else:  # MRN ran below the working size: up to it with the photo's own edges
            feed = {"alpha": _host(chain.alpha), "fgr": _host(chain.fgr), "image": image, "width": np.array([work[1]], np.int64)}
            coef_fg, coef_alpha = self.sessions[GUIDED].run(None, feed)
            a, f = pp.guided_upsample(coef_fg, coef_alpha, guide, self._provider_threads[1], out if work == (h, w) else None)
            steps["upsample"] = time.perf_counter() - t0
            if work != (h, w):
                a, f = pp.finish(a[None, None], f.transpose(2, 0, 1)[None], (h, w))
        if out is not None and a is not out[0]:  # made apart: copied in
            out[0][...], out[1][...] = a, f
            a, f = out
        steps["post"] = time.perf_counter() - t0 - steps.get("upsample", 0.0)
        for k, v in steps.items():
            t[k] = t.get(k, 0.0) + v
        fg = _host(chain.fg_mask)
        if coarse is not None and (where := pp.marked(coarse)).any():  # a refine: a person where the user pointed?
            fg = fg[where]
        return a, f, pp.person_score(fg)

    def _mrn_for(self, image: np.ndarray) -> str:
        """The MRN session for ``image``: on the CPU, very large images go through one without a memory
        arena (made once, on the first such image), so the peak stays bounded."""
        if self.device != "cpu" or image.shape[2] * image.shape[3] <= LARGE_PIXELS:
            return "mrn"
        if "mrn_large" not in self.sessions:
            path = str(self.weights.path("mrn", self.precision))
            self.sessions["mrn_large"] = create_session(path, *self._provider_threads, arena="off", optimization=_optimization("mrn"))
        return "mrn_large"

    def _runner(self, mrn: str):
        return (BoundOrtRunner if self.binding else OrtRunner)(self.sessions, mrn, self.device, self.mpn_mask)


class OrtRunner:
    """The chain's runner on plain onnxruntime sessions: numpy in, numpy out."""

    def __init__(self, sessions: dict, mrn: str = "mrn", device: str = "cpu", mpn_mask: str = "fg_mask") -> None:
        self.sessions, self.mrn_name, self.mpn_mask = sessions, mrn, mpn_mask

    def mpn(self, image_lr):
        return self.sessions["mpn"].run([self.mpn_mask], {"image_lr": image_lr})[0]

    def qun(self, image_lr, mask, fg_mask):
        return self.sessions["qun"].run(["unified"], _qun_inputs(self.sessions["qun"], image_lr, mask, fg_mask))[0]

    def select_person(self, coarse, fg_mask, unified, kind):
        return pp.select_person(coarse, fg_mask, unified, kind)

    def mrn(self, image, mask):
        fgr, alpha = self.sessions[self.mrn_name].run(["fgr", "alpha"], {"image": image, "mask": mask})
        return fgr, alpha


class BoundOrtRunner:
    """The chain's runner with I/O binding: numpy inputs go up to the device once, masks stay there, and
    only MRN's outputs come back to the host as numpy."""

    def __init__(self, sessions: dict, mrn: str = "mrn", device: str = "cuda", mpn_mask: str = "fg_mask") -> None:
        from semhm_models.runtime import import_ort

        self.sessions, self.mrn_name, self.device, self.mpn_mask = sessions, mrn, device, mpn_mask
        self._to_device = import_ort().OrtValue.ortvalue_from_numpy
        self._uploaded: dict[int, object] = {}

    def _value(self, x):
        """numpy -> OrtValue on the device (each array once: MPN and QUN share the low-resolution image)."""
        if isinstance(x, np.ndarray):
            if id(x) not in self._uploaded:
                self._uploaded[id(x)] = (x, self._to_device(x, self.device, 0))
            return self._uploaded[id(x)][1]
        return x

    def _bound(self, stage: str, inputs: dict, outputs: dict[str, str]) -> list:
        """Run one stage with I/O binding: OrtValue inputs, outputs left on their given device."""
        io = self.sessions[stage].io_binding()
        for name, value in inputs.items():
            io.bind_ortvalue_input(name, self._value(value))
        for name, device in outputs.items():
            io.bind_output(name, device)
        self.sessions[stage].run_with_iobinding(io)
        return io.get_outputs()

    def mpn(self, image_lr):
        return self._bound("mpn", {"image_lr": image_lr}, {"masks": self.device, self.mpn_mask: self.device})[1]

    def qun(self, image_lr, mask, fg_mask):
        return self._bound("qun", _qun_inputs(self.sessions["qun"], image_lr, mask, fg_mask), {"unified": self.device})[0]

    def select_person(self, coarse, fg_mask, unified, kind):
        return pp.select_person(coarse, _host(fg_mask), _host(unified), kind)  # two small masks down; MRN's _value uploads

    def mrn(self, image, mask):
        # MRN's outputs come back to the host: the only download
        out = self._bound(self.mrn_name, {"image": image, "mask": mask}, {"fgr": "cpu", "alpha": "cpu"})
        return out[0].numpy(), out[1].numpy()


def _qun_inputs(session, image_lr, mask, fg_mask) -> dict:
    """QUN's inputs by name; qun.onnx files from before aspect-keeping have no fg_mask input."""
    inputs = {"image_lr": image_lr, "mask": mask}
    if any(i.name == QUN_FG_MASK for i in session.get_inputs()):
        inputs[QUN_FG_MASK] = fg_mask
    return inputs


def _optimization(stage: str) -> str:
    return "extended" if stage in EXTENDED else "all"


def _host(x) -> np.ndarray:
    """A numpy array, or an OrtValue (I/O binding) copied to the host."""
    return x if isinstance(x, np.ndarray) else x.numpy()


def _options(options: RuntimeOptions | None, settings: dict) -> RuntimeOptions:
    """``options`` with ``settings`` overridden; ValueError naming an unknown setting."""
    unknown = sorted(set(settings) - {f.name for f in fields(RuntimeOptions)})
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}: choose from {', '.join(f.name for f in fields(RuntimeOptions))}")
    return replace(options or RuntimeOptions(), **settings)


@functools.lru_cache(maxsize=4)
def _cached_matter(model: str | None, revision: str | None, options: RuntimeOptions) -> Matter:
    return Matter.from_pretrained(model, options, revision=revision)


def remove(
    image: ImageLike, coarse_mask: ImageLike | pp.Box | None = None, *, model: str | None = None, revision: str | None = None, **settings
) -> Image.Image | bytes | np.ndarray:
    """Cut the person out of ``image``, returning the input's own kind (as rembg does):

    - numpy array in -> RGBA uint8 array (H, W, 4);
    - bytes or a binary file object in -> PNG file bytes (RGBA);
    - PIL image or path in -> PIL image, mode RGBA.

    ``image`` and ``coarse_mask`` as for :meth:`Matter.__call__`; ``model`` and ``revision`` as ``source``
    and ``revision`` of :meth:`Matter.from_pretrained` (None: the bundled weights); ``settings``: any
    ``RuntimeOptions`` field (provider, precision, threads, max_side, mrn_side, max_pixels, binding, zoom). One ``Matter``
    per distinct model and settings is made on first use and reused (the four most recent are kept).

    Raises ImageError, WeightsError, RuntimeSetupError, and ValueError for an unknown or invalid setting."""
    matter = _cached_matter(None if model is None else str(model), revision, _options(None, settings))
    rgba = matter(image, coarse_mask).cutout()
    if isinstance(image, np.ndarray):
        return rgba
    out = Image.fromarray(rgba, "RGBA")
    if isinstance(image, (bytes, bytearray, memoryview)) or callable(getattr(image, "read", None)):
        buf = io.BytesIO()
        out.save(buf, "PNG")
        return buf.getvalue()
    return out
