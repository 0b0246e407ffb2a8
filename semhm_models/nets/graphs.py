"""The nets as exported: MPN with its test-time passes, the fp16 wrapper, and a torch ``Runner`` for
:func:`semhm_models.chain.run_chain`, so that evaluation, benchmarks and tests run the very chain the
runtime runs, on checkpoints."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from semhm_models import processing
from semhm_models.contracts import DEFAULT_TTA, MPN_TTA
from semhm_models.nets.models import MPN, MRN, QUN

PRECISIONS = ("fp32", "fp16")


class MPNGraph(torch.nn.Module):
    """MPN as exported: both masks, and the foreground channel alone so that QUN can take it on the device
    without a copy back to the host. ``tta`` names the passes averaged inside the graph (``MPN_TTA``)."""

    def __init__(self, mpn: MPN, tta: str = DEFAULT_TTA) -> None:
        super().__init__()
        if tta not in MPN_TTA:
            raise ValueError(f"mpn tta {tta!r}: choose {', '.join(MPN_TTA)}")
        self.mpn, self.passes = mpn, MPN_TTA[tta]

    def forward(self, image_lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = 0
        for scale, mirrored in self.passes:
            x = image_lr if scale == 1.0 else F.interpolate(image_lr, scale_factor=scale, mode="bilinear")
            m = self.mpn(x.flip(-1)).flip(-1) if mirrored else self.mpn(x)
            total = total + (m if scale == 1.0 else F.interpolate(m, size=image_lr.shape[-2:], mode="bilinear"))
        masks = total / len(self.passes)
        return masks, masks[:, :1]


class Half(torch.nn.Module):
    """A stage with float16 weights and arithmetic behind the float32 contract: casts at the edges only, so
    callers and I/O binding are the same for both precisions."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).half()

    def forward(self, *xs: torch.Tensor):
        out = self.net(*(x.half() for x in xs))
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


def as_exported(stage: str, net: torch.nn.Module, precision: str = "fp32", tta: str = DEFAULT_TTA) -> torch.nn.Module:
    """``net`` of ``stage`` (mpn, qun, mrn) as its ONNX file computes it: MPN wrapped in ``MPNGraph``,
    any stage in ``Half`` for precision fp16. ValueError for an unknown precision or tta."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose {', '.join(PRECISIONS)}")
    net = MPNGraph(net, tta) if stage == "mpn" else net
    return Half(net) if precision == "fp16" else net


class TorchRunner:
    """semhm_models.chain's ``Runner`` on torch modules (float32 NCHW tensors in [0, 1], on the modules'
    device), each stage as exported (``as_exported``: MPN's test-time passes ``tta``, ``precision`` fp16 =
    half-precision arithmetic). A stage given as None is not run (e.g. MPN alone, or no QUN)."""

    def __init__(self, mpn: MPN | None, qun: QUN | None, mrn: MRN | None, precision: str = "fp32", tta: str = DEFAULT_TTA):
        self.nets = {s: as_exported(s, n.eval(), precision, tta) for s, n in (("mpn", mpn), ("qun", qun), ("mrn", mrn)) if n is not None}

    def _net(self, stage: str) -> torch.nn.Module:
        if stage not in self.nets:
            raise ValueError(f"this runner has no {stage} weights")
        return self.nets[stage]

    @torch.no_grad()
    def mpn(self, image_lr: torch.Tensor) -> torch.Tensor:
        """image_lr (N, 3, h, w) -> foreground mask (N, 1, h, w)."""
        return self._net("mpn")(image_lr)[1]

    @torch.no_grad()
    def qun(self, image_lr: torch.Tensor, mask: torch.Tensor, fg_mask: torch.Tensor) -> torch.Tensor:
        """image_lr (N, 3, h, w), mask and MPN's fg_mask (N, 1, h, w) -> unified mask (N, 1, h, w)."""
        return self._net("qun")(image_lr, mask, fg_mask)

    def select_person(self, coarse: torch.Tensor, fg_mask: torch.Tensor, unified: torch.Tensor, kind: str) -> torch.Tensor:
        """As :func:`semhm_models.processing.select_person`, on the host; back on ``unified``'s device and dtype."""
        picked = processing.select_person(*(x.detach().float().cpu().numpy() for x in (coarse, fg_mask, unified)), kind)
        return torch.from_numpy(picked).to(unified.device, unified.dtype)

    @torch.no_grad()
    def mrn(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """image (N, 3, H, W), mask (N, 1, h, w) -> (foreground colours (N, 3, H, W), alpha (N, 1, H, W))."""
        return self._net("mrn")(image, mask)
