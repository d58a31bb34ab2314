"""VAOT: video alignment by fused Gromov-Wasserstein optimal transport pseudo-labels (METHODS.md §2).

For two videos with L2-normalised frame embeddings ``x_i``, ``y_j``:

1. cost ``C_ij = 1 - x_i . y_j``, plus the temporal prior ``rho |i/N - j/M|`` (added by the solver);
2. plan ``T*`` = balanced fused-GW by mirror descent (``alpha`` structure weight, ``eps`` entropy, structure
   radius ``r``, a dummy row/column of cost ``zeta`` for unmatched frames), computed without gradient;
3. prediction ``P = softmax_j(x_i . y_j / temperature)``;
4. loss = cross-entropy of ``P`` against the rows of ``T*`` (:func:`plan_cross_entropy`).

Defaults are the paper's (alpha 0.3, eps 0.07, r 0.02, rho 0.35, zeta 0.5, temperature 0.1; see
``presets/vaot.yaml``). Unlike the published code the structure radius never rounds to 0 (``R >= 1``) and the
dummy is stripped from the end it was appended to (both in :func:`vidalign.ops.fgw.fused_gw`).
"""

from __future__ import annotations

import torch

from vidalign.losses.base import LossOutput, PairLoss, full_mask
from vidalign.losses.pseudo_labels import plan_cross_entropy
from vidalign.ops.fgw import fused_gw


class VAOTLoss(PairLoss):
    pairing = "cross_video"

    def __init__(
        self,
        alpha: float = 0.3,
        eps: float = 0.07,
        radius: float = 0.02,
        rho: float = 0.35,
        dummy: float | None = 0.5,
        temperature: float = 0.1,
        n_iters: int = 25,
        unbalanced: str = "none",
        lam: float = 0.05,
    ):
        super().__init__()
        self.alpha, self.eps, self.radius, self.rho = alpha, eps, radius, rho
        self.dummy, self.temperature, self.n_iters = dummy, temperature, n_iters
        self.unbalanced, self.lam = unbalanced, lam

    def pseudo_labels(self, sim: torch.Tensor, mask_a: torch.Tensor, mask_b: torch.Tensor) -> torch.Tensor:
        """The fused-GW plan ``[B, N, M]`` for similarities ``sim`` (no gradient)."""
        with torch.no_grad():
            return fused_gw(
                1.0 - sim.detach(),
                alpha=self.alpha,
                eps=self.eps,
                radius=self.radius,
                rho=self.rho,
                dummy=self.dummy,
                unbalanced=self.unbalanced,
                lam=self.lam,
                n_iters=self.n_iters,
                mask_a=mask_a,
                mask_b=mask_b,
                structure="alignment",
                return_trace=False,
            ).plan

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        sim = z_a @ z_b.transpose(1, 2)
        plan = self.pseudo_labels(sim, mask_a, mask_b)
        loss = plan_cross_entropy(plan, sim / self.temperature, mask_a, mask_b)
        matched = (plan.sum(-1) * mask_a.sum(-1, keepdim=True)).clamp(max=1.0)[mask_a].mean()
        return LossOutput(loss, {"matched_fraction": float(matched)})
