"""Soft Smith-Waterman with affine gaps (docs/methods.md, Kernels) on the GPU: Triton forward and explicit backward.

The recursion of :mod:`vidalign.ops.smith_waterman` in frame coordinates (``-BIG`` outside the table)::

    H[i,j] = S[i,j] + smax(0, H[i-1,j-1], E[i-1,j-1], F[i-1,j-1])
    E[i,j] = smax(H[i,j-1] - go[i,j], E[i,j-1] - ge[i,j])
    F[i,j] = smax(H[i-1,j] - go[i,j], E[i-1,j] - go[i,j], F[i-1,j] - ge[i,j])
    score  = smax over all H = top + tau log sum exp((H - top) / tau),  top = max H.

Forward: one program per pair sweeps the ``n + m - 1`` anti-diagonals of its own lengths (per-item lengths are the
masks); a diagonal's cells are handled ``BLOCK`` at a time, one thread per cell, and ``H, E, F`` go to global
tables in the packed anti-diagonal layout of :mod:`.antidiagonal`, from which the next diagonals read their
predecessors (just written, so cache resident) after a barrier. The running maximum of ``H`` is kept per thread;
a last pass over the packed ``H`` accumulates ``sum exp((H - top) / tau)`` in float64 (as the numba kernel).

Backward: the adjoint recursion of ``_numba/soft_smith_waterman.py`` in reverse diagonal order, each cell pulling
from its successors ``(i+1, j+1)`` (through ``H``), ``(i, j+1)`` (``E``) and ``(i+1, j)`` (``F``) with the softmax
weights recomputed from the cell's own stored ``H, E, F`` and the successors' penalties (differences of the inputs of
one soft max: accurate at any score magnitude in float32). The adjoints of the last three diagonals live in a small
rotating buffer. ``d score / d S = dH`` is written per cell; the flow through a gap transition is, negated, the
gradient of the penalty charged at the cell it lands on: each such cell receives at most two flows (one ``E`` and one
``F`` transition, from two cells of the same diagonal), added atomically into per-position tables (two additions
from zero: the order does not change the result) that the host sums to the penalty's shape in float64.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from vidalign.ops.smith_waterman_reference import reference_gradients

from .antidiagonal import (
    BIG,
    cells,
    first_row,
    last_row,
    launch_shape,
    smooth_max2,
    smooth_max3,
    smooth_max4,
    softmax_weights2,
    softmax_weights3,
    softmax_weights4,
)


@triton.jit
def _forward_kernel(sim_ptr, go_ptr, ge_ptr, lengths_a_ptr, lengths_b_ptr, tau_ptr, h_ptr, e_ptr, f_ptr, scores_ptr,
                    num_rows, num_cols, gap_stride_b, gap_stride_i, gap_stride_j, BLOCK: tl.constexpr):  # fmt: skip
    """Fill the packed ``H, E, F`` tables of pair ``b = program_id(0)`` and ``scores[b] = (score, top, sum exp((H -
    top) / tau))`` (float64). ``sim`` ``[B, N, M]`` contiguous; the penalties of frame pair ``(i, j)`` are read at
    ``b * gap_stride_b + i * gap_stride_i + j * gap_stride_j`` (stride 0 along a broadcast dimension)."""
    b = tl.program_id(0)
    n, m = tl.load(lengths_a_ptr + b), tl.load(lengths_b_ptr + b)
    item = b.to(tl.int64) * num_rows * num_cols  # offset of the pair in sim and in the tables
    sim, h_table, e_table, f_table = sim_ptr + item, h_ptr + item, e_ptr + item, f_ptr + item
    gap_open, gap_extend = go_ptr + b.to(tl.int64) * gap_stride_b, ge_ptr + b.to(tl.int64) * gap_stride_b
    tau = tl.load(tau_ptr)
    inv_tau = 1.0 / tau
    best = tl.full([BLOCK], -BIG, dtype=h_ptr.dtype.element_ty)  # running max of H per thread
    zero = tl.zeros([BLOCK], dtype=h_ptr.dtype.element_ty)
    begin, begin1, begin2 = 0, 0, 0  # packed begin of diagonals k, k - 1, k - 2
    for k in range(0, n + m - 1):
        lo, last = first_row(k, m), last_row(k, n)
        here, before, before2 = begin - lo, begin1 - first_row(k - 1, m), begin2 - first_row(k - 2, m)
        for start in range(lo, last + 1, BLOCK):
            i = start + tl.arange(0, BLOCK)
            j = k - i
            live = i <= last
            up, left = live & (i > 0), live & (j > 0)
            diag = up & (j > 0)
            h_diag = tl.load(h_table + before2 + i - 1, mask=diag, other=-BIG)  # (i-1, j-1)
            e_diag = tl.load(e_table + before2 + i - 1, mask=diag, other=-BIG)
            f_diag = tl.load(f_table + before2 + i - 1, mask=diag, other=-BIG)
            h_up = tl.load(h_table + before + i - 1, mask=up, other=-BIG)  # (i-1, j)
            e_up = tl.load(e_table + before + i - 1, mask=up, other=-BIG)
            f_up = tl.load(f_table + before + i - 1, mask=up, other=-BIG)
            h_left = tl.load(h_table + before + i, mask=left, other=-BIG)  # (i, j-1)
            e_left = tl.load(e_table + before + i, mask=left, other=-BIG)
            s = tl.load(sim + i * num_cols + j, mask=live, other=0.0)
            go = tl.load(gap_open + i * gap_stride_i + j * gap_stride_j, mask=live, other=0.0)
            ge = tl.load(gap_extend + i * gap_stride_i + j * gap_stride_j, mask=live, other=0.0)
            h = s + smooth_max4(zero, h_diag, e_diag, f_diag, tau, inv_tau)
            e = smooth_max2(h_left - go, e_left - ge, tau, inv_tau)
            f = smooth_max3(h_up - go, e_up - go, f_up - ge, tau, inv_tau)
            tl.store(h_table + here + i, h, mask=live)
            tl.store(e_table + here + i, e, mask=live)
            tl.store(f_table + here + i, f, mask=live)
            best = tl.maximum(best, tl.where(live, h, -BIG))
        begin2, begin1, begin = begin1, begin, begin + last - lo + 1
        tl.debug_barrier()  # diagonal k is complete before k + 1 reads it
    top = tl.max(best, axis=0)
    total = tl.zeros([BLOCK], dtype=tl.float64)
    for start in range(0, n * m, BLOCK):
        at = start + tl.arange(0, BLOCK)
        h = tl.load(h_table + at, mask=at < n * m, other=-BIG)
        total += tl.exp((h - top) * inv_tau).to(tl.float64)
    total_sum = tl.sum(total, axis=0)
    tl.store(scores_ptr + 3 * b, top.to(tl.float64) + tau.to(tl.float64) * tl.log(total_sum))
    tl.store(scores_ptr + 3 * b + 1, top.to(tl.float64))
    tl.store(scores_ptr + 3 * b + 2, total_sum)


@triton.jit
def _backward_kernel(grad_ptr, scores_ptr, h_ptr, e_ptr, f_ptr, go_ptr, ge_ptr, lengths_a_ptr, lengths_b_ptr, tau_ptr,
                     adjoint_ptr, grad_sim_ptr, grad_go_ptr, grad_ge_ptr, num_rows, num_cols, gap_stride_b,
                     gap_stride_i, gap_stride_j, GAP_GRADS: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    """``grad_sim[b] = grad[b] * d score[b] / d sim[b]`` on the pair's cells (the rest is left untouched) and, with
    ``GAP_GRADS``, ``grad_go``/``grad_ge`` ``[B, N, M]`` (zeros on entry) ``+= grad[b] * d score / d penalty`` per
    position. ``grad`` float64 ``[B]``; ``adjoint`` ``[B, 3, 3, N]`` scratch: state (H, E, F), diagonal ``k`` in
    slot ``k % 3``, row."""
    b = tl.program_id(0)
    n, m = tl.load(lengths_a_ptr + b), tl.load(lengths_b_ptr + b)
    item = b.to(tl.int64) * num_rows * num_cols
    h_table, e_table, f_table = h_ptr + item, e_ptr + item, f_ptr + item
    gap_open, gap_extend = go_ptr + b.to(tl.int64) * gap_stride_b, ge_ptr + b.to(tl.int64) * gap_stride_b
    adjoint = adjoint_ptr + b.to(tl.int64) * 9 * num_rows
    inv_tau = 1.0 / tl.load(tau_ptr)
    dtype = h_ptr.dtype.element_ty
    top = tl.load(scores_ptr + 3 * b + 1).to(dtype)
    seed = (tl.load(grad_ptr + b) / tl.load(scores_ptr + 3 * b + 2)).to(dtype)  # p = seed exp((H - top) / tau)
    zero = tl.zeros([BLOCK], dtype=dtype)
    begin = n * m - 1  # packed begin of diagonal k
    for step in range(0, n + m - 1):
        k = n + m - 2 - step
        lo, last = first_row(k, m), last_row(k, n)
        here = begin - lo
        d_h, d_e, d_f = adjoint + (k % 3) * num_rows, adjoint + (3 + k % 3) * num_rows, adjoint + (6 + k % 3) * num_rows
        into_diag_h = adjoint + ((k + 2) % 3) * num_rows  # dH of diagonal k + 2
        into_right_e = adjoint + (3 + (k + 1) % 3) * num_rows  # dE of diagonal k + 1
        into_down_f = adjoint + (6 + (k + 1) % 3) * num_rows  # dF of diagonal k + 1
        for start in range(lo, last + 1, BLOCK):
            i = start + tl.arange(0, BLOCK)
            j = k - i
            live = i <= last
            down, right = live & (i + 1 < n), live & (j + 1 < m)
            diag = down & (j + 1 < m)
            h = tl.load(h_table + here + i, mask=live, other=0.0)
            e = tl.load(e_table + here + i, mask=live, other=0.0)
            f = tl.load(f_table + here + i, mask=live, other=0.0)
            into_diag = tl.load(into_diag_h + i + 1, mask=diag, other=0.0)  # dH(i+1, j+1)
            into_right = tl.load(into_right_e + i, mask=right, other=0.0)  # dE(i, j+1)
            into_down = tl.load(into_down_f + i + 1, mask=down, other=0.0)  # dF(i+1, j)
            at_right = i * gap_stride_i + (j + 1) * gap_stride_j  # penalties of the successors
            at_down = (i + 1) * gap_stride_i + j * gap_stride_j
            go_right = tl.load(gap_open + at_right, mask=right, other=0.0)
            ge_right = tl.load(gap_extend + at_right, mask=right, other=0.0)
            go_down = tl.load(gap_open + at_down, mask=down, other=0.0)
            ge_down = tl.load(gap_extend + at_down, mask=down, other=0.0)
            _, w_h, w_e, w_f = softmax_weights4(zero, h, e, f, inv_tau)
            w_h_right, w_e_right = softmax_weights2(h - go_right, e - ge_right, inv_tau)
            w_h_down, w_e_down, w_f_down = softmax_weights3(h - go_down, e - go_down, f - ge_down, inv_tau)
            open_right, extend_right = into_right * w_h_right, into_right * w_e_right
            open_down, extend_down = into_down * (w_h_down + w_e_down), into_down * w_f_down
            ending = seed * tl.exp(tl.minimum((h - top) * inv_tau, 0.0))
            grad_h = ending + into_diag * w_h + open_right + into_down * w_h_down
            grad_e = into_diag * w_e + extend_right + into_down * w_e_down
            grad_f = into_diag * w_f + extend_down
            tl.store(d_h + i, grad_h, mask=live)
            tl.store(d_e + i, grad_e, mask=live)
            tl.store(d_f + i, grad_f, mask=live)
            cell = item + i * num_cols + j
            tl.store(grad_sim_ptr + cell, grad_h, mask=live)
            if GAP_GRADS:  # d score / d penalty = -(flow through the transitions charged there)
                tl.atomic_add(grad_go_ptr + cell + 1, -open_right, mask=right, sem="relaxed")
                tl.atomic_add(grad_ge_ptr + cell + 1, -extend_right, mask=right, sem="relaxed")
                tl.atomic_add(grad_go_ptr + cell + num_cols, -open_down, mask=down, sem="relaxed")
                tl.atomic_add(grad_ge_ptr + cell + num_cols, -extend_down, mask=down, sem="relaxed")
        begin = begin - cells(k - 1, n, m)
        tl.debug_barrier()  # diagonal k is complete before k - 1 reads it (and its slots are reused)


def _gap_strides(shape: torch.Size) -> tuple[int, int, int]:
    """Element strides along (b, i, j) of a contiguous ``[Bg, Ng, Mg]`` penalty, 0 along broadcast dimensions."""
    batch, rows, cols = shape
    return (rows * cols if batch > 1 else 0, cols if rows > 1 else 0, 1 if cols > 1 else 0)


class _SoftSmithWatermanTriton(torch.autograd.Function):
    """Soft score with the Triton forward/backward; a double backward differentiates the torch reference."""

    @staticmethod
    def forward(ctx, sim, gap_open, gap_extend, tau, lengths_a, lengths_b):
        batch, rows, cols = sim.shape
        device, dtype = sim.device, sim.dtype
        la, lb = lengths_a.to(device, torch.int32), lengths_b.to(device, torch.int32)
        go, ge = gap_open.detach().contiguous(), gap_extend.detach().contiguous()
        strides = _gap_strides(go.shape)
        tables = torch.empty(3, batch, rows * cols, dtype=dtype, device=device)  # H, E, F (packed per pair)
        scores = torch.empty(batch, 3, dtype=torch.float64, device=device)
        tau_t = torch.tensor([tau], dtype=dtype, device=device)
        block, warps = launch_shape(rows, cols)
        _forward_kernel[(batch,)](sim.detach().contiguous(), go, ge, la, lb, tau_t, tables[0], tables[1], tables[2],
                                  scores, rows, cols, *strides, BLOCK=block, num_warps=warps, num_stages=1)  # fmt: skip
        ctx.save_for_backward(sim, gap_open, gap_extend, lengths_a, lengths_b)
        ctx.kernel_state = (tables, scores, go, ge, strides, la, lb, tau_t)
        ctx.tau = tau
        return scores[:, 0].to(dtype)

    @staticmethod
    def backward(ctx, grad_scores):
        sim, gap_open, gap_extend, _, _ = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph=True: higher-order gradients through the torch reference
            return reference_gradients(ctx, grad_scores)
        tables, scores, go, ge, strides, la, lb, tau_t = ctx.kernel_state
        batch, rows, cols = sim.shape
        gap_grads = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        grad_sim = torch.zeros(batch, rows, cols, dtype=sim.dtype, device=sim.device)  # padding keeps 0
        grad_go = torch.zeros_like(grad_sim) if gap_grads else grad_sim  # per position; unused without GAP_GRADS
        grad_ge = torch.zeros_like(grad_sim) if gap_grads else grad_sim
        adjoint = torch.empty(batch, 3, 3, rows, dtype=sim.dtype, device=sim.device)
        upstream = grad_scores.detach().to(torch.float64).contiguous()
        block, warps = launch_shape(rows, cols)
        _backward_kernel[(batch,)](upstream, scores, tables[0], tables[1], tables[2], go, ge, la, lb, tau_t, adjoint,
                                   grad_sim, grad_go, grad_ge, rows, cols, *strides, GAP_GRADS=gap_grads, BLOCK=block,
                                   num_warps=warps, num_stages=1)  # fmt: skip
        grads_gap = [None, None]
        if gap_grads:
            for k, (grad, gap) in enumerate(((grad_go, gap_open), (grad_ge, gap_extend))):
                grads_gap[k] = grad.to(torch.float64).sum_to_size(gap.shape).to(gap.dtype)
        return grad_sim, *grads_gap, None, None, None


def soft_smith_waterman_triton(
    sim: Tensor, gap_open: Tensor, gap_extend: Tensor, tau: float, lengths_a: Tensor, lengths_b: Tensor
) -> Tensor:
    """``[B]`` soft scores (``tau > 0``) of ``sim`` ``[B, N, M]`` cropped to ``lengths_a[b] x lengths_b[b]`` (int64
    ``[B]``); penalties ``[B|1, N|1, M|1]``. Differentiable w.r.t. ``sim`` and the penalties."""
    common = torch.broadcast_shapes(gap_open.shape, gap_extend.shape)  # the kernels read both with the same strides
    return _SoftSmithWatermanTriton.apply(
        sim, gap_open.expand(common), gap_extend.expand(common), tau, lengths_a, lengths_b
    )
