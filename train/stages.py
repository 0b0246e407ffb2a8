"""The three training stages with the paper's losses (Eq. 2, 3-5, 6), and the joint fine-tune of MPN and
MRN that follows them (ours, docs/training.md): one small class per stage, run by train.loop.

Batches are made on the fly from the cached uint8 arrays. With ``frames`` "scenes" (the default, issue 13):
MPN sees train.scenes frames of every aspect ratio from 9:16 to 21:9 (one per batch), 0-4 persons (fine
persons and the coarse photos' persons cut out by their masks), a fifth with nobody, relit and through a
camera, plus the real coarse photos cropped to the batch's aspect ratio; QUN sees such frames with the
masks people draw (train.usermasks) around one person or all of them. With "crops" (the first recipe):
fine persons composited over random training backgrounds, coarse persons as the real photos with their
coarse masks, random flips and crops, all squeezed to 192x160.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from semhm_models import processing as pp
from semhm_models.contracts import DEFAULT_TTA, MPN_PIXELS, MPN_SIZE
from semhm_models.nets import MPN, MRN, QUN, load_lite0_encoder
from semhm_models.nets.graphs import MPNGraph
from semhm_models.nets.models import resize_lr
from train import data, scenes, usermasks
from train.checkpoints import load_stage

FRAMES = ("scenes", "crops", "mix")  # mix (mpn): each batch one or the other, at random
REAL_SHARE = 0.25  # mpn, frames scenes: share of each batch that is real coarse photos (the rest: scene frames)
QUN_FRAME_PIXELS = 416 * 276  # qun: frames are made at about the validation composites' size, then shrunk
QUN_FG = ("simulated", "mpn")  # qun: where MPN's mask input comes from (StageArgs.qun_fg)
QUN_ONE_PERSON = 0.5  # qun: share of masks around one person of the frame (the rest: around all of them)


@dataclass
class StageArgs:
    stage: str  # mpn | qun | mrn | joint (MPN and MRN fine-tuned together, after the paper's stages)
    run: str  # folder for checkpoints and logs
    config: str
    cache: str = "data/cache"
    coarse: str = "use"  # mpn: use | none (the 'without coarse data' ablation)
    qun_masks: str = "all"  # mrn: MPN's masks through QUN (all, the paper) or not (coarse, none: 'without QUN')
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
    mpn_tta: str = DEFAULT_TTA  # mrn, joint: MPN's masks as exported, see semhm_models.contracts.MPN_TTA
    limit: int = 0  # use only the first N persons of each split (tests)
    frames: str = "scenes"  # mpn, qun: scenes (issue 13: any aspect, 0-4 persons, user masks) | crops (first recipe)
    qun_fg: str = "simulated"  # qun, frames scenes: MPN's mask input simulated (degraded truth) | mpn (the frozen
    # MPN of mpn_from, with mpn_tta: QUN learns how far to trust it)
    mpn_input: str = "aspect"  # qun (frames scenes), mrn: the low resolution MPN and QUN see, as the weights will be
    # exported (processing.lowres_size: aspect | fixed)


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
    """Random batches as float32 NCHW tensors in [0, 1] on ``device``, drawn with ``seed``."""

    def __init__(self, cfg: dict, a: StageArgs, device: torch.device, need_coarse: bool, seed: int):
        lim = a.limit or None
        self.fine = data.load_split(cfg, a.cache, "fine")
        if lim:
            self.fine = {k: v[:lim] for k, v in self.fine.items()}
        self.coarse = data.load_split(cfg, a.cache, "coarse") if need_coarse else None
        if self.coarse is not None and lim:
            self.coarse = {k: v[:lim] for k, v in self.coarse.items()}
        self.bgs = data.load_backgrounds(cfg, "train")
        self.rng = np.random.default_rng(seed)  # crops, flips, persons, backgrounds
        self.gen = torch.Generator().manual_seed(seed)  # mask degradations
        self.device = device
        self.cfg, self._samplers = cfg, {}

    def sampler(self, with_coarse: bool) -> scenes.SceneSampler:
        """Scene frames from the training persons (fine ones; with ``with_coarse`` also the coarse photos'
        persons, cut out by their masks) over the training backgrounds at their own size; made once."""
        if with_coarse not in self._samplers:
            persons = scenes.persons_of(self.fine)
            if with_coarse and self.coarse is not None:
                persons += scenes.persons_of({"alpha": self.coarse["mask"], "fg": self.coarse["image"]})
            if "bgs" not in self._samplers:
                self._samplers["bgs"] = scenes.load_background_images(self.cfg, "train")
            self._samplers[with_coarse] = scenes.SceneSampler(persons, self._samplers["bgs"], self.rng)
        return self._samplers[with_coarse]

    def tensor(self, a: np.ndarray, scale: float = 1 / 255) -> torch.Tensor:
        """uint8 (N, H, W, C) or (N, H, W) -> float32 (N, C, H, W) on the device."""
        t = torch.from_numpy(np.ascontiguousarray(a)).to(self.device).float() * scale
        return t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)

    def scene_batch(self, n: int, hw: tuple[int, int], with_coarse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` scene frames of size ``hw``: image (N, 3, H, W), alpha (N, 1, H, W)."""
        sampler = self.sampler(with_coarse)
        frames = [sampler.frame(hw[0] * hw[1], hw[1] / hw[0]) for _ in range(n)]
        return self.tensor(np.stack([f[0] for f in frames])), self.tensor(np.stack([f[1] for f in frames]))

    def aspect_crop(self, tensors: list[torch.Tensor], hw: tuple[int, int], min_scale: float = 0.6) -> list[torch.Tensor]:
        """Per sample, one random crop of the aspect ratio of ``hw`` (60-100% of the largest such crop, so
        a wide crop of a standing person is a band of it), mirrored at random, resized to ``hw``."""
        n, _, h, w = tensors[0].shape
        aspect = hw[1] / hw[0]
        outs: list[list[torch.Tensor]] = [[] for _ in tensors]
        for i in range(n):
            ch, cw = (h, h * aspect) if aspect < w / h else (w / aspect, w)
            s = self.rng.uniform(min_scale, 1.0)
            ch, cw = max(8, int(ch * s)), max(8, int(cw * s))
            y, x = self.rng.integers(0, h - ch + 1), self.rng.integers(0, w - cw + 1)
            flip = self.rng.random() < 0.5
            for j, t in enumerate(tensors):
                c = t[i : i + 1, :, y : y + ch, x : x + cw]
                outs[j].append(resize_lr(c.flip(-1) if flip else c, hw))
        return [torch.cat(o) for o in outs]

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


