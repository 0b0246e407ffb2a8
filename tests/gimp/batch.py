# Runs inside GIMP 3 (gimp-console-3.0 --batch-interpreter=python-fu-eval): loads a real photo, runs the
# semhm procedures NONINTERACTIVE in several situations, and writes the masks and statuses for the host
# test (tests/test_gimp.py) to compare with the runtime. Env: SEMHM_IN (photo), SEMHM_OUT (folder).
import json
import os
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

OUT = os.environ["SEMHM_OUT"]
report = {}


def load():
    img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(os.environ["SEMHM_IN"]))
    return img, img.get_layers()[0]


def call(name, img, layer, existing=None, foreground="none"):
    proc = Gimp.get_pdb().lookup_procedure(name)
    if proc is None:
        raise RuntimeError(name + " is not registered: the plug-in did not load")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", img)
    cfg.set_core_object_array("drawables", [layer])
    if existing:  # else the procedure's default
        cfg.set_property("existing-mask", existing)
    cfg.set_property("foreground", foreground)
    t0 = time.perf_counter()
    res = proc.run(cfg)
    seconds = round(time.perf_counter() - t0, 3)
    status = res.index(0)
    err = res.index(1) if res.length() > 1 else None
    return {
        "ok": status == Gimp.PDBStatusType.SUCCESS,
        "status": str(status),
        "message": err.message if hasattr(err, "message") else str(err or ""),
        "seconds": seconds,
    }


def choices(name):
    proc = Gimp.get_pdb().lookup_procedure(name)
    out = {}
    for arg in ("existing-mask", "foreground"):
        try:
            out[arg] = list(Gimp.param_spec_choice_get_choice(proc.find_argument(arg)).list_nicks())
        except Exception as e:  # noqa: BLE001 - reported to the host test
            out[arg] = f"{type(e).__name__}: {e}"
    return out


CONFIG = os.path.expanduser("~/.config/GIMP/3.0/plug-ins/semhm_matte/semhm_matte.json")
STATE = os.path.join(os.path.dirname(CONFIG), "semhm_worker.json")
pids = []


def worker_pid():
    with open(STATE) as f:
        return json.load(f)["pid"]


def with_timeout(seconds, fn):
    """Run ``fn`` with the plug-in's configured timeout set to ``seconds``, then restore it."""
    with open(CONFIG) as f:
        saved = f.read()
    with open(CONFIG, "w") as f:
        json.dump(dict(json.loads(saved), timeout=seconds), f)
    try:
        return fn()
    finally:
        with open(CONFIG, "w") as f:
            f.write(saved)


def mask_bytes(layer):
    m = layer.get_mask()
    return bytes(m.get_buffer().get(Gegl.Rectangle.new(0, 0, m.get_width(), m.get_height()), 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP))


def save_mask(layer, key):
    m = layer.get_mask()
    w, h = m.get_width(), m.get_height()
    raw = m.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP)
    with open(os.path.join(OUT, key + ".raw"), "wb") as f:  # GIMP's Python may have no numpy
        f.write(bytes(raw))
    report[key + "_size"] = [w, h]


proc = Gimp.get_pdb().lookup_procedure("python-fu-semhm-remove-background")
report["menu"] = [list(proc.get_menu_paths()), proc.get_menu_label()] if proc else None
report["choices"] = choices("python-fu-semhm-remove-background") if proc else None

img, layer = load()  # 1. remove background, with the foreground colours on a new layer; then keep, then replace
report["remove"] = call("python-fu-semhm-remove-background", img, layer, foreground="new-layer")
pids.append(worker_pid())
save_mask(layer, "remove")
report["layers_names"] = [lay.get_name() for lay in img.get_layers()]
report["layers"] = len(img.get_layers())
report["has_alpha"] = layer.has_alpha()
before = mask_bytes(layer)
report["keep"] = call("python-fu-semhm-remove-background", img, layer)  # the default: keep the mask, matte on a copy
pids.append(worker_pid())
report["keep_kept"] = mask_bytes(layer) == before
report["keep_layers"] = len(img.get_layers())
report["replace"] = call("python-fu-semhm-remove-background", img, layer, existing="replace")
pids.append(worker_pid())
# a timeout far too short: a clean error, the request and its worker stopped, the next call works again
report["timeout"] = with_timeout(0.05, lambda: call("python-fu-semhm-remove-background", img, layer, existing="replace"))
report["after_timeout"] = call("python-fu-semhm-remove-background", img, layer, existing="replace")
report["after_timeout_pid"] = worker_pid()
report["timings"] = {k: report[k]["seconds"] for k in ("remove", "keep", "replace")}
report["worker_pids"] = pids
report["timings"]["first"], report["timings"]["second"] = report["remove"]["seconds"], report["keep"]["seconds"]
Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, img, Gio.File.new_for_path(os.path.join(OUT, "remove.png")), None)
img.delete()

img, layer = load()  # 2. refine: no selection is a clean error, then a rough rectangle
report["no_selection"] = call("python-fu-semhm-refine-selection", img, layer)
w, h = layer.get_width(), layer.get_height()
img.select_rectangle(Gimp.ChannelOps.REPLACE, w // 5, h // 10, 3 * w // 5, 8 * h // 10)
report["refine"] = call("python-fu-semhm-refine-selection", img, layer)
save_mask(layer, "refine")
img.delete()

img, layer = load()  # 3. a 16-bit image whose layer sits at an offset
img.convert_precision(Gimp.Precision.U16_NON_LINEAR)
layer = img.get_layers()[0]
layer.set_offsets(37, 11)
report["offset16"] = call("python-fu-semhm-remove-background", img, layer)
save_mask(layer, "offset16")
img.delete()

img, layer = load()  # 4. grayscale
img.convert_grayscale()
layer = img.get_layers()[0]
report["gray"] = call("python-fu-semhm-remove-background", img, layer, foreground="new-layer")
save_mask(layer, "gray")
img.delete()

img = Gimp.Image.new(320, 240, Gimp.ImageBaseType.RGB)  # 5. no one in it: a message instead of an empty mask
layer = Gimp.Layer.new(img, "empty", 320, 240, Gimp.ImageType.RGB_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
img.insert_layer(layer, None, 0)
layer.fill(Gimp.FillType.WHITE)
report["empty"] = call("python-fu-semhm-remove-background", img, layer)
report["empty_has_mask"] = layer.get_mask() is not None
img.delete()

with open(os.path.join(OUT, "report.json"), "w") as f:
    json.dump(report, f, indent=1)
print("semhm batch done", flush=True)
