"""The web demo: gradio_client against the app on 127.0.0.1, and a real browser (Debian's chromium
driven by playwright) uploading a photo and downloading the cutout."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

from semhm_models.demo.app import EXAMPLES, build  # noqa: E402
from semhm_models.processing import to_uint8  # noqa: E402
from tests.browser import CHROMIUM, cut_out_in_browser  # noqa: E402
from tests.net import free_port  # noqa: E402

EXAMPLE = EXAMPLES / "ccp_1029.jpg"


@pytest.fixture(scope="module")
def app_url(matter):
    app = build(matter)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, show_error=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def test_api_names_are_stable(client):
    assert {"/matte", "/refine"} <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_matte_through_the_api_matches_the_runtime(client, matter):
    board, alpha, comp, cut_png, alpha_png, comp_png, status = client.predict(
        handle_file(str(EXAMPLE)), "colour", "#00ff00", None, api_name="/matte"
    )
    assert "400x596" in status and "CPU" in status
    expected = to_uint8(matter(EXAMPLE).alpha)
    rgba = np.asarray(Image.open(cut_png))
    assert rgba.shape == (596, 400, 4)
    assert np.abs(rgba[..., 3].astype(int) - expected).max() <= 1
    assert np.array_equal(np.asarray(Image.open(alpha_png)), rgba[..., 3])
    assert np.asarray(Image.open(comp_png)).shape == (596, 400, 3)


@pytest.mark.parametrize("background", ["transparent", "blur"])
def test_backgrounds(client, background):
    out = client.predict(handle_file(str(EXAMPLE)), background, "#ffffff", None, api_name="/matte")
    mode = Image.open(out[5]).mode
    assert mode == ("RGBA" if background == "transparent" else "RGB")


def test_refine_through_the_api(client, tmp_path):
    mask = np.zeros((596, 400), np.uint8)
    mask[60:560, 100:300] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = client.predict(
        handle_file(str(EXAMPLE)),
        handle_file(str(tmp_path / "mask.png")),
        "image",
        "#ffffff",
        handle_file(str(EXAMPLE)),
        api_name="/refine",
    )
    user_mask, status = out[0], out[-1]
    assert np.asarray(Image.open(user_mask)).max() == 255 and "400x596" in status
    Image.fromarray(mask[:100]).save(tmp_path / "short.png")
    with pytest.raises(Exception, match="mask is 400x100 but the image is 400x596"):
        client.predict(
            handle_file(str(EXAMPLE)), handle_file(str(tmp_path / "short.png")), "transparent", "#ffffff", None, api_name="/refine"
        )


@pytest.mark.parametrize("kind", ["text", "truncated", "tiny", "cmyk", "rotated", "16bit"])
def test_bad_and_unusual_uploads(client, tmp_path, kind):
    p = tmp_path / ("x.tif" if kind in ("cmyk", "16bit") else "x.jpg")
    src = Image.open(EXAMPLE)
    if kind == "text":
        p.write_text("not an image")
    elif kind == "truncated":
        src.save(p, quality=95)
        p.write_bytes(p.read_bytes()[:3000])
    elif kind == "tiny":
        Image.new("RGB", (1, 1), (9, 9, 9)).save(p.with_suffix(".png"))
        p = p.with_suffix(".png")
    elif kind == "cmyk":
        src.convert("CMYK").save(p)
    elif kind == "rotated":
        exif = Image.Exif()
        exif[0x0112] = 6
        src.save(p, exif=exif.tobytes())
    else:
        Image.fromarray(np.asarray(src.convert("L")).astype(np.uint16) * 257).save(p)
    if kind in ("text", "truncated"):
        with pytest.raises(Exception, match="cannot identify image file|truncated or corrupt"):
            client.predict(handle_file(str(p)), "transparent", "#ffffff", None, api_name="/matte")
        return
    out = client.predict(handle_file(str(p)), "transparent", "#ffffff", None, api_name="/matte")
    size = {"tiny": (1, 1), "rotated": (596, 400)}.get(kind, (400, 596))
    assert Image.open(out[3]).size == size


def test_real_browser_upload_click_download(app_url, matter, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium")
    saved, shot = tmp_path / "cutout.png", tmp_path / "demo.png"
    cut_out_in_browser(app_url, EXAMPLE, saved, shot)
    rgba = np.asarray(Image.open(saved))
    expected = to_uint8(matter(EXAMPLE).alpha)
    assert rgba.shape == (596, 400, 4)
    assert np.abs(rgba[..., 3].astype(int) - expected).max() <= 1
    assert shot.stat().st_size > 10_000


def test_refine_with_a_painted_mask(matter, tmp_path):
    """The UI's refine: strokes painted over the photo in the image editor become the coarse mask."""
    from semhm_models.demo.app import Demo

    d = Demo(matter)
    layer = np.zeros((596, 400, 4), np.uint8)
    layer[100:500, 120:280] = (255, 0, 0, 200)  # a rough red stroke over the person
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor = {"background": str(EXAMPLE), "layers": [str(tmp_path / "layer.png")], "composite": str(EXAMPLE)}
    user_mask, board, alpha, comp, cut_png, alpha_png, comp_png, status = d.refine_painted(editor, None, "colour", "#0000ff", None)
    assert np.array_equal(user_mask > 127, layer[..., 3] > 0) and "400x596" in status
    expected = matter.matte_rgb(np.asarray(Image.open(EXAMPLE).convert("RGB")), (layer[..., 3] > 0).astype(np.float32)).alpha
    assert np.abs(np.asarray(Image.open(alpha_png)).astype(int) - to_uint8(expected).astype(int)).max() <= 1
    empty = np.zeros_like(layer)
    Image.fromarray(empty).save(tmp_path / "empty.png")
    with pytest.raises(gr.Error, match="Paint over the person"):
        d.refine_painted({"background": str(EXAMPLE), "layers": [str(tmp_path / "empty.png")]}, None, "transparent", "#fff", None)
    with pytest.raises(gr.Error, match="Upload a photo"):
        d.refine_painted(None, None, "transparent", "#fff", None)
