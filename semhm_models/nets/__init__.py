"""Torch modules for MPN, QUN and MRN (need the ``[train]`` extra). No I/O here: tensors in, tensors out,
with the contracts in :mod:`semhm_models.contracts`."""

from semhm_models.nets.blocks import load_lite0_encoder
from semhm_models.nets.models import MPN, MRN, QUN

__all__ = ["MPN", "QUN", "MRN", "load_lite0_encoder"]
