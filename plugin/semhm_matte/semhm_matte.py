#!/usr/bin/env python3
"""semhm for GIMP 3: Layer > Transparency > Remove Background (semhm) and Refine Selection to Matte (semhm).

The PlugIn class only declares procedures; plain functions do the work. Inference runs in the Python that
`semhm gimp install` recorded (semhm_matte.json beside this file), as a separate process that gets the
layer's raw pixels (lossless), so GIMP's own Python needs nothing beyond GIMP itself: no numpy, no
onnxruntime, any version."""

import json
import os
import subprocess
import sys
import tempfile

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

REMOVE = "python-fu-semhm-remove-background"
REFINE = "python-fu-semhm-refine-selection"
HERE = os.path.dirname(os.path.abspath(__file__))
EXISTING = ("ask", "replace", "keep")
FOREGROUND = ("none", "new-layer")


class PluginError(Exception):
    """A message for the user, returned to GIMP as the procedure's error."""


def load_config():
    path = os.path.join(HERE, "semhm_matte.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def read_rgb(layer):
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
    sel = image.get_selection()
    return bytes(sel.get_buffer().get(Gegl.Rectangle.new(x, y, w, h), 1.0, "Y float", Gegl.AbyssPolicy.NONE))


def infer(layer, rgb, mask, fg_format):
    """Run semhm's worker in the recorded Python; returns raw float32 (alpha, foreground+alpha) bytes."""
    cfg = load_config()
    python = cfg.get("python")
    size = (layer.get_width(), layer.get_height())
    if not python:  # not installed by `semhm gimp install`: in-process, if GIMP's Python has semhm
        try:
            from semhm_models.gimp import matte_raw
        except ImportError:
            raise PluginError("semhm is not set up for GIMP: run `semhm gimp install` in the Python that has semhm") from None
        return matte_raw(rgb, size[0], size[1], mask, fg_format, cfg.get("model"), cfg.get("provider") or "auto")[:2]
    if not os.path.exists(python):
        raise PluginError(f"the Python recorded by `semhm gimp install` is gone: {python}; run `semhm gimp install` again")
    with tempfile.TemporaryDirectory(prefix="semhm-gimp-") as td:
        src = os.path.join(td, "image.raw")
        with open(src, "wb") as f:
            f.write(rgb)
        cmd = [
            python,
            "-m",
            "semhm_models.gimp",
            "worker",
            src,
            td,
            "--size",
            f"{size[0]}x{size[1]}",
            "--fg-format",
            fg_format,
            "--provider",
            cfg.get("provider") or "auto",
        ]
        if cfg.get("model"):
            cmd += ["--model", cfg["model"]]
        if mask is not None:
            with open(os.path.join(td, "mask.raw"), "wb") as f:
                f.write(mask)
            cmd += ["--mask", os.path.join(td, "mask.raw")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise PluginError("semhm failed: " + (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1])
        with open(os.path.join(td, "alpha.raw"), "rb") as f:
            alpha = f.read()
        with open(os.path.join(td, "fg.raw"), "rb") as f:
            fg = f.read()
        return alpha, fg


def fill(drawable, fmt, data):
    """Fill a drawable that is not attached yet. Attaching it (add_mask, insert_layer) is the undoable
    step, and unlike a shadow-buffer merge the fill ignores the selection, which refine relies on."""
    w, h = drawable.get_width(), drawable.get_height()
    buf = drawable.get_buffer()
    buf.set(Gegl.Rectangle.new(0, 0, w, h), fmt, data)
    buf.flush()


def set_mask(layer, alpha):
    """Replace the layer's mask (if any; the caller has checked it may) with ``alpha``."""
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
    """The work of both procedures; raises PluginError with a readable message."""
    if existing not in EXISTING:
        raise PluginError("existing-mask must be one of {}, not '{}'".format(", ".join(EXISTING), existing))
    if foreground not in FOREGROUND:
        raise PluginError("foreground must be one of {}, not '{}'".format(", ".join(FOREGROUND), foreground))
    mask = None
    if use_selection:
        if Gimp.Selection.is_empty(image):
            raise PluginError("Refine Selection to Matte needs a selection: select the person roughly first")
        mask = read_selection(image, layer)
        if not mask.strip(b"\0"):
            raise PluginError("the selection does not touch this layer")
    if layer.get_mask() is not None and existing != "replace":
        raise PluginError("the layer already has a mask: apply or delete it, or choose 'replace' for the existing mask")
    Gimp.progress_init(f"semhm: matting {layer.get_width()}x{layer.get_height()}...")
    gray = image.get_base_type() == Gimp.ImageBaseType.GRAY
    rgb = read_rgb(layer)
    Gimp.progress_update(0.2)
    alpha, fg = infer(layer, rgb, mask, "ya" if gray else "rgba")
    Gimp.progress_update(0.9)
    image.undo_group_start()
    try:
        set_mask(layer, alpha)
        if foreground == "new-layer":
            add_foreground_layer(image, layer, fg, gray)
    finally:
        image.undo_group_end()
    Gimp.progress_update(1.0)
    Gimp.displays_flush()


def ask(procedure, config, layer):
    """Interactive runs: when the layer has a mask, show the options so the user chooses to replace it."""
    if layer.get_mask() is None or config.get_property("existing-mask") == "replace":
        return True
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init("semhm_matte")
    config.set_property("existing-mask", "replace")
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "The layer already has a mask: replace it?")
    dialog.fill(None)
    ok = dialog.run()
    dialog.destroy()
    return ok


def run(procedure, run_mode, image, drawables, config, data):
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer) or drawables[0].is_group():
        return procedure.new_return_values(
            Gimp.PDBStatusType.CALLING_ERROR, GLib.Error("semhm works on exactly one layer (not a group): select one")
        )
    layer = drawables[0]
    try:
        if run_mode == Gimp.RunMode.INTERACTIVE and not ask(procedure, config, layer):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        matte_layer(image, layer, config.get_property("existing-mask"), config.get_property("foreground"), procedure.get_name() == REFINE)
    except PluginError as e:
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(e)))
    except Exception as e:  # noqa: BLE001 - GIMP must keep running whatever happens here
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(f"semhm: {type(e).__name__}: {e}"))
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class SemhmMatte(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        return [REMOVE, REFINE]

    def do_create_procedure(self, name):
        p = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        p.set_image_types("RGB*, GRAY*")
        p.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        p.add_menu_path("<Image>/Layer/Transparency")
        if name == REMOVE:
            p.set_menu_label("Remove _Background (semhm)")
            p.set_documentation(
                "Remove the background behind a person with a layer mask",
                "semhm predicts an alpha matte of the person in the active layer (hair included, no trimap) and adds it "
                "as a layer mask, adding an alpha channel where needed. Undo restores the layer.",
                name,
            )
        else:
            p.set_menu_label("Refine Selection to _Matte (semhm)")
            p.set_documentation(
                "Refine a rough selection of a person into an alpha matte",
                "semhm uses the current selection as a coarse mask (QUN + MRN of Liu et al., CVPR 2020) and adds the "
                "refined alpha matte as a layer mask. Needs a selection.",
                name,
            )
        p.set_attribution("semhm developers", "semhm developers, Apache-2.0", "2026")
        p.add_string_argument(
            "existing-mask", "_Existing mask", "ask, replace or keep an existing layer mask", "ask", GObject.ParamFlags.READWRITE
        )
        p.add_string_argument(
            "foreground",
            "_Foreground colours",
            "none, or new-layer: MRN's colours without background spill",
            "none",
            GObject.ParamFlags.READWRITE,
        )
        return p


if __name__ == "__main__":
    Gimp.main(SemhmMatte.__gtype__, sys.argv)
