"""Gradio web demo over semhm_models: matte a photo, or refine a rough mask, and download the results.

The model is loaded once at start; requests share it through a bounded queue. Handlers are plain
methods (``Demo.matte``, ``Demo.refine``) that the UI and the API (``api_name`` "matte" and "refine")
both call. Uploads arrive as the user's own file (``gr.File``), so semhm's decoding sees the original
(16-bit, alpha, ICC, EXIF), and their size is checked from the header before anything is decoded.

Resources are bounded: uploads up to ``MAX_UPLOAD``; decoded pixels in flight up to ``BUDGET_PIXELS``
(large images wait for each other instead of adding up); photos over ``WORK_PIXELS`` are matted at a
reduced size; result files are kept for ``KEEP_REQUESTS`` requests or ``KEEP_SECONDS`` and removed at
shutdown, and Gradio's own cache likewise (``delete_cache``).

Importing this module needs gradio (the ``[demo]`` extra): without it the import raises ImportError,
before any model is loaded."""

from __future__ import annotations

import argparse
import atexit
import math
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageFilter, UnidentifiedImageError  # noqa: E402

from semhm_models import Matter, SemhmError  # noqa: E402
from semhm_models import processing as pp  # noqa: E402
from semhm_models.api import no_person_note  # noqa: E402
from semhm_models.images import ONE_FRAME, load_image, load_mask, load_rgb  # noqa: E402
from semhm_models.options import PROVIDER_CHOICES, RuntimeOptions  # noqa: E402

EXAMPLES = Path(__file__).parent / "examples"
BACKGROUNDS = ("transparent", "colour", "image", "blur")
DEFAULT_COLOUR = "#00b140"  # a green that shows on the page's white and on the checkerboard
BOX_COLOUR = (255, 0, 128)  # the refine tab's box, drawn on the photo
PREVIEW_SIDE = 1600  # previews are capped; downloads are at the matted resolution
CONCURRENCY = 2  # requests run at once; the rest wait in the queue
QUEUE_SIZE = 64
MAX_UPLOAD = "100mb"  # Gradio refuses larger uploads before storing them
MAX_SIDE = 2048  # the demo's mattes are computed at most at this side, then upsampled (bounds memory; the CLI: full size)
WORK_PIXELS = 12_000_000  # larger photos are matted at this many pixels (aspect kept); `semhm matte` does full size
BUDGET_PIXELS = 24_000_000  # decoded pixels in flight over all requests: a 99 MP upload holds all of it
KEEP_REQUESTS = 32  # result folders kept (older ones are deleted) ...
KEEP_SECONDS = 3600  # ... and none older than this
DELETE_CACHE = (600, 3600)  # Gradio's cache: every 10 min, files older than 1 h; all of it at shutdown


REFINE_HELP = (
    "Refine turns a rough mask, a box or a few strokes into a clean matte of that person. "
    "**Brush**: paint roughly over the person (any colour), or upload a mask (white = person). "
    "**Box**: click two opposite corners of a box around the person. Strokes keep the whole person they touch; "
    "a box keeps what lies inside it; the photo decides the edge."
)


