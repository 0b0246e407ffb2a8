"""The web demo: gradio_client against the real app on 127.0.0.1 (tiny real weights), and a real browser
(Debian's chromium driven by playwright) uploading photos, a 16-bit file and a bomb."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
from gradio_client import Client, handle_file  # noqa: E402

from semhm_models.demo.app import BOX_COLOUR, EXAMPLES, Demo, Outputs, PixelBudget, build, launch  # noqa: E402
from semhm_models.processing import box_mask, to_uint8  # noqa: E402
from tests.browser import CHROMIUM, cut_out_in_browser, demo_page, refine_box_in_browser, refused_in_browser  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.net import free_port  # noqa: E402

EXAMPLE = EXAMPLES / "ccp_1029.jpg"
BOMB = ROOT / "tests" / "data" / "demo" / "bomb144mp.png"  # 12000x12000 palette PNG, 140 KB
KEEP = 4


@pytest.fixture(scope="module")
def server(matter, tmp_path_factory):
    """The app on 127.0.0.1 with its Gradio cache in a folder of the test's own: (url, cache, outputs). The
    module's temp folder is one of the test's own too: gradio_client downloads each result through a new
    folder there and leaves it behind, empty."""
    old_tmp, tempfile.tempdir = tempfile.tempdir, str(tmp_path_factory.mktemp("tmp"))
    cache = Path(tempfile.tempdir) / "gradio"
    cache.mkdir()
    old = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    outputs = Outputs(keep=KEEP)
    app = build(matter, outputs=outputs)
    port = free_port()
    launch(app, port=port)
    yield f"http://127.0.0.1:{port}/", cache, outputs
    app.close()
    outputs.close()
    tempfile.tempdir = old_tmp
    if old is None:
        os.environ.pop("GRADIO_TEMP_DIR")
    else:
        os.environ["GRADIO_TEMP_DIR"] = old


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server[0], verbose=False, download_files=tmp_path_factory.mktemp("downloads"))


@pytest.fixture(scope="module")
def gray16(tmp_path_factory) -> Path:
    """A 16-bit greyscale PNG (mode I;16), like ../shared/cases/gray16.png: Gradio's image input made it black."""
    p = tmp_path_factory.mktemp("g16") / "gray16.png"
    grey = np.asarray(Image.open(EXAMPLE).convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(p)
    assert Image.open(p).mode == "I;16"
    return p


def matte(client, path, background="transparent", colour="#ffffff", bg=None):
    return client.predict(handle_file(str(path)), background, colour, bg and handle_file(str(bg)), api_name="/matte")


def no_server_path(message: str, *server_folders: Path) -> bool:
    return not any(str(f) in message for f in server_folders) and "/tmp" not in message and "gradio/" not in message


def test_api_names_and_the_named_status(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/matte", "/refine"} <= set(api)
    for name in ("/matte", "/refine"):
        assert api[name]["returns"][-1]["label"] == "status"
    assert [p["parameter_name"] for p in api["/matte"]["parameters"]] == ["image", "background", "colour", "bg_image"]


def test_matte_through_the_api_matches_the_runtime(client, matter):
    board, alpha, comp, cut_png, alpha_png, comp_png, status = matte(client, EXAMPLE, "colour", "#00ff00")
    assert "400x596" in status and "CPU" in status and "reduced" not in status
    expected = to_uint8(matter(EXAMPLE).alpha)
    rgba = np.asarray(Image.open(cut_png))
    assert rgba.shape == (596, 400, 4)
    assert np.abs(rgba[..., 3].astype(int) - expected).max() <= 1
    assert np.array_equal(np.asarray(Image.open(alpha_png)), rgba[..., 3])
    assert np.asarray(Image.open(comp_png)).shape == (596, 400, 3)
    assert np.asarray(Image.open(comp))[300, 5].tolist() != [255, 255, 255]


@pytest.mark.parametrize("background", ["transparent", "blur", "image"])
def test_backgrounds(client, background):
    out = matte(client, EXAMPLE, background, bg=EXAMPLES / "ccp_1288.jpg")
    mode = Image.open(out[5]).mode
    assert mode == ("RGBA" if background == "transparent" else "RGB")


def test_the_users_file_reaches_semhms_decoding(client, matter, gray16, tiny_weights, tmp_path):
    """16-bit greyscale: the demo's matte is the one `semhm matte` writes for the same file (Gradio's
    image input used to hand over an 8-bit copy: black, an empty matte)."""
    from semhm_models.cli import main as cli

    assert cli(["matte", str(gray16), "-o", str(tmp_path), "--model", str(tiny_weights), "--provider", "cpu"]) == 0
    from_cli = np.asarray(Image.open(tmp_path / "gray16.png"))[..., 3]
    out = matte(client, gray16)
    assert np.array_equal(np.asarray(Image.open(out[4])), from_cli)
    assert np.array_equal(from_cli, to_uint8(matter(gray16).alpha))


def test_the_uploads_own_alpha_bounds_the_matte(client, matter):
    """An RGBA upload whose alpha hides a second person: the demo's alpha is the API's, never above the
    upload's own (case hidden_person.png)."""
    src = Path(__file__).parent / "data" / "hidden_person_small.png"
    own = np.asarray(Image.open(src))[..., 3]
    alpha = np.asarray(Image.open(matte(client, src)[4]))
    assert (alpha <= own).all() and np.array_equal(alpha, to_uint8(matter(src).alpha))


def test_oversized_upload_refused_from_its_header(client, server):
    t0 = time.monotonic()
    with pytest.raises(Exception) as e:
        matte(client, BOMB)
    seconds = time.monotonic() - t0
    msg = str(e.value)
    assert "bomb144mp.png: this image is 12000x12000 (144 megapixels); the demo takes up to 100 megapixels" in msg
    assert "--max-pixels" not in msg and no_server_path(msg, server[1])
    assert seconds < 1.0, seconds  # nothing decoded


def test_an_animation_is_refused_in_words_for_a_web_user(client, server):
    with pytest.raises(Exception) as e:
        matte(client, Path(__file__).parent / "data" / "anim.gif")
    msg = str(e.value)
    assert "anim.gif: 3 frames" in msg and "upload a single-frame image" in msg and "seek" not in msg
    assert no_server_path(msg, server[1])


def test_upload_size_limit(client, server, tmp_path):
    junk = tmp_path / "junk.png"
    with open(junk, "wb") as f:
        f.truncate(200 * 2**20)
    with pytest.raises(Exception, match="exceeds|maximum|413"):
        matte(client, junk)
    stored = [p for p in server[1].rglob("*") if p.is_file() and p.stat().st_size > 2**20]
    assert stored == []


@pytest.mark.parametrize("kind", ["text", "truncated", "tiny", "cmyk", "rotated", "16bit-tiff", "rgba"])
def test_bad_and_unusual_uploads(client, server, tmp_path, kind):
    p = tmp_path / ("x.tif" if kind in ("cmyk", "16bit-tiff") else "x.png" if kind in ("tiny", "rgba") else "x.jpg")
    src = Image.open(EXAMPLE)
    if kind == "text":
        p.write_text("not an image")
    elif kind == "truncated":
        src.save(p, quality=95)
        p.write_bytes(p.read_bytes()[:3000])
    elif kind == "tiny":
        Image.new("RGB", (1, 1), (9, 9, 9)).save(p)
    elif kind == "cmyk":
        src.convert("CMYK").save(p)
    elif kind == "rotated":
        exif = Image.Exif()
        exif[0x0112] = 6
        src.save(p, exif=exif.tobytes())
    elif kind == "rgba":
        src.convert("RGBA").save(p)
    else:
        Image.fromarray(np.asarray(src.convert("L")).astype(np.uint16) * 257).save(p)
    if kind in ("text", "truncated"):
        with pytest.raises(Exception) as e:
            matte(client, p)
        msg = str(e.value)
        assert msg.count("x.jpg: ") == 1 and ("not an image" in msg or "truncated or corrupt" in msg), msg
        assert no_server_path(msg, server[1], server[2].root)
        return
    out = matte(client, p)
    size = {"tiny": (1, 1), "rotated": (596, 400)}.get(kind, (400, 596))
    assert Image.open(out[3]).size == size


def test_refine_through_the_api_and_its_errors(client, server, tmp_path):
    mask = np.zeros((596, 400), np.uint8)
    mask[60:560, 100:300] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    photo, bg = handle_file(str(EXAMPLE)), handle_file(str(EXAMPLES / "ccp_1288.jpg"))
    out = client.predict(photo, handle_file(str(tmp_path / "mask.png")), "image", "#ffffff", bg, api_name="/refine")
    user_mask, status = out[0], out[-1]
    assert np.asarray(Image.open(user_mask)).max() == 255 and "400x596" in status
    Image.fromarray(mask[:100]).save(tmp_path / "short.png")
    with pytest.raises(Exception) as e:
        client.predict(photo, handle_file(str(tmp_path / "short.png")), "transparent", "#ffffff", None, api_name="/refine")
    msg = str(e.value)
    assert "short.png: mask is 400x100 but the image is 400x596" in msg and no_server_path(msg, server[1], server[2].root)


def test_unexpected_errors_show_no_server_text(client, matter, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("/srv/models/mrn.onnx: session failed")

    monkeypatch.setattr(matter, "matte_rgb", broken)
    with pytest.raises(Exception) as e:
        matte(client, EXAMPLE)
    assert "/srv/models" not in str(e.value) and "session failed" not in str(e.value)


def test_result_files_are_bounded_and_removed(client, server, tmp_path):
    small = tmp_path / "small.jpg"
    Image.open(EXAMPLE).resize((80, 120)).save(small)
    for _ in range(KEEP + 2):
        matte(client, small)
    assert len(list(server[2].root.iterdir())) <= KEEP
    aged = Outputs(keep=100, max_age=0)
    first = aged.folder()
    aged.folder()
    assert not first.exists()  # older than max_age: gone at the next request
    aged.close()
    assert not aged.root.exists()


def test_pixel_budget_queues_large_images():
    budget = PixelBudget(100)
    in_flight, peak, lock = [0], [0], threading.Lock()

    def work(pixels):
        with budget.hold(pixels):
            with lock:
                in_flight[0] += pixels
                peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.05)
            with lock:
                in_flight[0] -= pixels

    threads = [threading.Thread(target=work, args=(n,)) for n in (99, 99, 60, 50, 1, 1, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert peak[0] <= 100 and budget.used == 0
    with budget.hold(10**9):  # over the capacity: runs alone, never refused
        assert budget.used == 100


def test_refine_with_a_painted_mask(matter, tmp_path):
    """The UI's refine: strokes painted over the photo in the image editor become the coarse mask."""
    d = Demo(matter)
    layer = np.zeros((596, 400, 4), np.uint8)
    layer[100:500, 120:280] = (255, 0, 0, 200)  # a rough red stroke over the person
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor = {"background": str(EXAMPLE), "layers": [str(tmp_path / "layer.png")], "composite": str(EXAMPLE)}
    user_mask, board, alpha, comp, cut_png, alpha_png, comp_png, status = d.refine_painted(editor, None, "colour", "#0000ff", None)
    assert np.array_equal(np.asarray(Image.open(user_mask)) > 127, layer[..., 3] > 0) and "400x596" in status
    expected = matter.matte_rgb(np.asarray(Image.open(EXAMPLE).convert("RGB")), (layer[..., 3] > 0).astype(np.float32)).alpha
    assert np.abs(np.asarray(Image.open(alpha_png)).astype(int) - to_uint8(expected).astype(int)).max() <= 1
    empty = np.zeros_like(layer)
    Image.fromarray(empty).save(tmp_path / "empty.png")
    with pytest.raises(gr.Error, match="Paint over the person"):
        d.refine_painted({"background": str(EXAMPLE), "layers": [str(tmp_path / "empty.png")]}, None, "transparent", "#fff", None)
    with pytest.raises(gr.Error, match="Upload a photo"):
        d.refine_painted(None, None, "transparent", "#fff", None)
    d.outputs.close()


def test_large_photos_are_matted_reduced(matter):
    d = Demo(matter, work_pixels=100_000)  # the example has 238,400 pixels
    out = d.matte(str(EXAMPLE))
    assert "reduced from 400x596" in out[-1] and "up to 0 MP" not in out[-1]
    w, h = Image.open(out[3]).size
    assert w * h <= 100_000 and abs(w / h - 400 / 596) < 0.01
    d.outputs.close()


def test_shutdown_removes_every_file(tiny_weights, tmp_path, monkeypatch):
    """`python -m semhm_models.demo` stopped by SIGTERM leaves nothing in its temp folder (Gradio's cache included)."""
    (tmp_path / "client_tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "client_tmp"))  # gradio_client's empty download folders
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp), "PYTHONPATH": str(ROOT)}
    env.pop("GRADIO_TEMP_DIR", None)
    cmd = [sys.executable, "-m", "semhm_models.demo", "--model", str(tiny_weights), "--provider", "cpu", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = None
        for _ in range(240):
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=tmp_path / "downloads")
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        assert client is not None
        out = matte(client, EXAMPLE)
        assert Path(out[3]).is_file()
        assert any(p.is_file() for p in tmp.rglob("*"))  # uploads and results were there
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    left = [p for p in tmp.rglob("*") if p.is_file() and p.name != ".ses"]  # .ses: onnxruntime's own session id
    assert left == [], left


needs_browser = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent: apt-get install chromium")


@needs_browser
def test_real_browser_upload_click_download(server, matter, tmp_path):
    saved, shot = tmp_path / "cutout.png", tmp_path / "demo.png"
    status = cut_out_in_browser(server[0], EXAMPLE, saved, shot)
    assert "400x596" in status
    rgba = np.asarray(Image.open(saved))
    assert rgba.shape == (596, 400, 4)
    assert np.abs(rgba[..., 3].astype(int) - to_uint8(matter(EXAMPLE).alpha)).max() <= 1
    assert shot.stat().st_size > 10_000


@needs_browser
def test_real_browser_16bit_upload(server, matter, gray16, tmp_path):
    saved = tmp_path / "cutout.png"
    cut_out_in_browser(server[0], gray16, saved, tmp_path / "shot.png")
    assert np.array_equal(np.asarray(Image.open(saved))[..., 3], to_uint8(matter(gray16).alpha))


@needs_browser
def test_real_browser_oversized_upload(server):
    text, seconds = refused_in_browser(server[0], BOMB)
    assert "144 megapixels" in text and "smaller image" in text and "--max-pixels" not in text, text
    assert no_server_path(text, server[1]), text
    assert seconds < 2.0, seconds  # upload, header check and message on the page


@needs_browser
def test_real_browser_options_shown_only_where_they_apply(server):
    with demo_page(server[0]) as page:
        colour, bg = page.locator("#colour"), page.locator("#bg_image")
        assert not colour.is_visible() and not bg.is_visible()
        page.get_by_label("colour", exact=True).check()
        colour.wait_for(state="visible", timeout=10_000)
        assert not bg.is_visible()
        swatch = colour.locator("input, button").first
        border = swatch.evaluate("e => getComputedStyle(e).borderTopWidth + ' ' + getComputedStyle(e).borderTopColor")
        assert border.startswith("1px") and "255, 255, 255" not in border, border  # the picker shows on a white page
        page.get_by_label("image", exact=True).check()
        bg.wait_for(state="visible", timeout=10_000)
        assert not colour.is_visible()


@needs_browser
def test_real_browser_example_click(server):
    with demo_page(server[0]) as page:
        page.locator("#examples img").first.click()  # ccp_1029.jpg, the first in name order
        page.locator("#seen img").first.wait_for(timeout=60_000)
        page.locator("#run").click()
        page.get_by_text("px matted in").wait_for(timeout=120_000)
        assert "400x596" in page.locator("#status").inner_text()


def test_refine_with_a_box(matter):
    """The refine tab's box: two clicks on the preview make "x0,y0,x1,y1" in the photo's pixels (right and
    bottom exclusive), drawn on the preview; refining it is the API's ``coarse_mask=box``."""
    d = Demo(matter)
    try:
        preview, text = d.box_point(str(EXAMPLE), "", 250, 40)
        assert text == "250,40" and preview.shape == (596, 400, 3)
        preview, text = d.box_point(str(EXAMPLE), text, 60, 560)  # the opposite corner, in any order
        assert text == "60,40,251,561"
        assert tuple(preview[300, 60]) == BOX_COLOUR and tuple(preview[40, 200]) == BOX_COLOUR and tuple(preview[300, 200]) != BOX_COLOUR
        assert d.box_point(str(EXAMPLE), text, 10, 10)[1] == "10,10"  # a third click starts a new box
        big = Path(d.outputs.root) / "big.png"
        Image.open(EXAMPLE).resize((2000, 2980)).save(big)  # shown at 1074x1600: clicks are scaled to the photo's pixels
        shown, corner = d.box_point(str(big), "", 537, 800)
        assert shown.shape == (1600, 1074, 3) and corner == "1000,1490"
        user_mask, board, alpha, comp, cut_png, alpha_png, comp_png, status = d.refine_box(str(EXAMPLE), text, "colour", "#0000ff")
        box = (60, 40, 251, 561)
        assert np.array_equal(np.asarray(Image.open(user_mask)) > 127, box_mask(box, (596, 400)) > 0) and "400x596" in status
        assert np.abs(np.asarray(Image.open(alpha_png)).astype(int) - to_uint8(matter(EXAMPLE, coarse_mask=box).alpha)).max() <= 1
        for bad, message in (
            ("", "Click two opposite corners"),
            ("1,2", "Click two opposite corners"),
            ("a,b,c,d", "expected x0,y0,x1,y1"),
        ):
            with pytest.raises(gr.Error, match=message) as refused:
                d.refine_box(str(EXAMPLE), bad)
            assert not refused.value.print_exception  # a refusal, not a fault: no traceback in the server's log
        with pytest.raises(gr.Error, match="lies outside the 400x596 image"):
            d.refine_box(str(EXAMPLE), "500,10,600,50")
        small = Demo(matter, work_pixels=60_000)  # matted reduced: the box is scaled with the photo
        try:
            out = small.refine_box(str(EXAMPLE), text)
            w, h = Image.open(out[5]).size
            scaled = (box[0] * w / 400, box[1] * h / 596, box[2] * w / 400, box[3] * h / 596)
            assert np.array_equal(np.asarray(Image.open(out[0])) > 127, box_mask(scaled, (h, w)) > 0)
        finally:
            small.outputs.close()
    finally:
        d.outputs.close()


@needs_browser
def test_real_browser_refine_with_a_box(server, matter, tmp_path):
    """Two clicks on the photo in the refine tab's Box tool set the box; the refined alpha downloaded is the
    API's for that box."""
    saved, shot = tmp_path / "alpha.png", tmp_path / "box.png"
    text, status = refine_box_in_browser(server[0], EXAMPLE, [(0.8, 0.05), (0.1, 0.95)], saved, shot)
    box = tuple(int(v) for v in text.split(","))
    assert abs(box[0] - 40) <= 2 and abs(box[1] - 30) <= 2 and abs(box[2] - 321) <= 2 and abs(box[3] - 567) <= 2, box
    assert "400x596" in status
    expected = to_uint8(matter(EXAMPLE, coarse_mask=box).alpha)
    assert np.abs(np.asarray(Image.open(saved)).astype(int) - expected).max() <= 1
    assert shot.stat().st_size > 10_000
