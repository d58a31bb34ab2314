"""Soft-DTW (Cuturi & Blondel, ICML 2017) on the GPU: Triton forward and explicit backward (their Alg. 2).

The recursion and backward of the numba kernels (``_numba/soft_dtw.py``), in frame coordinates::

    R[i,j] = C[i,j] + Q[i,j],   Q[i,j] = softmin_gamma(R[i-1,j-1], R[i-1,j], R[i,j-1]),
    R[-1,-1] = 0, R = +BIG elsewhere outside the table (no path),   value = R[n-1, m-1];
    E[n-1,m-1] = upstream gradient,  E[i,j] = sum over successors S of E[S] exp((Q[S] - R[i,j]) / gamma),
    d value / d C[i,j] = E[i,j]  (the expected alignment).

One program per pair sweeps the ``n + m - 1`` anti-diagonals of its own lengths (per-item lengths are the masks);
the cells of a diagonal are handled ``BLOCK`` at a time, one thread per cell. ``R`` and ``Q`` are written to global
tables in the packed anti-diagonal layout of :mod:`.antidiagonal` (coalesced, ``n m`` entries each); a diagonal
reads its two predecessors back from them (just written, so cache resident) after a barrier that makes one
thread's writes visible to the others. The backward sweeps the diagonals in reverse, reads ``R`` and the
successors' ``Q`` from the tables (no costs) and keeps ``E`` of the last three diagonals in a rotating buffer.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from vidalign.ops.soft_dtw_reference import reference_gradients

from .antidiagonal import BIG, cells, first_row, last_row, launch_shape, smooth_max3


@triton.jit
def _forward_kernel(cost_ptr, lengths_a_ptr, lengths_b_ptr, gamma_ptr, r_ptr, q_ptr, num_rows, num_cols,
                    BLOCK: tl.constexpr):  # fmt: skip
    """Fill the packed ``R`` and ``Q`` tables of pair ``program_id(0)``; ``cost`` ``[B, N, M]`` contiguous."""
    b = tl.program_id(0)
    n, m = tl.load(lengths_a_ptr + b), tl.load(lengths_b_ptr + b)
    item = b.to(tl.int64) * num_rows * num_cols  # offset of the pair in the cost and in the tables
    cost, r_table, q_table = cost_ptr + item, r_ptr + item, q_ptr + item
    gamma = tl.load(gamma_ptr)
    inv_gamma = 1.0 / gamma
    begin, begin1, begin2 = 0, 0, 0  # packed begin of diagonals k, k - 1, k - 2
    for k in range(0, n + m - 1):
        lo, last = first_row(k, m), last_row(k, n)
        here, before, before2 = begin - lo, begin1 - first_row(k - 1, m), begin2 - first_row(k - 2, m)
        for start in range(lo, last + 1, BLOCK):
            i = start + tl.arange(0, BLOCK)
            j = k - i
            live = i <= last
            up, left = live & (i > 0), live & (j > 0)
            c = tl.load(cost + i * num_cols + j, mask=live, other=0.0)
            r_diag = tl.load(r_table + before2 + i - 1, mask=up & (j > 0), other=BIG)
            r_diag = tl.where((i == 0) & (j == 0), 0.0, r_diag)  # R[-1, -1] = 0
            r_up = tl.load(r_table + before + i - 1, mask=up, other=BIG)
            r_left = tl.load(r_table + before + i, mask=left, other=BIG)
            q = -smooth_max3(-r_diag, -r_up, -r_left, gamma, inv_gamma)
            tl.store(q_table + here + i, q, mask=live)
            tl.store(r_table + here + i, c + q, mask=live)
        begin2, begin1, begin = begin1, begin, begin + last - lo + 1
        tl.debug_barrier()  # diagonal k is complete before k + 1 reads it


@triton.jit
def _backward_kernel(grad_ptr, r_ptr, q_ptr, lengths_a_ptr, lengths_b_ptr, gamma_ptr, adjoint_ptr, grad_cost_ptr,
                     num_rows, num_cols, BLOCK: tl.constexpr):  # fmt: skip
    """``grad_cost[b] = grad[b] * d value[b] / d cost[b]`` on the pair's cells (the rest is left untouched);
    ``adjoint`` ``[B, 3, N]`` scratch: ``E`` of diagonal ``k`` in slot ``k % 3``, indexed by row."""
    b = tl.program_id(0)
    n, m = tl.load(lengths_a_ptr + b), tl.load(lengths_b_ptr + b)
    item = b.to(tl.int64) * num_rows * num_cols
    r_table, q_table, grad_cost = r_ptr + item, q_ptr + item, grad_cost_ptr + item
    adjoint = adjoint_ptr + b.to(tl.int64) * 3 * num_rows
    inv_gamma = 1.0 / tl.load(gamma_ptr)
    seed = tl.load(grad_ptr + b)
    begin, begin1, begin2 = n * m - 1, n * m, n * m  # packed begin of diagonals k, k + 1, k + 2
    for step in range(0, n + m - 1):
        k = n + m - 2 - step
        lo, last = first_row(k, m), last_row(k, n)
        here, after, after2 = begin - lo, begin1 - first_row(k + 1, m), begin2 - first_row(k + 2, m)
        e_here = adjoint + (k % 3) * num_rows  # E of diagonals k, k + 1, k + 2
        e_after = adjoint + ((k + 1) % 3) * num_rows
        e_after2 = adjoint + ((k + 2) % 3) * num_rows
        for start in range(lo, last + 1, BLOCK):
            i = start + tl.arange(0, BLOCK)
            j = k - i
            live = i <= last
            down, right = live & (i + 1 < n), live & (j + 1 < m)
            diag = down & (j + 1 < m)
            r = tl.load(r_table + here + i, mask=live, other=0.0)
            # successors (i+1, j+1), (i, j+1), (i+1, j): their E times the weight of R[i, j] in their softmin
            q_diag = tl.load(q_table + after2 + i + 1, mask=diag, other=0.0)
            q_right = tl.load(q_table + after + i, mask=right, other=0.0)
            q_down = tl.load(q_table + after + i + 1, mask=down, other=0.0)
            e = tl.load(e_after2 + i + 1, mask=diag, other=0.0) * tl.exp(tl.minimum((q_diag - r) * inv_gamma, 0.0))
            e += tl.load(e_after + i, mask=right, other=0.0) * tl.exp(tl.minimum((q_right - r) * inv_gamma, 0.0))
            e += tl.load(e_after + i + 1, mask=down, other=0.0) * tl.exp(tl.minimum((q_down - r) * inv_gamma, 0.0))
            e = tl.where((i == n - 1) & (j == m - 1), seed, e)
            tl.store(e_here + i, e, mask=live)
            tl.store(grad_cost + i * num_cols + j, e, mask=live)
        begin2, begin1, begin = begin1, begin, begin - cells(k - 1, n, m)
        tl.debug_barrier()  # diagonal k is complete before k - 1 reads it (and its slot is reused)


class _SoftDTWTriton(torch.autograd.Function):
    """Soft-DTW with the Triton forward/backward; a double backward differentiates the torch reference."""

    @staticmethod
    def forward(ctx, cost, gamma, lengths_a, lengths_b):
        batch, rows, cols = cost.shape
        device, dtype = cost.device, cost.dtype
        la, lb = lengths_a.to(device, torch.int32), lengths_b.to(device, torch.int32)
        tables = torch.empty(2, batch, rows * cols, dtype=dtype, device=device)  # R, Q (packed per pair)
        gamma_t = torch.tensor([gamma], dtype=dtype, device=device)
        block, warps = launch_shape(rows, cols)
        _forward_kernel[(batch,)](cost.detach().contiguous(), la, lb, gamma_t, tables[0], tables[1], rows, cols,
                                  BLOCK=block, num_warps=warps, num_stages=1)  # fmt: skip
        last_cell = (la.long() * lb.long() - 1)[:, None]
        ctx.save_for_backward(cost, lengths_a, lengths_b)
        ctx.kernel_state = (tables, la, lb, gamma_t)
        ctx.gamma = gamma
        return tables[0].gather(1, last_cell)[:, 0]

    @staticmethod
    def backward(ctx, grad_values):
        cost = ctx.saved_tensors[0]
        if torch.is_grad_enabled():  # create_graph=True: higher-order gradients through the torch reference
            return reference_gradients(ctx, grad_values)
        tables, la, lb, gamma_t = ctx.kernel_state
        batch, rows, cols = cost.shape
        grad_cost = torch.zeros_like(cost, memory_format=torch.contiguous_format)  # padding keeps 0
        adjoint = torch.empty(batch, 3, rows, dtype=cost.dtype, device=cost.device)
        upstream = grad_values.detach().to(cost.dtype).contiguous()
        block, warps = launch_shape(rows, cols)
        _backward_kernel[(batch,)](upstream, tables[0], tables[1], la, lb, gamma_t, adjoint, grad_cost, rows, cols,
                                   BLOCK=block, num_warps=warps, num_stages=1)  # fmt: skip
        return grad_cost, None, None, None


def soft_dtw_triton(cost: Tensor, gamma: float, lengths_a: Tensor, lengths_b: Tensor) -> Tensor:
    """``[B]`` soft-DTW values of ``cost`` ``[B, N, M]`` cropped to ``lengths_a[b] x lengths_b[b]`` (int64 ``[B]``),
    differentiable w.r.t. ``cost``."""
    return _SoftDTWTriton.apply(cost, gamma, lengths_a, lengths_b)
