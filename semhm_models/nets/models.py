"""MPN, QUN and MRN as in Liu et al., CVPR 2020. Contracts (names, shapes, ranges) live in
semhm_models/contracts.py; the modules follow them and tests hold them to it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semhm_models.nets.blocks import Lite0Encoder, cbr, ds, up_to


class MPN(nn.Module):
    """Mask prediction: image (N,3,h,w) -> (N,2,h,w) foreground and background masks in [0, 1] (any h, w;
    trained at ~30720 px of every aspect ratio from 9:16 to 21:9).
    U-Net: EfficientNet-Lite0 encoder, decoder with skip connections at strides 8, 4 and 2."""

    def __init__(self, width: int = 1) -> None:
        super().__init__()
        self.encoder = Lite0Encoder()
        c1, c2, c3, c4 = Lite0Encoder.channels
        self.d4 = cbr(c4, 64 * width)
        self.d3 = cbr(64 * width + c3, 48 * width)
        self.d2 = cbr(48 * width + c2, 32 * width)
        self.d1 = cbr(32 * width + c1, 24 * width)
        self.d0 = cbr(24 * width + 3, 16)
        self.head = nn.Conv2d(16, 2, 3, padding=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        f1, f2, f3, f4 = self.encoder(image)
        x = self.d4(f4)
        x = self.d3(torch.cat([up_to(x, f3), f3], 1))
        x = self.d2(torch.cat([up_to(x, f2), f2], 1))
        x = self.d1(torch.cat([up_to(x, f1), f1], 1))
        x = self.d0(torch.cat([up_to(x, image), image], 1))
        return torch.sigmoid(self.head(x))


class QUN(nn.Module):
    """Quality unification: image (N,3,h,w) + mask (N,1,h,w) + MPN's foreground mask (N,1,h,w) -> unified
    mask (N,1,h,w) in [0, 1]. A small U-Net that sees the image, so it can move a mask's edge to the
    image's edge, and MPN's mask, so that a box, an ellipse or strokes pick out the persons MPN found."""

    def __init__(self, c: int = 16) -> None:
        super().__init__()
        self.e0 = cbr(5, c)
        self.e1 = cbr(c, c * 2, stride=2)
        self.e2 = cbr(c * 2, c * 3, stride=2)
        self.e3 = nn.Sequential(cbr(c * 3, c * 3, stride=2), cbr(c * 3, c * 3, dilation=2))
        self.d2 = cbr(c * 6, c * 2)
        self.d1 = cbr(c * 4, c)
        self.d0 = cbr(c * 2, c)
        self.head = nn.Conv2d(c, 1, 3, padding=1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, fg_mask: torch.Tensor) -> torch.Tensor:
        x0 = self.e0(torch.cat([image, mask, fg_mask], 1))
        x1 = self.e1(x0)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        y = self.d2(torch.cat([up_to(x3, x2), x2], 1))
        y = self.d1(torch.cat([up_to(y, x1), x1], 1))
        y = self.d0(torch.cat([up_to(y, x0), x0], 1))
        return torch.sigmoid(self.head(y) + 4.0 * (mask - 0.5))


class MRN(nn.Module):
    """Matting refinement: image (N,3,H,W) at full resolution + mask (N,1,h,w) at any resolution ->
    foreground (N,3,H,W) and alpha (N,1,H,W) in [0, 1]. The mask enters as extra feature maps where the
    image features are at 1/4 scale; outputs are residuals on the upsampled mask and on the image, so
    the net only has to learn the edges. Any H, W (odd ones too): every upsample targets a skip's size."""

    def __init__(self) -> None:
        super().__init__()
        self.e1 = cbr(3, 16, stride=2)  # 1/2
        self.e2 = ds(16, 32, stride=2)  # 1/4
        self.inject = ds(32 + 1, 48)  # 1/4, with the mask
        self.e3 = nn.Sequential(ds(48, 64, stride=2), ds(64, 64, dilation=2), ds(64, 64, dilation=4))  # 1/8
        self.d2 = ds(64 + 48, 32)
        self.d1 = ds(32 + 16, 16)
        # Full resolution is where memory and time go (4K: 33 MB per channel): 8 channels only.
        self.squeeze = nn.Conv2d(16, 8, 1)
        self.d0 = ds(8 + 4, 8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1 = self.e1(image)
        x2 = self.e2(x1)
        x2 = self.inject(torch.cat([x2, up_to(mask, x2)], 1))
        x3 = self.e3(x2)
        y = self.d2(torch.cat([up_to(x3, x2), x2], 1))
        y = self.d1(torch.cat([up_to(y, x1), x1], 1))
        m = up_to(mask, image)
        y = self.head(self.d0(torch.cat([up_to(self.squeeze(y), image), image, m], 1)))
        fgr = torch.clamp(image + y[:, :3], 0.0, 1.0)
        alpha = torch.clamp(m + y[:, 3:], 0.0, 1.0)
        return fgr, alpha


def resize_lr(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
