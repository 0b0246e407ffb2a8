"""`semhm doctor`: versions, the providers that really work, the device, the weights and their check."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys

from semhm_models.errors import SemhmError


def add_parser(sub) -> None:
    d = sub.add_parser("doctor", help="versions, providers that really work, the device, the weights and their check")
    d.add_argument("--model", default=None, metavar="SOURCE")
    d.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import huggingface_hub
    import numpy as np
    import PIL

    from semhm_models import __version__, gimp, runtime, weights

    ok = True
    print(f"semhm {__version__} on Python {platform.python_version()} ({sys.executable})")
    print(f"platform: {platform.platform()}")
    print(f"numpy {np.__version__}, pillow {PIL.__version__}, huggingface_hub {huggingface_hub.__version__}")
    print(f"onnxruntime packages: {', '.join(runtime.installed_ort()) or 'none'}")
    try:
        w = weights.resolve(args.model)
        print(
            f"weights: {w.source} at {w.folder}: {len(w.manifest.files)} files, sha256 ok, "
            f"version {w.manifest.version}, precisions {', '.join(w.precisions)}"
        )
        met = w.manifest.info.get("metrics", {}).get("validation", {})
        if met:
            print(f"weights metrics (validation): {json.dumps(met)}")
    except SemhmError as e:
        print(f"weights: FAILED: {e}")
        ok, w = False, None
    try:
        runtime.import_ort()
        if w is not None:
            for name, state in runtime.working_providers(str(w.path("mrn"))).items():
                print(f"provider {name}: {state}")
            from semhm_models.api import Matter

            m = Matter(w)
            print(f"default session runs on: {m.provider}, {m.precision}")
    except SemhmError as e:
        print(f"onnxruntime: FAILED: {e}")
        ok = False
    print(f"device: {device_name()}")
    print(f"GIMP plug-in: {gimp.status()}")
    return 0 if ok else 1


def device_name() -> str:
    if shutil.which("nvidia-smi"):
        try:
            r = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
            )
            if r.returncode == 0 and r.stdout.strip():
                return "GPU " + r.stdout.strip().replace("\n", "; ")
        except (OSError, subprocess.SubprocessError):
            pass
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, no NVIDIA GPU found"
