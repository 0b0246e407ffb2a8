"""Gradio web demo over semhm_models: matte a photo, or refine a rough mask, and download the results.

The model is loaded once at start; requests share it through a bounded queue. Handlers are plain
functions (``matte``, ``refine``) that the UI and the API (``api_name`` "matte" and "refine") both call."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from semhm_models import Matter, SemhmError  # noqa: E402
from semhm_models import processing as pp  # noqa: E402
from semhm_models.images import load_mask, load_rgb  # noqa: E402

EXAMPLES = Path(__file__).parent / "examples"
BACKGROUNDS = ("transparent", "colour", "image", "blur")
PREVIEW_SIDE = 1600  # previews are capped; downloads are always full resolution
CONCURRENCY = 2  # images matted at once: bounds CPU and memory; the rest wait in the queue
QUEUE_SIZE = 64


def checkerboard(h: int, w: int, cell: int = 16) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    c = np.where(((y // cell) + (x // cell)) % 2 == 0, 235, 190).astype(np.uint8)
    return np.dstack([c, c, c])


def preview(rgb: np.ndarray) -> np.ndarray:
    im = Image.fromarray(rgb)
    im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return np.asarray(im)


class Demo:
    def __init__(self, matter: Matter) -> None:
        self.matter = matter
        self.out = Path(tempfile.mkdtemp(prefix="semhm-demo-"))

    def _save(self, arr: np.ndarray, stem: str, kind: str) -> str:
        d = Path(tempfile.mkdtemp(dir=self.out))  # one folder per request: concurrent requests never collide
        path = d / f"{stem}_{kind}.png"
        Image.fromarray(arr).save(path)
        return str(path)

    def _background(self, rgb: np.ndarray, mode: str, colour: str, bg_image: str | None):
        if mode == "transparent":
            return None
        if mode == "colour":
            return pp.parse_color(colour or "white")
        if mode == "image":
            if not bg_image:
                raise SemhmError("choose a background image, or another background")
            return load_rgb(bg_image, self.matter.max_pixels)
        if mode == "blur":
            radius = max(2, max(rgb.shape[:2]) // 60)
            return np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(radius)))
        raise SemhmError(f"background '{mode}': choose one of {', '.join(BACKGROUNDS)}")

    def _results(self, rgb, matte, stem, mode, colour, bg_image, t0):
        bg = self._background(rgb, mode, colour, bg_image)
        cutout = matte.cutout()
        alpha8 = pp.to_uint8(matte.alpha)
        h, w = alpha8.shape
        board = pp.composite(matte.alpha, matte.foreground, checkerboard(h, w))
        comp = cutout if bg is None else matte.composite(bg)
        status = (
            f"**{w}x{h}** px matted at full resolution in **{time.perf_counter() - t0:.2f} s** "
            f"on **{self.matter.provider.replace('ExecutionProvider', '')}**"
        )
        return (
            preview(board),
            preview(alpha8),
            preview(comp),
            self._save(cutout, stem, "cutout"),
            self._save(alpha8, stem, "alpha"),
            self._save(comp, stem, "composite"),
            status,
        )

    def matte(self, image: str | None, background: str = "transparent", colour: str = "#ffffff", bg_image: str | None = None):
        """Photo -> (cutout on checkerboard, alpha, composite, cutout PNG, alpha PNG, composite PNG, status)."""
        import gradio as gr

        if not image:
            raise gr.Error("Upload a photo first (or pick an example).")
        t0 = time.perf_counter()
        try:
            rgb = load_rgb(image, self.matter.max_pixels)
            matte = self.matter.matte_rgb(rgb)
            return self._results(rgb, matte, Path(image).stem, background, colour, bg_image, t0)
        except (SemhmError, ValueError, OSError) as e:
            raise gr.Error(_user_message(e, image)) from None

    def refine(
        self, image: str | None, mask: str | None, background: str = "transparent", colour: str = "#ffffff", bg_image: str | None = None
    ):
        """Photo + rough mask (white = person) -> the user's mask, the refined results, status."""
        import gradio as gr

        if not image or not mask:
            raise gr.Error("Give both a photo and a rough mask.")
        t0 = time.perf_counter()
        try:
            rgb = load_rgb(image, self.matter.max_pixels)
            m = load_mask(mask, rgb.shape[:2], self.matter.max_pixels)
            matte = self.matter.matte_rgb(rgb, m)
            return (preview(pp.to_uint8(m)), *self._results(rgb, matte, Path(image).stem, background, colour, bg_image, t0))
        except (SemhmError, ValueError, OSError) as e:
            raise gr.Error(_user_message(e, image)) from None

    def refine_painted(self, editor: dict | None, mask_upload: str | None, background: str, colour: str, bg_image: str | None):
        """The UI's refine: the mask is painted over the photo (any colour), or uploaded."""
        import gradio as gr

        if not editor or editor.get("background") is None:
            raise gr.Error("Upload a photo into the editor first.")
        photo = editor["background"]
        if mask_upload:
            mask_path = mask_upload
        else:
            painted = [np.asarray(Image.open(layer).convert("RGBA"))[..., 3] for layer in editor.get("layers") or []]
            if not painted or not any(p.any() for p in painted):
                raise gr.Error("Paint over the person with the brush, or upload a mask.")
            mask = np.max(np.stack(painted), axis=0)
            mask_path = self._save(np.where(mask > 0, 255, 0).astype(np.uint8), "painted", "mask")
        return self.refine(photo, mask_path, background, colour, bg_image)


