"""Drive the demo in a real browser (Debian's chromium through playwright; never a downloaded browser):
upload a file, cut it out, download the RGBA PNG, take a screenshot; or upload a file the demo refuses
and read the message the user sees. Used by tests/test_demo.py and by ``python -m tests.browser [OUT.png]``,
which refreshes docs/demo.png with the bundled weights."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def demo_page(url: str) -> Iterator:
    """A playwright page on the demo at ``url``, in Debian's chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.goto(url)
            yield page
        finally:
            browser.close()


def cut_out_in_browser(url: str, image: Path, download: Path, screenshot: Path, background: str = "transparent") -> str:
    """Upload ``image``, choose ``background``, cut out, save the cutout PNG and a screenshot; the status text."""
    with demo_page(url) as page:
        page.locator("#photo input[type=file]").set_input_files(str(image))
        page.locator("#seen img").first.wait_for(timeout=60_000)  # semhm's decoding of the upload, shown
        if background != "transparent":
            page.get_by_label(background, exact=True).check()
        page.locator("#run").click()
        page.get_by_text("px matted in").wait_for(timeout=180_000)
        with page.expect_download(timeout=30_000) as dl:
            page.locator("#dl_cutout").click()
        dl.value.save_as(download)
        page.screenshot(path=str(screenshot), full_page=True)
        return page.locator("#status").inner_text()


def refine_box_in_browser(url: str, image: Path, corners: list[tuple[float, float]], download: Path, screenshot: Path) -> tuple[str, str]:
    """In the refine tab's Box tool: upload ``image``, click ``corners`` (fractions of the shown photo's width
    and height), refine, save the alpha PNG and a screenshot; (the box's text, the status text)."""
    with demo_page(url) as page:
        page.get_by_role("tab", name="Refine a rough mask").click()
        page.get_by_role("tab", name="Box").click()
        page.locator("#box_photo input[type=file]").set_input_files(str(image))
        img = page.locator("#box_view img").first
        img.wait_for(timeout=60_000)
        text = page.locator("#box_text textarea, #box_text input").first
        for k, (fx, fy) in enumerate(corners):
            # the view is redrawn after each click: measure the new picture once it has loaded (before that its
            # natural size is 0 and a click would land in the middle)
            page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=img.element_handle())
            # where the picture is inside the element (object-fit: contain, never enlarged), as Gradio computes it
            shown = img.evaluate(
                "e => { const r = e.getBoundingClientRect(), s = Math.min(r.width / e.naturalWidth, r.height / e.naturalHeight, 1);"
                " return [r.width, r.height, e.naturalWidth * s, e.naturalHeight * s]; }"
            )
            bw, bh, cw, ch = shown
            img.click(position={"x": (bw - cw) / 2 + fx * cw, "y": (bh - ch) / 2 + fy * ch})
            page.wait_for_function(
                "([el, n]) => el.value.split(',').filter(Boolean).length === n", arg=[text.element_handle(), 2 if k % 2 == 0 else 4]
            )
        page.locator("#box_run").click()
        page.locator("#r_status").get_by_text("px matted in").wait_for(timeout=180_000)
        with page.expect_download(timeout=30_000) as dl:
            page.locator("#r_dl_alpha").click()
        dl.value.save_as(download)
        page.screenshot(path=str(screenshot), full_page=True)
        return text.input_value(), page.locator("#r_status").inner_text()


def refused_in_browser(url: str, image: Path) -> tuple[str, float]:
    """Upload ``image`` and wait for the error the page shows: (its text, seconds from upload to message)."""
    with demo_page(url) as page:
        t0 = time.monotonic()
        page.locator("#photo input[type=file]").set_input_files(str(image))
        toast = page.locator(".toast-body").first
        toast.wait_for(timeout=60_000)
        return toast.inner_text(), time.monotonic() - t0


def main() -> int:
    import tempfile

    from semhm_models import Matter
    from semhm_models.demo.app import EXAMPLES, MAX_SIDE, build, launch
    from tests.net import free_port

    port = free_port()
    app = build(Matter.from_pretrained(max_side=MAX_SIDE))
    launch(app, port=port)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "demo.png"
    try:
        tmp = Path(tempfile.mkdtemp())
        cut_out_in_browser(f"http://127.0.0.1:{port}/", EXAMPLES / "p3m_p_bd6af989.jpg", tmp / "cut.png", out, background="colour")
    finally:
        app.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
