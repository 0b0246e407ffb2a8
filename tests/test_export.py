"""The exported ONNX chain matches torch at odd sizes, and follows the documented contract."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from semhm_models import contracts
from semhm_models.images import load_mask
from semhm_models.nets import MPN
from semhm_models.nets.graphs import MPNGraph
from train.checkpoints import average, load_stage
from train.evaluate import Chain, predict_dir
from train.export import export, onnx_name, parity


def test_parity_torch_vs_onnxruntime_at_odd_sizes(tiny_run, tiny_weights):
    diffs = parity(tiny_run, tiny_weights, sizes=((67, 93), (801, 1203)))
    lowres = {f"{s}@{h}x{w}" for s in ("mpn", "qun") for h, w in ((90, 160), (160, 90), (128, 128))}
    assert set(diffs) == lowres | {"mrn@67x93", "mrn@801x1203"}
    assert max(diffs.values()) <= 1e-4, diffs


def test_flip_scale_averages_its_three_passes_and_exports(tiny_run, tmp_path):
    mpn = load_stage("mpn", tiny_run)
    x = torch.rand(1, 3, 128, 224)
    with torch.no_grad():
        big = F.interpolate(x, size=(192, 336), mode="bilinear").flip(-1)
        passes = [mpn(x), mpn(x.flip(-1)).flip(-1), F.interpolate(mpn(big).flip(-1), size=(128, 224), mode="bilinear")]
        masks, fg = MPNGraph(mpn, "flip-scale")(x)
    torch.testing.assert_close(masks, sum(passes) / 3)
    assert torch.equal(fg, masks[:, :1])
    with pytest.raises(ValueError, match="mpn tta 'zoom': choose flip-scale, flip, none"):
        MPNGraph(mpn, "zoom")
    export(tiny_run, tmp_path, precisions=("fp32",), tta="flip-scale")
    assert max(parity(tiny_run, tmp_path, sizes=((67, 93),)).values()) <= 1e-4


def test_average_checkpoints_is_the_mean_of_floats(tiny_run, tmp_path):
    other = {k: v + 1 if v.is_floating_point() else v + 7 for k, v in load_file(str(tiny_run / "mpn.safetensors")).items()}
    save_file(other, str(tmp_path / "other.safetensors"))
    path = average("mpn", [str(tiny_run), str(tmp_path / "other.safetensors")], str(tmp_path / "soup"))
    first, avg = load_file(str(tiny_run / "mpn.safetensors")), load_file(str(path))
    for k, v in avg.items():
        torch.testing.assert_close(v, first[k] + 0.5 if v.is_floating_point() else first[k])
    MPN().load_state_dict(avg)
    with pytest.raises(ValueError, match="qun.safetensors: not a mpn checkpoint"):
        average("mpn", [str(tiny_run), str(tiny_run / "qun.safetensors")], str(tmp_path / "x"))
    with pytest.raises(FileNotFoundError, match="nothing/mpn.safetensors: missing"):
        average("mpn", [str(tiny_run), str(tmp_path / "nothing")], str(tmp_path / "x"))


def test_fp16_files_round_like_fp16_and_hold_half_weights(tiny_run, tiny_weights):
    diffs = parity(tiny_run, tiny_weights, sizes=((67, 93),), precision="fp16")
    assert 0 < max(diffs.values()) <= 2e-2, diffs  # really half precision, and close to float32
    for stage in contracts.STAGES:
        fp32, fp16 = (tiny_weights / onnx_name(stage, p) for p in ("fp32", "fp16"))
        weights = onnx.load(str(fp16)).graph.initializer
        assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)
        assert fp16.stat().st_size < 0.7 * fp32.stat().st_size


def test_fp16_evaluation_rounds_like_fp16(tiny_run, photo, tmp_path):
    """`python -m train evaluate --precision fp16`: half-precision arithmetic, the fp16 quality check."""
    (tmp_path / "in").mkdir()
    shutil.copy(photo, tmp_path / "in")
    pred = lambda p: predict_dir(tmp_path / "in", tmp_path / p, Chain(str(tiny_run), precision=p).predictor())  # noqa: E731
    a, b = (load_mask(next(pred(p).iterdir())) for p in ("fp32", "fp16"))
    assert 0 < np.abs(a - b).max() <= 2e-2


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_onnx_files_are_self_contained_and_match_the_contract(tiny_weights, precision):
    for stage in contracts.STAGES:
        path = tiny_weights / onnx_name(stage, precision)
        model = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(model)
        assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
        assert [i.name for i in model.graph.input] == list(contracts.INPUTS[stage])
        assert [o.name for o in model.graph.output] == list(contracts.OUTPUTS[stage])
        for vi in list(model.graph.input) + list(model.graph.output):
            assert vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
            dims = vi.type.tensor_type.shape.dim
            assert dims[0].dim_param  # dynamic batch
            assert dims[2].dim_param and dims[3].dim_param  # dynamic height and width


def test_readme_onnx_table_is_the_contract_table():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text().split("<!-- onnx-table -->\n", 1)[1]
    table = [line for line in contracts.__doc__.splitlines() if line.startswith("|")]
    assert readme.splitlines()[: len(table)] == table
