"""Tensor contracts: the one place that says what every model input and output is.

Inside semhm everything is float32, NCHW, in [0, 1]; uint8 and file formats exist only at the edges.

| file     | name      | direction | shape            | dtype   | range  | meaning                                  |
|----------|-----------|-----------|------------------|---------|--------|------------------------------------------|
| mpn.onnx | image_lr  | input     | (N, 3, 192, 160) | float32 | [0, 1] | RGB resized (antialiased) to 192x160     |
| mpn.onnx | masks     | output    | (N, 2, 192, 160) | float32 | [0, 1] | channel 0 foreground, channel 1 background |
| mpn.onnx | fg        | output    | (N, 1, 192, 160) | float32 | [0, 1] | channel 0 alone: feeds QUN on the device |
| qun.onnx | image_lr  | input     | (N, 3, 192, 160) | float32 | [0, 1] | as above                                 |
| qun.onnx | mask      | input     | (N, 1, 192, 160) | float32 | [0, 1] | MPN foreground or a user's coarse mask   |
| qun.onnx | unified   | output    | (N, 1, 192, 160) | float32 | [0, 1] | quality-unified mask                     |
| mrn.onnx | image     | input     | (N, 3, H, W)     | float32 | [0, 1] | RGB at working resolution, any H, W >= 1 |
| mrn.onnx | mask      | input     | (N, 1, h, w)     | float32 | [0, 1] | unified mask, any size (usually 192x160) |
| mrn.onnx | fgr       | output    | (N, 3, H, W)     | float32 | [0, 1] | foreground colours, free of background   |
| mrn.onnx | alpha     | output    | (N, 1, H, W)     | float32 | [0, 1] | alpha matte                              |
"""

from __future__ import annotations

MPN_SIZE: tuple[int, int] = (192, 160)  # (height, width) of MPN and QUN inputs

INPUTS: dict[str, tuple[str, ...]] = {"mpn": ("image_lr",), "qun": ("image_lr", "mask"), "mrn": ("image", "mask")}
OUTPUTS: dict[str, tuple[str, ...]] = {"mpn": ("masks", "fg"), "qun": ("unified",), "mrn": ("fgr", "alpha")}
STAGES: tuple[str, ...] = ("mpn", "qun", "mrn")
