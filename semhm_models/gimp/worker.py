"""The GIMP plug-in's worker, run in the Python that ``semhm gimp install`` recorded.

``python -m semhm_models.gimp.worker --serve STATE.json [--idle-timeout S]``: the long-lived worker the
plug-in starts on its first call. It listens on 127.0.0.1 (any free port), writes its address and a random
access token to STATE.json (mode 0600), keeps the model loaded between requests and exits after S seconds
without one. One request, as multiprocessing.connection messages (no pickle):

    plug-in -> {"token", "op": "matte", "width", "height", "mask": bool, "fg_format", "model", "provider"}
    worker  -> {"ok": true} once the size is allowed and the model is ready, or {"ok": false, "error"}
    plug-in -> RGB uint8 bytes (H*W*3) [, mask float32 bytes (H*W)]
    worker  -> {"ok": true, "provider", "seconds"}, alpha float32 (H*W), foreground+alpha float32 (H*W*4 or *2),
               or {"ok": false, "error"} (e.g. no person found in a layer without a mask: no mask is added)

If the plug-in goes away during inference (GIMP's cancel, its timeout), the worker stops at once: its
state file is removed and the next call starts a fresh one. ``{"op": "quit"}`` stops it.

``python -m semhm_models.gimp.worker IMAGE.raw OUTDIR --size WxH [--mask M.raw]``: one request over
files (alpha.raw and fg.raw in OUTDIR), for scripts and debugging."""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import sys
import threading
import time
from multiprocessing.connection import Client, Connection, Listener, wait
from pathlib import Path

import numpy as np

from semhm_models.errors import ImageError, SemhmError
from semhm_models.options import DEFAULT_MAX_PIXELS, RuntimeOptions

FG_CHANNELS = {"rgba": 4, "ya": 2}  # foreground colours (RGB, or luminance for gray images) + alpha
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
HEADER_MAX = 1 << 16  # bytes: a request header larger than this is not from the plug-in


def parse_size(text: str) -> tuple[int, int]:
    """ "WxH" -> (W, H), both at least 1; ImageError otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or min(int(p) for p in parts) < 1:
        raise ImageError(f"--size {text!r}: expected WIDTHxHEIGHT, two whole numbers of at least 1 (e.g. 640x480)")
    return int(parts[0]), int(parts[1])


def check_request(width: object, height: object, fg_format: object, max_pixels: int) -> tuple[int, int]:
    """Validate a layer's size and output format before anything is allocated; ImageError otherwise."""
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in (width, height)):
        raise ImageError(f"layer size {width!r}x{height!r}: expected two whole numbers of at least 1")
    if width * height > max_pixels:
        n = width * height
        raise ImageError(f"the layer is {width}x{height} = {n:,} pixels, over the limit of {max_pixels:,}: scale it down first")
    if fg_format not in FG_CHANNELS:
        raise ImageError(f"foreground format {fg_format!r}: expected one of {', '.join(FG_CHANNELS)}")
    return width, height


def load(model: str | None, provider: str, max_pixels: int = DEFAULT_MAX_PIXELS):
    """A Matter for ``model`` (None: bundled) on ``provider``. The settings (including SEMHM_THREADS) are
    checked first, so a bad one is reported as "bad setting", not as a model that failed to load."""
    from semhm_models import Matter

    try:
        options = RuntimeOptions(provider=provider, max_pixels=max_pixels)
        options.session_threads()
    except ValueError as e:
        raise SemhmError(f"bad setting: {e}") from None
    return Matter.from_pretrained(model, options)


