"""The compiled (numba) solver of :func:`vidalign.ops.soft_dtw` wrapped for autograd: forward and E-recursion
backward of ``_numba/soft_dtw.py``; a double backward differentiates the torch reference."""

from __future__ import annotations

import numpy as np
import torch

from ._numba import soft_dtw as kernels
from ._numba.antidiagonal import sample_starts
from ._numba.batching import run_over_batch
from .soft_dtw_reference import reference_gradients


class SoftDTWNumba(torch.autograd.Function):
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
