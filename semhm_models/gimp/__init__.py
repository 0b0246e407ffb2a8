"""GIMP 3 integration: the installer (``install``, ``uninstall``, ``status``), the worker
(``python -m semhm_models.gimp.worker``) and the plug-in file (``semhm_matte.py``, copied at install).

The plug-in runs inside GIMP's own Python, which may be a different version with no numpy or onnxruntime,
and imports nothing of semhm. It starts the worker in the Python recorded here at install time, which
stays alive between calls (the model is loaded and checked once) and gets the layer's raw pixels over a
local socket, so inference uses the user's semhm (and its GPU) and a crash there cannot take GIMP down."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

PLUGIN_NAME = "semhm_matte"
CONFIG_NAME = "semhm_matte.json"
STATE_NAME = "semhm_worker.json"  # written by the running worker: its address and access token
FLATPAK_ID = "org.gimp.GIMP"
DEFAULT_TIMEOUT = 600  # seconds the plug-in waits for one result
DEFAULT_IDLE_TIMEOUT = 600  # seconds an unused worker stays alive


def native_plugin_root() -> Path:
    """GIMP 3's per-user plug-ins folder on Linux, Windows and macOS (GIMP installed natively)."""
    if sys.platform.startswith("win"):
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "GIMP" / "3.0" / "plug-ins"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "GIMP" / "3.0" / "plug-ins"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "GIMP" / "3.0" / "plug-ins"


def flatpak_plugin_root() -> Path:
    """The plug-ins folder of the Flatpak GIMP (org.gimp.GIMP), Linux only."""
    return Path.home() / ".var" / "app" / FLATPAK_ID / "config" / "GIMP" / "3.0" / "plug-ins"


def plugin_roots() -> list[tuple[str, Path]]:
    """(kind, plug-ins folder) for every GIMP 3 this platform may have: "native", and on Linux "flatpak"."""
    roots = [("native", native_plugin_root())]
    if sys.platform.startswith("linux"):
        roots.append(("flatpak", flatpak_plugin_root()))
    return roots


def default_plugin_root() -> Path:
    """Where GIMP is: the first plug-ins folder whose GIMP 3.0 profile exists (native before Flatpak),
    else the native one."""
    for _, root in plugin_roots():
        if root.parent.is_dir():
            return root
    return native_plugin_root()


def plugin_dir(gimp_dir: str | None = None) -> Path:
    """Where the plug-in is (or would be) installed: ``gimp_dir`` or GIMP's folder, plus its own folder."""
    return (Path(gimp_dir) if gimp_dir else default_plugin_root()) / PLUGIN_NAME


def install(gimp_dir: str | None = None, model: str | None = None, provider: str = "auto") -> Path:
    """Copy the plug-in into GIMP's plug-ins folder (``gimp_dir``, default: where GIMP 3 is), make it
    executable, record this Python, ``model`` (None: bundled weights) and ``provider``, and stop a
    worker left from an earlier install. Returns the plug-in's folder. Raises OSError when it cannot write."""
    from semhm_models.gimp import worker

    dst = plugin_dir(gimp_dir)
    dst.mkdir(parents=True, exist_ok=True)
    worker.stop(dst / STATE_NAME)
    target = dst / f"{PLUGIN_NAME}.py"
    shutil.copyfile(Path(__file__).with_name(f"{PLUGIN_NAME}.py"), target)
    target.chmod(0o755)
    cfg = {
        "python": sys.executable,
        "model": model,
        "provider": provider,
        "timeout": DEFAULT_TIMEOUT,
        "idle_timeout": DEFAULT_IDLE_TIMEOUT,
    }
    (dst / CONFIG_NAME).write_text(json.dumps(cfg, indent=1) + "\n")
    return dst


def uninstall(gimp_dir: str | None = None) -> Path | None:
    """Stop the plug-in's worker and remove its folder; returns the folder removed, or None."""
    from semhm_models.gimp import worker

    dst = plugin_dir(gimp_dir)
    if not dst.exists():
        return None
    worker.stop(dst / STATE_NAME)
    shutil.rmtree(dst, onerror=_already_gone)  # the stopping worker removes its own state file meanwhile
    return dst


def _already_gone(func, path, exc_info) -> None:
    if not issubclass(exc_info[0], FileNotFoundError):
        raise exc_info[1]


def read_config(path: Path) -> dict:
    """The plug-in's JSON config at ``path``; ValueError naming the file and the problem."""
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable config ({e}); run `semhm gimp install` again") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("python"), str):
        raise ValueError(f"{path}: broken config (expected an object with a 'python' path); run `semhm gimp install` again")
    return cfg


def _status_of(dst: Path) -> str:
    cfg_path = dst / CONFIG_NAME
    if not cfg_path.exists():
        return f"not installed in {dst.parent} (semhm gimp install)"
    try:
        cfg = read_config(cfg_path)
    except ValueError as e:
        return f"BROKEN: {e}"
    ok = "exists" if Path(cfg["python"]).exists() else "MISSING"
    return f"installed in {dst}; runs {cfg['python']} ({ok}), model {cfg.get('model') or 'bundled default'}"


def status(gimp_dir: str | None = None) -> str:
    """One line per GIMP 3 plug-ins folder (``gimp_dir``, or the native and the Flatpak one): installed
    or not, the Python it runs and whether that still exists, the model; a broken config is named."""
    if gimp_dir:
        return _status_of(plugin_dir(gimp_dir))
    lines = []
    for kind, root in plugin_roots():
        line = f"{kind} GIMP: {_status_of(root / PLUGIN_NAME)}"
        if kind == "flatpak" and (root / PLUGIN_NAME / CONFIG_NAME).exists():
            line += f" (the sandbox starts it on the host: flatpak override --user --talk-name=org.freedesktop.Flatpak {FLATPAK_ID})"
        lines.append(line)
    return "\n".join(lines)
