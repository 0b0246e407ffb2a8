"""GIMP 3 integration: installing the plug-in, and the worker it runs in the user's semhm Python.

The plug-in (plugin/semhm_matte/semhm_matte.py) runs inside GIMP's own Python, which may be a different
version with no numpy or onnxruntime. It sends the layer's raw pixels (lossless) to
``python -m semhm_models.gimp worker`` in the Python recorded at install time, so inference uses the
user's semhm (and its GPU, where onnxruntime-gpu works) and a crash there cannot take GIMP down."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

PLUGIN_NAME = "semhm_matte"
CONFIG_NAME = "semhm_matte.json"


def default_plugin_root() -> Path:
    """GIMP 3's per-user plug-ins folder on Linux, Windows and macOS."""
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "GIMP" / "3.0" / "plug-ins"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "GIMP" / "3.0" / "plug-ins"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "GIMP" / "3.0" / "plug-ins"


def plugin_dir(gimp_dir: str | None = None) -> Path:
    """Where the plug-in is (or would be) installed: ``gimp_dir`` or GIMP's default, plus its own folder."""
    return (Path(gimp_dir) if gimp_dir else default_plugin_root()) / PLUGIN_NAME


def plugin_source() -> Path:
    """The plug-in folder shipped with semhm (a package of its own, ``plugin``)."""
    import plugin

    return Path(plugin.__file__).parent / PLUGIN_NAME


def install(gimp_dir: str | None = None, model: str | None = None, provider: str = "auto") -> Path:
    """Copy the plug-in into GIMP's plug-ins folder, make it executable, and record this Python and model."""
    dst = plugin_dir(gimp_dir)
    dst.mkdir(parents=True, exist_ok=True)
    src = plugin_source()
    for f in src.glob("*.py"):
        shutil.copy2(f, dst / f.name)
    (dst / f"{PLUGIN_NAME}.py").chmod(0o755)
    cfg = {"python": sys.executable, "model": model, "provider": provider}
    (dst / CONFIG_NAME).write_text(json.dumps(cfg, indent=1) + "\n")
    return dst


def uninstall(gimp_dir: str | None = None) -> Path | None:
    dst = plugin_dir(gimp_dir)
    if not dst.exists():
        return None
    shutil.rmtree(dst)
    return dst


def status(gimp_dir: str | None = None) -> str:
    dst = plugin_dir(gimp_dir)
    cfg_path = dst / CONFIG_NAME
    if not cfg_path.exists():
        return f"not installed in {dst.parent} (semhm gimp install)"
    cfg = json.loads(cfg_path.read_text())
    ok = "exists" if Path(cfg.get("python", "")).exists() else "MISSING"
    return f"installed in {dst}; runs {cfg.get('python')} ({ok}), model {cfg.get('model') or 'bundled default'}"


def matte_raw(rgb: bytes, w: int, h: int, mask: bytes | None, fg_format: str, model: str | None, provider: str) -> tuple[bytes, bytes, str]:
    """Raw pixels in, raw pixels out, so the plug-in needs nothing but GIMP's Python: ``rgb`` uint8 RGB
    (H*W*3, row-major), ``mask`` float32 (H*W) -> alpha float32 (H*W) and MRN's colours with the alpha,
    float32 RGBA or YA interleaved, ready for a GEGL buffer; and the provider used."""
    from semhm_models import Matter

    if len(rgb) != w * h * 3:
        raise ValueError(f"{len(rgb)} image bytes, expected {w}x{h}x3")
    m = None
    if mask is not None:
        if len(mask) != w * h * 4:
            raise ValueError(f"{len(mask) // 4} mask values, expected {w}x{h}")
        m = np.frombuffer(mask, np.float32).reshape(h, w)
    matter = Matter.from_pretrained(model, provider=provider)
    out = matter.matte_rgb(np.frombuffer(rgb, np.uint8).reshape(h, w, 3), m)
    fg = out.foreground if fg_format == "rgba" else out.foreground @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    return out.alpha.astype(np.float32).tobytes(), np.dstack([fg, out.alpha]).astype(np.float32).tobytes(), matter.provider


def worker(argv: list[str]) -> int:
    """``python -m semhm_models.gimp worker IMAGE.raw OUTDIR --size WxH [--mask M.raw]``: matte_raw over files."""
    p = argparse.ArgumentParser(prog="python -m semhm_models.gimp worker")
    p.add_argument("image")
    p.add_argument("out", help="folder for alpha.raw and fg.raw")
    p.add_argument("--size", required=True, help="WxH")
    p.add_argument("--mask", default=None)
    p.add_argument("--fg-format", default="rgba", choices=["rgba", "ya"])
    p.add_argument("--model", default=None)
    p.add_argument("--provider", default="auto")
    a = p.parse_args(argv)
    from semhm_models import SemhmError

    try:
        w, h = (int(v) for v in a.size.split("x"))
        mask = Path(a.mask).read_bytes() if a.mask else None
        alpha, fg, provider = matte_raw(Path(a.image).read_bytes(), w, h, mask, a.fg_format, a.model, a.provider)
    except (SemhmError, OSError, ValueError) as e:
        print(f"semhm: {e}", file=sys.stderr)
        return 1
    (Path(a.out) / "alpha.raw").write_bytes(alpha)
    (Path(a.out) / "fg.raw").write_bytes(fg)
    print(provider)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        raise SystemExit(worker(sys.argv[2:]))
    raise SystemExit("usage: python -m semhm_models.gimp worker IMAGE.raw OUTDIR --size WxH [--mask M.raw] [--model SOURCE]")
