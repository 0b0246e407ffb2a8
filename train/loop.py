"""The one training loop around a stage (train.stages): resume, cosine schedule, logging, checkpoints;
and the same on several processes under torchrun (DistributedDataParallel, gloo on CPU, nccl on GPU)."""

from __future__ import annotations

import gc
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from train import checkpoints, data
from train.stages import TRAINING_STAGES, Batches, StageArgs

RANK_SEED_STRIDE = 100_003  # rank r draws its batches with seed + r * stride: its own shard of random samples


@dataclass(frozen=True)
class Processes:
    """Where this process stands: one process (no torch.distributed), or rank ``rank`` of ``world``
    started by torchrun (WORLD_SIZE, RANK, LOCAL_RANK in the environment)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @classmethod
    def start(cls) -> Processes:
        cuda, world = torch.cuda.is_available(), int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls(device=torch.device("cuda" if cuda else "cpu"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
        return cls(dist.get_rank(), world, torch.device(f"cuda:{local}" if cuda else "cpu"))

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def mean(self, x: float) -> float:
        return float(np.mean(self.gather(x)))


def train(a: StageArgs) -> Path:
    """Train stage ``a.stage`` into ``a.run`` (resuming where it stopped); returns its checkpoint. Under
    torchrun ``a.batch`` is the total batch, split across the processes; rank 0 writes every file."""
    if a.stage not in TRAINING_STAGES:
        raise ValueError(f"unknown stage '{a.stage}' ({', '.join(TRAINING_STAGES)})")
    if a.threads:
        torch.set_num_threads(a.threads)
    procs = Processes.start()
    try:
        ckpt = _train(a, procs)
        if procs.world > 1:
            # Every rank done (rank 0 has written the checkpoints) and the DDP model gone before any rank tears its
            # connections down: a rank that exited first, with gloo's threads still running, aborted (SIGABRT,
            # "terminate called without an active exception") about one run in fifteen on a loaded machine.
            gc.collect()
            dist.barrier()
        return ckpt
    finally:
        if procs.world > 1:
            dist.destroy_process_group()


def _train(a: StageArgs, procs: Processes) -> Path:
    if a.batch % procs.world:
        raise ValueError(f"--batch {a.batch} does not split evenly across {procs.world} processes")
    stage, dev, n, main = TRAINING_STAGES[a.stage](a, procs.device), procs.device, a.batch // procs.world, procs.rank == 0
    torch.manual_seed(a.seed)
    run = Path(a.run)
    run.mkdir(parents=True, exist_ok=True)
    b = Batches(data.load_config(a.config), a, dev, stage.coarse_photos and a.coarse == "use", a.seed + procs.rank * RANK_SEED_STRIDE)
    net = stage.build()
    if a.init_from:
        stage.init_target(net).load_state_dict(checkpoints.load_state(a.init_from))
    net.to(dev).train()
    model = torch.nn.parallel.DistributedDataParallel(net) if procs.world > 1 else net
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.steps, eta_min=a.lr * 0.05)
    files = {name: run / f"{name}.safetensors" for name in stage.files(net)}
    ckpt, resume, step = files[a.stage], run / f"{a.stage}.resume.pt", 0
    if resume.exists():
        st = torch.load(resume, map_location=dev, weights_only=False)
        ranks = st.get("ranks", [st])  # one entry per process (files of older versions: one)
        if len(ranks) != procs.world:
            raise ValueError(f"{resume}: written by {len(ranks)} process(es), resume with as many (not {procs.world})")
        stage.files(net)[a.stage].load_state_dict(checkpoints.load_state(ckpt, str(dev)))
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        sched.T_max = a.steps  # resumed with another --steps: the schedule now ends there
        mine = ranks[procs.rank]
        b.rng.bit_generator.state, step = mine["rng"], st["step"]
        b.gen.set_state(mine["gen"])
        torch.set_rng_state(mine["torch_rng"])
        if main:
            print(f"resumed {a.stage} at step {step}")
    n_coarse = stage.n_coarse(n, len(b.fine["alpha"]), len(b.coarse["mask"])) if b.coarse is not None else 0
    log = open(run / f"{a.stage}.log.jsonl", "a") if main else None
    t0, losses = time.time(), []
    while step < a.steps:
        inputs, targets = stage.batch(b, n, n_coarse)
        loss = stage.loss(model(*inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        losses.append(loss.item())
        if step % a.log_every == 0 or step == a.steps:
            rec = {"stage": a.stage, "step": step, "loss": procs.mean(np.mean(losses)), "lr": sched.get_last_lr()[0]}
            if main:
                rec["s"] = round(time.time() - t0, 1)
                log.write(json.dumps(rec) + "\n")
                log.flush()
                print(json.dumps(rec), flush=True)
            losses = []
        if step % a.save_every == 0 or step == a.steps:
            rngs = procs.gather({"rng": b.rng.bit_generator.state, "gen": b.gen.get_state(), "torch_rng": torch.get_rng_state()})
            if main:
                for name, module in stage.files(net).items():
                    checkpoints.save(module, files[name], asdict(a), step)
                checkpoints.save_resume(resume, {"opt": opt.state_dict(), "sched": sched.state_dict(), "step": step, "ranks": rngs})
    if log:
        log.close()
    return ckpt