class Stage:
    """One training stage: the module it trains (``build``), one batch of that module's inputs and of the
    loss's targets (``batch``), the loss, and the checkpoint files it writes (``files``; the first is the
    one it resumes from)."""

    name = ""
    coarse_photos = False  # also draws real photos with their coarse masks (unless --coarse none)

    def __init__(self, a: StageArgs, device: torch.device) -> None:
        self.a, self.device = a, device

    def build(self) -> torch.nn.Module:
        raise NotImplementedError

    def batch(self, b: Batches, n: int, n_coarse: int) -> tuple[tuple, tuple]:
        raise NotImplementedError

    def loss(self, out, targets: tuple) -> torch.Tensor:
        raise NotImplementedError

    def files(self, net: torch.nn.Module) -> dict[str, torch.nn.Module]:
        return {self.name: net}

    def init_target(self, net: torch.nn.Module) -> torch.nn.Module:
        """What --init-from loads into."""
        return next(iter(self.files(net).values()))

    def n_coarse(self, n: int, n_fine_persons: int, n_coarse_persons: int) -> int:
        return 0


def real_share(frames: str, nf: int, nc: int) -> float:
    """mpn: the share of a batch that is real coarse photos, for ``frames`` scenes (``REAL_SHARE``) or crops
    (``nc`` coarse persons against ``nf`` fine ones, in proportion to their counts)."""
    return REAL_SHARE if frames == "scenes" else nc / (nf + nc)


class MPNStage(Stage):
    """Eq. 2 on fine composites and coarse photos, in proportion to their counts."""

    name, coarse_photos = "mpn", True

    def build(self) -> torch.nn.Module:
        net = MPN()
        if self.a.pretrained == "imagenet":
            load_lite0_encoder(net.encoder)
        return net

    def n_coarse(self, n: int, nf: int, nc: int) -> int:
        return round(n * real_share(self.a.frames, nf, nc))

    def batch(self, b: Batches, n: int, n_coarse: int) -> tuple[tuple, tuple]:
        frames = self.a.frames
        if frames == "mix":  # every other batch (at random) of each recipe, each with its own share of real photos
            frames = "scenes" if b.rng.random() < 0.5 else "crops"
            n_coarse = 0 if b.coarse is None else round(n * real_share(frames, len(b.fine["alpha"]), len(b.coarse["mask"])))
        if frames == "scenes":
            hw = pp.budget_size(MPN_PIXELS, b.sampler(True).aspect())
            img, alpha = b.scene_batch(n - n_coarse, hw, with_coarse=b.coarse is not None)
            if n_coarse:
                ci, cm = b.aspect_crop(list(b.coarse_batch(n_coarse)), hw)
                img, alpha = torch.cat([img, ci]), torch.cat([alpha, cm])
            return (img,), (alpha,)
        img, alpha, _ = b.fine_batch(n - n_coarse)
        img, alpha = b.flip_crop([img, alpha], 0.45, MPN_SIZE)
        if n_coarse:
            ci, cm = b.coarse_batch(n_coarse)
            ci, cm = b.flip_crop([ci, cm], 0.45, MPN_SIZE)
            img, alpha = torch.cat([img, ci]), torch.cat([alpha, cm])
        return (img,), (alpha,)

    def loss(self, out, targets: tuple) -> torch.Tensor:
        return mpn_loss(out, targets[0])


