"""Checkpoints: the one loader, saving (atomic, with a readable .json beside each file), the resume state
and weight averaging (a 'model soup'). A stage's checkpoint is ``RUN/<stage>.safetensors``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from semhm_models.contracts import DEFAULT_TTA, STAGES
from semhm_models.nets import MPN, MRN, QUN
from semhm_models.nets.graphs import TorchRunner

NETS = {"mpn": MPN, "qun": QUN, "mrn": MRN}


def path_of(stage: str, source: str | os.PathLike) -> Path:
    """``source`` itself if it is a .safetensors file, else the run folder's ``<stage>.safetensors``."""
    source = Path(source)
    return source if source.suffix == ".safetensors" else source / f"{stage}.safetensors"


def load_state(path: str | os.PathLike, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of one checkpoint file; FileNotFoundError naming it when it is absent."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing checkpoint")
    return load_file(str(path), device=device)


def load_stage(stage: str, source: str | os.PathLike) -> torch.nn.Module:
    """The trained net of ``stage`` (mpn, qun, mrn) from a run folder or file, in eval mode and frozen."""
    net = NETS[stage]()
    path = path_of(stage, source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing checkpoint; train stage '{stage}' first")
    net.load_state_dict(load_state(path))
    return net.eval().requires_grad_(False)


def runner(
    run: str | os.PathLike,
    mpn_from: str | os.PathLike | None = None,
    qun_from: str | os.PathLike | None = None,
    precision: str = "fp32",
    tta: str = DEFAULT_TTA,
    stages: tuple[str, ...] = STAGES,
) -> TorchRunner:
    """A torch runner for semhm_models.chain.run_chain over ``run``'s checkpoints (MPN from ``mpn_from``,
    QUN from ``qun_from`` when given), with only ``stages`` loaded."""
    src = {"mpn": mpn_from or run, "qun": qun_from or run, "mrn": run}
    nets = {s: load_stage(s, src[s]) if s in stages else None for s in STAGES}
    return TorchRunner(nets["mpn"], nets["qun"], nets["mrn"], precision, tta)


def write(state: dict[str, torch.Tensor], path: Path, config: dict, step: int | None = None) -> None:
    """``path`` (safetensors with ``config`` and ``step`` as metadata, replaced atomically) and the same
    as readable ``.json`` beside it."""
    extra = {} if step is None else {"step": step}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"config": json.dumps(config), **{k: str(v) for k, v in extra.items()}})
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps({**config, **extra}, indent=1) + "\n")


def save(net: torch.nn.Module, path: Path, config: dict, step: int | None = None) -> None:
    """``net``'s weights and buffers, on the CPU, through ``write``."""
    write({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, path, config, step)


def save_resume(path: Path, state: dict) -> None:
    """The optimiser, schedule and random states of a run, replaced atomically."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def average(stage: str, sources: list[str], out: str) -> Path:
    """Uniform weight average of checkpoints of one stage that share a start (snapshots along one run, or
    runs from the same weights with other seeds): a 'model soup'. BatchNorm statistics are averaged too;
    integer buffers are taken from the first. Writes ``out/<stage>.safetensors``; ValueError when fewer
    than two sources or when they are not alike, FileNotFoundError when one is missing."""
    if len(sources) < 2:
        raise ValueError("average needs at least two checkpoints")
    states = [load_state(path_of(stage, src)) for src in sources]
    keys = states[0].keys()
    for src, st in zip(sources, states, strict=True):
        if st.keys() != keys or any(st[k].shape != states[0][k].shape for k in keys):
            raise ValueError(f"{src}: not a {stage} checkpoint like {sources[0]}")
    avg = {k: torch.stack([st[k] for st in states]).mean(0) if states[0][k].is_floating_point() else states[0][k] for k in keys}
    run = Path(out)
    run.mkdir(parents=True, exist_ok=True)
    path = run / f"{stage}.safetensors"
    write(avg, path, {"stage": stage, "average_of": sources})
    return path
