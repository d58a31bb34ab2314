"""The readable torch reference of :func:`vidalign.ops.soft_dtw` (``docs/methods.md``, Kernels): the recursion
over anti-diagonals with autograd, and the differentiable gradients that the compiled and GPU backends fall back
to for higher-order derivatives."""

from __future__ import annotations

import torch
from torch import Tensor

from ._masks import antidiagonals, shift_rows

SENTINEL = 1e10  # "+inf" of the torch reference (finite: no NaN gradients from inf - inf)


def soft_dtw_reference(cost: Tensor, gamma: float, lengths_a: Tensor, lengths_b: Tensor) -> Tensor:
    """Pure-torch reference: the recursion over anti-diagonals ``D = I + J`` of the extended grid (``R[0, 0] = 0``,
    the rest of row/column 0 and the cells off the matrix hold a large sentinel), autograd for the backward."""
    batch, rows, _ = cost.shape
    c = antidiagonals(cost, SENTINEL)
    origin = cost.new_full((batch, rows + 1), SENTINEL)
    origin[:, 0] = 0.0
    r_prev2, r_prev = cost.new_full((batch, rows + 1), SENTINEL), origin
    diagonals = [origin]
    for d in range(1, c.shape[1]):
        candidates = torch.stack([shift_rows(r_prev2, SENTINEL), shift_rows(r_prev, SENTINEL), r_prev])
        r = c[:, d] - gamma * torch.logsumexp(-candidates / gamma, dim=0)
        diagonals.append(r)
        r_prev2, r_prev = r_prev, r
    ends = torch.stack(diagonals, dim=1)  # [B, N + M + 1, N + 1]
    batch_index = torch.arange(batch, device=cost.device)
    return ends[batch_index, (lengths_a + lengths_b).to(cost.device), lengths_a.to(cost.device)]


def reference_gradients(ctx, grad_values):
    """Gradient of the torch reference w.r.t. the cost, differentiable itself (used under ``create_graph=True``)."""
    cost, lengths_a, lengths_b = ctx.saved_tensors
    values = soft_dtw_reference(cost, ctx.gamma, lengths_a, lengths_b)
    return torch.autograd.grad(values, cost, grad_values, create_graph=True)[0], None, None, None
