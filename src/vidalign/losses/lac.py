"""LAC: local-alignment contrastive learning (METHODS.md §2).

Two augmented temporal crops of one video with L2-normalised frame embeddings ``e_i`` (view 1) and ``e'_j``
(view 2) at source frame positions ``s_i``, ``s'_j``:

- contrastive term: Gaussian targets ``G_ij ∝ exp(-(s_i - s'_j)^2 / (2 sigma^2))`` (sigma^2 = 10) against
  ``P_ij = softmax_j(e_i . e'_j / tau)``; ``sum_i KL(G_i || P_i)`` averaged over frames;
- local-alignment term: the soft Smith-Waterman score (three-state Gotoh recursion, smoothed max at
  ``sw_temperature``) of the similarities ``S_ij = e_i . e'_j - margin`` with learnable gap open / extend
  penalties (initialised at 1, kept positive by a softplus), divided by the shorter view's length.

``alignment_sign`` decides how the score enters the loss. The paper's intent is to *reward* a good local
alignment, so the default is ``loss = contrastive - alpha * score`` ("reward"); the published code adds the score
("published") - both are selectable and compared in ``benchmarks/RESULTS.md``. Unlike the published code the
gradient flows through the whole DP table (:func:`vidalign.ops.smith_waterman.soft_smith_waterman` with an explicit
backward), at the configured temperature.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vidalign.losses.base import LossOutput, PairLoss, frame_indices, full_mask
from vidalign.ops.smith_waterman import soft_smith_waterman


def gaussian_targets(pos_a: torch.Tensor, pos_b: torch.Tensor, variance: float, mask_b: torch.Tensor) -> torch.Tensor:
    """``G_ij ∝ exp(-(s_i - s'_j)^2 / (2 variance))`` normalised over the real frames j of view 2."""
    logits = -((pos_a[:, :, None] - pos_b[:, None, :]) ** 2) / (2.0 * variance)
    return torch.softmax(logits.masked_fill(~mask_b[:, None, :], float("-inf")), dim=-1)


def gaussian_contrastive(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    pos_a: torch.Tensor,
    pos_b: torch.Tensor,
    mask_a: torch.Tensor,
    mask_b: torch.Tensor,
    *,
    variance: float,
    temperature: float,
) -> torch.Tensor:
    """Mean over real frames i of ``KL(G_i || softmax_j(z_a_i . z_b_j / temperature))`` (CARL/LAC targets)."""
    target = gaussian_targets(pos_a, pos_b, variance, mask_b)
    logits = (z_a @ z_b.transpose(1, 2) / temperature).masked_fill(~mask_b[:, None, :], float("-inf"))
    log_p = torch.log_softmax(logits, dim=-1).masked_fill(~mask_b[:, None, :], 0.0)
    log_t = torch.log(target.clamp_min(1e-30))
    kl = (target * (log_t - log_p)).sum(-1)
    return (kl * mask_a).sum() / mask_a.sum().clamp_min(1)


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class LACLoss(PairLoss):
    pairing = "two_views"

    def __init__(
        self,
        variance: float = 10.0,
        temperature: float = 0.1,
        alpha: float = 1.0,
        sw_temperature: float = 0.1,
        margin: float = 0.5,
        gap_open: float = 1.0,
        gap_extend: float = 1.0,
        alignment_sign: str = "reward",
    ):
        super().__init__()
        if alignment_sign not in ("reward", "published"):
            raise ValueError("alignment_sign must be 'reward' (loss - alpha*score) or 'published' (loss + alpha*score)")
        self.variance, self.temperature, self.alpha = variance, temperature, alpha
        self.sw_temperature, self.margin, self.alignment_sign = sw_temperature, margin, alignment_sign
        self.raw_gap_open = nn.Parameter(torch.tensor(_inverse_softplus(gap_open)))
        self.raw_gap_extend = nn.Parameter(torch.tensor(_inverse_softplus(gap_extend)))

    @property
    def gaps(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (open, extend) gap penalties, positive by construction."""
        return F.softplus(self.raw_gap_open), F.softplus(self.raw_gap_extend)

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        pos_a, pos_b = frame_indices(z_a, idx_a), frame_indices(z_b, idx_b)
        contrastive = gaussian_contrastive(
            z_a, z_b, pos_a, pos_b, mask_a, mask_b, variance=self.variance, temperature=self.temperature
        )
        logs = {"contrastive": float(contrastive.detach())}
        if self.alpha == 0:
            return LossOutput(contrastive, logs)
        gap_open, gap_extend = self.gaps
        sim = z_a @ z_b.transpose(1, 2) - self.margin
        score = soft_smith_waterman(
            sim, gap_open, gap_extend, temperature=self.sw_temperature, mask_a=mask_a, mask_b=mask_b
        )
        shorter = torch.minimum(mask_a.sum(-1), mask_b.sum(-1)).to(score.dtype)
        alignment = (score / shorter).mean()
        sign = -1.0 if self.alignment_sign == "reward" else 1.0
        logs.update(
            {
                "sw_score": float(alignment.detach()),
                "gap_open": float(gap_open.detach()),
                "gap_extend": float(gap_extend.detach()),
            }
        )
        return LossOutput(contrastive + sign * self.alpha * alignment, logs)