class QUNPair(torch.nn.Module):
    """QUN on an accurate mask x and on its degraded twin x' (both terms of Eq. 3-5 in one forward), each
    with the frame's foreground mask as MPN would give it."""

    def __init__(self, qun: QUN) -> None:
        super().__init__()
        self.qun = qun

    def forward(self, image_lr, x, x_, fg_mask) -> tuple[torch.Tensor, torch.Tensor]:
        return self.qun(image_lr, x, fg_mask), self.qun(image_lr, x_, fg_mask)


class QUNStage(Stage):
    """frames "crops": Eq. 3-5 on fine alphas and their random degradations (the paper). frames "scenes"
    (refine, issue 14): scene frames with a user-like mask (train.usermasks: dilated, eroded, ellipse,
    box, lasso, scribble, holes, blobs, the paper's) around one person or all of them; the target is that
    person's visible alpha (or the frame's): L1(Q(x'), x) + L1(Q(x), x) / 2 with x the target, x' the
    user's mask, and MPN's mask simulated by the paper's degradations of the frame's alpha."""

    name = "qun"

    def build(self) -> torch.nn.Module:
        a = self.a
        if a.qun_fg not in QUN_FG:
            raise ValueError(f"--qun-fg {a.qun_fg!r}: choose {', '.join(QUN_FG)}")
        if a.qun_fg == "mpn" and a.frames != "scenes":
            raise ValueError("--qun-fg mpn needs --frames scenes")
        self.mpn = MPNGraph(load_stage("mpn", a.mpn_from or a.run), a.mpn_tta).to(self.device) if a.qun_fg == "mpn" else None
        return QUNPair(QUN())

    def files(self, net: torch.nn.Module) -> dict[str, torch.nn.Module]:
        return {"qun": net.qun}

    def batch(self, b: Batches, n: int, n_coarse: int) -> tuple[tuple, tuple]:
        if self.a.frames == "scenes":
            return self._scene_batch(b, n)
        img, alpha, _ = b.fine_batch(n)
        img, alpha = b.flip_crop([img, alpha], 0.45, MPN_SIZE)
        x_ = degrade(alpha.cpu(), b.gen).to(self.device)
        return (img, alpha, x_, degrade(alpha.cpu(), b.gen).to(self.device)), (alpha, x_)

    def _scene_batch(self, b: Batches, n: int) -> tuple[tuple, tuple]:
        sampler = b.sampler(False)
        aspect = sampler.aspect()
        imgs, targets, masks, alphas = [], [], [], []
        while len(imgs) < n:
            image, alpha, _, persons = sampler.frame(QUN_FRAME_PIXELS, aspect)
            if not persons or alpha.max() < 128:
                continue  # a frame with nobody visible: no person to point at
            target = alpha.astype(np.float32) / 255
            if len(persons) > 1 and b.rng.random() < QUN_ONE_PERSON:
                k = int(b.rng.integers(len(persons)))
                one = scenes.visible(persons[k:])[0]  # only those in front of it hide it
                if (one > 0.5).mean() > 0.005 and (one > 0.5).sum() > 0.5 * (persons[k] > 127).sum():
                    target = one  # mostly in sight: one person to point at (else the frame's persons)
            _, mask = usermasks.random_user_mask(target, b.rng)
            imgs.append(image)
            targets.append(target)
            masks.append(mask)
            alphas.append(alpha)
        hw = pp.lowres_size(*imgs[0].shape[:2], self.a.mpn_input)  # what QUN sees at run time
        full = b.tensor(np.stack(imgs))
        img = resize_lr(full, hw)

        def planes(v: list[np.ndarray]) -> torch.Tensor:  # float32 (H, W) in [0, 1] -> (n, 1, h, w) at QUN's size
            return b.tensor(np.clip(np.stack([pp.resize_plane(p, hw) for p in v]), 0, 1), 1.0)

        x, x_ = planes(targets), planes(masks)
        if self.mpn is None:  # the paper's degradations of the frame's alpha (every person in it)
            fg = degrade(planes([a.astype(np.float32) / 255 for a in alphas]).cpu(), b.gen).to(self.device)
        else:
            with torch.no_grad():
                fg = self.mpn(img)[1]
        return (img, x, x_, fg), (x,)

    def loss(self, out, targets: tuple) -> torch.Tensor:
        if self.a.frames == "scenes":
            qx, qx_ = out
            return l1(qx_, targets[0]) + 0.5 * l1(qx, targets[0])
        return qun_loss(*out, *targets)


