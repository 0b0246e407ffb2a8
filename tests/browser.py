"""Drive the demo in a real browser (Debian's chromium through playwright; never a downloaded browser):
upload a photo, cut it out, download the RGBA PNG, take a screenshot. Used by the test and by
``python -m tests.browser`` (which refreshes docs/demo.png with the bundled weights)."""

from __future__ import annotations

import sys
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


def cut_out_in_browser(url: str, image: Path, download: Path, screenshot: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.goto(url)
            page.locator("#photo input[type=file]").set_input_files(str(image))
            page.locator("#photo img").first.wait_for(timeout=30_000)
            page.locator("#run").click()
            page.get_by_text("matted at full resolution").wait_for(timeout=120_000)
            with page.expect_download(timeout=30_000) as dl:
                page.locator("#dl_cutout").click()
            dl.value.save_as(download)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()


def main() -> int:
    import tempfile

    from semhm_models import Matter
    from semhm_models.demo.app import EXAMPLES, build
    from tests.net import free_port

    port = free_port()
    app = build(Matter.from_pretrained())
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "demo.png"
    try:
        cut_out_in_browser(f"http://127.0.0.1:{port}/", EXAMPLES / "p3m_p_bd6af989.jpg", Path(tempfile.mkdtemp()) / "cut.png", out)
    finally:
        app.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
