"""SCL: the sequence contrastive loss of CARL (Chen et al., CVPR 2022, §3.3).

Two augmented views of one video with L2-normalised frame embeddings ``e_i`` / ``e'_j`` at source frame positions
``s_i`` / ``s'_j``. Each frame of one view predicts where it lies in the other view:

- target ``G_ij = exp(-(s_i - s'_j)^2 / (2 sigma^2)) / sum_k exp(-(s_i - s'_k)^2 / (2 sigma^2))``;
- prediction ``P_ij = softmax_j(cos(e_i, e'_j) / tau)`` over the *other* view's frames only (the official
  ``NEGATIVE_TYPE: single_noself``: no other videos, no frames of the same view);
- loss ``= sum_i KL(G_i || P_i)`` over the frames of both views (view 1 -> view 2 and view 2 -> view 1), divided by
  the number of real frames in the batch (official ``algos/scl.py``).

Defaults from the official ``configs/scl_*.yml``: ``LABEL_VARIENCE`` sigma^2 = 10 (in source frames),
``SOFTMAX_TEMPERATURE`` tau = 0.1. The one-direction term is LAC's contrastive term
(:func:`vidalign.losses.lac.gaussian_contrastive`); SCL is its symmetric, alignment-free form.
"""

from __future__ import annotations

from vidalign.losses.base import LossOutput, PairLoss, frame_indices, full_mask
from vidalign.losses.lac import gaussian_contrastive


class SCLLoss(PairLoss):
    pairing = "two_views"

    def __init__(self, variance: float = 10.0, temperature: float = 0.1):
        super().__init__()
        self.variance, self.temperature = variance, temperature

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        pos_a, pos_b = frame_indices(z_a, idx_a), frame_indices(z_b, idx_b)
        loss = gaussian_contrastive(
            z_a, z_b, pos_a, pos_b, mask_a, mask_b, variance=self.variance, temperature=self.temperature,
            symmetric=True,
        )  # fmt: skip
        return LossOutput(loss, {"kl": float(loss.detach())})
