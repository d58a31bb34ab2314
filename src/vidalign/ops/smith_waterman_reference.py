"""The readable torch reference of :func:`vidalign.ops.soft_smith_waterman` (``docs/methods.md``, Kernels): the
three-state recursion over anti-diagonals with autograd, and the differentiable gradients that the compiled and
GPU backends fall back to for higher-order derivatives."""

from __future__ import annotations

import torch
from torch import Tensor

from ._masks import antidiagonals, cell_mask, shift_rows

SENTINEL = -1e10  # "minus infinity" of the torch reference (finite: no NaN gradients from inf - inf)


def soft_smith_waterman_reference(
    sim: Tensor, gap_open: Tensor, gap_extend: Tensor, tau: float, lengths_a: Tensor, lengths_b: Tensor
) -> Tensor:
    """Pure-torch reference (autograd through an anti-diagonal loop): ``sim`` ``[B, N, M]``, gaps ``[B|1, N|1,
    M|1]``, ``tau = 0`` for the hard max. Cells on diagonal ``D = I + J`` of the extended grid only need diagonals
    ``D - 1`` and ``D - 2``; cells off the matrix hold a large negative sentinel (never read by a real cell)."""
    batch, rows, cols = sim.shape

    def smax(values: Tensor, dim: int = 0) -> Tensor:
        return values.amax(dim=dim) if tau == 0.0 else tau * torch.logsumexp(values / tau, dim=dim)

    s = antidiagonals(sim, SENTINEL)
    go = antidiagonals(gap_open.expand(batch, rows, cols), 0.0)
    ge = antidiagonals(gap_extend.expand(batch, rows, cols), 0.0)
    real = antidiagonals(cell_mask(lengths_a, lengths_b, rows, cols, sim.device), False)
    empty = sim.new_full((batch, rows + 1), SENTINEL)
    h_prev2 = e_prev2 = f_prev2 = h_prev = e_prev = f_prev = empty
    scores_on_real_cells = []
    for d in range(2, rows + cols + 1):
        diagonal_prev2 = shift_rows(torch.stack([h_prev2, e_prev2, f_prev2]), SENTINEL)  # (I-1, J-1)
        h = s[:, d] + smax(torch.cat([torch.zeros_like(empty)[None], diagonal_prev2]))
        e = smax(torch.stack([h_prev - go[:, d], e_prev - ge[:, d]]))  # from (I, J-1)
        up = shift_rows(torch.stack([h_prev, e_prev, f_prev]), SENTINEL)  # (I-1, J)
        f = smax(up - torch.stack([go[:, d], go[:, d], ge[:, d]]))
        scores_on_real_cells.append(torch.where(real[:, d], h, torch.full_like(h, SENTINEL)))
        h_prev2, e_prev2, f_prev2, h_prev, e_prev, f_prev = h_prev, e_prev, f_prev, h, e, f
    scores = smax(torch.cat(scores_on_real_cells, dim=1), dim=1)
    if rows < 2 or cols < 2:  # no path opens a gap: the gaps get a zero gradient (a `where`, never 0 * inf), not none
        unused = torch.where(torch.zeros((), dtype=torch.bool, device=sim.device), gap_open.sum() + gap_extend.sum(), 0)
        scores = scores + unused.to(scores.dtype)
    return scores


def reference_gradients(ctx, grad_scores):
    """Gradients of the torch reference, differentiable themselves (used under ``create_graph=True``)."""
    sim, gap_open, gap_extend, lengths_a, lengths_b = ctx.saved_tensors
    inputs = [t for t in (sim, gap_open, gap_extend) if t.requires_grad]
    scores = soft_smith_waterman_reference(sim, gap_open, gap_extend, ctx.tau, lengths_a, lengths_b)
    grads = iter(torch.autograd.grad(scores, inputs, grad_scores, create_graph=True))
    return *(next(grads) if t.requires_grad else None for t in (sim, gap_open, gap_extend)), None, None, None
