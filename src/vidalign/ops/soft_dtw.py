"""Soft-DTW (Cuturi & Blondel, ICML 2017), batched and masked.

``R[i,j] = C[i,j] + softmin_gamma(R[i-1,j-1], R[i-1,j], R[i,j-1])`` with ``R[-1,-1] = 0`` and ``+inf`` elsewhere
outside the matrix, ``softmin_gamma(v) = -gamma * logsumexp(-v / gamma)``; the value is ``R[n-1, m-1]``. It equals
``-gamma * log sum exp(-cost(path) / gamma)`` over all monotone paths from ``(0, 0)`` to ``(n-1, m-1)`` with steps
(1,0), (0,1), (1,1), and its gradient w.r.t. ``C`` is the expected alignment (Cuturi & Blondel, Eq. 3 and Alg. 2).

Backends as in :mod:`.smith_waterman`: ``"numba"`` (CPU, compiled forward + E-recursion backward), ``"triton"``
(GPU kernels, ``_triton/soft_dtw.py``), ``"torch"`` (anti-diagonal reference with autograd; any device and
higher-order gradients), ``"auto"`` (the rule of :mod:`.backends`). The validated inputs are a
:class:`~vidalign.ops.dp_problems.SoftDTWProblem` that each solver reads.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ._numba import soft_dtw as kernels
from ._numba.antidiagonal import sample_starts
from ._numba.batching import run_over_batch
from .backends import select_backend
from .dp_problems import as_batch, soft_dtw_problem
from .soft_dtw_reference import reference_gradients, soft_dtw_reference


def soft_dtw(
    cost: Tensor,
    gamma: float,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    """Soft-DTW value of each cost matrix.

    Args:
        cost: pairwise costs ``[B, N, M]`` (or ``[N, M]``: the result is then 0-d).
        gamma: smoothing ``> 0`` (a float; not differentiated).
        mask_a, mask_b: ``[B, N]`` / ``[B, M]`` bool, True = real frame, real frames first; the value is the
            soft-DTW of the cropped cost (ending at ``(n_b - 1, m_b - 1)``), padded cells get zero gradient.
        backend: ``"auto"``, ``"numba"``, ``"triton"`` or ``"torch"`` (:mod:`vidalign.ops.backends`).

    Returns:
        ``[B]`` values in the dtype of ``cost``.
    """
    cost, mask_a, mask_b, unbatched = as_batch(cost, mask_a, mask_b, "cost")
    problem = soft_dtw_problem(cost, gamma, mask_a, mask_b)
    chosen = select_backend(backend, cost, available=("torch", "numba", "triton"), op="soft_dtw")
    if chosen == "triton":
        from ._triton.soft_dtw import soft_dtw_triton as solve
    else:
        solve = _SoftDTWNumba.apply if chosen == "numba" else soft_dtw_reference
    values = solve(*problem)
    return values[0] if unbatched else values


class _SoftDTWNumba(torch.autograd.Function):
    """Soft-DTW with the compiled forward/backward; a double backward differentiates the torch reference."""

    @staticmethod
    def forward(ctx, cost, gamma, lengths_a, lengths_b):
        values = cost.detach().contiguous().numpy()
        la, lb = lengths_a.numpy().astype(np.int64), lengths_b.numpy().astype(np.int64)
        starts = sample_starts(la, lb)
        tables = np.empty((2, starts[-1]), values.dtype)
        out = np.empty(len(la), np.float64)
        gamma_typed = values.dtype.type(gamma)
        run_over_batch(kernels.forward, la * lb, values, la, lb, gamma_typed, starts, tables, out)
        ctx.save_for_backward(cost, lengths_a, lengths_b)
        ctx.kernel_state = (tables, starts, gamma_typed)
        ctx.gamma = gamma
        return torch.from_numpy(out).to(cost.dtype)

    @staticmethod
    def backward(ctx, grad_values):
        cost, lengths_a, lengths_b = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: higher-order gradients through the torch reference
            return reference_gradients(ctx, grad_values)
        tables, starts, gamma_typed = ctx.kernel_state
        batch, rows, cols = cost.shape
        la, lb = lengths_a.numpy().astype(np.int64), lengths_b.numpy().astype(np.int64)
        grad_cost = np.zeros((batch, rows * cols), tables.dtype)
        upstream = grad_values.detach().to(torch.float64).contiguous().numpy()
        run_over_batch(kernels.backward, la * lb, upstream, tables, starts, cols, la, lb, gamma_typed, grad_cost)
        return torch.from_numpy(grad_cost).reshape(batch, rows, cols), None, None, None
