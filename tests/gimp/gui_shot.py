# Runs inside the GIMP 3 GUI (under Xvfb, see tests/gimp/screenshot.sh): opens a photo, runs
# Remove Background (semhm) with the foreground on a new layer, shows the image, and records the menu
# paths GIMP registered, then opens the procedure's options dialog. Env: SEMHM_IN, SEMHM_OUT.
import json
import os
import time

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio  # noqa: E402

img = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(os.environ["SEMHM_IN"]))
layer = img.get_layers()[0]
menus = {}
for name in ("python-fu-semhm-remove-background", "python-fu-semhm-refine-selection"):
    proc = Gimp.get_pdb().lookup_procedure(name)
    menus[name] = [list(proc.get_menu_paths()), proc.get_menu_label()]
proc = Gimp.get_pdb().lookup_procedure("python-fu-semhm-remove-background")
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [layer])
cfg.set_property("foreground", "none")
res = proc.run(cfg)
Gimp.Display.new(img)
Gimp.displays_flush()
with open(os.path.join(os.environ["SEMHM_OUT"], "gui.json"), "w") as f:
    json.dump({"menus": menus, "status": str(res.index(0))}, f, indent=1)
# then, once the first screenshot is taken, the options dialog as the menu entry opens it (it stays open)
for _ in range(300):
    if os.path.exists(os.path.join(os.environ["SEMHM_OUT"], "shot1.done")):
        break
    time.sleep(0.2)
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
cfg.set_property("image", img)
cfg.set_core_object_array("drawables", [layer])
proc.run(cfg)
