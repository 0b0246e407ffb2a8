"""Export the trained chain to three self-contained ONNX files plus the manifest the runtime loads."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from semhm_models import contracts, weights
from semhm_models.chain import qun_policy
from semhm_models.commands.bench import commit
from semhm_models.contracts import DEFAULT_TTA, MPN_INPUTS, MPN_MULTIPLE, MPN_PIXELS, MPN_SIZE
from semhm_models.nets.graphs import PRECISIONS, as_exported
from train.checkpoints import load_stage

OPSET = 17
LOWRES_SIZES = ((90, 160), (160, 90), (128, 128))  # MPN/QUN parity: landscape, portrait, square


def onnx_name(stage: str, precision: str) -> str:
    return f"{stage}.onnx" if precision == "fp32" else f"{stage}.{precision}.onnx"


def example_inputs(stage: str) -> tuple[torch.Tensor, ...]:
    return tuple(torch.rand(s) for s in contracts.example_shapes(stage))


def export_stage(net: torch.nn.Module, stage: str, path: Path) -> None:
    """One self-contained ONNX file; batch dynamic everywhere, H and W dynamic for MRN.

    The TorchScript exporter (dynamo=False) is used on purpose: for these plain conv nets it gives the
    same graph as the dynamo exporter with the same parity at odd sizes, in 3 s instead of 35 s, which
    keeps the tiny end-to-end training test in CI fast."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            example_inputs(stage),
            str(path),
            input_names=list(contracts.INPUTS[stage]),
            output_names=list(contracts.OUTPUTS[stage]),
            dynamic_axes=contracts.dynamic_axes(stage),
            opset_version=OPSET,
            dynamo=False,
        )
    # Propagated shapes tie MPN's scaled passes' outputs to its input's (dynamic) size.
    onnx.save(onnx.shape_inference.infer_shapes(onnx.load(str(path)), data_prop=True), str(path))


def export(
    run: str | Path,
    out: str | Path,
    mpn_from: str | None = None,
    qun_from: str | None = None,
    info: dict | None = None,
    precisions: tuple[str, ...] = PRECISIONS,
    tta: str = DEFAULT_TTA,
    qun_masks: str = "all",
    mpn_input: str = "aspect",
    locate_from: str | None = None,
    locate_tta: str = "none",
) -> dict:
    """Export ``run``'s mpn/qun/mrn checkpoints to ``out`` in each of ``precisions`` (fp32 always), MPN with
    test-time augmentation ``tta``, and write its manifest. ``qun_masks``: which masks the runtime sends
    through QUN, "all" (the paper) or "coarse" (users' masks only; MPN's go straight to MRN).
    ``mpn_input``: how the runtime sizes MPN's and QUN's input (contracts.MPN_INPUTS): "aspect", or
    "fixed" (192x160, for an MPN trained so; the graphs stay dynamic). ``locate_from``: a run whose MPN (trained
    on scene frames at the photo's aspect) becomes the optional locator, ``locate.onnx`` (contracts.LOCATE; float32
    only). ``locate_tta``: the passes inside it; "none" lets the runtime run ``contracts.LOCATE_TTA`` and skip the
    further passes where the first settles the answer (``processing.locator_settled``)."""
    if mpn_input not in MPN_INPUTS:
        raise ValueError(f"mpn input {mpn_input!r}: choose {', '.join(MPN_INPUTS)}")
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f"precision {bad[0]!r}: choose from {', '.join(PRECISIONS)}")
    qun_masks = qun_policy(qun_masks)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    src = {"mpn": Path(mpn_from or run), "qun": Path(qun_from or run), "mrn": Path(run)}
    files: dict[str, dict[str, str]] = {p: {} for p in ("fp32", *precisions)}
    for stage in contracts.STAGES:
        net = load_stage(stage, src[stage])
        for precision in files:
            files[precision][stage] = onnx_name(stage, precision)
            export_stage(as_exported(stage, net, precision, tta), stage, out / files[precision][stage])
    stages = files.pop("fp32")
    if locate_from:
        stages[contracts.LOCATE] = f"{contracts.LOCATE}.onnx"
        export_stage(as_exported("mpn", load_stage("mpn", Path(locate_from)), "fp32", locate_tta), "mpn", out / stages[contracts.LOCATE])
    extra = {
        "name": "semhm",
        "inputs": {
            "contract": "semhm_models/contracts.py",
            **({"mpn_pixels": MPN_PIXELS, "mpn_multiple": MPN_MULTIPLE} if mpn_input == "aspect" else {"mpn_size": list(MPN_SIZE)}),
            "dtype": "float32",
            "range": [0, 1],
            "layout": "NCHW",
        },
        "mpn_input": mpn_input,  # the manifest leaves out "fixed", its default
        "mpn_tta": tta,
        **({"locate_tta": locate_tta} if locate_from else {}),
        "qun_masks": qun_masks,
        "exported_from": {
            "run": str(run),
            **({"locate_from": str(locate_from)} if locate_from else {}),
            "commit": commit() or "unknown",
            "opset": OPSET,
            "torch": torch.__version__,
        },
        **(info or {}),
    }
    return weights.write_manifest(out, stages, extra, files)


def parity(
    run: str | Path,
    onnx_dir: str | Path,
    sizes=((67, 93), (801, 1203)),
    seed: int = 0,
    mpn_from: str | None = None,
    qun_from: str | None = None,
    precision: str = "fp32",
    locate_from: str | None = None,
) -> dict[str, float]:
    """Max |torch float32 - onnxruntime| per stage output, MRN at each of ``sizes``, for the ONNX files of
    ``precision`` (fp16 differs by its rounding: a report, not a bug); with ``locate_from``, locate.onnx too."""
    from semhm_models.runtime import create_session

    g = torch.Generator().manual_seed(seed)
    manifest = weights.read_manifest(Path(onnx_dir))
    res = {}
    graphs = [(s, s, {"mpn": mpn_from, "qun": qun_from}.get(s) or run) for s in contracts.STAGES]
    for name, stage, src in graphs + ([(contracts.LOCATE, "mpn", locate_from)] if locate_from else []):
        net = load_stage(stage, src)
        sess = create_session(str(Path(onnx_dir) / onnx_name(name, "fp32" if name == contracts.LOCATE else precision)), "cpu")
        cases = (
            [contracts.example_shapes(stage, lowres_hw=hw) for hw in LOWRES_SIZES]
            if stage != "mrn"
            else [contracts.example_shapes(stage, hw) for hw in sizes]
        )
        for shp in cases:
            xs = [torch.rand(s, generator=g) for s in shp]
            with torch.no_grad():
                tta = (manifest.locate_tta or manifest.mpn_tta) if name == contracts.LOCATE else manifest.mpn_tta
                ref = as_exported(stage, net, tta=tta)(*xs)
            ref = ref if isinstance(ref, tuple) else (ref,)
            got = sess.run(None, {n: x.numpy() for n, x in zip(contracts.INPUTS[stage], xs, strict=False)})
            key = f"{name}@{shp[0][2]}x{shp[0][3]}"
            res[key] = max(float(np.abs(r.numpy() - o).max()) for r, o in zip(ref, got, strict=False))
    return res
