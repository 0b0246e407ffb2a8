"""The library stands apart from its applications: importing any library module, each in a fresh
interpreter, loads no command, demo, GIMP or Ray code and none of the heavy optional dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

LIBRARY = ("api", "chain", "images", "processing", "runtime", "weights", "manifest", "options", "contracts", "errors", "progress")
FORBIDDEN = (
    "semhm_models.cli",
    "semhm_models.commands",
    "semhm_models.demo",
    "semhm_models.gimp",
    "semhm_models.ray_engine",
    "gradio",
    "torch",
    "train",
    "scipy",
    "ray",
)


@pytest.mark.parametrize("module", LIBRARY)
def test_library_module_imports_no_application(module):
    code = f"import json, sys; import semhm_models.{module}; print(json.dumps(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = json.loads(r.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"semhm_models.{module} imports {bad}"