def matte_raw(matter, rgb: bytes, width: int, height: int, mask: bytes | None, fg_format: str) -> tuple[bytes, bytes]:
    """Raw pixels in, raw pixels out: ``rgb`` uint8 RGB (H*W*3, row-major), ``mask`` float32 (H*W) in
    [0, 1] or None -> alpha float32 (H*W) and MRN's colours with the alpha, float32 RGBA or YA interleaved
    (``fg_format`` "rgba" or "ya"), ready for a GEGL buffer. ImageError for a wrong length or mask values;
    SemhmError, a message for the user instead of an empty mask, when there is no ``mask`` and MPN found no
    person (``Matte.no_person``). With a mask (Refine Selection) the selection says where the person is."""
    if len(rgb) != width * height * 3:
        raise ImageError(f"{len(rgb)} image bytes, expected {width}x{height}x3 = {width * height * 3}")
    m = None
    if mask is not None:
        if len(mask) != width * height * 4:
            raise ImageError(f"{len(mask) // 4} mask values, expected {width}x{height} = {width * height}")
        m = np.frombuffer(mask, np.float32).reshape(height, width)
        if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
            raise ImageError("the mask has values outside [0, 1] (or NaN): expected a selection's coverage")
    out = matter.matte_rgb(np.frombuffer(rgb, np.uint8).reshape(height, width, 3), m)
    if m is None and out.no_person:
        raise SemhmError(
            f"no person found in this layer (score {out.person:.2f}), so no mask was added; if there is one, "
            "select it roughly and use Refine Selection to Matte (semhm)"
        )
    fg = out.foreground if fg_format == "rgba" else out.foreground @ LUMA
    return out.alpha.astype(np.float32).tobytes(), np.dstack([fg, out.alpha]).astype(np.float32).tobytes()


