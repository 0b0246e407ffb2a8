#!/usr/bin/env python3
"""semhm for GIMP 3: Layer > Transparency > Remove Background (semhm)... and Refine Selection to Matte (semhm)...

Copied by `semhm gimp install` into GIMP's plug-ins folder with semhm_matte.json beside it, and run by
GIMP's own Python: it imports nothing of semhm, no numpy, no onnxruntime. Inference runs in semhm's
worker (``python -m semhm_models.gimp.worker --serve``) in the Python the config names; the first call
starts it, later calls reuse it (the model stays loaded), and it exits when idle. The layer's raw pixels
go over a local socket, losslessly. Everything but the GIMP part (``main``) is plain Python, so the
tests run it without GIMP."""

import json
import os
import subprocess
import sys
import time
from multiprocessing.connection import Client

REMOVE = "python-fu-semhm-remove-background"
REFINE = "python-fu-semhm-refine-selection"
HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = "semhm_matte.json"
STATE = "semhm_worker.json"  # written by the worker
LOG = "semhm_worker.log"
TIMEOUT_ENV = "SEMHM_GIMP_TIMEOUT"
# (value, label) of the dialog's choices
EXISTING = (("keep", "Keep it: the matte goes on a copy of the layer"), ("replace", "Replace it with the matte"))
FOREGROUND = (("none", "No"), ("new-layer", "Yes: MRN's colours (no background spill) on a new layer"))
FG_CHANNELS = {"rgba": 4, "ya": 2}


class PluginError(Exception):
    """A message for the user, returned to GIMP as the procedure's error."""


def load_config(folder=HERE):
    """The config `semhm gimp install` wrote; PluginError naming the file when absent or broken."""
    path = os.path.join(folder, CONFIG)
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise PluginError(f"{path} is missing: run `semhm gimp install` in the Python that has semhm") from None
    except (OSError, ValueError) as e:
        raise PluginError(f"{path} is broken ({e}): run `semhm gimp install` again") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("python"), str):
        raise PluginError(f"{path} is broken (no 'python' path): run `semhm gimp install` again")
    return cfg


def seconds(cfg, key, default, env=None):
    """A positive number of seconds from the environment variable ``env`` or the config's ``key``."""
    raw, where = cfg.get(key, default), f"'{key}' in {CONFIG}"
    if env and os.environ.get(env, "").strip():
        raw, where = os.environ[env].strip(), env
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not value > 0:
        raise PluginError(f"{where} = {raw!r}: expected a number of seconds above 0")
    return value


def in_flatpak():
    return os.path.exists("/.flatpak-info")


