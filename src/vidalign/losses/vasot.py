"""VASOT: one model for alignment and segmentation (METHODS.md §2).

``L = L_asot(X) + L_asot(Y) + beta * L_vaot(X, Y)`` with a shared encoder and shared action prototypes (beta = 1).
Compared with the published code: batches of any size, k-means-initialised prototypes, segmentation decoded with
the evaluation OT parameters, and alignment evaluated from the same model's embeddings.
"""

from __future__ import annotations

import numpy as np
import torch

from vidalign.losses.asot import ASOTLoss
from vidalign.losses.base import LossOutput, PairLoss, full_mask
from vidalign.losses.vaot import VAOTLoss


class VASOTLoss(PairLoss):
    pairing = "cross_video"
    segmentation = True

    def __init__(
        self, n_clusters: int, dim: int = 128, beta: float = 1.0, asot: dict | None = None, vaot: dict | None = None
    ):
        super().__init__()
        self.beta = beta
        self.asot = ASOTLoss(n_clusters, dim, **(asot or {}))
        self.vaot = VAOTLoss(**(vaot or {}))

    @property
    def n_clusters(self) -> int:
        return self.asot.n_clusters

    def init_prototypes(self, frames: np.ndarray, seed: int = 0) -> None:
        self.asot.init_prototypes(frames, seed)

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        seg = self.asot.video_loss(z_a, mask_a) + self.asot.video_loss(z_b, mask_b)
        align = self.vaot(z_a, z_b, mask_a, mask_b)
        logs = {"segmentation": float(seg.detach()), "alignment": float(align.loss.detach()), **align.logs}
        return LossOutput(seg + self.beta * align.loss, logs)

    @torch.no_grad()
    def segment(self, z: torch.Tensor) -> torch.Tensor:
        return self.asot.segment(z)