class Server:
    """The long-lived worker: one Matter, kept while requests ask for the same model and provider."""

    def __init__(self, state: Path, idle_timeout: float, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.state, self.idle_timeout, self.max_pixels = state, idle_timeout, max_pixels
        self.token = secrets.token_hex(16)
        self.key: tuple | None = None
        self.matter = None
        self.last = time.monotonic()
        self.busy = threading.Event()

    def serve(self) -> int:
        with Listener(("127.0.0.1", 0)) as listener:
            self._write_state(listener.address)
            threading.Thread(target=self._watch_idle, daemon=True).start()
            while True:
                conn = listener.accept()
                self.busy.set()
                try:
                    if self._handle(conn):
                        break
                except (EOFError, OSError, ValueError) as e:  # a client that went away or spoke nonsense
                    print(f"semhm worker: request dropped: {e}", file=sys.stderr, flush=True)
                except Exception as e:  # noqa: BLE001 - the plug-in shows this line; the worker serves on
                    print(f"semhm worker: request failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                finally:
                    conn.close()
                    self.last = time.monotonic()
                    self.busy.clear()
        self._remove_state()
        return 0

    def _write_state(self, address: tuple[str, int]) -> None:
        info = {"address": list(address), "token": self.token, "pid": os.getpid(), "python": sys.executable}
        tmp = self.state.with_name(f".{self.state.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.replace(tmp, self.state)

    def _remove_state(self) -> None:
        try:
            if json.loads(self.state.read_text()).get("pid") == os.getpid():  # not a newer worker's
                self.state.unlink()
        except (OSError, ValueError):
            pass

    def _exit(self, why: str) -> None:
        print(f"semhm worker: {why}", file=sys.stderr, flush=True)
        self._remove_state()
        os._exit(0)

    def _watch_idle(self) -> None:
        while True:
            time.sleep(min(1.0, self.idle_timeout / 4))
            if not self.busy.is_set() and time.monotonic() - self.last > self.idle_timeout:
                self._exit(f"idle for {self.idle_timeout:g} s, stopping")

    def _watch_client(self, conn: Connection, done: threading.Event) -> None:
        """During inference the plug-in sends nothing: anything readable means it closed the connection."""
        while not done.is_set():
            if wait([conn], 0.2) and not done.is_set():
                self._exit("the plug-in went away during a request (cancelled or timed out): stopping it")

    def _handle(self, conn: Connection) -> bool:
        req = json.loads(conn.recv_bytes(HEADER_MAX))
        if not isinstance(req, dict) or not hmac.compare_digest(str(req.get("token", "")), self.token):
            return False
        if req.get("op") == "quit":
            conn.send_bytes(b'{"ok": true}')
            return True
        try:
            w, h = check_request(req.get("width"), req.get("height"), req.get("fg_format"), self.max_pixels)
            key = (req.get("model"), req.get("provider") or "auto")
            if key != self.key:
                self.matter, self.key = None, None  # free the old model first
                self.matter, self.key = load(*key, max_pixels=self.max_pixels), key
        except SemhmError as e:
            conn.send_bytes(json.dumps({"ok": False, "error": str(e)}).encode())
            return False
        conn.send_bytes(b'{"ok": true}')
        rgb = conn.recv_bytes(w * h * 3 + 1)  # longer messages are refused unread
        mask = conn.recv_bytes(w * h * 4 + 1) if req.get("mask") else None
        done = threading.Event()
        threading.Thread(target=self._watch_client, args=(conn, done), daemon=True).start()
        t0 = time.perf_counter()
        try:
            alpha, fg = matte_raw(self.matter, rgb, w, h, mask, req["fg_format"])
        except SemhmError as e:
            done.set()
            conn.send_bytes(json.dumps({"ok": False, "error": str(e)}).encode())
            return False
        done.set()
        del rgb, mask
        reply = {"ok": True, "provider": self.matter.provider, "seconds": round(time.perf_counter() - t0, 3)}
        conn.send_bytes(json.dumps(reply).encode())
        conn.send_bytes(alpha)
        conn.send_bytes(fg)
        return False


def stop(state: Path, timeout: float = 5.0) -> bool:
    """Ask the worker whose state file is ``state`` to exit; True if one answered."""
    try:
        info = json.loads(Path(state).read_text())
        conn = Client(tuple(info["address"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    with conn:
        try:
            conn.send_bytes(json.dumps({"token": info.get("token"), "op": "quit"}).encode())
            return conn.poll(timeout) and json.loads(conn.recv_bytes(HEADER_MAX)).get("ok") is True
        except (OSError, EOFError, ValueError):
            return False


def one_shot(a: argparse.Namespace) -> int:
    w, h = parse_size(a.size)
    check_request(w, h, a.fg_format, a.max_pixels)
    out = Path(a.out)
    if not out.is_dir():
        raise ImageError(f"output folder {out} does not exist")
    try:
        n = Path(a.image).stat().st_size
        if n != w * h * 3:
            raise ImageError(f"{a.image}: {n} bytes, expected {w}x{h}x3 = {w * h * 3} for --size {a.size}")
        rgb = Path(a.image).read_bytes()
        mask = Path(a.mask).read_bytes() if a.mask else None
    except OSError as e:
        raise ImageError(f"{e.filename}: {e.strerror}") from None
    alpha, fg = matte_raw(load(a.model, a.provider, a.max_pixels), rgb, w, h, mask, a.fg_format)
    try:
        (out / "alpha.raw").write_bytes(alpha)
        (out / "fg.raw").write_bytes(fg)
    except OSError as e:
        raise ImageError(f"{e.filename}: cannot write: {e.strerror}") from None
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m semhm_models.gimp.worker", description=__doc__.split("\n\n")[0])
    p.add_argument("image", nargs="?", help="raw RGB uint8 pixels (one request over files)")
    p.add_argument("out", nargs="?", help="folder for alpha.raw and fg.raw")
    p.add_argument("--size", help="WxH of the raw image")
    p.add_argument("--mask", default=None, help="raw float32 coarse mask in [0, 1]")
    p.add_argument("--fg-format", default="rgba", choices=sorted(FG_CHANNELS))
    p.add_argument("--model", default=None)
    p.add_argument("--provider", default="auto")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    p.add_argument("--serve", metavar="STATE.json", help="run as the plug-in's long-lived worker")
    p.add_argument("--idle-timeout", type=float, default=600.0, help="seconds without a request before the worker exits")
    a = p.parse_args(argv)
    try:
        if a.serve:
            if a.idle_timeout <= 0:
                raise ImageError(f"--idle-timeout {a.idle_timeout:g}: must be above 0 seconds")
            return Server(Path(a.serve), a.idle_timeout, a.max_pixels).serve()
        if not (a.image and a.out and a.size):
            p.error("give IMAGE.raw OUTDIR --size WxH, or --serve STATE.json")
        return one_shot(a)
    except (SemhmError, OSError) as e:
        print(f"semhm: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
