"""LAV: learning by aligning videos in time (Haresh et al., CVPR 2021).

For two videos with L2-normalised frame embeddings ``x_i`` (n frames) and ``y_j`` (m frames) at source frame
positions ``s_i``, ``s'_j``:

- temporal alignment loss: the soft-DTW discrepancy (Cuturi & Blondel 2017, smoothing ``gamma`` = 0.1) of the
  squared Euclidean cost ``D_ij = |x_i - y_j|^2``. The official code uses the plain discrepancy, not the
  normalised soft-DTW divergence (``SDTW_NORMALIZE = False`` in its ``config.py``);
- Contrastive-IDM temporal regulariser on each video's own frames (the inverse difference moment made
  contrastive): with ``d_ik = |x_i - x_k|^2`` and normalised times ``t = s / L``,
  ``I(X) = sum_{i,k} [|s_i - s_k| > sigma] W_ik max(0, margin - d_ik) + [|s_i - s_k| <= sigma] d_ik``,
  ``W_ik = (t_i - t_k)^2 + 1``: frames further apart than the window of ``sigma`` source frames are pushed at least
  ``margin`` apart (more so the further apart in time), closer ones are pulled together;
- loss of a pair ``= (SDTW + alpha * (I(X) + I(Y))) / N``, averaged over the batch.

Defaults are the official ``config.py`` (gamma 0.1, alpha 0.5, sigma 10, margin 2, L2-normalised embeddings) and
``losses.py`` (``LAV``, ``Contrastive_IDM``). ``N`` is the number of sampled frames (equal for both videos there);
with unequal lengths we use the mean of n and m (ours). The official ``L`` is the source video length; we only
have the positions of the sampled frames and use ``L = max_i s_i + 1`` (ours; ``L`` only enters ``W``, which stays
in [1, 2]).
"""

from __future__ import annotations

import torch

from vidalign.losses.base import LossOutput, PairLoss, frame_indices, full_mask
from vidalign.ops.soft_dtw import soft_dtw


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``|x_i - y_j|^2`` for ``x`` ``[B, N, D]`` and ``y`` ``[B, M, D]`` -> ``[B, N, M]`` (clamped at 0)."""
    cross = x @ y.transpose(1, 2)
    return ((x * x).sum(-1)[:, :, None] + (y * y).sum(-1)[:, None, :] - 2.0 * cross).clamp_min(0.0)


def contrastive_idm(
    dist: torch.Tensor,
    negative: torch.Tensor,
    pair_mask: torch.Tensor,
    *,
    margin: float,
    negative_weight: torch.Tensor | float = 1.0,
    positive_weight: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """Per-item sum over real frame pairs of a window-contrastive regulariser ``[B]``.

    ``sum_{i,k} neg_ik w-_ik max(0, margin - d_ik) + (1 - neg_ik) w+_ik d_ik`` over the pairs where ``pair_mask`` is
    True; ``dist``, ``negative`` and ``pair_mask`` are ``[B, N, N]``. LAV's Contrastive-IDM uses
    ``w- = (t_i - t_k)^2 + 1, w+ = 1``; VAVA's intra-video term ``w- = 1, w+ = 1 / ((i - k)^2 + 1)``.
    """
    push = negative_weight * torch.relu(margin - dist)
    pull = positive_weight * dist
    terms = torch.where(negative, push, pull)
    return torch.where(pair_mask, terms, torch.zeros_like(terms)).sum(dim=(1, 2))


def temporal_idm(
    z: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor, *, sigma: float, margin: float
) -> torch.Tensor:
    """LAV's Contrastive-IDM ``I(X)`` (module docstring) of each item ``[B]``: embeddings ``z`` ``[B, N, D]`` at
    source frame positions ``pos`` ``[B, N]`` (any value on padding), ``mask`` ``[B, N]`` True on real frames.
    Also VAOT's regulariser against collapse (:mod:`vidalign.losses.vaot`)."""
    length = pos.masked_fill(~mask, float("-inf")).amax(dim=1, keepdim=True) + 1.0
    gap = (pos[:, :, None] - pos[:, None, :]).abs()
    pair_mask = mask[:, :, None] & mask[:, None, :]
    weight = (gap / length[:, :, None]) ** 2 + 1.0
    return contrastive_idm(squared_distances(z, z), gap > sigma, pair_mask, margin=margin, negative_weight=weight)


class LAVLoss(PairLoss):
    pairing = "cross_video"

    def __init__(self, gamma: float = 0.1, alpha: float = 0.5, sigma: float = 10.0, margin: float = 2.0):
        super().__init__()
        self.gamma, self.alpha, self.sigma, self.margin = gamma, alpha, sigma, margin

    def regulariser(self, z: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Contrastive-IDM ``I(X)`` of each item ``[B]`` (module docstring)."""
        return temporal_idm(z, pos, mask, sigma=self.sigma, margin=self.margin)

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        pos_a = frame_indices(z_a, idx_a).masked_fill(~mask_a, 0.0)
        pos_b = frame_indices(z_b, idx_b).masked_fill(~mask_b, 0.0)
        alignment = soft_dtw(squared_distances(z_a, z_b), self.gamma, mask_a, mask_b)
        idm = self.regulariser(z_a, pos_a, mask_a) + self.regulariser(z_b, pos_b, mask_b)
        frames = 0.5 * (mask_a.sum(1) + mask_b.sum(1)).to(alignment.dtype)
        loss = ((alignment + self.alpha * idm) / frames).mean()
        logs = {"soft_dtw": float(alignment.detach().mean()), "idm": float(idm.detach().mean())}
        return LossOutput(loss, logs)
