"""VASOT: one model for alignment and segmentation (``docs/methods.md``, VASOT).

``L = L_asot(X) + L_asot(Y) + beta * L_vaot(X, Y)`` with a shared encoder and shared action prototypes (beta = 1).

``align_ot`` decides the OT values of the alignment half. ``"shared"`` (default) is the published code: its
alignment solver receives the same ``rho``, ``radius``, ``alpha`` and ``eps`` as the segmentation solver (the
``asot`` values), and only the dummy cost and the temperature are its own (``vaot``). ``"vaot"`` gives the
alignment half VAOT's own values (``vaot`` dict over :class:`~vidalign.losses.vaot.VAOTLoss`'s defaults).

Compared with the published code: batches of any size, k-means-initialised prototypes, segmentation decoded with
the evaluation OT parameters, the dummy stripped from the end it was appended to, and alignment evaluated from the
same model's embeddings.
"""

from __future__ import annotations

import numpy as np
import torch

from vidalign.errors import ConfigError
from vidalign.losses.asot import ASOTLoss
from vidalign.losses.base import LossOutput, PairLoss, full_mask
from vidalign.losses.vaot import VAOTLoss

ALIGN_OT = ("shared", "vaot")
SHARED_KEYS = ("alpha", "eps", "radius", "rho")  # what the published code passes to both solvers


class VASOTLoss(PairLoss):
    pairing = "cross_video"
    segmentation = True
    SECTIONS = {"asot": ASOTLoss, "vaot": VAOTLoss}  # nested settings: the two halves' constructor arguments

    def __init__(
        self,
        n_clusters: int,
        dim: int = 128,
        beta: float = 1.0,
        asot: dict | None = None,
        vaot: dict | None = None,
        align_ot: str = "shared",
    ):
        super().__init__()
        if align_ot not in ALIGN_OT:
            raise ConfigError(f"align_ot must be one of {ALIGN_OT}, got {align_ot!r}")
        self.beta, self.align_ot = beta, align_ot
        self.asot = ASOTLoss(n_clusters, dim, **(asot or {}))
        vaot = dict(vaot or {})
        if align_ot == "shared":
            clash = sorted(set(vaot) & set(SHARED_KEYS))
            if clash:
                raise ConfigError(f"align_ot='shared' takes {clash} from the asot values; drop them from vaot")
            vaot.update({key: getattr(self.asot, key) for key in SHARED_KEYS})
        self.vaot = VAOTLoss(**vaot)

    @property
    def n_clusters(self) -> int:
        return self.asot.n_clusters

    def init_prototypes(self, frames: np.ndarray, seed: int = 0) -> None:
        self.asot.init_prototypes(frames, seed)

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        seg = self.asot.video_loss(z_a, mask_a) + self.asot.video_loss(z_b, mask_b)
        align = self.vaot(z_a, z_b, mask_a, mask_b, idx_a=idx_a, idx_b=idx_b)
        logs = {"segmentation": float(seg.detach()), "alignment": float(align.loss.detach()), **align.logs}
        return LossOutput(seg + self.beta * align.loss, logs)

    @torch.no_grad()
    def segment(self, z: torch.Tensor) -> torch.Tensor:
        return self.asot.segment(z)