def last_log_line(folder):
    try:
        with open(os.path.join(folder, LOG), encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


def start_worker(folder, cfg, deadline):
    """Start semhm's worker in the configured Python and wait for its state file; PluginError naming the
    Python when it is missing, cannot run, or exits before serving."""
    python = cfg["python"]
    cmd = [python, "-m", "semhm_models.gimp.worker", "--serve", os.path.join(folder, STATE)]
    cmd += ["--idle-timeout", str(seconds(cfg, "idle_timeout", 600))]
    if in_flatpak() and not os.path.exists(python):  # the host's Python, outside GIMP's sandbox
        cmd = ["flatpak-spawn", "--host", *cmd]
    elif not os.path.isfile(python):
        raise PluginError(f"the Python recorded by `semhm gimp install` is gone: {python}; run `semhm gimp install` again")
    state = os.path.join(folder, STATE)
    if os.path.exists(state):
        os.remove(state)
    detach = {"start_new_session": True} if os.name == "posix" else {"creationflags": 0x00000008}  # DETACHED_PROCESS
    try:
        with open(os.path.join(folder, LOG), "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True, **detach)
    except OSError as e:
        raise PluginError(f"cannot run the worker Python {python}: {e.strerror or e}") from None
    while time.monotonic() < deadline:
        if os.path.exists(state):
            return
        if proc.poll() is not None:
            raise PluginError(f"the worker Python {python} could not start semhm: {last_log_line(folder)}")
        time.sleep(0.05)
    raise PluginError(f"the worker Python {python} did not start semhm in time: {last_log_line(folder)}")


def connect(folder):
    """A connection to the running worker and its token, or None when there is none."""
    try:
        with open(os.path.join(folder, STATE), encoding="utf-8") as f:
            info = json.load(f)
        return Client(tuple(info["address"])), info["token"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stop_worker(folder):
    """Ask the worker to exit (a request that outlived its timeout must not keep it busy)."""
    found = connect(folder)
    if found is None:
        return
    conn, token = found
    with conn:  # no wait for its answer: a stuck worker must not hold GIMP; it reads the message when free
        try:
            conn.send_bytes(json.dumps({"token": token, "op": "quit"}).encode())
        except OSError:
            pass


def receive(conn, deadline, timeout, folder, tick):
    """The worker's next message, waiting until ``deadline``; on expiry the connection is closed (the
    worker drops a running request) and the worker is asked to exit."""
    while True:  # the deadline holds for the whole request, also when every message comes at once
        if time.monotonic() > deadline:
            conn.close()
            stop_worker(folder)
            raise PluginError(
                f"semhm took more than {timeout:g} s and was stopped; raise 'timeout' in {os.path.join(folder, CONFIG)} "
                f"or set {TIMEOUT_ENV}"
            )
        if conn.poll(0.1):
            break
        tick()
    try:
        return conn.recv_bytes()
    except (EOFError, OSError):
        raise PluginError(f"semhm's worker stopped during the request: {last_log_line(folder)}") from None


def reply(data):
    msg = json.loads(data)
    if not msg.get("ok"):
        raise PluginError("semhm: " + str(msg.get("error", "the worker refused the request")))
    return msg


def open_worker(folder, cfg, deadline, restart=False):
    """(connection, token) to the running worker, starting one when none answers (or ``restart``)."""
    found = None if restart else connect(folder)
    if found is None:
        start_worker(folder, cfg, deadline)
        found = connect(folder)
    if found is None:
        raise PluginError(f"could not reach semhm's worker: {last_log_line(folder)}")
    return found


def infer(width, height, fg_format, read_rgb, read_mask=None, folder=HERE, tick=lambda: None):
    """Matte a layer in semhm's worker (started if none runs). ``read_rgb()`` returns the layer's raw RGB
    uint8 bytes (H*W*3), ``read_mask()`` the selection's float32 bytes (H*W); both are called only once the
    worker has accepted the size. Returns raw float32 (alpha, foreground+alpha) bytes of checked lengths.
    Raises PluginError with a message for the user."""
    cfg = load_config(folder)
    timeout = seconds(cfg, "timeout", 600, TIMEOUT_ENV)
    deadline = time.monotonic() + timeout
    header = {
        "op": "matte",
        "width": width,
        "height": height,
        "fg_format": fg_format,
        "mask": read_mask is not None,
        "model": cfg.get("model"),
        "provider": cfg.get("provider") or "auto",
    }

    def ask(restart):
        conn, token = open_worker(folder, cfg, deadline, restart)
        try:
            conn.send_bytes(json.dumps(dict(header, token=token)).encode())
            return conn, receive(conn, deadline, timeout, folder, tick)
        except (PluginError, OSError):
            conn.close()
            raise

    try:
        conn, first = ask(restart=False)
    except (PluginError, OSError):
        if time.monotonic() > deadline:
            raise
        conn, first = ask(restart=True)  # the worker was stopping as we came: start a fresh one, once
    with conn:
        reply(first)
        mask = read_mask() if read_mask is not None else None
        conn.send_bytes(read_rgb())
        if mask is not None:
            conn.send_bytes(mask)
        del mask
        reply(receive(conn, deadline, timeout, folder, tick))
        alpha = receive(conn, deadline, timeout, folder, tick)
        fg = receive(conn, deadline, timeout, folder, tick)
    for name, data, channels in (("alpha", alpha, 1), ("foreground", fg, FG_CHANNELS[fg_format])):
        if len(data) != width * height * channels * 4:
            raise PluginError(
                f"semhm's worker returned {len(data)} bytes of {name} for a {width}x{height} layer, "
                f"expected {width * height * channels * 4}: the result is not used"
            )
    return alpha, fg


# ---- GIMP: everything below needs GIMP's gi bindings, imported in main() ----


def read_layer_rgb(layer):
    """Layer pixels as raw uint8 RGB bytes, whatever the layer's precision or mode (GEGL converts)."""
    w, h = layer.get_width(), layer.get_height()
    return bytes(layer.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "R'G'B' u8", Gegl.AbyssPolicy.CLAMP))


def offsets(layer):
    vals = layer.get_offsets()  # (x, y), or (ok, x, y) depending on the bindings
    return vals[-2], vals[-1]


def read_selection(image, layer):
    """The selection over the layer's area as raw float32 bytes; outside the canvas counts as 0."""
    x, y = offsets(layer)
    w, h = layer.get_width(), layer.get_height()
    data = bytes(image.get_selection().get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, "Y float", Gegl.AbyssPolicy.NONE))
    if not data.strip(b"\0"):
        raise PluginError("the selection does not touch this layer")
    return data


def fill(drawable, fmt, data):
    """Fill a drawable that is not attached yet. Attaching it (add_mask, insert_layer) is the undoable
    step, and unlike a shadow-buffer merge the fill ignores the selection, which refine relies on."""
    w, h = drawable.get_width(), drawable.get_height()
    buf = drawable.get_buffer()
    buf.set(Gegl.Rectangle.new(0, 0, w, h), fmt, data)
    buf.flush()


def set_mask(layer, alpha):
    """Give ``layer`` the matte as its layer mask, replacing any it has."""
    if not layer.has_alpha():
        layer.add_alpha()
    if layer.get_mask() is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    mask = layer.create_mask(Gimp.AddMaskType.WHITE)
    fill(mask, "Y float", alpha)
    layer.add_mask(mask)


def add_foreground_layer(image, layer, fg, gray):
    """MRN's colours (no background spill) with the alpha, on a new layer above ``layer``."""
    kind = Gimp.ImageType.GRAYA_IMAGE if gray else Gimp.ImageType.RGBA_IMAGE
    new = Gimp.Layer.new(
        image, layer.get_name() + " (semhm foreground)", layer.get_width(), layer.get_height(), kind, 100.0, Gimp.LayerMode.NORMAL
    )
    fill(new, "Y'A float" if gray else "R'G'B'A float", fg)
    image.insert_layer(new, layer.get_parent(), image.get_item_position(layer))
    new.set_offsets(*offsets(layer))


def matte_layer(image, layer, existing, foreground, use_selection):
    """The work of both procedures; raises PluginError with a readable message. An existing mask is
    replaced ("replace") or kept, the matte then going on a copy of the layer above it ("keep")."""
    if use_selection and Gimp.Selection.is_empty(image):
        raise PluginError("Refine Selection to Matte needs a selection: select the person roughly first")
    w, h = layer.get_width(), layer.get_height()
    Gimp.progress_init(f"semhm: matting {w}x{h}...")
    gray = image.get_base_type() == Gimp.ImageBaseType.GRAY
    alpha, fg = infer(
        w,
        h,
        "ya" if gray else "rgba",
        lambda: read_layer_rgb(layer),
        (lambda: read_selection(image, layer)) if use_selection else None,
        tick=Gimp.progress_pulse,
    )
    Gimp.progress_update(0.9)
    image.undo_group_start()
    try:
        target = layer
        if layer.get_mask() is not None and existing == "keep":
            target = layer.copy()
            target.set_name(layer.get_name() + " (semhm matte)")
            image.insert_layer(target, layer.get_parent(), image.get_item_position(layer))
        set_mask(target, alpha)
        if foreground == "new-layer":
            add_foreground_layer(image, target, fg, gray)
    finally:
        image.undo_group_end()
    Gimp.progress_update(1.0)
    Gimp.displays_flush()


def show_dialog(procedure, config):
    """Interactive runs: the options dialog (choice widgets for both options); False when cancelled."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("semhm_matte")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, procedure.get_menu_label().replace("_", "").rstrip("."))
    dialog.fill(None)
    ok = dialog.run()
    dialog.destroy()
    return ok


def run(procedure, run_mode, image, drawables, config, data):
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer) or drawables[0].is_group():
        return procedure.new_return_values(
            Gimp.PDBStatusType.CALLING_ERROR, GLib.Error("semhm works on exactly one layer (not a group): select one")
        )
    try:
        if run_mode == Gimp.RunMode.INTERACTIVE and not show_dialog(procedure, config):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        existing, foreground = config.get_property("existing-mask"), config.get_property("foreground")
        matte_layer(image, drawables[0], existing, foreground, procedure.get_name() == REFINE)
    except PluginError as e:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(e)))
    except Exception as e:  # noqa: BLE001 - GIMP must keep running whatever happens here
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(f"semhm: {type(e).__name__}: {e}"))
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def choice(values):
    c = Gimp.Choice.new()
    for i, (nick, label) in enumerate(values):
        c.add(nick, i, label, "")
    return c


def main():
    global gi, Gegl, Gimp, GLib, GObject
    import gi

    gi.require_version("Gimp", "3.0")
    gi.require_version("Gegl", "0.4")
    from gi.repository import Gegl, Gimp, GLib, GObject

    class SemhmMatte(Gimp.PlugIn):
        def do_set_i18n(self, name):
            return False

        def do_query_procedures(self):
            return [REMOVE, REFINE]

        def do_create_procedure(self, name):
            p = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
            p.set_image_types("RGB*, GRAY*")
            p.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
            if name == REMOVE:
                p.set_menu_label("Remove _Background (semhm)...")
                p.set_documentation(
                    "Remove the background behind a person with a layer mask",
                    "semhm predicts an alpha matte of the person in the active layer (hair included, no trimap) and adds it "
                    "as a layer mask, adding an alpha channel where needed. Undo restores the layer.",
                    name,
                )
            else:
                p.set_menu_label("Refine Selection to _Matte (semhm)...")
                p.set_documentation(
                    "Refine a rough selection of a person into an alpha matte",
                    "semhm uses the current selection as a coarse mask (QUN + MRN of Liu et al., CVPR 2020) and adds the "
                    "refined alpha matte as a layer mask. Needs a selection.",
                    name,
                )
            p.add_menu_path("<Image>/Layer/Transparency")  # after the label: GIMP ignores a path without one
            p.set_attribution("semhm developers", "semhm developers, Apache-2.0", "2026")
            flags = GObject.ParamFlags.READWRITE
            p.add_choice_argument("existing-mask", "_Existing layer mask", "keep or replace it", choice(EXISTING), "keep", flags)
            p.add_choice_argument("foreground", "_Foreground colours", "also on a new layer", choice(FOREGROUND), "none", flags)
            return p

    Gimp.main(SemhmMatte.__gtype__, sys.argv)


if __name__ == "__main__":
    main()
