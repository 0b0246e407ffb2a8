"""The three training stages with the paper's losses (Eq. 2, 3-5, 6), checkpoints and resume, and the
joint fine-tune of MPN and MRN that follows them (ours, docs/training.md).

Batches are made on the fly from the cached uint8 arrays: fine persons composited over random training
backgrounds, coarse persons as the real photos with their coarse masks. Augmentation: random horizontal
flips (paper) and random crops (ours: CCP is full-body only, so crops teach MPN half-body and head shots).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from semhm_models.contracts import MPN_SIZE
from semhm_models.nets import MPN, MRN, QUN, load_lite0_encoder
from semhm_models.nets.models import resize_lr
from train import data
from train.export import DEFAULT_TTA, MPNGraph


@dataclass
class StageArgs:
    stage: str  # mpn | qun | mrn | joint (MPN and MRN fine-tuned together, after the paper's stages)
    run: str  # folder for checkpoints and logs
    config: str
    cache: str = "data/cache"
    coarse: str = "use"  # mpn: use | none (the 'without coarse data' ablation)
    qun: str = "use"  # mrn: use | none (the 'without QUN' ablation)
    mpn_from: str = ""  # mrn/qun: folder holding mpn.safetensors, default: run
    qun_from: str = ""  # mrn: folder holding qun.safetensors, default: run
    steps: int = 1000
    batch: int = 16
    lr: float = 1e-3
    seed: int = 0
    threads: int = 0
    log_every: int = 25
    save_every: int = 100
    pretrained: str = "imagenet"  # mpn encoder: imagenet | none
    init_from: str = ""  # start from this stage checkpoint (a longer schedule for weights already trained);
    # joint: the MRN checkpoint, MPN comes from mpn_from
    mrn_masks: str = "chain"  # mrn: chain (MPN -> QUN, the paper) | mix (half from degraded ground truth)
    mpn_tta: str = DEFAULT_TTA  # mrn, joint: MPN's masks as exported, see train.export.MPN_TTA
    limit: int = 0  # use only the first N persons of each split (tests)


STAGES = ("mpn", "qun", "mrn", "joint")


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def mpn_loss(pred: torch.Tensor, alpha: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
    """Eq. 2: lambda_L * L1(fg) + (1 - lambda_L) * L1(bg), lambda_L = 0.5; bg target = 1 - alpha."""
    return lam * l1(pred[:, :1], alpha) + (1 - lam) * l1(pred[:, 1:2], 1 - alpha)


def qun_loss(qx: torch.Tensor, qx_: torch.Tensor, x: torch.Tensor, x_: torch.Tensor, l1w=0.25, l2w=0.5):
    """Eq. 3-5: lambda_1 (L1(Q(x), x) + L1(Q(x'), x')) + lambda_2 L1(Q(x), Q(x'))."""
    return l1w * (l1(qx, x) + l1(qx_, x_)) + l2w * l1(qx, qx_)


def mrn_loss(fgr, alpha, fgr_gt, alpha_gt, lam: float = 0.5) -> torch.Tensor:
    """Eq. 6: lambda_H L1(RGB) + (1 - lambda_H) L1(alpha). The RGB term counts only where the person is
    (alpha > 0): foreground colour has no meaning on pure background."""
    w = (alpha_gt > 0).float()
    rgb = ((fgr - fgr_gt).abs() * w).sum() / (3 * w.sum()).clamp(min=1.0)
    return lam * rgb + (1 - lam) * l1(alpha, alpha_gt)


def degrade(mask: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The paper's coarse-mask simulation on (N,1,h,w) masks: random 3x3/5x5 filters, binarisation,
    dilation and erosion, each applied or not at random, in random order."""
    out = []
    for m in mask:
        m = m[None]
        ops = torch.randperm(4, generator=g).tolist()
        for op in ops:
            if torch.rand(1, generator=g).item() < 0.5:
                continue
            k = 3 if torch.rand(1, generator=g).item() < 0.5 else 5
            reps = int(torch.randint(1, 4, (1,), generator=g))
            if op == 0:  # mean filter
                for _ in range(reps):
                    m = F.avg_pool2d(F.pad(m, [k // 2] * 4, mode="replicate"), k, 1)
            elif op == 1:  # binarise
                m = (m > 0.3 + 0.4 * torch.rand(1, generator=g).item()).float()
            elif op == 2:  # dilate
                for _ in range(reps):
                    m = F.max_pool2d(m, k, 1, k // 2)
            else:  # erode
                for _ in range(reps):
                    m = -F.max_pool2d(-m, k, 1, k // 2)
        out.append(m[0])
    return torch.stack(out)


class Batches:
    """Random batches as float32 NCHW tensors in [0, 1] on ``device``."""

    def __init__(self, cfg: dict, a: StageArgs, device: torch.device, need_coarse: bool):
        lim = a.limit or None
        self.fine = data.load_split(cfg, a.cache, "fine")
        if lim:
            self.fine = {k: v[:lim] for k, v in self.fine.items()}
        self.coarse = data.load_split(cfg, a.cache, "coarse") if need_coarse else None
        if self.coarse is not None and lim:
            self.coarse = {k: v[:lim] for k, v in self.coarse.items()}
        self.bgs = data.load_backgrounds(cfg, "train")
        self.rng = np.random.default_rng(a.seed)
        self.device = device

    def _crop_size(self, h: int, w: int, min_scale: float) -> tuple[int, int]:
        s = self.rng.uniform(min_scale, 1.0)
        ch, cw = min(h, max(8, int(h * s))), min(w, max(8, int(w * min(1.0, s * self.rng.uniform(0.9, 1.3)))))
        return ch, cw

    def fine_batch(self, n: int):
        """Composites: image, alpha, foreground (N,3|1|3,H,W)."""
        idx = self.rng.integers(len(self.fine["alpha"]), size=n)
        bgs = self.bgs[self.rng.integers(len(self.bgs), size=n)]
        bgs = np.where(self.rng.random(n)[:, None, None, None] < 0.5, bgs, bgs[:, :, ::-1])
        fg, alpha = self.fine["fg"][idx], self.fine["alpha"][idx]
        img = data.composite(fg, alpha, bgs)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        return t(img).permute(0, 3, 1, 2), t(alpha.astype(np.float32) / 255)[:, None], t(fg.astype(np.float32) / 255).permute(0, 3, 1, 2)

    def coarse_batch(self, n: int):
        idx = self.rng.integers(len(self.coarse["mask"]), size=n)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(self.device)  # noqa: E731
        img = t(self.coarse["image"][idx].astype(np.float32) / 255).permute(0, 3, 1, 2)
        return img, t(self.coarse["mask"][idx].astype(np.float32) / 255)[:, None]

    def flip_crop(self, tensors: list[torch.Tensor], min_scale: float, size: tuple[int, int] | None):
        """Same random flip and crop for each sample across ``tensors``, resized to ``size`` if given;
        without ``size`` the crop size is drawn once per batch so the samples stack."""
        n, _, h, w = tensors[0].shape
        outs: list[list[torch.Tensor]] = [[] for _ in tensors]
        ch, cw = self._crop_size(h, w, min_scale)
        for i in range(n):
            flip = self.rng.random() < 0.5
            if size is not None:
                ch, cw = self._crop_size(h, w, min_scale)
            y, x = self.rng.integers(0, h - ch + 1), self.rng.integers(0, w - cw + 1)
            for j, t in enumerate(tensors):
                c = t[i : i + 1, :, y : y + ch, x : x + cw]
                c = c.flip(-1) if flip else c
                if size is not None:
                    c = resize_lr(c, size)
                outs[j].append(c)
        return [torch.cat(o) for o in outs]


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _load(net: torch.nn.Module, folder: str, name: str) -> torch.nn.Module:
    path = Path(folder) / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; train stage '{name}' first")
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)


class Joint(torch.nn.Module):
    """MPN (as exported, with its test-time passes) and MRN as one net, for the end-to-end fine-tune: the
    final alpha's loss reaches MPN, so MPN learns the masks that MRN refines best. MPN keeps its
    BatchNorm statistics (MRN's batches are small crops)."""

    def __init__(self, mpn: MPN, mrn: MRN, tta: str) -> None:
        super().__init__()
        self.graph, self.mrn = MPNGraph(mpn, tta), mrn

    @property
    def mpn(self) -> MPN:
        return self.graph.mpn

    def train(self, mode: bool = True) -> Joint:
        super().train(mode)
        self.mpn.eval()
        return self


def train_stage(a: StageArgs) -> Path:
    if a.stage not in STAGES:
        raise ValueError(f"unknown stage '{a.stage}' ({', '.join(STAGES)})")
    if a.stage == "joint" and not a.init_from:
        raise ValueError("stage joint fine-tunes trained weights: give --init-from MRN checkpoint and --mpn-from")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = _device()
    cfg = data.load_config(a.config)
    run = Path(a.run)
    run.mkdir(parents=True, exist_ok=True)
    batches = Batches(cfg, a, dev, need_coarse=a.stage in ("mpn", "joint") and a.coarse == "use")
    g = torch.Generator().manual_seed(a.seed)

    if a.stage == "mpn":
        net = MPN()
        if a.pretrained == "imagenet":
            load_lite0_encoder(net.encoder)
    elif a.stage == "qun":
        net = QUN()
    elif a.stage == "joint":
        net = Joint(_load(MPN(), a.mpn_from or a.run, "mpn"), MRN(), a.mpn_tta).requires_grad_(True)
    else:
        net = MRN()
        mpn = MPNGraph(_load(MPN(), a.mpn_from or a.run, "mpn"), a.mpn_tta).to(dev)
        qun = _load(QUN(), a.qun_from or a.run, "qun").to(dev) if a.qun == "use" else None
    if a.init_from:  # joint: its MRN (its MPN comes from mpn_from)
        (net.mrn if a.stage == "joint" else net).load_state_dict(load_file(a.init_from))
    net.to(dev).train()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.steps, eta_min=a.lr * 0.05)

    ckpt, resume = run / f"{a.stage}.safetensors", run / f"{a.stage}.resume.pt"
    step = 0
    if resume.exists():
        st = torch.load(resume, map_location=dev, weights_only=False)
        net.load_state_dict(load_file(str(ckpt), device=str(dev)))
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        batches.rng.bit_generator.state = st["rng"]
        g.set_state(st["gen"])
        torch.set_rng_state(st["torch_rng"])
        step = st["step"]
        print(f"resumed {a.stage} at step {step}")
    log = open(run / f"{a.stage}.log.jsonl", "a")
    t0, losses = time.time(), []
    n_coarse = 0
    if batches.coarse is not None:
        nf, nc = len(batches.fine["alpha"]), len(batches.coarse["mask"])
        # MPN sees fine and coarse persons in their proportion; joint adds coarse photos to its `batch`
        # composites (without them MPN drifts towards composites and gets worse on real photos)
        n_coarse = round(a.batch * nc / (nf + nc)) if a.stage == "mpn" else round(a.batch * nc / nf)

    while step < a.steps:
        if a.stage == "mpn":
            img, alpha, _ = batches.fine_batch(a.batch - n_coarse)
            img, alpha = batches.flip_crop([img, alpha], 0.45, MPN_SIZE)
            if n_coarse:
                ci, cm = batches.coarse_batch(n_coarse)
                ci, cm = batches.flip_crop([ci, cm], 0.45, MPN_SIZE)
                img, alpha = torch.cat([img, ci]), torch.cat([alpha, cm])
            loss = mpn_loss(net(img), alpha)
        elif a.stage == "qun":
            img, alpha, _ = batches.fine_batch(a.batch)
            img, alpha = batches.flip_crop([img, alpha], 0.45, MPN_SIZE)
            x_ = degrade(alpha.cpu(), g).to(dev)
            loss = qun_loss(net(img, alpha), net(img, x_), alpha, x_)
        elif a.stage == "mrn":
            img, alpha, fg = batches.fine_batch(a.batch)
            img, alpha, fg = batches.flip_crop([img, alpha, fg], 0.6, None)
            with torch.no_grad():
                lr_img = resize_lr(img, MPN_SIZE)
                mask = mpn(lr_img)[1]
                if a.mrn_masks == "mix":  # MPN's errors are mostly semantic: MRN also needs masks whose
                    k = a.batch // 2  # only fault is their edges, to learn to refine edges at all
                    mask[:k] = degrade(resize_lr(alpha[:k], MPN_SIZE).cpu(), g).to(dev)
                if qun is not None:
                    mask = qun(lr_img, mask)
            fgr, pa = net(img, mask)
            loss = mrn_loss(fgr, pa, fg, alpha)
        else:  # joint: Eq. 6 on the chain's output plus Eq. 2 on MPN's masks (fine) and predictions (coarse)
            img, alpha, fg = batches.fine_batch(a.batch)
            img, alpha, fg = batches.flip_crop([img, alpha, fg], 0.6, None)
            masks = net.graph(resize_lr(img, MPN_SIZE))[0]
            fgr, pa = net.mrn(img, masks[:, :1])
            preds, targets = [masks], [resize_lr(alpha, MPN_SIZE)]
            if n_coarse:
                ci, cm = batches.coarse_batch(n_coarse)
                ci, cm = batches.flip_crop([ci, cm], 0.45, MPN_SIZE)
                preds.append(net.mpn(ci))
                targets.append(cm)
            loss = mrn_loss(fgr, pa, fg, alpha) + mpn_loss(torch.cat(preds), torch.cat(targets))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        losses.append(loss.item())
        if step % a.log_every == 0 or step == a.steps:
            rec = {
                "stage": a.stage,
                "step": step,
                "loss": float(np.mean(losses)),
                "lr": sched.get_last_lr()[0],
                "s": round(time.time() - t0, 1),
            }
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            losses = []
        if step % a.save_every == 0 or step == a.steps:
            _save(net, ckpt, a, step)
            if a.stage == "joint":  # the stages' own files, for evaluate and export
                _save(net.mpn, run / "mpn.safetensors", a, step)
                _save(net.mrn, run / "mrn.safetensors", a, step)
            tmp = resume.with_suffix(".tmp")
            torch.save(
                {
                    "opt": opt.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": batches.rng.bit_generator.state,
                    "gen": g.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "step": step,
                },
                tmp,
            )
            os.replace(tmp, resume)
    log.close()
    return ckpt


def _save(net: torch.nn.Module, path: Path, a: StageArgs, step: int) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    _write_checkpoint(state, path, {"config": json.dumps(asdict(a)), "step": str(step)}, {**asdict(a), "step": step})


def _write_checkpoint(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str], info: dict) -> None:
    """``path`` (safetensors, replaced atomically) and its readable ``.json`` beside it."""
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")


def average_checkpoints(stage: str, sources: list[str], out: str) -> Path:
    """Uniform weight average of checkpoints of one stage that share a start (snapshots along one run, or
    runs from the same weights with other seeds): a 'model soup'. BatchNorm statistics are averaged too;
    integer buffers are taken from the first."""
    if len(sources) < 2:
        raise ValueError("average needs at least two checkpoints")
    states = []
    for src in sources:
        path = Path(src) if src.endswith(".safetensors") else Path(src) / f"{stage}.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing checkpoint")
        states.append(load_file(str(path)))
    keys = states[0].keys()
    for src, st in zip(sources, states, strict=True):
        if st.keys() != keys or any(st[k].shape != states[0][k].shape for k in keys):
            raise ValueError(f"{src}: not a {stage} checkpoint like {sources[0]}")
    avg = {k: torch.stack([st[k] for st in states]).mean(0) if states[0][k].is_floating_point() else states[0][k] for k in keys}
    run = Path(out)
    run.mkdir(parents=True, exist_ok=True)
    path = run / f"{stage}.safetensors"
    info = {"stage": stage, "average_of": sources}
    _write_checkpoint(avg, path, {"config": json.dumps(info)}, info)
    return path
