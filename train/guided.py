"""The fast guided filter's first half as an ONNX graph (``semhm_models/guided.onnx``, contracts stage "guided"): its
coefficients, from MRN's outputs at the working resolution; ``processing.guided_upsample`` then brings foreground and
alpha to the photo's size with them, a block of rows at a time.

He and Sun, "Fast Guided Filter" (2015, arXiv:1505.00996), as RobustVideoMatting's refiner uses it, without learned
parts. Each output plane p (foreground R, G, B and alpha) has a guide plane g at the working resolution (the image's
R, G, B and its luma, ITU-R 601-2 ``processing.LUMA``): per pixel A = cov(g, p) / (var(g) + eps) and b = mean(p) -
A mean(g), the means over (2 radius + 1)^2 windows clipped at the borders (AveragePool without padding in the
count). The graph resizes A / 255 and b bilinearly along the width to the photo's (half-pixel centres, edges
clamped); the row pass does the same along the height and computes A G + b, G the same guide plane of the photo.

The graph has no weights; ``python -m train guided`` writes it, and it ships with the package. On 2 CPU cores it
takes 0.7 of the time the same arithmetic took in numpy (12-13 against 17 ms at a 1 MP crop); the full-size pass
stays in numpy, where blocks of rows keep its memory small (in onnxruntime, a 24 MP photo's pass peaked at 2.6 GB;
docs/benchmarks.md, session 11).
"""

from __future__ import annotations

import math
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from semhm_models import contracts
from semhm_models.api import GUIDED_FILE
from semhm_models.commands.common import write_file
from semhm_models.processing import GUIDED_EPS, GUIDED_RADIUS, LUMA

OPSET = 17


def guided_graph(radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS) -> onnx.ModelProto:
    """The fast guided filter's coefficients with window radius ``radius`` (pixels of the working resolution, >= 0)
    and regularisation ``eps`` (> 0; larger smooths more): inputs and output as ``contracts.tensors("guided")``.
    Raises ValueError for a negative radius or an eps that is not positive and finite."""
    if radius < 0 or not 0 < eps < math.inf:
        raise ValueError(f"guided filter radius {radius} and eps {eps}: the radius must be >= 0 and eps > 0 and finite")
    k = 2 * radius + 1
    node = helper.make_node

    def mean(x: str, out: str) -> onnx.NodeProto:
        return node("AveragePool", [x], [out], kernel_shape=[k, k], pads=[radius] * 4, count_include_pad=0)

    nodes = [
        # the guide planes at the working resolution: R, G, B and luma, (1, 4, H, W)
        node("Transpose", ["image"], ["image_hwc"], perm=[0, 2, 3, 1]),
        node("MatMul", ["image_hwc", "to_luma"], ["luma_hwc"]),
        node("Transpose", ["luma_hwc"], ["luma"], perm=[0, 3, 1, 2]),
        node("Concat", ["image", "luma"], ["g"], axis=1),
        node("Concat", ["fgr", "alpha"], ["p"], axis=1),
        mean("g", "mean_g"),
        mean("p", "mean_p"),
        node("Mul", ["g", "p"], ["gp"]),
        mean("gp", "mean_gp"),
        node("Mul", ["g", "g"], ["gg"]),
        mean("gg", "mean_gg"),
        node("Mul", ["mean_g", "mean_p"], ["mean_g_mean_p"]),
        node("Sub", ["mean_gp", "mean_g_mean_p"], ["cov"]),
        node("Mul", ["mean_g", "mean_g"], ["mean_g2"]),
        node("Sub", ["mean_gg", "mean_g2"], ["var"]),
        node("Add", ["var", "eps"], ["var_eps"]),
        node("Div", ["cov", "var_eps"], ["a"]),
        node("Mul", ["a", "mean_g"], ["a_mean_g"]),
        node("Sub", ["mean_p", "a_mean_g"], ["b"]),
        node("Mul", ["a", "inv_255"], ["a_255"]),  # the full-size guide stays 0..255
        # A and b as the row pass takes them: the foreground's (2, H, W, 3) and alpha's (2, H, W), the layouts of the
        # photo and of its luma; then along the width to the photo's
        node("Concat", ["a_255", "b"], ["ab"], axis=0),  # (2, 4, H, W)
        node("Split", ["ab", "three_one"], ["fg_planes", "alpha_planes"], axis=1),
        node("Transpose", ["fg_planes"], ["fg_hwc"], perm=[0, 2, 3, 1]),
        node("Transpose", ["alpha_planes"], ["alpha_hwc"], perm=[0, 2, 3, 1]),  # (2, H, W, 1): onnxruntime's fast layout
        node("Shape", ["fg_hwc"], ["fg_shape"]),
        node("ScatterElements", ["fg_shape", "axis_2", "width"], ["fg_size"]),
        node("Shape", ["alpha_hwc"], ["alpha_shape"]),
        node("ScatterElements", ["alpha_shape", "axis_2", "width"], ["alpha_size"]),
        node("Resize", ["fg_hwc", "", "", "fg_size"], ["coef_fg"], mode="linear", coordinate_transformation_mode="half_pixel"),
        node("Resize", ["alpha_hwc", "", "", "alpha_size"], ["alpha_wide"], mode="linear", coordinate_transformation_mode="half_pixel"),
        node("Squeeze", ["alpha_wide", "axis_3"], ["coef_alpha"]),
    ]
    const = helper.make_tensor
    f32 = TensorProto.FLOAT
    initializers = [
        const("to_luma", f32, [3, 1], list(LUMA)),
        const("eps", f32, [], [eps]),
        const("inv_255", f32, [], [1 / 255]),
        const("three_one", TensorProto.INT64, [2], [3, 1]),
        const("axis_2", TensorProto.INT64, [1], [2]),
        const("axis_3", TensorProto.INT64, [1], [3]),
    ]
    types = {"float32": f32, "int64": TensorProto.INT64}

    def value(t: contracts.Tensor) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(
            t.name, types[t.dtype], [contracts.AXIS_NAMES[d] if isinstance(d, str) else d for d in t.shape]
        )

    graph = helper.make_graph(
        nodes,
        "guided_filter",
        [value(t) for t in contracts.tensors("guided", "input")],
        [value(t) for t in contracts.tensors("guided", "output")],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="semhm")
    model.doc_string = f"fast guided filter, radius {radius}, eps {eps:g} (train/guided.py)"
    onnx.checker.check_model(model, full_check=True)
    return model


def write(path: str | Path = GUIDED_FILE, radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS) -> Path:
    """Write ``guided_graph(radius, eps)`` to the file ``path`` (default: the package's), whole or not at all
    (``semhm_models.commands.common.write_file``); returns the path. Raises ValueError for a folder,
    FileNotFoundError for a missing parent folder, SemhmError when it cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give the file to write, e.g. {path / GUIDED_FILE.name}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: no such folder to write {path.name} in")
    write_file(guided_graph(radius, eps).SerializeToString(), path)  # readable as the umask allows, like any output
    return path
