"""The exported ONNX chain matches torch at odd sizes, and follows the documented contract."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from semhm_models import contracts, processing
from semhm_models.images import load_mask
from semhm_models.nets import MPN
from semhm_models.nets.graphs import MPNGraph
from semhm_models.runtime import create_session
from semhm_models.weights import read_manifest
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


def test_resize_linear_is_torchs_bilinear():
    x = torch.rand(1, 2, 32, 64)
    for hw in ((48, 96), (20, 30), (32, 64)):
        want = F.interpolate(x, size=hw, mode="bilinear").numpy()
        np.testing.assert_allclose(processing.resize_linear(x.numpy(), hw), want, atol=1e-5)


def test_a_one_pass_locator_with_the_runtimes_passes_equals_the_passes_in_a_graph(tiny_run, tmp_path):
    """locate.onnx exported with one pass (the default, locate_tta "none") and its passes run by the runtime
    (processing.tta_masks) give the mask the flip-scale graph gives (session 9's weights), at 16:9, 9:16 and 1:1."""
    for tta in ("none", "flip-scale"):
        export(tiny_run, tmp_path / tta, precisions=("fp32",), locate_from=tiny_run, locate_tta=tta)
    assert (
        read_manifest(tmp_path / "none").locate_tta == "none"
        and max(parity(tiny_run, tmp_path / "none", locate_from=tiny_run).values()) <= 1e-4
    )
    one, graph = (create_session(str(tmp_path / t / "locate.onnx"), "cpu") for t in ("none", "flip-scale"))
    for hw in ((128, 224), (224, 128), (160, 160)):
        x = np.random.default_rng(1).random((1, 3, *hw), dtype=np.float32)
        passes = processing.tta_masks(lambda i: one.run(["fg_mask"], {"image_lr": i})[0], x, contracts.LOCATE_TTA)
        got = sum(passes) / len(passes)
        np.testing.assert_allclose(got, graph.run(["fg_mask"], {"image_lr": x})[0], atol=1e-5)


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
