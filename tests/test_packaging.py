"""The wheel, built offline from a copy of the tree: semhm_models with its data, the licence and the
metadata, and no top-level package but semhm_models."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    pytest.importorskip("setuptools", minversion="77")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "semhm_models", src / "semhm_models", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(src), "-w", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return zipfile.ZipFile(next(out.glob("semhm-*.whl")))


def test_wheel_contents(wheel):
    names = wheel.namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("semhm-")}
    assert tops == {"semhm_models"}  # no demo, plugin, train, benchmarks or tests
    for needed in (
        "semhm_models/cli.py",
        "semhm_models/frames.py",
        "semhm_models/commands/matte.py",
        "semhm_models/commands/data/bench.jpg",
        "semhm_models/weights/default/manifest.json",
        "semhm_models/weights/default/mrn.onnx",
        "semhm_models/guided.onnx",
    ):
        assert needed in names, needed
    lic = next(n for n in names if n.endswith("licenses/LICENSE"))
    assert b"Apache License" in wheel.read(lic) and b"Version 2.0" in wheel.read(lic)


def test_wheel_metadata(wheel):
    meta = email.message_from_bytes(wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))))
    assert meta["License-Expression"] == "Apache-2.0" and meta["Requires-Python"] == ">=3.10"
    assert any(c.startswith("Programming Language :: Python :: 3.") for c in meta.get_all("Classifier"))
    assert meta.get_all("Project-URL")
    extras = set(meta.get_all("Provides-Extra"))
    assert {"cpu", "gpu", "eval", "demo", "ray", "train", "test"} <= extras
    requires = meta.get_all("Requires-Dist")
    assert 'onnxruntime-gpu[cuda,cudnn]>=1.21; extra == "gpu"' in requires
    assert 'gradio>=6.0; extra == "demo"' in requires