class PixelBudget:
    """A semaphore counted in pixels: ``hold(n)`` waits until ``n`` more pixels fit under ``capacity``.
    A request over the capacity takes all of it (it runs alone, never refused here)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        n = min(max(pixels, 1), self.capacity)
        with self._cond:
            self._cond.wait_for(lambda: self.used + n <= self.capacity)
            self.used += n
        try:
            yield
        finally:
            with self._cond:
                self.used -= n
                self._cond.notify_all()


class Outputs:
    """Result files: one new folder per request under a private temp folder; only the newest ``keep``
    folders, none older than ``max_age`` seconds, and nothing after ``close()`` (also run at exit)."""

    def __init__(self, keep: int = KEEP_REQUESTS, max_age: float = KEEP_SECONDS) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="semhm-demo-"))
        self.keep, self.max_age = keep, max_age
        self._folders: deque[tuple[float, Path]] = deque()
        self._lock = threading.Lock()
        atexit.register(self.close)

    def folder(self) -> Path:
        now = time.monotonic()
        with self._lock:
            while self._folders and (len(self._folders) >= self.keep or now - self._folders[0][0] > self.max_age):
                shutil.rmtree(self._folders.popleft()[1], ignore_errors=True)
            d = Path(tempfile.mkdtemp(dir=self.root))
            self._folders.append((now, d))
        return d

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _refusal(message: str) -> gr.Error:
    """What the user sees when the demo refuses a request: the message in the page, no traceback in the server's
    log (a refusal is not a fault)."""
    return gr.Error(message, print_exception=False)


def header_size(path: str, max_pixels: int) -> tuple[int, int]:
    """(width, height) read from the file's header only; a web user's message (no server path) if the
    file is not an image or has more than ``max_pixels``. Raises gradio.Error."""
    name, limit = Path(path).name, f"{max_pixels / 1e6:.0f} megapixels"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
    except Image.DecompressionBombError:  # Pillow's own guard (over twice its limit): far too large
        raise _refusal(f"{name}: this image is far too large; the demo takes up to {limit}. Please upload a smaller image.") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise _refusal(f"{name}: this file is not an image, or in a format semhm cannot read.") from None
    if w * h > max_pixels:
        size = f"{w}x{h} ({w * h / 1e6:.0f} megapixels)"
        raise _refusal(f"{name}: this image is {size}; the demo takes up to {limit}. Please upload a smaller image.")
    return w, h


def checkerboard(h: int, w: int, cell: int = 16) -> np.ndarray:
    y, x = np.ogrid[0:h, 0:w]
    c = np.where(((y // cell) + (x // cell)) % 2 == 0, 235, 190).astype(np.uint8)
    return np.dstack([c, c, c])


def preview_size(h: int, w: int) -> tuple[int, int]:
    s = min(1.0, PREVIEW_SIDE / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def reduced_size(h: int, w: int, pixels: int = WORK_PIXELS) -> tuple[int, int]:
    s = min(1.0, math.sqrt(pixels / (h * w)))
    return max(1, int(h * s)), max(1, int(w * s))


def status_line(
    size: tuple[int, int], source: tuple[int, int], seconds: float, provider: str, work_pixels: int = WORK_PIXELS, person: float = 1.0
) -> str:
    """The status shown after a matte (and returned as "status" by the API): size, time, provider, and a
    warning when MPN found no person (``person``: ``Matte.person``)."""
    (h, w), (sh, sw) = size, source
    where = provider.replace("ExecutionProvider", "")
    line = f"**{w}x{h}** px matted in **{seconds:.2f} s** on **{where}**"
    if (h, w) != (sh, sw):
        line += f" (reduced from {sw}x{sh}: the demo mattes up to {work_pixels / 1e6:g} MP; `semhm matte` works at full size)"
    note = no_person_note([person])
    if note:
        line += f"\n\n**Warning: {note}.**"
    return line


class Demo:
    """The demo's handlers over one shared ``Matter``. Every error reaches the web user as a
    ``gradio.Error`` whose message names the uploaded file by its own name, never a server path."""

    def __init__(
        self, matter: Matter, budget: PixelBudget | None = None, outputs: Outputs | None = None, work_pixels: int = WORK_PIXELS
    ) -> None:
        self.matter = matter
        self.work_pixels = work_pixels
        self.budget = budget or PixelBudget(BUDGET_PIXELS)
        self.outputs = outputs or Outputs()

    def _save(self, folder: Path, arr: np.ndarray, stem: str, kind: str) -> str:
        path = folder / f"{stem}_{kind}.png"
        Image.fromarray(arr).save(path, compress_level=3)
        return str(path)

    def _photo(self, path: str) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
        """semhm's own decoding of the upload, reduced to WORK_PIXELS: RGB, the upload's own alpha (None when
        it has none; the matte never exceeds it) and the source (H, W)."""
        rgb, alpha = load_image(path, self.matter.max_pixels)
        source = rgb.shape[:2]
        size = reduced_size(*source, self.work_pixels)
        return pp.resize_rgb(rgb, size), None if alpha is None else pp.resize_plane(alpha, size), source

    def _background(self, rgb: np.ndarray, mode: str, colour: str, bg_image: str | None):
        if mode == "transparent":
            return None
        if mode == "colour":
            return pp.parse_color(colour or DEFAULT_COLOUR)
        if mode == "image":
            if not bg_image:
                raise _refusal("Choose a background image, or another background.")
            return pp.cover(load_rgb(bg_image, self.matter.max_pixels), rgb.shape[:2])
        if mode == "blur":
            radius = max(2, max(rgb.shape[:2]) // 60)
            return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))
        raise _refusal(f"Background '{mode}': choose one of {', '.join(BACKGROUNDS)}.")

    def _results(self, folder, rgb, matte, source, stem, mode, colour, bg_image, t0):
        """Full-size PNGs and small previews, all as files of this request's folder (Gradio copies a
        file into its cache atomically; arrays it would rewrite in place, racing identical requests)."""
        bg = self._background(rgb, mode, colour, bg_image)
        cutout = matte.cutout()
        cut_png = self._save(folder, cutout, stem, "cutout")
        comp_png = cut_png if bg is None else self._save(folder, matte.composite(bg), stem, "composite")
        del cutout
        alpha8 = pp.to_uint8(matte.alpha)
        alpha_png = self._save(folder, alpha8, stem, "alpha")
        # previews from small copies: a full-resolution checkerboard composite would double the memory
        hw = preview_size(*alpha8.shape)
        small_alpha = pp.resize_plane(matte.alpha, hw)
        small_fg = np.stack([pp.resize_plane(matte.foreground[..., c], hw) for c in range(3)], axis=-1)
        board = pp.composite(small_alpha, small_fg, checkerboard(*hw))
        if bg is None:
            comp = pp.cutout(small_alpha, small_fg)
        else:
            comp = pp.composite(small_alpha, small_fg, pp.resize_rgb(bg, hw) if isinstance(bg, np.ndarray) else bg)
        status = status_line(alpha8.shape, source, time.perf_counter() - t0, self.matter.provider, self.work_pixels, matte.person)
        previews = [
            self._save(folder, a, stem, f"preview_{k}")
            for a, k in ((board, "cutout"), (pp.to_uint8(small_alpha), "alpha"), (comp, "composite"))
        ]
        return *previews, cut_png, alpha_png, comp_png, status

    @contextmanager
    def _request(self, *files: str | None) -> Iterator[None]:
        """Header checks, then a hold on the pixel budget for the files' pixels; every semhm error
        becomes a web message that names files by their own name."""
        pixels = sum(w * h for w, h in (header_size(f, self.matter.max_pixels) for f in files if f))
        try:
            with self.budget.hold(pixels):
                yield
        except (SemhmError, ValueError, OSError) as e:
            raise _refusal(_user_message(e, *files)) from None

    def show(self, image: str | None) -> np.ndarray | None:
        """The upload as semhm decodes it (EXIF, 16-bit, alpha), for the page: RGB uint8, at most PREVIEW_SIDE."""
        if not image:
            return None
        with self._request(image):
            return self._preview(image)[0]

    def _preview(self, image: str) -> tuple[np.ndarray, tuple[int, int]]:
        """(the upload as semhm decodes it, at most PREVIEW_SIDE: RGB uint8; its decoded (H, W))."""
        rgb = load_rgb(image, self.matter.max_pixels)
        return pp.resize_rgb(rgb, preview_size(*rgb.shape[:2])), rgb.shape[:2]

    def matte(self, image: str | None, background: str = "transparent", colour: str = DEFAULT_COLOUR, bg_image: str | None = None):
        """Photo file -> (cutout on checkerboard, alpha, composite previews; cutout, alpha, composite PNG paths; status)."""
        if not image:
            raise _refusal("Upload a photo first (or pick an example).")
        t0 = time.perf_counter()
        with self._request(image, bg_image if background == "image" else None):
            rgb, alpha, source = self._photo(image)
            matte = self.matter.matte_rgb(rgb, input_alpha=alpha)
            folder = self.outputs.folder()
            return self._results(folder, rgb, matte, source, Path(image).stem, background, colour, bg_image, t0)

    def refine(
        self,
        image: str | None,
        mask: str | None,
        background: str = "transparent",
        colour: str = DEFAULT_COLOUR,
        bg_image: str | None = None,
    ):
        """Photo + rough mask files (white = person) -> the user's mask, the refined results, status."""
        if not image or not mask:
            raise _refusal("Give both a photo and a rough mask.")

        def mask_at(source, hw):
            return pp.resize_plane(load_mask(mask, source, self.matter.max_pixels), hw)

        return self._refine(image, mask_at, (mask,), background, colour, bg_image)

    def refine_box(
        self, image: str | None, box: str, background: str = "transparent", colour: str = DEFAULT_COLOUR, bg_image: str | None = None
    ):
        """Photo file + a box "x0,y0,x1,y1" in the photo's pixels (right and bottom exclusive, as
        ``semhm refine --box``) -> the box as a mask, the refined results, status."""
        if not image:
            raise _refusal("Upload a photo first.")
        corners = _numbers(box)
        if len(corners) != 4:
            raise _refusal("Click two opposite corners of a box around the person on the photo (or type x0,y0,x1,y1 in pixels).")

        def mask_at(source, hw):
            sy, sx = hw[0] / source[0], hw[1] / source[1]  # the photo may be matted reduced
            return pp.box_mask((corners[0] * sx, corners[1] * sy, corners[2] * sx, corners[3] * sy), hw)

        return self._refine(image, mask_at, (), background, colour, bg_image, "box")

    def _refine(self, image: str, mask_at, files: tuple[str, ...], background: str, colour: str, bg_image: str | None, kind: str = "mask"):
        """The refine tab's work: ``mask_at(source (H, W), matted (h, w))`` gives the float32 (h, w) coarse mask
        of ``kind`` (processing.MASK_KINDS)."""
        t0 = time.perf_counter()
        with self._request(image, *files, bg_image if background == "image" else None):
            rgb, alpha, source = self._photo(image)
            m = mask_at(source, rgb.shape[:2])
            matte = self.matter.matte_rgb(rgb, m, input_alpha=alpha, mask_kind=kind)
            folder, stem = self.outputs.folder(), Path(image).stem
            user_mask = self._save(folder, pp.to_uint8(pp.resize_plane(m, preview_size(*m.shape))), stem, "preview_mask")
            return (user_mask, *self._results(folder, rgb, matte, source, stem, background, colour, bg_image, t0))

    def box_preview(self, image: str | None, box: str = "") -> np.ndarray | None:
        """The photo as semhm decodes it (at most PREVIEW_SIDE), with ``box`` drawn on it: a box "x0,y0,x1,y1"
        or a first corner "x,y", in the photo's pixels."""
        if not image:
            return None
        with self._request(image):
            return _draw_box(*self._preview(image), _numbers(box))

    def box_point(self, image: str | None, box: str, x: int, y: int) -> tuple[np.ndarray, str]:
        """A click on the box preview at pixel (``x``, ``y``) of the preview: the first corner of a new box,
        or, when ``box`` holds a first corner "x,y", the opposite one. Returns the preview with the box drawn
        and the box's text in the photo's pixels ("x,y", or "x0,y0,x1,y1" with right and bottom exclusive)."""
        if not image:
            raise _refusal("Upload a photo first.")
        with self._request(image):
            preview, (h, w) = self._preview(image)
        px = min(w - 1, max(0, int(x * w / preview.shape[1])))
        py = min(h - 1, max(0, int(y * h / preview.shape[0])))
        first = _numbers(box)
        if len(first) == 2:
            (x0, x1), (y0, y1) = sorted((int(first[0]), px)), sorted((int(first[1]), py))
            text = f"{x0},{y0},{x1 + 1},{y1 + 1}"
        else:
            text = f"{px},{py}"
        return _draw_box(preview, (h, w), _numbers(text)), text

    def refine_painted(self, editor: dict | None, mask_upload: str | None, background: str, colour: str, bg_image: str | None):
        """The UI's refine: the mask is painted over the photo (any colour), or uploaded."""
        if not editor or editor.get("background") is None:
            raise _refusal("Upload a photo into the editor first.")
        photo = editor["background"]
        if mask_upload:
            return self.refine(photo, mask_upload, background, colour, bg_image)
        painted = [np.asarray(Image.open(layer).convert("RGBA"))[..., 3] for layer in editor.get("layers") or []]
        if not painted or not any(p.any() for p in painted):
            raise _refusal("Paint over the person with the brush, or upload a mask.")
        mask = np.where(np.max(np.stack(painted), axis=0) > 0, 255, 0).astype(np.uint8)
        return self.refine(photo, self._save(self.outputs.folder(), mask, "painted", "mask"), background, colour, bg_image)


