#!/bin/bash
# The plug-in's end-to-end test environment: a Debian trixie chroot with GIMP 3 (Debian 12 has none) and
# a Python venv with semhm's runtime dependencies, where the project checkout is found through a .pth
# file. Built once and cached by a stamp (about 2 min cold); needs root, debootstrap and unshare.
#
#   tests/gimp/gimp_chroot.sh build            # build if needed
#   tests/gimp/gimp_chroot.sh run CMD...       # run CMD inside; the checkout is at /mnt/repo
#
#   SEMHM_GIMP_ROOT  chroot folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/semhm-gimp3/root)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${SEMHM_GIMP_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/semhm-gimp3/root}
PKGS="gimp gir1.2-gimp-3.0 python3 python3-gi python3-venv"
PIPS="numpy pillow huggingface-hub onnxruntime"
KEY="trixie|$PKGS|$PIPS|v1"
STAMP="$ROOT/.semhm-stamp"

run() {  # private mount namespace: proc, sys, dev, a tmpfs /tmp and the checkout at /mnt/repo
  unshare --mount --propagation private --fork -- /bin/bash -c '
    set -e; R="$1"; REPO="$2"; shift 2
    mount -t proc proc "$R/proc"; mount --rbind /sys "$R/sys"; mount --rbind /dev "$R/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
    mkdir -p "$R/mnt/repo"; mount --bind "$REPO" "$R/mnt/repo"
    cp -L /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
    mkdir -p "$R/etc/ssl/certs"; cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/host-ca.crt" 2>/dev/null || true
    exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
      PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 ${CHROOT_ENV:-} "$@"
  ' _ "$ROOT" "$REPO" "$@"
}

build() {
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
    echo "GIMP 3 chroot cached at $ROOT"; return 0
  fi
  command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
  local mirror
  mirror=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  rm -rf "$ROOT"; mkdir -p "$ROOT"
  echo "building the GIMP 3 chroot at $ROOT from $mirror"
  debootstrap --variant=minbase trixie "$ROOT" "$mirror" > "$ROOT.log" 2>&1 || { tail -20 "$ROOT.log"; return 1; }
  cp /etc/apt/apt.conf.d/* "$ROOT/etc/apt/apt.conf.d/" 2>/dev/null || true
  printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' > "$ROOT/etc/dpkg/dpkg.cfg.d/01-nodoc"
  run apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PKGS >> "$ROOT.log" 2>&1
  run apt-get clean; rm -rf "$ROOT"/var/lib/apt/lists/*
  run sh -c "python3 -m venv /opt/semhm && /opt/semhm/bin/pip install -q $PIPS" >> "$ROOT.log" 2>&1
  run sh -c 'echo /mnt/repo > "$(/opt/semhm/bin/python -c "import sysconfig; print(sysconfig.get_paths()[\"purelib\"])")/semhm-checkout.pth"'
  run gimp-console-3.0 -i --batch-interpreter=python-fu-eval -b 'print(Gimp.version())' --quit >> "$ROOT.log" 2>&1 || true
  rm -rf "$ROOT"/root/.cache/pip
  echo "$KEY" > "$STAMP"
  echo "GIMP 3 chroot ready ($(du -sh "$ROOT" | cut -f1))"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 build | run CMD..." >&2; exit 2 ;;
esac
