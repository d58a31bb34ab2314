"""VAVA: Kantorovich OT with temporal priors and a virtual frame (Liu et al., CVPR 2022, "Learning to Align
Sequential Actions in the Wild"), following the official ``vava_loss`` / ``all_loss``.

Two videos X (n frames) and Y (m frames), ``D_ij = |x_i - y_j|^2``. A virtual frame is prepended to each video
(index 0); it is at cost ``zeta`` from every frame, so frames with no counterpart (background, extra actions) can
send their mass there. On the augmented ``(n+1) x (m+1)`` grid, with ``N = n + 1``, ``M = m + 1``, positions
``p_i = (i+1)/N``, ``q_j = (j+1)/M`` and ``mid = sqrt(1/N^2 + 1/M^2)``:

- consistency prior (diagonal): ``d_c = |p_i - q_j|``; optimality prior (nearest neighbour ``nn(i)`` of frame i in
  Y, a constant): ``d_o = |q_j - q_nn(i)|``;
- prior ``P = phi N(d_c / mid; delta) + (1 - phi) N(d_o / mid; delta)`` (Gaussian densities of std ``delta``);
- inverse-difference-moment reward ``S = lambda1 (phi / (d_c^2 + 1) + (1 - phi) / (d_o^2 + 1))``;
- virtual cells (row 0 or column 0, not both): ``d_c = d_o = 1.5 t`` with ``t = 2 virtual_distance / (N + M)``;
- plan ``T = argmin <T, D> - <T, S> + lambda2 KL(T || P)`` with uniform marginals ``1/N``, ``1/M``: Sinkhorn on
  the kernel ``P exp((S - D) / lambda2)``, i.e. entropic OT of cost ``D - S - lambda2 log P`` at ``eps = lambda2``
  (:func:`vidalign.ops.sinkhorn.sinkhorn`, gradients through the unrolled iterations as in the official code).
  ``lambda1 = 1.0 (n + m)`` and ``lambda2 = 0.1 n m / 4`` scale with the lengths as in the official code.

Loss ``= <T, D> / dim + 0.5 (C(X) + C(Y)) + 1e-4 L_inter`` where, with channel-mean squared distances ``d = D/dim``:

- ``C(X) = mean_{i,k} [|i-k| > 15] max(0, 2 - d_ik) + [|i-k| <= 15] d_ik / ((i-k)^2 + 1)`` (intra-video
  contrastive term, frame-row indices as in the official code);
- ``L_inter = softplus((d_best - d_worst) / 0.5)``: cross-entropy that the worst-matched pairs (argmin of the plan
  per row / column) are further apart than the best-matched ones (argmax), both averaged over X's rows and Y's
  columns (inter-video contrastive term).

Annealing: ``phi`` starts at 0.999 (diagonal prior) and decays as training progresses so the nearest-neighbour
prior takes over. The official schedule is ``phi = clip(0.999^floor(sqrt(step + 1)), 0.001, 0.999)`` per global
step; call :meth:`VAVALoss.set_progress` with the fraction of training done, which evaluates it at
``step = fraction * anneal_steps``.

Where we differ from the official code (ours):

- the optimality prior is centred on the nearest neighbour's own column; the official code centres it one column
  early (``(min_index + 1) / M`` on a grid whose real frames start at index 2), an off-by-one;
- the OT term is ``<T, D> / dim`` (the channel-mean distance unit of the other two terms); the official code
  divides ``<T, D>`` by ``(N M)^2`` (by ``N M`` in ``vava_loss`` and again in ``all_loss``), which leaves it ~1e-5 of
  the other terms at 20 frames;
- best/worst matches are read from the plan ``T``; the official code reads them from ``K * D`` (kernel times cost);
- the Gaussian normalising constant of ``P`` is dropped: it scales the kernel uniformly, which balanced OT ignores.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vidalign.losses.base import LossOutput, PairLoss, full_mask
from vidalign.losses.lav import contrastive_idm, squared_distances
from vidalign.ops.sinkhorn import sinkhorn

_PHI_MIN, _PHI_MAX = 0.001, 0.999  # official clip of the prior mixing weight


def annealed_phi(step: float, decay: float = 0.999) -> float:
    """Official mixing weight of the consistency prior at global ``step``."""
    return min(max(decay ** math.floor(math.sqrt(step + 1.0)), _PHI_MIN), _PHI_MAX)


def temporal_priors(
    nearest: torch.Tensor,
    lengths_a: torch.Tensor,
    lengths_b: torch.Tensor,
    cols: int,
    *,
    phi: float,
    delta: float,
    reward: torch.Tensor,
    virtual_distance: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``log P`` (up to a constant) and ``S`` on the augmented grid ``[B, N + 1, M + 1]`` (virtual frame first).

    ``nearest`` ``[B, N]``: column (0-based, real frames) of each real row's nearest neighbour; ``lengths_*`` the
    real lengths ``[B]``; ``reward`` ``[B]`` the scaled ``lambda1``; ``cols`` = M (padded width of Y).
    """
    rows = nearest.shape[1]
    dtype = reward.dtype
    size_a = (lengths_a.to(dtype) + 1.0)[:, None]
    size_b = (lengths_b.to(dtype) + 1.0)[:, None]
    p = (torch.arange(rows + 1, dtype=dtype, device=reward.device) + 1.0) / size_a  # [B, N + 1]
    q = (torch.arange(cols + 1, dtype=dtype, device=reward.device) + 1.0) / size_b  # [B, M + 1]
    centre_cols = torch.cat([torch.zeros_like(nearest[:, :1]), nearest + 1], dim=1)
    centre = torch.gather(q, 1, centre_cols)  # the virtual row is centred on the virtual column
    d_consistency = (p[:, :, None] - q[:, None, :]).abs()
    d_optimality = (q[:, None, :] - centre[:, :, None]).abs()
    mid = torch.sqrt(1.0 / size_a**2 + 1.0 / size_b**2)[:, :, None]

    def log_gauss(d: torch.Tensor) -> torch.Tensor:
        return -((d / mid) ** 2) / (2.0 * delta**2)

    log_prior = torch.logaddexp(math.log(phi) + log_gauss(d_consistency), math.log1p(-phi) + log_gauss(d_optimality))
    idm = reward[:, None, None] * (phi / (d_consistency**2 + 1.0) + (1.0 - phi) / (d_optimality**2 + 1.0))
    threshold = (1.5 * 2.0 * virtual_distance / (size_a + size_b))[:, :, None]
    first_row = torch.arange(rows + 1, device=reward.device)[:, None] == 0
    first_col = torch.arange(cols + 1, device=reward.device)[None, :] == 0
    virtual = first_row ^ first_col
    log_prior = torch.where(virtual, log_gauss(threshold).expand_as(log_prior), log_prior)
    idm = torch.where(virtual, (reward[:, None, None] / (threshold**2 + 1.0)).expand_as(idm), idm)
    return log_prior, idm


