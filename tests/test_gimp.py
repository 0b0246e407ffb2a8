"""The GIMP 3 plug-in: installer, worker and the plug-in's client side (the installed plug-in file run in
this Python, against the real worker and against misbehaving stand-ins), and, with SEMHM_SLOW_TESTS=1,
an end-to-end run in a real, headless GIMP 3 (a Debian trixie chroot built by tests/gimp/gimp_chroot.sh)
compared with the runtime."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semhm_models import gimp
from semhm_models.cli import main
from semhm_models.gimp import worker
from semhm_models.processing import to_uint8
from tests.conftest import ROOT

HERE = ROOT / "tests" / "gimp"
CHROOT = HERE / "gimp_chroot.sh"
PLUGIN = ROOT / "semhm_models" / "gimp" / "semhm_matte.py"


def load_plugin(folder: Path):
    """The installed plug-in file, as GIMP would run it, imported into this Python (no gi needed)."""
    spec = importlib.util.spec_from_file_location(f"semhm_matte_{abs(hash(folder))}", folder / "semhm_matte.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def worker_pid(folder: Path) -> int | None:
    try:
        return json.loads((folder / gimp.STATE_NAME).read_text())["pid"]
    except (OSError, ValueError):
        return None


def gone(pid: int, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # a worker this test process started (here, not GIMP)
                return True
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def installed(tmp_path, tiny_weights):
    dst = gimp.install(str(tmp_path), str(tiny_weights), "cpu")
    yield dst
    pid = worker_pid(dst)
    gimp.uninstall(str(tmp_path))  # asks the worker to quit
    assert pid is None or gone(pid)


def fake_python(dst: Path, body: str) -> None:
    """Point the installed config at a stand-in "Python" (a shell script)."""
    exe = dst / "fake-python"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)
    cfg = json.loads((dst / gimp.CONFIG_NAME).read_text())
    (dst / gimp.CONFIG_NAME).write_text(json.dumps(dict(cfg, python=str(exe))))


def test_install_status_uninstall(tmp_path):
    assert main(["gimp", "install", "--gimp-dir", str(tmp_path), "--model", "hf://org/name@abc"]) == 0
    dst = tmp_path / "semhm_matte"
    assert os.access(dst / "semhm_matte.py", os.X_OK)
    cfg = json.loads((dst / "semhm_matte.json").read_text())
    assert cfg["model"] == "hf://org/name@abc" and os.path.exists(cfg["python"]) and cfg["timeout"] > 0
    assert "installed in" in gimp.status(str(tmp_path))
    assert main(["gimp", "uninstall", "--gimp-dir", str(tmp_path)]) == 0
    assert not dst.exists() and "not installed" in gimp.status(str(tmp_path))


def test_plugin_is_self_contained_and_declares_choices():
    src = PLUGIN.read_text()
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {"json", "os", "subprocess", "sys", "time", "multiprocessing", "gi"}, imported
    assert 'add_menu_path("<Image>/Layer/Transparency")' in src
    assert '"Remove _Background (semhm)..."' in src and '"Refine Selection to _Matte (semhm)..."' in src
    assert src.count("add_choice_argument(") == 2 and "add_string_argument" not in src


def test_default_folders(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path))
    assert gimp.native_plugin_root() == tmp_path / "GIMP" / "3.0" / "plug-ins"
    monkeypatch.setattr("sys.platform", "darwin")
    assert gimp.native_plugin_root().parts[-4:] == ("Application Support", "GIMP", "3.0", "plug-ins")
    assert [k for k, _ in gimp.plugin_roots()] == ["native"]


def test_flatpak_folder(monkeypatch, tmp_path):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    native = tmp_path / "config" / "GIMP" / "3.0" / "plug-ins"
    flatpak = tmp_path / ".var" / "app" / "org.gimp.GIMP" / "config" / "GIMP" / "3.0" / "plug-ins"
    assert gimp.default_plugin_root() == native  # no GIMP yet: the native folder
    flatpak.parent.mkdir(parents=True)
    assert gimp.default_plugin_root() == flatpak  # only the Flatpak GIMP: install goes there
    assert gimp.install() == flatpak / "semhm_matte"
    lines = gimp.status().splitlines()
    assert lines[0].startswith("native GIMP: not installed") and lines[1].startswith("flatpak GIMP: installed in")
    assert "flatpak override" in lines[1]
    native.parent.mkdir(parents=True)
    assert gimp.default_plugin_root() == native


def test_corrupt_config_is_named(tmp_path, capsys):
    dst = gimp.install(str(tmp_path))
    cfg = dst / gimp.CONFIG_NAME
    plugin = load_plugin(dst)
    for text in ("{oops", "[1, 2]", '{"python": 3}'):
        cfg.write_text(text)
        line = gimp.status(str(tmp_path))
        assert line.startswith("BROKEN") and str(cfg) in line and "semhm gimp install" in line
        assert main(["gimp", "status", "--gimp-dir", str(tmp_path)]) == 1  # a broken install is a failing status
        assert str(cfg) in capsys.readouterr().out
        with pytest.raises(plugin.PluginError, match="semhm_matte.json is broken"):
            plugin.infer(4, 4, "rgba", bytes, folder=str(dst))


def test_install_refuses_a_bad_model_or_folder_in_one_line(tmp_path, capsys):
    assert main(["gimp", "install", "--gimp-dir", str(tmp_path), "--model", str(tmp_path / "nonexistent")]) == 1
    assert "no such weights folder" in capsys.readouterr().err and not (tmp_path / "semhm_matte").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["gimp", "install", "--gimp-dir", str(blocker / "below")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot install the plug-in in") and err.count("\n") == 1


def test_persistent_worker_matches_the_runtime(installed, photo, matter):
    plugin = load_plugin(installed)
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    h, w = rgb.shape[:2]
    times, pids = [], []
    for _ in range(2):
        t0 = time.perf_counter()
        alpha, fg = plugin.infer(w, h, "rgba", rgb.tobytes, folder=str(installed))
        times.append(time.perf_counter() - t0)
        pids.append(worker_pid(installed))
    print(f"plug-in -> worker, {w}x{h}: first call {times[0]:.2f} s (starts the worker, loads the model), second {times[1]:.3f} s")
    assert pids[0] is not None and pids[0] == pids[1]  # the same worker served both
    assert times[1] < times[0]
    expected = matter.matte_rgb(rgb)
    alpha = np.frombuffer(alpha, np.float32).reshape(h, w)
    assert np.abs(alpha - expected.alpha).max() < 1e-5
    rgba = np.frombuffer(fg, np.float32).reshape(h, w, 4)
    assert np.array_equal(rgba[..., 3], alpha) and np.abs(rgba[..., :3] - expected.foreground).max() < 1e-5
    sel = np.zeros((h, w), np.float32)
    sel[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
    alpha, fg = plugin.infer(w, h, "ya", rgb.tobytes, sel.tobytes, folder=str(installed))
    assert np.abs(np.frombuffer(alpha, np.float32).reshape(h, w) - matter.matte_rgb(rgb, sel).alpha).max() < 1e-5
    assert len(fg) == w * h * 2 * 4
    bad = sel.copy()
    bad[0, 0] = np.nan
    with pytest.raises(plugin.PluginError, match="outside"):
        plugin.infer(w, h, "ya", rgb.tobytes, bad.tobytes, folder=str(installed))
    assert worker_pid(installed) == pids[0]  # a refused request does not stop the worker


def test_pixel_limit_before_reading_the_layer(installed):
    plugin = load_plugin(installed)

    def never():
        raise AssertionError("the layer must not be read")

    with pytest.raises(plugin.PluginError, match="120,000,000 pixels, over the limit of 100,000,000"):
        plugin.infer(12000, 10000, "rgba", never, folder=str(installed))


def test_cancel_stops_the_request_and_the_worker(installed, monkeypatch):
    plugin = load_plugin(installed)
    plugin.infer(64, 64, "rgba", lambda: bytes(64 * 64 * 3), folder=str(installed))  # the worker is up
    pid = worker_pid(installed)
    monkeypatch.setenv("SEMHM_GIMP_TIMEOUT", "0.3")
    big = np.random.default_rng(0).integers(0, 255, (2000, 2000, 3), np.uint8).tobytes()
    t0 = time.perf_counter()
    with pytest.raises(plugin.PluginError, match=r"took more than 0.3 s and was stopped; raise 'timeout' in .*SEMHM_GIMP_TIMEOUT"):
        plugin.infer(2000, 2000, "rgba", lambda: big, folder=str(installed))
    assert time.perf_counter() - t0 < 2
    assert gone(pid) and worker_pid(installed) is None  # it stopped working on it and cleared its state
    monkeypatch.delenv("SEMHM_GIMP_TIMEOUT")
    assert len(plugin.infer(64, 64, "rgba", lambda: bytes(64 * 64 * 3), folder=str(installed))[0]) == 64 * 64 * 4
    assert worker_pid(installed) != pid  # the next call started a fresh one


def test_idle_worker_exits(tmp_path):
    state = tmp_path / gimp.STATE_NAME
    proc = subprocess.Popen([sys.executable, "-m", "semhm_models.gimp.worker", "--serve", str(state), "--idle-timeout", "0.5"])
    try:
        end = time.monotonic() + 30
        while not state.exists() and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.02)
        assert state.exists()  # serving
        assert proc.wait(timeout=30) == 0  # served nothing, stopped by itself
    finally:
        proc.kill()
    assert not state.exists()


@pytest.mark.parametrize("mode", ["slow", "short"])
def test_misbehaving_worker(tmp_path, monkeypatch, mode):
    dst = gimp.install(str(tmp_path))
    fake_python(dst, f'exec "{sys.executable}" "{HERE / "fake_worker.py"}" "$@"')
    monkeypatch.setenv("FAKE_WORKER", mode)
    monkeypatch.setenv("SEMHM_GIMP_TIMEOUT", "1")
    plugin = load_plugin(dst)
    t0 = time.perf_counter()
    try:
        want = "took more than 1 s and was stopped" if mode == "slow" else r"returned 60 bytes of alpha for a 4x4 layer, expected 64"
        with pytest.raises(plugin.PluginError, match=want):
            plugin.infer(4, 4, "rgba", lambda: bytes(48), folder=str(dst))
        assert time.perf_counter() - t0 < 5
    finally:
        pid = worker_pid(dst)
        if pid:
            os.kill(pid, signal.SIGTERM)


def test_missing_or_broken_worker_python(tmp_path, monkeypatch):
    dst = gimp.install(str(tmp_path))
    plugin = load_plugin(dst)
    cfg = json.loads((dst / gimp.CONFIG_NAME).read_text())
    (dst / gimp.CONFIG_NAME).write_text(json.dumps(dict(cfg, python=str(tmp_path / "gone" / "python3"))))
    with pytest.raises(plugin.PluginError, match=r"is gone: .*gone/python3; run `semhm gimp install` again"):
        plugin.infer(4, 4, "rgba", bytes, folder=str(dst))
    fake_python(dst, 'echo "/usr/bin/python3: No module named semhm_models" >&2; exit 1')
    with pytest.raises(plugin.PluginError, match=r"worker Python .*fake-python could not start semhm: .*No module named semhm_models"):
        plugin.infer(4, 4, "rgba", bytes, folder=str(dst))
    (dst / "fake-python").chmod(0o644)
    with pytest.raises(plugin.PluginError, match=r"cannot run the worker Python .*fake-python: Permission denied"):
        plugin.infer(4, 4, "rgba", bytes, folder=str(dst))
    monkeypatch.setenv("SEMHM_GIMP_TIMEOUT", "soon")
    with pytest.raises(plugin.PluginError, match="SEMHM_GIMP_TIMEOUT = 'soon': expected a number of seconds above 0"):
        plugin.infer(4, 4, "rgba", bytes, folder=str(dst))


def test_worker_over_files(tiny_weights, photo, tmp_path, matter, capsys, monkeypatch):
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    h, w = rgb.shape[:2]
    (tmp_path / "in.raw").write_bytes(rgb.tobytes())
    args = [str(tmp_path / "in.raw"), str(tmp_path), "--size", f"{w}x{h}", "--model", str(tiny_weights), "--provider", "cpu"]
    assert worker.main(args) == 0
    alpha = np.fromfile(tmp_path / "alpha.raw", np.float32).reshape(h, w)
    assert np.abs(alpha - matter.matte_rgb(rgb).alpha).max() < 1e-5
    (tmp_path / "m.raw").write_bytes(np.zeros((h, w), np.float32).tobytes())
    assert worker.main([*args, "--mask", str(tmp_path / "m.raw"), "--fg-format", "ya"]) == 0
    assert np.fromfile(tmp_path / "fg.raw", np.float32).size == h * w * 2
    capsys.readouterr()
    (tmp_path / "bad.raw").write_bytes(np.zeros(9, np.float32).tobytes())
    cases = {
        "9 mask values": [*args, "--mask", str(tmp_path / "bad.raw")],
        "--size '0x0': expected WIDTHxHEIGHT": [*args[:3], "0x0"],
        "--size '12x': expected": [*args[:3], "12x"],
        "--size '-3x4': expected": [*args[:2], "--size=-3x4"],
        "bytes, expected 3x3x3 = 27 for --size 3x3": [*args[:3], "3x3"],
        "does not exist": [args[0], str(tmp_path / "no" / "such"), *args[2:]],
        "in.raw: No such file": [str(tmp_path / "nope" / "in.raw"), *args[1:]],
        "over the limit of 100,000,000": [*args[:3], "12000x10000"],
    }
    for want, argv in cases.items():
        assert worker.main(argv) == 1, want
        err = capsys.readouterr().err
        assert want in err and err.count("\n") == 1 and "Traceback" not in err, err
    monkeypatch.setenv("SEMHM_THREADS", "abc")
    assert worker.main(args) == 1
    err = capsys.readouterr().err
    assert "bad setting: SEMHM_THREADS='abc'" in err and err.count("\n") == 1


def _slow_tests_skip() -> str | None:
    if os.environ.get("SEMHM_SLOW_TESTS") != "1":
        return "builds a Debian system with debootstrap (network, minutes): set SEMHM_SLOW_TESTS=1 (.ci/run does)"
    if os.geteuid() != 0:
        return "needs root for debootstrap and chroot"
    for tool in ("unshare", "chroot"):
        if not shutil.which(tool):
            return f"needs {tool}"
    return None


def test_in_real_gimp3():
    why = _slow_tests_skip()
    if why:
        pytest.skip(f"GIMP 3 end-to-end test: {why}")
    r = subprocess.run([str(CHROOT), "build"], capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, r.stdout + r.stderr
    work = ROOT / ".gimp-test"  # inside the checkout, which the chroot sees at /mnt/repo
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        src = ROOT / "semhm_models" / "demo" / "examples"
        src = next(iter(sorted(src.glob("*.jpg")))) if src.is_dir() else ROOT / "demo" / "examples" / "ccp_1288.jpg"
        Image.open(src).convert("RGB").save(work / "photo.png")
        script = (
            "set -e; export HOME=/tmp/home; mkdir -p $HOME; "  # a GIMP profile of its own (the chroot's /tmp is private)
            "/opt/semhm/bin/python -m semhm_models.cli gimp install --provider cpu >/dev/null; "
            "SEMHM_IN=/mnt/repo/.gimp-test/photo.png SEMHM_OUT=/mnt/repo/.gimp-test "
            "gimp-console-3.0 -i --batch-interpreter=python-fu-eval "
            "-b \"exec(open('/mnt/repo/tests/gimp/batch.py').read())\" --quit || rc=$?; "
            "/opt/semhm/bin/python -m semhm_models.cli gimp uninstall >/dev/null; exit ${rc:-0}"  # stops the worker
        )
        r = subprocess.run([str(CHROOT), "run", "sh", "-c", script], capture_output=True, text=True, timeout=600)
        assert (work / "report.json").exists(), r.stdout[-3000:] + r.stderr[-3000:]
        rep = json.loads((work / "report.json").read_text())
        print("GIMP timings (s):", json.dumps(rep["timings"]))
        assert rep["menu"] == [["<Image>/Layer/Transparency"], "Remove _Background (semhm)..."]
        assert rep["choices"] == {"existing-mask": ["keep", "replace"], "foreground": ["none", "new-layer"]}
        for case in ("remove", "replace", "keep", "refine", "offset16", "gray"):
            assert rep[case]["ok"], (case, rep[case])
        assert rep["keep_kept"] and rep["keep_layers"] == rep["layers"] + 1
        assert not rep["no_selection"]["ok"] and "needs a selection" in rep["no_selection"]["message"]
        assert any("semhm foreground" in name for name in rep["layers_names"]) and rep["has_alpha"]
        assert rep["timings"]["second"] < rep["timings"]["first"]
        assert len(set(rep["worker_pids"])) == 1  # one worker served every call
        assert not rep["timeout"]["ok"] and "took more than 0.05 s and was stopped" in rep["timeout"]["message"], rep["timeout"]
        assert rep["after_timeout"]["ok"] and rep["after_timeout_pid"] != rep["worker_pids"][0]
        assert not rep["empty"]["ok"] and not rep["empty_has_mask"], rep["empty"]  # a white layer: no person, no mask
        assert re.search(r"^semhm: no person found in this layer \(score 0\.\d\d\), so no mask was added", rep["empty"]["message"])

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