def _numbers(text: str | None) -> list[float]:
    """The numbers of a box's text ("x0,y0,x1,y1", "x,y" or ""); gradio.Error for anything else."""
    try:
        return [float(v) for v in (text or "").replace(" ", "").split(",") if v]
    except ValueError:
        raise _refusal(f"Box {text!r}: expected x0,y0,x1,y1 in pixels, e.g. 40,10,300,620.") from None


def _draw_box(preview: np.ndarray, source: tuple[int, int], numbers: list[float]) -> np.ndarray:
    """``preview`` (RGB uint8) with a box (4 numbers) or a first corner (2 numbers), given in the pixels of a
    ``source`` (H, W) photo, drawn on it."""
    from PIL import ImageDraw

    if len(numbers) not in (2, 4):
        return preview
    im = Image.fromarray(preview)
    s = preview.shape[1] / source[1]
    width = max(2, max(preview.shape[:2]) // 200)
    draw = ImageDraw.Draw(im)
    if len(numbers) == 4:
        x0, y0, x1, y1 = (v * s for v in numbers)
        draw.rectangle((x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)), outline=BOX_COLOUR, width=width)
    else:
        x, y, r = numbers[0] * s, numbers[1] * s, 4 * width
        draw.line((x - r, y, x + r, y), fill=BOX_COLOUR, width=width)
        draw.line((x, y - r, x, y + r), fill=BOX_COLOUR, width=width)
    return np.asarray(im)