class VAVALoss(PairLoss):
    pairing = "cross_video"

    def __init__(
        self,
        lambda1: float = 1.0,
        lambda2: float = 0.1,
        delta: float = 2.0,
        zeta: float = 0.5,
        virtual_distance: float = 5.0,
        n_iters: int = 20,
        intra_margin: float = 2.0,
        intra_window: int = 15,
        intra_weight: float = 0.5,
        inter_weight: float = 1e-4,
        inter_temperature: float = 0.5,
        phi_decay: float = 0.999,
        anneal_steps: int = 150_000,
    ):
        super().__init__()
        self.lambda1, self.lambda2, self.delta, self.zeta = lambda1, lambda2, delta, zeta
        self.virtual_distance, self.n_iters = virtual_distance, n_iters
        self.intra_margin, self.intra_window, self.intra_weight = intra_margin, intra_window, intra_weight
        self.inter_weight, self.inter_temperature = inter_weight, inter_temperature
        self.phi_decay, self.anneal_steps = phi_decay, anneal_steps
        self.phi = annealed_phi(0.0, phi_decay)

    def set_progress(self, fraction: float) -> None:
        """Anneal the prior: ``fraction`` in [0, 1] of training done (call before each step or epoch)."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        self.phi = annealed_phi(fraction * self.anneal_steps, self.phi_decay)

    def plan(self, dist: torch.Tensor, mask_a: torch.Tensor, mask_b: torch.Tensor) -> torch.Tensor:
        """Transport plan ``[B, n + 1, m + 1]`` (virtual frame first) for squared distances ``dist`` ``[B, n, m]``."""
        batch, rows, cols = dist.shape
        lengths_a, lengths_b = mask_a.sum(1), mask_b.sum(1)
        n, m = lengths_a.to(dist.dtype), lengths_b.to(dist.dtype)
        nearest = dist.detach().masked_fill(~mask_b[:, None, :], float("inf")).argmin(dim=2)
        log_prior, idm = temporal_priors(
            nearest,
            lengths_a,
            lengths_b,
            cols,
            phi=self.phi,
            delta=self.delta,
            reward=self.lambda1 * (n + m),
            virtual_distance=self.virtual_distance,
        )
        cost = F.pad(dist, (1, 0, 1, 0), value=self.zeta)
        eps = (self.lambda2 * n * m / 4.0)[:, None, None]
        real = torch.ones(batch, 1, dtype=torch.bool, device=dist.device)
        aug_a, aug_b = torch.cat([real, mask_a], dim=1), torch.cat([real, mask_b], dim=1)
        # entropic OT of cost D - S - eps log P at entropy eps == cost (D - S) / eps - log P at entropy 1
        return sinkhorn((cost - idm) / eps - log_prior, eps=1.0, n_iters=self.n_iters, mask_a=aug_a, mask_b=aug_b)

    def intra(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Intra-video contrastive term ``C(X)`` of each item ``[B]`` (channel-mean distances, row indices)."""
        rows = torch.arange(z.shape[1], device=z.device, dtype=z.dtype)
        gap = (rows[:, None] - rows[None, :]).abs()
        pair_mask = mask[:, :, None] & mask[:, None, :]
        total = contrastive_idm(
            squared_distances(z, z) / z.shape[-1],
            (gap > self.intra_window).expand_as(pair_mask),
            pair_mask,
            margin=self.intra_margin,
            positive_weight=1.0 / (gap**2 + 1.0),
        )
        return total / pair_mask.sum(dim=(1, 2)).to(z.dtype)

    def inter(self, dist: torch.Tensor, plan: torch.Tensor, mask_a: torch.Tensor, mask_b: torch.Tensor) -> torch.Tensor:
        """Inter-video contrastive term ``[B]``; ``dist`` (channel mean) and ``plan`` (real part) ``[B, n, m]``."""
        valid = mask_a[:, :, None] & mask_b[:, None, :]
        high, low = plan.masked_fill(~valid, float("-inf")), plan.masked_fill(~valid, float("inf"))

        def matched_distance(rows_pick: torch.Tensor, cols_pick: torch.Tensor) -> torch.Tensor:
            along_rows = torch.gather(dist, 2, rows_pick[:, :, None])[:, :, 0]  # [B, n]: row i with its pick in Y
            along_cols = torch.gather(dist, 1, cols_pick[:, None, :])[:, 0, :]  # [B, m]: column j with its pick in X
            mean_rows = (along_rows * mask_a).sum(1) / mask_a.sum(1)
            return mean_rows + (along_cols * mask_b).sum(1) / mask_b.sum(1)

        best = matched_distance(high.argmax(dim=2), high.argmax(dim=1))
        worst = matched_distance(low.argmin(dim=2), low.argmin(dim=1))
        return F.softplus((best - worst) / self.inter_temperature)

    def forward(self, z_a, z_b, mask_a=None, mask_b=None, *, idx_a=None, idx_b=None) -> LossOutput:
        mask_a, mask_b = full_mask(z_a, mask_a), full_mask(z_b, mask_b)
        dist = squared_distances(z_a, z_b)
        plan = self.plan(dist, mask_a, mask_b)
        dim = z_a.shape[-1]
        cost = F.pad(dist, (1, 0, 1, 0), value=self.zeta)
        ot = (plan * cost).sum(dim=(1, 2)) / dim
        intra = self.intra(z_a, mask_a) + self.intra(z_b, mask_b)
        inter = self.inter(dist / dim, plan[:, 1:, 1:].detach(), mask_a, mask_b)
        loss = (ot + self.intra_weight * intra + self.inter_weight * inter).mean()
        logs = {
            "ot": float(ot.detach().mean()),
            "intra": float(intra.detach().mean()),
            "inter": float(inter.detach().mean()),
            "phi": self.phi,
            "matched_mass": float(plan[:, 1:, 1:].detach().sum(dim=(1, 2)).mean()),
        }
        return LossOutput(loss, logs)