class MRNStage(Stage):
    """Eq. 6 on fine crops, with the masks of the frozen MPN (as exported), through the frozen QUN or not."""

    name = "mrn"

    def build(self) -> torch.nn.Module:
        net, a = MRN(), self.a
        self.mpn = MPNGraph(load_stage("mpn", a.mpn_from or a.run), a.mpn_tta).to(self.device)
        self.qun = load_stage("qun", a.qun_from or a.run).to(self.device) if a.qun_masks == "all" else None
        return net

    def batch(self, b: Batches, n: int, n_coarse: int) -> tuple[tuple, tuple]:
        img, alpha, fg = b.fine_batch(n)
        img, alpha, fg = b.flip_crop([img, alpha, fg], 0.6, None)
        with torch.no_grad():
            lhw = pp.lowres_size(*img.shape[-2:], self.a.mpn_input)
            lr_img = resize_lr(img, lhw)
            mask = fg_mask = self.mpn(lr_img)[1]
            if self.a.mrn_masks == "mix":  # MPN's errors are mostly semantic: MRN also needs masks whose
                k = n // 2  # only fault is their edges, to learn to refine edges at all
                mask = mask.clone()
                mask[:k] = degrade(resize_lr(alpha[:k], lhw).cpu(), b.gen).to(self.device)
            if self.qun is not None:
                mask = self.qun(lr_img, mask, fg_mask)
        return (img, mask), (fg, alpha)

    def loss(self, out, targets: tuple) -> torch.Tensor:
        return mrn_loss(*out, *targets)


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

    def forward(self, image: torch.Tensor, coarse_lr: torch.Tensor | None):
        """image (N,3,H,W) through the chain, and MPN's masks of the coarse photos ``coarse_lr``, if any."""
        masks = self.graph(resize_lr(image, pp.lowres_size(*image.shape[-2:])))[0]
        fgr, alpha = self.mrn(image, masks[:, :1])
        return masks, fgr, alpha, None if coarse_lr is None else self.mpn(coarse_lr)


class JointStage(Stage):
    """Eq. 6 on the chain's output plus Eq. 2 on MPN's masks (fine) and predictions (coarse photos, added
    to the batch in the data's proportion: without them MPN drifts towards composites and gets worse on
    real photos)."""

    name, coarse_photos = "joint", True

    def build(self) -> torch.nn.Module:
        a = self.a
        if not a.init_from:
            raise ValueError("stage joint fine-tunes trained weights: give --init-from MRN checkpoint and --mpn-from")
        return Joint(load_stage("mpn", a.mpn_from or a.run), MRN(), a.mpn_tta).requires_grad_(True)

    def files(self, net: torch.nn.Module) -> dict[str, torch.nn.Module]:
        return {"joint": net, "mpn": net.mpn, "mrn": net.mrn}  # the stages' own files, for evaluate and export

    def init_target(self, net: torch.nn.Module) -> torch.nn.Module:
        return net.mrn  # its MPN comes from --mpn-from

    def n_coarse(self, n: int, nf: int, nc: int) -> int:
        return round(n * nc / nf)

    def batch(self, b: Batches, n: int, n_coarse: int) -> tuple[tuple, tuple]:
        img, alpha, fg = b.fine_batch(n)
        img, alpha, fg = b.flip_crop([img, alpha, fg], 0.6, None)
        ci = cm = None
        if n_coarse:  # at the size of the composites' MPN input, so that the masks stack in the loss
            ci, cm = b.coarse_batch(n_coarse)
            ci, cm = b.flip_crop([ci, cm], 0.45, pp.lowres_size(*img.shape[-2:]))
        return (img, ci), (fg, alpha, cm)

    def loss(self, out, targets: tuple) -> torch.Tensor:
        masks, fgr, pa, coarse = out
        fg, alpha, cm = targets
        preds, masks_gt = [masks], [resize_lr(alpha, masks.shape[-2:])]
        if coarse is not None:
            preds.append(coarse)
            masks_gt.append(cm)
        return mrn_loss(fgr, pa, fg, alpha) + mpn_loss(torch.cat(preds), torch.cat(masks_gt))


TRAINING_STAGES: dict[str, type[Stage]] = {s.name: s for s in (MPNStage, QUNStage, MRNStage, JointStage)}
"""The stages `python -m train train --stage` knows: the paper's three, then the joint fine-tune."""