def _user_message(e: Exception, *files: str | None) -> str:
    """The error's text with every server path replaced by the file's own name."""
    msg = str(e)
    for f in sorted(filter(None, files), key=len, reverse=True):
        msg = msg.replace(str(f), Path(f).name)
    # the library's advice for programmers (seek a frame) means nothing on a web page
    return msg.replace(ONE_FRAME, "upload a single-frame image (`semhm matte` mattes every frame)")


CSS = """
#colour input, #colour button, #r_colour input, #r_colour button {
  border: 1px solid #6b7280 !important; min-width: 3em; min-height: 1.6em;
}
"""


def _background_inputs() -> tuple:
    """Background choice, colour (shown for "colour") and image (shown for "image")."""
    background = gr.Radio(BACKGROUNDS, value="transparent", label="Background")
    colour = gr.ColorPicker(value=DEFAULT_COLOUR, label="Background colour", visible=False)
    bg_image = gr.File(label="Background image", file_count="single", visible=False, height=90)
    shown = lambda m: (gr.update(visible=m == "colour"), gr.update(visible=m == "image"))
    background.change(shown, background, [colour, bg_image], api_name=False)
    return background, colour, bg_image


def build(matter: Matter, outputs: Outputs | None = None):
    """The Gradio app (not launched) over ``matter``: launch it with ``launch(app, ...)`` so the upload
    limit applies."""
    d = Demo(matter, outputs=outputs)
    examples = sorted(str(p) for p in EXAMPLES.glob("*.jpg"))
    with gr.Blocks(title="semhm: semantic human matting", delete_cache=DELETE_CACHE) as app:
        gr.Markdown(
            "# semhm: cut out people, hair included\n"
            "Upload a photo of a person. semhm predicts a mask (MPN) and refines it into an alpha matte with "
            "clean foreground colours (MRN); a rough mask of yours is first unified by QUN."
        )
        with gr.Tab("Cut out"):
            with gr.Row():
                with gr.Column():
                    image = gr.File(label="Photo (your file, as it is)", file_count="single", elem_id="photo", height=90)
                    seen = gr.Image(label="Photo", interactive=False, elem_id="seen", height=360)
                    background, colour, bg_image = _background_inputs()
                    colour.elem_id, bg_image.elem_id = "colour", "bg_image"
                    run = gr.Button("Cut out", variant="primary", elem_id="run")
                    shelf = gr.Gallery(
                        examples,
                        label="Examples (CCP, Apache-2.0; P3M, MIT): click one",
                        columns=3,
                        height="auto",
                        object_fit="cover",
                        allow_preview=False,
                        elem_id="examples",
                    )
                with gr.Column():
                    status = gr.Markdown(label="status", elem_id="status")
                    board = gr.Image(label="Cutout", interactive=False, format="png")
                    with gr.Row():
                        alpha = gr.Image(label="Alpha matte", interactive=False, format="png")
                        comp = gr.Image(label="Composite", interactive=False, format="png")
                    with gr.Row():
                        dl_cut = gr.DownloadButton("Cutout PNG (RGBA)", elem_id="dl_cutout")
                        dl_alpha = gr.DownloadButton("Alpha PNG", elem_id="dl_alpha")
                        dl_comp = gr.DownloadButton("Composite PNG", elem_id="dl_composite")
            image.change(d.show, image, seen, api_name=False)

            def pick(e: gr.SelectData) -> str:  # the example's file, as if uploaded
                return examples[e.index]

            shelf.select(pick, None, image, api_name=False)
            outs = [board, alpha, comp, dl_cut, dl_alpha, dl_comp, status]
            run.click(d.matte, [image, background, colour, bg_image], outs, api_name="matte")
        with gr.Tab("Refine a rough mask"):
            gr.Markdown(REFINE_HELP)
            with gr.Row():
                with gr.Column():
                    with gr.Tabs():
                        with gr.Tab("Brush", elem_id="brush_tab"):
                            editor = gr.ImageEditor(label="Photo: paint over the person", type="filepath", sources=["upload", "clipboard"])
                            mask_upload = gr.File(label="...or upload a mask", file_count="single", height=90)
                            r_run = gr.Button("Refine", variant="primary")
                        with gr.Tab("Box", elem_id="box_tab"):
                            box_photo = gr.File(label="Photo (your file, as it is)", file_count="single", elem_id="box_photo", height=90)
                            box_view = gr.Image(
                                label="Click two opposite corners of a box around the person",
                                interactive=False,
                                elem_id="box_view",
                                height=360,
                            )
                            box_text = gr.Textbox(label="Box: x0,y0,x1,y1 in the photo's pixels (or type it)", elem_id="box_text")
                            box_run = gr.Button("Refine the box", variant="primary", elem_id="box_run")
                    r_background, r_colour, r_bg_image = _background_inputs()
                    r_colour.elem_id = "r_colour"
                with gr.Column():
                    r_status = gr.Markdown(label="status", elem_id="r_status")
                    with gr.Row():
                        r_mask = gr.Image(label="Your mask", interactive=False, format="png")
                        r_alpha = gr.Image(label="Refined alpha", interactive=False, format="png")
                    r_board = gr.Image(label="Cutout", interactive=False, format="png")
                    r_comp = gr.Image(label="Composite", interactive=False, format="png")
                    with gr.Row():
                        r_dl = [
                            gr.DownloadButton(x, elem_id=f"r_dl_{k}")
                            for x, k in (("Cutout PNG (RGBA)", "cutout"), ("Alpha PNG", "alpha"), ("Composite PNG", "composite"))
                        ]
            r_outs = [r_mask, r_board, r_alpha, r_comp, *r_dl, r_status]
            r_run.click(d.refine_painted, [editor, mask_upload, r_background, r_colour, r_bg_image], r_outs, api_name=False)

            def corner(image: str | None, box: str, e: gr.SelectData):  # a click: e.index is (x, y) in the preview's pixels
                return d.box_point(image, box, *e.index)

            box_photo.change(lambda image: (d.box_preview(image), ""), box_photo, [box_view, box_text], api_name=False)
            box_view.select(corner, [box_photo, box_text], [box_view, box_text], api_name=False)
            box_text.submit(d.box_preview, [box_photo, box_text], box_view, api_name=False)
            box_run.click(d.refine_box, [box_photo, box_text, r_background, r_colour, r_bg_image], r_outs, api_name="refine_box")
            # The API's refine takes a photo file and a mask file (the editor's layers are a UI matter).
            api_photo = gr.File(visible=False)
            api_mask = gr.File(visible=False)
            gr.Button(visible=False).click(d.refine, [api_photo, api_mask, r_background, r_colour, r_bg_image], r_outs, api_name="refine")
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return app


