"""The chain, written once: MPN -> QUN -> MRN over a ``Runner``.

A runner runs the three exported graphs on one backend and keeps its own tensor type (numpy arrays for
plain onnxruntime, OrtValues on the device for I/O binding, torch tensors for checkpoints in training);
the chain only orders the stages, applies the QUN policy and records the time of each stage. Tensor
names, shapes and ranges: :mod:`semhm_models.contracts`.
"""

from __future__ import annotations

import time
from typing import Any, Literal, NamedTuple, Protocol, get_args

QunMasks = Literal["all", "coarse", "none"]
QUN_MASKS: tuple[str, ...] = get_args(QunMasks)
"""Which masks QUN unifies: ``all`` (MPN's and users' masks, the paper), ``coarse`` (users' masks only;
MPN's go straight to MRN), ``none`` (never: the paper's 'without QUN' ablation)."""
QUN_ALIASES = {"use": "all"}  # the old `evaluate --qun use|none` spelling, kept for one release


def qun_policy(value: str) -> str:
    """``value`` as one of ``QUN_MASKS`` (old spellings accepted); ValueError for anything else."""
    v = QUN_ALIASES.get(value, value)
    if v not in QUN_MASKS:
        raise ValueError(f"qun masks {value!r}: choose {', '.join(QUN_MASKS)}")
    return v


class Runner(Protocol):
    """One backend for the three graphs. Inputs and outputs are the backend's own tensor type."""

    def mpn(self, image_lr: Any) -> Any:
        """image_lr (N, 3, h, w) -> foreground mask (N, 1, h, w)."""

    def qun(self, image_lr: Any, mask: Any, fg_mask: Any) -> Any:
        """image_lr, mask (N, 1, h, w), MPN's fg_mask (N, 1, h, w) -> unified mask (N, 1, h, w)."""

    def select_person(self, coarse: Any, fg_mask: Any, unified: Any, kind: str) -> Any:
        """A user's coarse mask of ``kind`` ("mask" or "box"), MPN's fg_mask and QUN's unified mask (N, 1, h, w)
        -> the mask MRN refines (:func:`semhm_models.processing.select_person`, on the host)."""

    def mrn(self, image: Any, mask: Any) -> tuple[Any, Any]:
        """image (N, 3, H, W), mask -> (foreground colours (N, 3, H, W), alpha (N, 1, H, W))."""


class ChainOutput(NamedTuple):
    """What the chain gives back, in the runner's tensor type."""

    fgr: Any  # foreground colours (N, 3, H, W)
    alpha: Any  # alpha (N, 1, H, W)
    fg_mask: Any  # MPN's foreground mask (N, 1, h, w): where it sees persons (processing.person_score)


def run_chain(
    runner: Runner,
    image_lr: Any,
    image: Any,
    coarse: Any | None = None,
    qun_masks: str = "all",
    timings: dict[str, float] | None = None,
    coarse_kind: str = "mask",
) -> ChainOutput:
    """Matte one batch: MPN's mask, or the user's ``coarse`` mask (a mask, box or strokes), through QUN
    where ``qun_masks`` says so, then MRN. A user's mask that went through QUN then picks the persons of
    MPN's mask it points at (``Runner.select_person``; ``coarse_kind`` "box" for a box given as one).
    ``timings`` gets the seconds spent in each stage
    ("mpn", "qun" (with the picking), "mrn")."""
    t = timings if timings is not None else {}
    t0 = time.perf_counter()
    fg_mask = runner.mpn(image_lr)
    mask = fg_mask if coarse is None else coarse
    t1 = time.perf_counter()
    if qun_masks == "all" or (qun_masks == "coarse" and coarse is not None):
        mask = runner.qun(image_lr, mask, fg_mask)
        if coarse is not None:
            mask = runner.select_person(coarse, fg_mask, mask, coarse_kind)
    t2 = time.perf_counter()
    fgr, alpha = runner.mrn(image, mask)
    t.update(mpn=t1 - t0, qun=t2 - t1, mrn=time.perf_counter() - t2)
    return ChainOutput(fgr, alpha, fg_mask)
