"""The GIMP 3 plug-in: installer unit tests, and an end-to-end run in a real, headless GIMP 3 (a Debian
trixie chroot built by plugin/test/gimp_chroot.sh) compared with the runtime."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from semhm_models import gimp
from semhm_models.cli import main
from semhm_models.processing import to_uint8
from tests.conftest import ROOT

CHROOT = ROOT / "plugin" / "test" / "gimp_chroot.sh"


def test_install_status_uninstall(tmp_path, capsys):
    assert main(["gimp", "install", "--gimp-dir", str(tmp_path), "--model", "hf://org/name@abc"]) == 0
    dst = tmp_path / "semhm_matte"
    assert os.access(dst / "semhm_matte.py", os.X_OK)
    cfg = json.loads((dst / "semhm_matte.json").read_text())
    assert cfg["model"] == "hf://org/name@abc" and os.path.exists(cfg["python"])
    assert "installed in" in gimp.status(str(tmp_path))
    assert main(["gimp", "uninstall", "--gimp-dir", str(tmp_path)]) == 0
    assert not dst.exists() and "not installed" in gimp.status(str(tmp_path))


def test_plugin_declares_its_menus():
    src = (ROOT / "plugin" / "semhm_matte" / "semhm_matte.py").read_text()
    assert 'add_menu_path("<Image>/Layer/Transparency")' in src
    assert '"Remove _Background (semhm)"' in src and '"Refine Selection to _Matte (semhm)"' in src


def test_default_folders(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path))
    assert gimp.default_plugin_root() == tmp_path / "GIMP" / "3.0" / "plug-ins"
    monkeypatch.setattr("sys.platform", "darwin")
    assert gimp.default_plugin_root().parts[-4:] == ("Application Support", "GIMP", "3.0", "plug-ins")
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert gimp.default_plugin_root() == tmp_path / "GIMP" / "3.0" / "plug-ins"


def test_worker_is_lossless_and_honours_the_mask(tiny_weights, photo, tmp_path, matter):
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    h, w = rgb.shape[:2]
    (tmp_path / "in.raw").write_bytes(rgb.tobytes())
    args = [str(tmp_path / "in.raw"), str(tmp_path), "--size", f"{w}x{h}", "--model", str(tiny_weights), "--provider", "cpu"]
    assert gimp.worker(args) == 0
    alpha = np.fromfile(tmp_path / "alpha.raw", np.float32).reshape(h, w)
    assert np.array_equal(alpha, matter.matte_rgb(rgb).alpha)
    rgba = np.fromfile(tmp_path / "fg.raw", np.float32).reshape(h, w, 4)
    assert np.array_equal(rgba[..., 3], alpha)
    (tmp_path / "m.raw").write_bytes(np.zeros((h, w), np.float32).tobytes())
    assert gimp.worker([*args, "--mask", str(tmp_path / "m.raw"), "--fg-format", "ya"]) == 0
    assert np.fromfile(tmp_path / "fg.raw", np.float32).size == h * w * 2
    (tmp_path / "bad.raw").write_bytes(np.zeros(9, np.float32).tobytes())
    assert gimp.worker([*args, "--mask", str(tmp_path / "bad.raw")]) == 1
    assert gimp.worker([*args[:3], "3x3"]) == 1


def _can_chroot() -> str | None:
    if os.geteuid() != 0:
        return "needs root for debootstrap and chroot"
    for tool in ("unshare", "chroot"):
        if not shutil.which(tool):
            return f"needs {tool}"
    if os.environ.get("SEMHM_SKIP_GIMP"):
        return "SEMHM_SKIP_GIMP is set"
    return None


def test_in_real_gimp3(tmp_path):
    why = _can_chroot()
    if why:
        pytest.skip(f"GIMP 3 end-to-end test skipped: {why}")
    r = subprocess.run([str(CHROOT), "build"], capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout + r.stderr
    work = ROOT / ".gimp-test"  # inside the checkout, which the chroot sees at /mnt/repo
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        src = ROOT / "semhm_models" / "demo" / "examples" / "ccp_1288.jpg"
        Image.open(src).convert("RGB").save(work / "photo.png")
        script = (
            "set -e; /opt/semhm/bin/python -m semhm_models.cli gimp install >/dev/null; "
            "SEMHM_IN=/mnt/repo/.gimp-test/photo.png SEMHM_OUT=/mnt/repo/.gimp-test "
            "gimp-console-3.0 -i --batch-interpreter=python-fu-eval "
            "-b \"exec(open('/mnt/repo/plugin/test/batch.py').read())\" --quit"
        )
        r = subprocess.run([str(CHROOT), "run", "sh", "-c", script], capture_output=True, text=True, timeout=600)
        assert (work / "report.json").exists(), r.stdout[-3000:] + r.stderr[-3000:]
        rep = json.loads((work / "report.json").read_text())
        assert rep["menu"][1] == "Remove _Background (semhm)"  # headless GIMP registers no menu paths
        for case in ("remove", "replace", "refine", "offset16", "gray"):
            assert rep[case]["ok"], (case, rep[case])
        assert not rep["again"]["ok"] and "already has a mask" in rep["again"]["message"]
        assert not rep["no_selection"]["ok"] and "needs a selection" in rep["no_selection"]["message"]
        assert any("semhm foreground" in name for name in rep["layers"]) and rep["has_alpha"]

        from semhm_models import Matter

        matter = Matter.from_pretrained(provider="cpu")  # the bundled weights, as in GIMP
        rgb = np.asarray(Image.open(work / "photo.png").convert("RGB"))
        expected = to_uint8(matter.matte_rgb(rgb).alpha).astype(int)

        def mask(case):
            w, h = rep[case + "_size"]
            return np.fromfile(work / f"{case}.raw", np.uint8).reshape(h, w).astype(int)

        for case in ("remove", "offset16"):
            got = mask(case)
            assert got.shape == expected.shape and np.abs(got - expected).max() <= 1, case
        h, w = rgb.shape[:2]
        sel = np.zeros((h, w), np.float32)
        sel[h // 10 : h // 10 + 8 * h // 10, w // 5 : w // 5 + 3 * w // 5] = 1
        refined = to_uint8(matter.matte_rgb(rgb, sel).alpha).astype(int)
        assert np.abs(mask("refine") - refined).max() <= 1
        gray = np.asarray(Image.open(work / "photo.png").convert("L").convert("RGB"))
        g_expected = to_uint8(matter.matte_rgb(gray).alpha).astype(int)
        assert np.abs(mask("gray") - g_expected).mean() < 2  # GIMP's own gray conversion
    finally:
        shutil.rmtree(work, ignore_errors=True)