def launch(app, host: str = "127.0.0.1", port: int = 7860, share: bool = False, block: bool = False) -> None:
    """Start ``app`` with the demo's limits (upload size; only the demo's own messages shown to users);
    ``block=False`` returns at once, ``block=True`` after Ctrl-C or SIGTERM."""
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        show_error=False,  # an unexpected exception's text could hold server paths: users see "Error"
        quiet=not block,
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block,
        theme="soft",
        css=CSS,
        footer_links=["api"],
    )


def _interrupt(*_) -> None:
    raise KeyboardInterrupt  # SIGTERM closes the server like Ctrl-C: Gradio's shutdown and atexit run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="semhm demo", description="Start the semhm web demo")
    p.add_argument("--model", default=None, metavar="SOURCE", help="weights: folder or hf://org/name@rev; default: bundled")
    p.add_argument("--provider", default="auto", choices=PROVIDER_CHOICES)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also publish a public gradio.live link")
    a = p.parse_args(argv)
    # Gradio's uploads and results go to a private folder, removed at exit (its delete_cache empties it on schedule)
    cache = tempfile.mkdtemp(prefix="semhm-demo-gradio-")
    os.environ["GRADIO_TEMP_DIR"] = cache
    atexit.register(shutil.rmtree, cache, True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        matter = Matter.from_pretrained(a.model, RuntimeOptions(provider=a.provider, max_side=MAX_SIDE))
    except SemhmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    app = build(matter)
    print(f"semhm demo: model on {matter.provider}; open http://{a.host}:{a.port}", flush=True)
    launch(app, a.host, a.port, a.share, block=True)  # returns after Ctrl-C / SIGTERM, the server closed
    return 0
