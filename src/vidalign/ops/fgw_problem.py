"""The fused-GW problem every backend of :func:`vidalign.ops.fused_gw` solves, and the math they share
(``docs/methods.md``, "Fused Gromov-Wasserstein by mirror descent"): the validated video batch
(:class:`FusedGWProblem`, read by the numba kernel), its padded dense form (:class:`Problem`, read by the torch
reference and the Triton kernels), the gradients and values of the KL terms of relaxed marginals, the objective
E(T), the Sinkhorn half-step, the masking of padding, and ASOT's first step size. The torch reference
(:mod:`vidalign.ops.fgw`), the Triton kernels (:mod:`vidalign.ops._triton.fgw`) and the numba kernel
(:mod:`vidalign.ops._numba.fgw`) all read them from here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import Tensor

from vidalign.ops.unbalanced import MASS_FLOOR


@dataclasses.dataclass(frozen=True)
class FusedGWProblem:
    """The inputs of :func:`vidalign.ops.fused_gw`, validated once: real frames first in every item (a non-prefix
    mask has been compacted), the structure's radii and weight per item, the prior and the dummy."""

    cost: Tensor  # [B, N, M] linear cost C (no prior, no dummy), detached
    log_a: Tensor  # [B, N (+ 1)] log-marginals, -inf on padding, the dummy's last
    log_b: Tensor  # [B, M (+ 1)]
    lengths_a: Tensor  # [B] int64: real frames of each item
    lengths_b: Tensor
    radius_x: Tensor  # [B] int64: band radii R_x, R_y
    radius_y: Tensor
    weight_x: Tensor  # [B] weight w_x of Cx
    rho: float  # temporal prior weight
    dummy: float | None  # VAOT's dummy cost zeta (None: no dummy)
    clusters: bool  # Cy = 1 - I (ASOT) instead of the banded Cy (VAOT)


@dataclasses.dataclass
class Problem:
    """A batch ready for the torch solver (padded layout)."""

    cost: Tensor  # [B, N, M] linear cost C (prior and dummy included)
    product: Callable[[Tensor], Tensor]  # T -> Cx T Cy, zero where there is no structure
    log_a: Tensor  # [B, N, 1], -inf on padding
    log_b: Tensor  # [B, 1, M], -inf on padding
    valid: Tensor | None  # [B, N, M] real entries, None when nothing is padded


# ---------------------------------------------------------------------------------------------------------
# Torch reference path (any device).


def kl_gradient(mass: Tensor, log_p: Tensor, lam: float) -> Tensor:
    """``lam (log(m / p) + 1)``, the derivative of ``lam sum(m log(m / p))`` (infinite on padding, masked)."""
    return lam * (torch.log(mass.clamp(min=MASS_FLOOR)) - log_p + 1.0)


def kl_value(mass: Tensor, log_p: Tensor, lam: float) -> Tensor:
    """``lam sum(m log(m / p))`` per item (``m = 0`` contributes 0)."""
    terms = torch.xlogy(mass, mass) - torch.where(mass > 0, mass * log_p, torch.zeros_like(mass))
    return lam * terms.flatten(1).sum(dim=1)


def objective_value(plan, structure, problem: Problem, alpha, eps, rows_fixed, cols_fixed, lams) -> Tensor:
    """E(T) of the module docstring per item (``xlogy``: 0 log 0 = 0 on padding)."""
    value = (plan * (0.5 * alpha * structure + (1.0 - alpha) * problem.cost)).flatten(1).sum(dim=1)
    value = value + eps * (torch.xlogy(plan, plan) - plan).flatten(1).sum(dim=1)
    if not rows_fixed:
        value = value + kl_value(plan.sum(dim=2, keepdim=True), problem.log_a, lams[0])
    if not cols_fixed:
        value = value + kl_value(plan.sum(dim=1, keepdim=True), problem.log_b, lams[1])
    return value


def potential(kernel: Tensor, log_p: Tensor, dim: int) -> Tensor:
    """Sinkhorn half-step ``log p - LSE(kernel)`` along ``dim`` (-inf where ``p = 0``)."""
    total = torch.logsumexp(kernel, dim=dim, keepdim=True)
    return log_p - torch.where(torch.isfinite(total), total, torch.zeros_like(total))


def masked(values: Tensor, valid: Tensor | None) -> Tensor:
    return values if valid is None else torch.where(valid, values, torch.full_like(values, float("-inf")))


def step_curvature(eps: float, rows_fixed: bool, cols_fixed: bool, lams: tuple[float, float]) -> float:
    """What caps the step (``s <= 1 / curvature``, :mod:`vidalign.ops.fgw`): ``eps``, plus both KL weights when
    neither side is projected (nothing else then holds the mass)."""
    return eps + (lams[0] + lams[1] if not (rows_fixed or cols_fixed) else 0.0)


def initial_step(gradient: Tensor, valid: Tensor | None, curvature: float) -> Tensor:
    """Per-item ``s = 4 / max(max g, 4 curvature)`` over the real entries, ``[B, 1, 1]``."""
    peak = masked(gradient, valid).flatten(1).amax(dim=1).clamp(min=4.0 * curvature)
    return (4.0 / peak).view(-1, 1, 1)
