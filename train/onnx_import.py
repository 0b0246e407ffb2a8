"""Torch checkpoints back from exported ONNX files, so that shipped weights can be fine-tuned when their
training checkpoints are gone (only results are committed, never checkpoints).

The exporter folds each BatchNorm into the convolution before it, so a file holds one weight and bias per
convolution. Convolutions are matched to the net's in the order they run (ONNX nodes are in execution
order; the net's order is taken from a forward pass). Each BatchNorm is then set to compute ``z + b`` on
its convolution's output ``z``: with statistics (mean ``m``, variance ``v``) measured on ``calibration``
inputs, gamma = sqrt(v + eps) and beta = b + m, so that the net computes exactly what the file computes in
eval mode and about the same in train mode, where batch statistics replace ``m`` and ``v``.

A convolution with more input channels in the net than in the file (QUN's new ``fg_mask`` input) gets
zeros for the extra channels: the net then computes what the file did, whatever the new input holds.

    python -m train import-onnx --weights semhm_models/weights/default --out runs/shipped
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper
from torch import nn


def onnx_convs(path: str | os.PathLike) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """(weight, bias or None) of every Conv node of an ONNX file, first use of each weight, in graph order."""
    model = onnx.load(str(path))
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity"}  # MPN's later passes
    name = lambda n: name(alias[n]) if n in alias else n  # noqa: E731
    seen, out = set(), []
    for node in model.graph.node:
        w = name(node.input[1]) if node.op_type == "Conv" else None
        if w is None or w in seen:
            continue
        seen.add(w)
        out.append((inits[w], inits[name(node.input[2])] if len(node.input) > 2 else None))
    return out


def _conv_order(net: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[nn.Conv2d]:
    order: list[nn.Conv2d] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: order.append(m) if m not in order else None)
        for m in net.modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            net.eval()(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return order


def _bn_after(net: nn.Module) -> dict[nn.Conv2d, nn.BatchNorm2d]:
    """Each convolution's BatchNorm: the next module registered after it, when that is a BatchNorm."""
    mods = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    return {a: b for a, b in zip(mods, mods[1:], strict=False) if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d)}


def load_onnx_into(net: nn.Module, path: str | os.PathLike, calibration: Callable[[], tuple[torch.Tensor, ...]]) -> nn.Module:
    """``net`` (an MPN, QUN or MRN, or a wrapper whose forward runs it) with the weights of the ONNX file at
    ``path``; ``calibration()`` returns one batch of the net's inputs (real data: its statistics become the
    BatchNorms' running statistics). Returns ``net`` in eval mode. Raises ValueError when the file's
    convolutions do not match the net's in number or shape."""
    inputs = calibration()
    convs, found = _conv_order(net, inputs), onnx_convs(path)
    if len(convs) != len(found):
        raise ValueError(f"{path}: {len(found)} convolutions, the net has {len(convs)}")
    bns = _bn_after(net)
    stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}
    with torch.no_grad():
        for i, (conv, (w, b)) in enumerate(zip(convs, found, strict=True)):
            cw = conv.weight
            if cw.shape[0] != w.shape[0] or cw.shape[2:] != w.shape[2:] or cw.shape[1] < w.shape[1]:
                raise ValueError(f"{path}: convolution {i} is {tuple(w.shape)}, the net's is {tuple(cw.shape)}")
            cw.zero_()
            cw[:, : w.shape[1]] = w
            bias = b if b is not None else torch.zeros(w.shape[0])
            bn = bns.get(conv)
            if bn is None:
                if conv.bias is None:
                    raise ValueError(f"{path}: convolution {i} has a bias the net cannot hold")
                conv.bias.copy_(bias)
                continue
            bn.reset_parameters()  # identity: mean 0, variance 1 - eps, gamma 1 ...
            bn.running_var.fill_(1.0 - bn.eps)
            bn.bias.copy_(bias)  # ... plus the folded bias
            stats[bn] = (torch.zeros(0), torch.zeros(0))

        # measure each BatchNorm's input statistics on the calibration batch (the net is exact already)
        def grab(m, i, o):
            z = i[0].transpose(0, 1).flatten(1)
            stats[m] = (z.mean(1), z.var(1, unbiased=False))

        hooks = [bn.register_forward_hook(grab) for bn in stats]
        try:
            net.eval()(*inputs)
        finally:
            for h in hooks:
                h.remove()
        for bn, (m, v) in stats.items():
            bn.running_mean.copy_(m)
            bn.running_var.copy_(v)
            bn.weight.copy_(torch.sqrt(v + bn.eps))
            bn.bias.add_(m)
    return net.eval()


def import_weights(weights: str | os.PathLike, out: str | os.PathLike, cfg: dict, cache: str, n: int = 16) -> Path:
    """``out``/{mpn,qun,mrn}.safetensors from the exported weights folder ``weights``, calibrated on ``n``
    training composites (``cfg``'s fine persons over its training backgrounds, from ``cache``) at the
    input size the weights were made for; where the weights have a locator (``contracts.LOCATE``, an MPN),
    ``out``/locate.safetensors too (an MPN checkpoint: ``--init-from`` it to fine-tune the locator). Returns ``out``."""
    import numpy as np

    from semhm_models import processing as pp
    from semhm_models.contracts import LOCATE
    from semhm_models.manifest import Manifest
    from semhm_models.nets import MPN, MRN, QUN
    from semhm_models.nets.models import resize_lr
    from train import checkpoints, data

    folder = Path(weights)
    manifest = Manifest.from_file(folder / "manifest.json")
    fine, bgs = data.load_split(cfg, cache, "fine"), data.load_backgrounds(cfg, "train")
    rng = np.random.default_rng(0)
    idx, bix = rng.choice(len(fine["alpha"]), n, replace=False), rng.choice(len(bgs), n, replace=False)
    image = torch.from_numpy(data.composite(fine["fg"][idx], fine["alpha"][idx], bgs[bix])).permute(0, 3, 1, 2).contiguous()
    alpha = torch.from_numpy(fine["alpha"][idx].astype(np.float32) / 255)[:, None]
    lhw = pp.lowres_size(*image.shape[-2:], manifest.mpn_input)
    lr, mask = resize_lr(image, lhw), resize_lr(alpha, lhw)
    nets = {
        "mpn": load_onnx_into(MPN(), folder / manifest.file("mpn"), lambda: (lr,)),
        "qun": load_onnx_into(QUN(), folder / manifest.file("qun"), lambda: (lr, mask, mask)),
        "mrn": load_onnx_into(MRN(), folder / manifest.file("mrn"), lambda: (image, mask)),
    }
    if LOCATE in manifest.stages:
        nets[LOCATE] = load_onnx_into(MPN(), folder / manifest.file(LOCATE), lambda: (lr,))
    run = Path(out)
    run.mkdir(parents=True, exist_ok=True)
    for stage, net in nets.items():
        checkpoints.save(net, run / f"{stage}.safetensors", {"stage": stage, "imported_from": str(folder / manifest.file(stage))})
    return run
