"""TCC: temporal cycle-consistency, cycle-back regression with variance (Dwibedi et al., CVPR 2019, §3).

For frame ``u_i`` of video U and all frames ``v_j`` of video V (embeddings, positions ``s_k`` of U's frames):

1. soft nearest neighbour ``v~_i = sum_j alpha_ij v_j``, ``alpha_ij = softmax_j(-|u_i - v_j|^2 / (D tau))``;
2. cycle back ``beta_ik = softmax_k(-|v~_i - u_k|^2 / (D tau))``, a distribution over U's frames;
3. Gaussian fit ``mu_i = sum_k beta_ik s_k``, ``sigma_i^2 = sum_k beta_ik (s_k - mu_i)^2``;
4. ``L_i = |s_i - mu_i|^2 / sigma_i^2 + lambda log sigma_i^2``.

The loss averages ``L_i`` over the real frames of both directions (U = a, V = b and U = b, V = a), as the official
deterministic alignment does for every ordered pair of a batch. Defaults are the official ``config.py``
(``regression_mse_var``, ``l2`` similarity, tau = 0.1, lambda = 0.001). As in the official ``losses.py`` the
penalty is ``lambda log sigma^2`` (the paper writes ``lambda log sigma``: the same up to a factor 2 on lambda), and
the squared distance is divided by the embedding size ``D`` (``scale_by_dim``); the official embedder is not
L2-normalised, so with unit-norm embeddings turn ``scale_by_dim`` off or every softmax is nearly uniform.

The official code divides positions by the video length (``NORMALIZE_INDICES``). Rescaling positions by ``c``
multiplies ``|s_i - mu_i|^2`` and ``sigma_i^2`` alike and shifts ``lambda log sigma^2`` by a constant, so it changes
neither the gradient nor the optimum; we use the source frame positions ``idx`` as they are.
"""

from __future__ import annotations

import torch

from vidalign.losses.base import LossOutput, PairLoss, frame_indices, full_mask
from vidalign.losses.lav import squared_distances

_MIN_VARIANCE = 1e-12  # a cycle that lands on one frame exactly has sigma^2 = 0: keep log finite


def cycle_back(
    z_u: torch.Tensor, z_v: torch.Tensor, pos_u: torch.Tensor, mask_u: torch.Tensor, mask_v: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``mu`` and variance ``sigma^2`` (``[B, N]``) of the cycle-back distribution of every frame of U.

    ``scale`` multiplies the negative squared distances before each softmax (``1 / (D tau)`` or ``1 / tau``);
    the softmaxes run over real frames only.
    """
    logits_uv = (-scale * squared_distances(z_u, z_v)).masked_fill(~mask_v[:, None, :], float("-inf"))
    soft_nn = torch.softmax(logits_uv, dim=-1) @ z_v
    logits_back = (-scale * squared_distances(soft_nn, z_u)).masked_fill(~mask_u[:, None, :], float("-inf"))
    beta = torch.softmax(logits_back, dim=-1)
    mu = (beta * pos_u[:, None, :]).sum(-1)
    variance = (beta * (pos_u[:, None, :] - mu[:, :, None]) ** 2).sum(-1)
    return mu, variance


class TCCLoss(PairLoss):
    pairing = "cross_video"

    def __init__(self, temperature: float = 0.1, variance_lambda: float = 0.001, scale_by_dim: bool = True):
        super().__init__()
        self.temperature, self.variance_lambda, self.scale_by_dim = temperature, variance_lambda, scale_by_dim

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        pos_a = frame_indices(z_a, idx_a).masked_fill(~mask_a, 0.0)
        pos_b = frame_indices(z_b, idx_b).masked_fill(~mask_b, 0.0)
        scale = 1.0 / (self.temperature * (z_a.shape[-1] if self.scale_by_dim else 1))
        rows, errors, spreads = [], [], []
        for z_u, z_v, pos_u, mask_u, mask_v in ((z_a, z_b, pos_a, mask_a, mask_b), (z_b, z_a, pos_b, mask_b, mask_a)):
            mu, variance = cycle_back(z_u, z_v, pos_u, mask_u, mask_v, scale)
            variance = variance.clamp_min(_MIN_VARIANCE)
            squared_error = (pos_u - mu) ** 2
            per_frame = squared_error / variance + self.variance_lambda * torch.log(variance)
            rows.append(torch.where(mask_u, per_frame, torch.zeros_like(per_frame)))
            errors.append(torch.where(mask_u, squared_error.detach().sqrt(), torch.zeros_like(mu)))
            spreads.append(torch.where(mask_u, variance.detach().sqrt(), torch.zeros_like(mu)))
        count = (mask_a.sum() + mask_b.sum()).to(z_a.dtype)
        loss = sum(r.sum() for r in rows) / count
        logs = {
            "cycle_error": float(sum(e.sum() for e in errors) / count),  # mean |s_i - mu_i| in source frames
            "cycle_std": float(sum(s.sum() for s in spreads) / count),  # mean sigma_i in source frames
        }
        return LossOutput(loss, logs)