def _user_message(e: Exception, image: str) -> str:
    msg = str(e)
    # Gradio stores uploads under a temporary name: show the problem, not the temporary path
    return msg.replace(str(image), Path(image).name) if image else msg


def build(matter: Matter):
    import gradio as gr

    d = Demo(matter)
    examples = sorted(str(p) for p in EXAMPLES.glob("*.jpg"))
    with gr.Blocks(title="semhm: semantic human matting", delete_cache=(3600, 3600)) as app:
        gr.Markdown(
            "# semhm: cut out people, hair included\n"
            "Upload or paste a photo of a person. semhm predicts a mask (MPN) and refines it into an alpha matte with "
            "clean foreground colours at full resolution (MRN); a rough mask of yours is first unified by QUN."
        )
        with gr.Tab("Cut out"):
            with gr.Row():
                with gr.Column():
                    image = gr.Image(label="Photo", type="filepath", sources=["upload", "clipboard"], elem_id="photo")
                    background = gr.Radio(BACKGROUNDS, value="transparent", label="Background")
                    colour = gr.ColorPicker(value="#ffffff", label="Background colour")
                    bg_image = gr.Image(label="Background image", type="filepath", sources=["upload", "clipboard"])
                    run = gr.Button("Cut out", variant="primary", elem_id="run")
                    gr.Examples(examples, inputs=image, label="Examples (CCP, Apache-2.0; P3M, MIT)")
                with gr.Column():
                    status = gr.Markdown(elem_id="status")
                    board = gr.Image(label="Cutout", interactive=False, format="png")
                    with gr.Row():
                        alpha = gr.Image(label="Alpha matte", interactive=False, format="png")
                        comp = gr.Image(label="Composite", interactive=False, format="png")
                    with gr.Row():
                        dl_cut = gr.DownloadButton("Cutout PNG (RGBA)", elem_id="dl_cutout")
                        dl_alpha = gr.DownloadButton("Alpha PNG", elem_id="dl_alpha")
                        dl_comp = gr.DownloadButton("Composite PNG", elem_id="dl_composite")
            outs = [board, alpha, comp, dl_cut, dl_alpha, dl_comp, status]
            run.click(d.matte, [image, background, colour, bg_image], outs, api_name="matte")
        with gr.Tab("Refine a rough mask"):
            gr.Markdown("Paint roughly over the person (any colour), or upload a mask (white = person). QUN + MRN turn it into a matte.")
            with gr.Row():
                with gr.Column():
                    editor = gr.ImageEditor(label="Photo: paint over the person", type="filepath", sources=["upload", "clipboard"])
                    mask_upload = gr.Image(label="...or upload a mask", type="filepath", sources=["upload"], image_mode=None)
                    r_background = gr.Radio(BACKGROUNDS, value="transparent", label="Background")
                    r_colour = gr.ColorPicker(value="#ffffff", label="Background colour")
                    r_bg_image = gr.Image(label="Background image", type="filepath", sources=["upload"])
                    r_run = gr.Button("Refine", variant="primary")
                with gr.Column():
                    r_status = gr.Markdown()
                    with gr.Row():
                        r_mask = gr.Image(label="Your mask", interactive=False, format="png")
                        r_alpha = gr.Image(label="Refined alpha", interactive=False, format="png")
                    r_board = gr.Image(label="Cutout", interactive=False, format="png")
                    r_comp = gr.Image(label="Composite", interactive=False, format="png")
                    with gr.Row():
                        r_dl = [gr.DownloadButton(x) for x in ("Cutout PNG (RGBA)", "Alpha PNG", "Composite PNG")]
            r_outs = [r_mask, r_board, r_alpha, r_comp, *r_dl, r_status]
            r_run.click(d.refine_painted, [editor, mask_upload, r_background, r_colour, r_bg_image], r_outs, api_name=False)
            # The API's refine takes a photo and a mask file (the editor's layers are a UI matter).
            api_photo = gr.Image(type="filepath", visible=False)
            api_mask = gr.Image(type="filepath", visible=False, image_mode=None)
            gr.Button(visible=False).click(d.refine, [api_photo, api_mask, r_background, r_colour, r_bg_image], r_outs, api_name="refine")
    app.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="semhm demo", description="Start the semhm web demo")
    p.add_argument("--model", default=None, metavar="SOURCE", help="weights: folder or hf://org/name@rev; default: bundled")
    p.add_argument("--provider", default="auto")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also publish a public gradio.live link")
    a = p.parse_args(argv)
    try:
        matter = Matter.from_pretrained(a.model, provider=a.provider)
    except SemhmError as e:
        print(f"error: {e}")
        return 1
    app = build(matter)
    print(f"semhm demo: model on {matter.provider}; open http://{a.host}:{a.port}")
    app.launch(server_name=a.host, server_port=a.port, share=a.share, show_error=True, theme="soft", footer_links=["api"])
    return 0
