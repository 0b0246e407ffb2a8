"""Shared fixtures: tiny real models (the real architectures, seeded random weights with randomised
BatchNorm statistics) exported to ONNX with the real exporter, and the hub server."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def need_shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (it exists on the project's machines only)")
    return SHARED


def random_checkpoints(folder: Path, seed: int = 0) -> Path:
    import torch
    from safetensors.torch import save_file

    from semhm_models.nets import MPN, MRN, QUN

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, cls in (("mpn", MPN), ("qun", QUN), ("mrn", MRN)):
        net = cls()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / f"{name}.safetensors"))
    return folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return random_checkpoints(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="session")
def tiny_weights(tiny_run, tmp_path_factory) -> Path:
    from train.export import export

    out = tmp_path_factory.mktemp("weights")
    export(tiny_run, out, info={"training": {"data": "none: random weights for tests"}})
    return out


@pytest.fixture(scope="session")
def matter(tiny_weights):
    from semhm_models import Matter

    return Matter.from_pretrained(str(tiny_weights), provider="cpu", threads=2)


@pytest.fixture
def photo(tmp_path) -> Path:
    """A small real photo when ../shared is here, else a synthetic one."""
    p = tmp_path / "photo.jpg"
    src = SHARED / "ccp-photos"
    if src.is_dir():
        from PIL import Image

        with Image.open(sorted(src.iterdir())[0]) as im:
            im.convert("RGB").resize((137, 205)).save(p)
    else:
        from PIL import Image

        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (205, 137, 3), dtype=np.uint8)).save(p)
    return p
