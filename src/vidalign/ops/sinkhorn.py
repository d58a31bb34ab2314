"""Entropic optimal transport by log-domain Sinkhorn iterations, balanced or with KL-relaxed marginals.

Solves, for each batch item (Cuturi 2013; Chizat, Peyre, Schmitzer & Vialard 2018 for the unbalanced case),

    min_{T >= 0}  <C, T> - eps * H(T) + lam_a * KL(T 1 | a) + lam_b * KL(T^T 1 | b),
    H(T) = sum(-T log T + T),   KL(m | p) = sum(m log(m / p) - m + p),

where an exact side (``unbalanced``, :mod:`vidalign.ops.unbalanced`) is a hard constraint (``lam = inf``). With
the exponent ``tau = lam / (lam + eps)`` of a relaxed side (``tau = 1`` on an exact side) the dual updates are

    f_i = tau_a * (eps log a_i - eps LSE_j((g_j - C_ij) / eps)),
    g_j = tau_b * (eps log b_j - eps LSE_i((f_i - C_ij) / eps)),      T_ij = exp((f_i + g_j - C_ij) / eps).

POT's ``ot.unbalanced.sinkhorn_unbalanced(a, b, C, reg=eps, reg_m=(lam_a, lam_b), reg_type="entropy")`` solves
the same problem. (POT's default ``reg_type="kl"`` regularises with ``KL(T | a b^T)`` instead, a different problem
when a marginal is relaxed.)

Everything is computed with log-sum-exp, so float32 is stable at eps = 0.01 with costs in [0, 2]. The iterations
are plain differentiable torch ops (gradients flow through the unrolled loop). Padded rows/columns (masks, True =
real frame) carry no mass; uniform marginals are over the real frames of each item. No term depends on the
frames' positions, so a mask need not be a prefix: the plan on the real frames is that of the problem restricted
to them (``tests/ops/test_masks.py``), zero elsewhere. The only backend is ``"torch"`` (any device); torch is
imported by the first call.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from vidalign.errors import InputError

from .backends import select_backend
from .unbalanced import DEFAULT_LAM, Unbalanced, fixed_sides, kl_weights

if TYPE_CHECKING:
    from torch import Tensor


@dataclasses.dataclass
class SinkhornOutput:
    """Plan ``[B, N, M]``, dual potentials ``f`` ``[B, N]`` and ``g`` ``[B, M]`` (0 on padding), and the L1
    violations ``sum_i |T 1 - a|_i`` / ``sum_j |T^T 1 - b|_j`` (``[B]``; nonzero by design on a relaxed side)."""

    plan: Tensor
    f: Tensor
    g: Tensor
    marginal_error_a: Tensor
    marginal_error_b: Tensor


def _uniform_marginal(mask: Tensor | None, batch: int, length: int, like: Tensor) -> Tensor:
    """Uniform weights over the real entries of each item (``[B, length]``, zero on padding)."""
    import torch

    if mask is None:
        return torch.full((batch, length), 1.0 / length, dtype=like.dtype, device=like.device)
    weights = mask.to(like.dtype)
    return weights / weights.sum(dim=1, keepdim=True).clamp(min=1)


def sinkhorn(
    cost: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    eps: float,
    n_iters: int = 100,
    unbalanced: Unbalanced = "none",
    lam: float | tuple[float, float] = DEFAULT_LAM,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    log: bool = False,
    backend: str = "auto",
) -> Tensor | SinkhornOutput:
    """Entropic (un)balanced OT plan of ``cost`` ``[B, N, M]`` (module docstring for the problem and updates).

    ``a`` ``[B, N]`` / ``b`` ``[B, M]`` default to uniform over real frames; ``unbalanced`` (``"none"``, ``"a"``,
    ``"b"``, ``"both"``) relaxes marginals with KL weight ``lam`` (float or ``(lam_a, lam_b)``), as in
    :func:`vidalign.ops.fused_gw`. Runs ``n_iters`` full sweeps (f then g). Returns the plan, or a
    :class:`SinkhornOutput` with potentials and marginal errors when ``log=True``. ``backend``: ``"auto"`` or
    ``"torch"``, its only solver.
    """
    import torch  # here, not at the top: vidalign.ops is imported without torch by the numpy-only alignments

    if cost.dim() != 3:
        raise InputError(f"cost must be [B, N, M], got {tuple(cost.shape)}")
    lams = kl_weights(unbalanced, lam)
    select_backend(backend, cost, available=("torch",), op="sinkhorn")
    batch, n, m = cost.shape
    a = _uniform_marginal(mask_a, batch, n, cost) if a is None else a.to(cost.dtype).expand(batch, n)
    b = _uniform_marginal(mask_b, batch, m, cost) if b is None else b.to(cost.dtype).expand(batch, m)
    row_real = torch.ones_like(a, dtype=torch.bool) if mask_a is None else mask_a.bool()
    col_real = torch.ones_like(b, dtype=torch.bool) if mask_b is None else mask_b.bool()
    rows_fixed, cols_fixed = fixed_sides(unbalanced)
    exponent_a = 1.0 if rows_fixed else lams[0] / (lams[0] + eps)
    exponent_b = 1.0 if cols_fixed else lams[1] / (lams[1] + eps)

    valid = row_real[:, :, None] & col_real[:, None, :]
    # A huge finite cost (not inf) on padding: exp underflows to 0 and autograd never sees inf - inf.
    padding_cost = torch.finfo(cost.dtype).max ** 0.5
    scaled = torch.where(valid, cost / eps, torch.full_like(cost, padding_cost))
    # log of 1 on padding, not log(0) masked afterwards: its infinite derivative times 0 is NaN in the gradient
    log_a = torch.log(torch.where(row_real, a, torch.ones_like(a)))
    log_b = torch.log(torch.where(col_real, b, torch.ones_like(b)))
    f = torch.zeros_like(a)
    g = torch.zeros_like(b)
    for _ in range(n_iters):
        f = exponent_a * eps * (log_a - torch.logsumexp(g[:, None, :] / eps - scaled, dim=2))
        f = torch.where(row_real, f, torch.zeros_like(f))
        g = exponent_b * eps * (log_b - torch.logsumexp(f[:, :, None] / eps - scaled, dim=1))
        g = torch.where(col_real, g, torch.zeros_like(g))
    plan = torch.exp((f[:, :, None] + g[:, None, :]) / eps - scaled)
    if not log:
        return plan
    return SinkhornOutput(
        plan=plan,
        f=f,
        g=g,
        marginal_error_a=(plan.sum(dim=2) - a).abs().sum(dim=1),
        marginal_error_b=(plan.sum(dim=1) - b).abs().sum(dim=1),
    )
