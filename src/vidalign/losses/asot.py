"""ASOT: action segmentation by unbalanced, temporally consistent optimal transport (Xu & Gould, CVPR 2024;
``docs/methods.md``, ASOT).

Frames are transported onto ``K`` learnable action prototypes ``a_k`` (L2-normalised, k-means initialised):

1. cost ``C_ik = 1 - f_i . a_k`` plus the temporal prior ``rho |i/N - k/K|`` (actions in their usual order);
2. plan by fused-GW mirror descent with frame-to-cluster structure (``Cy = 1 - I``: neighbouring frames should
   share an action) and the action marginal relaxed by a KL penalty ``lam`` (actions may be absent);
3. pseudo-label cross-entropy of ``softmax_k(f_i . a_k / temperature)`` against the plan's rows.

Segmentation (:meth:`ASOTLoss.segment`) decodes a *whole* video with the evaluation parameters (alpha 0.6,
eps 0.04, lam 0.01) - the published VASOT code reused the training parameters at evaluation. The action-side KL
weight ``lam`` defaults to 0.12, the median of the official run scripts' values (0.10-0.16 per dataset; the
argparse default 0.05 is used by none of them).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidalign.errors import ConfigError, InputError
from vidalign.losses.base import LossOutput, PairLoss, full_mask
from vidalign.losses.pseudo_labels import plan_cross_entropy
from vidalign.ops.fgw import fused_gw


class ASOTLoss(PairLoss):
    pairing = "cross_video"  # any two videos: each is segmented on its own
    segmentation = True

    def __init__(
        self,
        n_clusters: int,
        dim: int = 128,
        alpha: float = 0.3,
        eps: float = 0.07,
        radius: float = 0.04,
        rho: float = 0.15,
        lam: float = 0.12,
        temperature: float = 0.1,
        n_iters: int = 25,
        eval_alpha: float = 0.6,
        eval_eps: float = 0.04,
        eval_lam: float = 0.01,
        eval_n_iters: int = 25,
        cx_weight: str = "length",
    ):
        super().__init__()
        if n_clusters < 1:
            raise ConfigError("n_clusters must be >= 1")
        self.n_clusters, self.dim = n_clusters, dim
        self.alpha, self.eps, self.radius, self.rho, self.lam = alpha, eps, radius, rho, lam
        self.temperature, self.n_iters = temperature, n_iters
        self.eval_alpha, self.eval_eps, self.eval_lam, self.eval_n_iters = eval_alpha, eval_eps, eval_lam, eval_n_iters
        self.cx_weight = cx_weight
        self.prototypes = nn.Parameter(F.normalize(torch.randn(n_clusters, dim), dim=-1))

    def init_prototypes(self, frames: np.ndarray, seed: int = 0) -> None:
        """k-means (scikit-learn, 10 restarts) on embedded training frames ``[F, dim]``."""
        if len(frames) < self.n_clusters:
            raise InputError(
                f"{self.n_clusters} actions (loss.n_clusters) need at least as many training frames; "
                f"the training videos have {len(frames)}"
            )
        from sklearn.cluster import KMeans

        centres = KMeans(self.n_clusters, n_init=10, random_state=seed).fit(frames).cluster_centers_
        self.prototypes.data.copy_(F.normalize(torch.as_tensor(centres, dtype=self.prototypes.dtype), dim=-1))

    def plan(self, z: torch.Tensor, mask: torch.Tensor, *, evaluation: bool = False) -> torch.Tensor:
        """Frame-to-action plan ``[B, T, K]`` of embeddings ``z`` (no gradient); see :meth:`decode`."""
        protos = F.normalize(self.prototypes.detach(), dim=-1)
        return self.decode(1.0 - z.detach() @ protos.T, mask, evaluation=evaluation)

    def decode(self, cost: torch.Tensor, mask: torch.Tensor, *, evaluation: bool = False) -> torch.Tensor:
        """Unbalanced fused-GW plan for a frame-to-action cost ``[B, T, K]``; ``evaluation`` selects the eval
        parameters (alpha, eps, lam, iterations) instead of the training ones."""
        with torch.no_grad():
            return fused_gw(
                cost,
                alpha=self.eval_alpha if evaluation else self.alpha,
                eps=self.eval_eps if evaluation else self.eps,
                radius=self.radius,
                rho=self.rho,
                unbalanced="b",
                lam=self.eval_lam if evaluation else self.lam,
                n_iters=self.eval_n_iters if evaluation else self.n_iters,
                mask_a=mask,
                structure="clusters",
                return_trace=False,
                cx_weight=self.cx_weight,
            ).plan

    def video_loss(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = z @ F.normalize(self.prototypes, dim=-1).T / self.temperature
        clusters = torch.ones(z.shape[0], self.n_clusters, dtype=torch.bool, device=z.device)
        return plan_cross_entropy(self.plan(z, mask), logits, mask, clusters)

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        loss_a = self.video_loss(z_a, full_mask(z_a, mask_a))
        loss_b = self.video_loss(z_b, full_mask(z_b, mask_b))
        return LossOutput((loss_a + loss_b) / 2, {"segmentation": float((loss_a + loss_b).detach()) / 2})

    @torch.no_grad()
    def segment(self, z: torch.Tensor) -> torch.Tensor:
        """Action id per frame ``[T]`` of one whole video's embeddings ``z`` ``[T, dim]`` (eval parameters)."""
        mask = torch.ones(1, z.shape[0], dtype=torch.bool, device=z.device)
        return self.plan(z.unsqueeze(0), mask, evaluation=True)[0].argmax(-1)
