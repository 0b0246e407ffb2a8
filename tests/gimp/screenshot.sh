#!/bin/bash
# A screenshot of the plug-in in the real GIMP 3 window (for the README): GIMP's GUI under Xvfb in the
# test chroot, the photo matted with Remove Background (semhm), then the screen captured with xwd; and
# optionally the options dialog the menu entry opens.
#   tests/gimp/screenshot.sh PHOTO OUT.png [DIALOG.png]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
CHROOT="$HERE/gimp_chroot.sh"
"$CHROOT" build
"$CHROOT" run sh -c "command -v Xvfb >/dev/null && command -v xwdtopnm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xauth x11-apps netpbm >/dev/null)"
rm -rf "$REPO/.gimp-test"; mkdir -p "$REPO/.gimp-test"
cp "$1" "$REPO/.gimp-test/photo.jpg"
"$CHROOT" run sh -c '
  shot() { xwd -root -silent -display :99 | xwdtopnm 2>/dev/null | pnmtopng > "/mnt/repo/.gimp-test/$1"; }
  export HOME=/tmp/home; mkdir -p $HOME  # a GIMP profile of its own (the chroot'"'"'s /tmp is private)
  /opt/semhm/bin/python -m semhm_models.cli gimp install >/dev/null
  Xvfb :99 -screen 0 1440x900x24 >/dev/null 2>&1 & X=$!; sleep 2
  export DISPLAY=:99 SEMHM_IN=/mnt/repo/.gimp-test/photo.jpg SEMHM_OUT=/mnt/repo/.gimp-test
  gimp-3.0 --no-splash -b "exec(open(\"/mnt/repo/tests/gimp/gui_shot.py\").read())" --batch-interpreter=python-fu-eval >/dev/null 2>&1 & G=$!
  for i in $(seq 60); do [ -f /mnt/repo/.gimp-test/gui.json ] && break; sleep 2; done
  sleep 8; shot screen.png; touch /mnt/repo/.gimp-test/shot1.done
  sleep 8; shot dialog.png
  kill $G $X 2>/dev/null || true
  /opt/semhm/bin/python -m semhm_models.cli gimp uninstall >/dev/null'
cat "$REPO/.gimp-test/gui.json"
# GIMP's window (top left of the virtual screen), and the dialog (what changed when it opened),
# palette-reduced to stay small in git
"${PYTHON:-$REPO/.venv/bin/python}" -c "
import sys; from PIL import Image, ImageChops
im = Image.open(sys.argv[1]).convert('RGB'); bbox = Image.eval(im, lambda v: 255 if v else 0).getbbox()
im.crop(bbox).quantize(colors=128).save(sys.argv[2], optimize=True)
if len(sys.argv) > 4:
    dlg = Image.open(sys.argv[3]).convert('RGB')
    dlg.crop(ImageChops.difference(im, dlg).getbbox()).quantize(colors=64).save(sys.argv[4], optimize=True)
" "$REPO/.gimp-test/screen.png" "$2" "$REPO/.gimp-test/dialog.png" ${3:-}
rm -rf "$REPO/.gimp-test"
echo "wrote $2 ${3:-}"
