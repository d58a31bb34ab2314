"""Soft Smith-Waterman with affine gaps (docs/methods.md, Kernels): compiled forward and explicit backward.

Recursion on the extended grid (``I, J >= 1`` holds frames ``(I - 1, J - 1)``), ``smax(v) = tau log sum exp(v / tau)``:

* ``H[I,J] = S[I,J] + smax(0, H[I-1,J-1], E[I-1,J-1], F[I-1,J-1])``              (match)
* ``E[I,J] = smax(H[I,J-1] - go[I,J], E[I,J-1] - ge[I,J])``                        (gap in X)
* ``F[I,J] = smax(H[I-1,J] - go[I,J], E[I-1,J] - go[I,J], F[I-1,J] - ge[I,J])``     (gap in Y)
* ``score = smax`` over all interior ``H``; the boundary row and column hold ``-BIG`` (no alignment there).

A gap penalty is charged at the cell the gap step lands on. The forward sweeps anti-diagonals and keeps ``H, E, F``
in the packed layout of :mod:`.antidiagonal`, each diagonal padded to whole vectors of ``LANES`` cells: the loops
run over whole vectors (the extra lanes compute throw-away values into the diagonal's own padding, and the
boundary cells are written after them) and never end in a scalar remainder. Each diagonal is three loops (H, E,
F): a loop body of one soft max keeps enough iterations in flight to hide the exp/log latency. The score's
log-sum-exp over ``H`` is accumulated diagonal by diagonal while the diagonal is in L1 (running maximum, total
rescaled when it grows). The backward is the adjoint recursion in reverse diagonal order, each cell *pulling* from
its three successors. Every successor's soft max has all its inputs in one cell, e.g. ``H[I+1,J+1]`` takes
``(0, H, E, F)`` of ``(I, J)``, so the weights (the soft max's gradient) are recomputed from the cell's own
values::

    dH[I,J] = p[I,J] + dH[I+1,J+1] w_H(0, H, E, F) + dE[I,J+1] w_H(H - go, E - ge)
              + dF[I+1,J] w_H(H - go, E - go, F - ge)

(``w_x(...)``: softmax weight of input ``x``; ``go, ge`` of the successor; ``p[I,J] = exp((H - score) / tau)``),
and likewise ``dE``, ``dF``, one loop per successor. Differences are taken between the inputs of one soft max,
never against the large accumulated values, so float32 weights stay accurate at any score magnitude.
``d score / d S = dH`` (the expected local alignment); the adjoint flowing through a gap transition is, negated,
the gradient of its penalty.

Per interior cell: forward 7 exps (3 + 1 + 2 in the soft maxes, 1 for the score) and 3 logs; backward 7 exps
(3 + 1 + 2 weights, 1 for ``p``) and 3 divisions. Scalar and per-sample gap penalties are broadcast into the
gap buffers once per sample (no per-diagonal gathers). Both kernels prefer 512-bit vectors and flush subnormals
(:mod:`.elementary`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .antidiagonal import (
    diagonal_offsets,
    gather_diagonal,
    interior_rows,
    scatter_diagonal,
    slot_base,
)
from .elementary import (
    exp_nonpositive,
    flush_denormals,
    maximum,
    prefer_wide_vectors,
    restore_fp_mode,
    smooth_max2,
    smooth_max3,
    smooth_max4,
    softmax_weights2,
    softmax_weights3,
    softmax_weights4,
)

BIG = 1e30  # boundary cells hold -BIG (no alignment there)
LANES = 16  # diagonals are padded to whole vectors of this many cells (16 float32 = one 512-bit register)
_H, _E, _F = 0, 1, 2  # rows of the packed tables


@njit(cache=True)
def _write_boundary(table, base, d, n, m):
    """-BIG in the boundary cells (row 0 / column 0) of diagonal ``d``."""
    if d <= m:
        table[base] = -BIG
    if d <= n:
        table[base + d] = -BIG


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _sum_exp(values, shift, inv_tau):
    """``sum exp((values - shift) / tau)`` accumulated in float64."""
    total = 0.0
    for k in range(values.size):
        total += np.float64(exp_nonpositive((values[k] - shift) * inv_tau))
    return total


@njit(cache=True, error_model="numpy", fastmath={"nnan", "nsz"})
def _peak(values, start):
    """``max(start, max(values))`` (vectorised: no NaN reaches it)."""
    top = start
    for k in range(values.size):
        top = maximum(top, values[k])
    return top


@njit(cache=True)
def _gather_strided(values, first, step, count, out):
    """``out[k] = values[first + k * step]`` for ``k < count`` (an anti-diagonal of a row-major matrix)."""
    at = first
    for k in range(count):
        out[k] = values[at]
        at += step


@njit(cache=True)
def _scatter_strided(values, out, first, step, count):
    """``out[first + k * step] = values[k]`` for ``k < count``."""
    at = first
    for k in range(count):
        out[at] = values[k]
        at += step


@njit(cache=True)
def _gap_buffers(gap_open, gap_extend, at, per_position, rows, size):
    """``rows`` (even) zeroed buffers of ``size``; with a broadcast (scalar / per-sample) penalty the first
    ``rows // 2`` pairs are filled once with (gap_open, gap_extend), as a per-diagonal gather would fill them."""
    buffers = np.zeros((rows, size), gap_open.dtype)
    if not per_position:
        for pair in range(rows // 2):
            buffers[2 * pair, :] = gap_open[at]
            buffers[2 * pair + 1, :] = gap_extend[at]
    return buffers


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def forward(sim, lengths_a, lengths_b, gap_open, gap_extend, gap_strides, tau, starts, tables, scores, first, last):
    """Fill the packed tables (``tables[0..2]`` = H, E, F) and ``scores[b] = (score, max H, sum exp((H - max H) /
    tau))`` (float64 ``[B, 3]``) for samples ``first <= b < last``.

    ``sim``: ``[B, N, M]`` C-contiguous, sample ``b`` uses its first ``lengths_a[b]`` rows and ``lengths_b[b]``
    columns. ``gap_open``/``gap_extend``: flat arrays read at ``b * s_b + i * s_i + j * s_j`` for frame pair
    ``(i, j)`` with ``gap_strides = (s_b, s_i, s_j)`` (0 along a broadcast dimension). ``tau > 0``.
    ``starts = sample_starts(lengths_a, lengths_b, LANES)``, ``tables``: ``[3, starts[-1]]`` (zeros: the padding
    lanes read it).
    """
    prefer_wide_vectors()
    fp_mode = flush_denormals()
    dtype = sim.dtype
    num_rows, num_cols = sim.shape[1], sim.shape[2]
    inv_tau = dtype.type(1.0) / tau
    zero = dtype.type(0.0)
    s_b, s_i, s_j = gap_strides[0], gap_strides[1], gap_strides[2]
    per_position = s_i != 0 or s_j != 0
    for b in range(first, last):
        n, m = lengths_a[b], lengths_b[b]
        sim_b = sim[b].reshape(num_rows * num_cols)
        off = diagonal_offsets(n, m, LANES)
        h_all = tables[_H, starts[b] : starts[b + 1]]
        e_all = tables[_E, starts[b] : starts[b + 1]]
        f_all = tables[_F, starts[b] : starts[b + 1]]
        s = np.zeros(n + LANES, dtype)
        gaps = _gap_buffers(gap_open, gap_extend, b * s_b, per_position, 2, n + LANES)
        go, ge = gaps[0], gaps[1]
        top, total = dtype.type(-BIG), 0.0  # running max of H and sum exp((H - top) / tau)
        for d in range(n + m + 1):
            base = slot_base(off, d, m)
            i0, i1 = interior_rows(d, n, m)
            if i0 <= i1:
                count = i1 - i0 + 1
                lanes = (count + LANES - 1) // LANES * LANES
                base1, base2 = slot_base(off, d - 1, m), slot_base(off, d - 2, m)
                # whole-vector views: lanes past ``count`` are padding
                h, e, f = h_all[base + i0 :], e_all[base + i0 :], f_all[base + i0 :]
                # predecessors: (I-1, J) and (I, J-1) on d - 1 (entries k and k + 1), (I-1, J-1) on d - 2 (entry k)
                h1, e1, f1 = h_all[base1 + i0 - 1 :], e_all[base1 + i0 - 1 :], f_all[base1 + i0 - 1 :]
                h2, e2, f2 = h_all[base2 + i0 - 1 :], e_all[base2 + i0 - 1 :], f_all[base2 + i0 - 1 :]
                # frame pairs (I - 1, J - 1): row i0 - 1 + k, column d - i0 - 1 - k
                _gather_strided(sim_b, (i0 - 1) * num_cols + d - i0 - 1, num_cols - 1, count, s)
                if per_position:
                    gather_diagonal(gap_open, b * s_b, i0 - 1, d - i0 - 1, s_i, s_j, count, go, n - 1, m - 1)
                    gather_diagonal(gap_extend, b * s_b, i0 - 1, d - i0 - 1, s_i, s_j, count, ge, n - 1, m - 1)
                for k in range(lanes):
                    h[k] = s[k] + smooth_max4(zero, h2[k], e2[k], f2[k], tau, inv_tau)
                for k in range(lanes):
                    e[k] = smooth_max2(h1[k + 1] - go[k], e1[k + 1] - ge[k], tau, inv_tau)
                for k in range(lanes):
                    f[k] = smooth_max3(h1[k] - go[k], e1[k] - go[k], f1[k] - ge[k], tau, inv_tau)
                h[count:lanes] = -BIG  # padding out of the score (the boundary cell it may cover is written below)
                peak = _peak(h[:lanes], top)
                if peak > top:
                    total *= np.exp((np.float64(top) - np.float64(peak)) / np.float64(tau))
                    top = peak
                total += _sum_exp(h[:lanes], top, inv_tau)
            for table in range(3):
                _write_boundary(tables[table, starts[b] : starts[b + 1]], base, d, n, m)
        scores[b, 0] = top + tau * np.log(total)
        scores[b, 1] = top
        scores[b, 2] = total
    restore_fp_mode(fp_mode)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def backward(
    grad_scores,
    scores,
    tables,
    starts,
    num_cols,
    lengths_a,
    lengths_b,
    gap_open,
    gap_extend,
    gap_strides,
    tau,
    grad_sim,
    grad_gap_open,
    grad_gap_extend,
    first,
    last,
):
    """Accumulate ``grad_scores[b] * d score[b] / d (sim, gap_open, gap_extend)`` for ``first <= b < last``.

    ``scores``, ``tables``: from :func:`forward`. ``grad_sim``: ``[B, N * M]`` zeros; ``grad_gap_*``: float64
    zeros of ``B`` blocks laid out like the gap arrays (block ``b`` at ``b * block``, ``block = size // B``), or
    empty to skip the gap gradients.
    """
    prefer_wide_vectors()
    fp_mode = flush_denormals()
    dtype = tables.dtype
    inv_tau = dtype.type(1.0) / tau
    zero = dtype.type(0.0)
    s_b, s_i, s_j = gap_strides[0], gap_strides[1], gap_strides[2]
    per_position = s_i != 0 or s_j != 0
    gap_block = grad_gap_open.size // grad_scores.size
    for b in range(first, last):
        n, m = lengths_a[b], lengths_b[b]
        off = diagonal_offsets(n, m, LANES)
        h_all = tables[_H, starts[b] : starts[b + 1]]
        e_all = tables[_E, starts[b] : starts[b + 1]]
        f_all = tables[_F, starts[b] : starts[b + 1]]
        top = dtype.type(scores[b, 1])
        seed = dtype.type(grad_scores[b] / scores[b, 2])  # p[I,J] = exp((H - top) / tau) / total
        # adjoints of diagonals d, d + 1, d + 2 in rotating slots (d % 3), indexed by row I; zero off the interior
        adj = np.zeros((3, 3, n + 2 + LANES), dtype)
        # penalties of the right / down successors (rows 0-3) and the adjoints through their gap transitions (4-7)
        buffers = _gap_buffers(gap_open, gap_extend, b * s_b, per_position, 8, n + LANES)
        go_right, ge_right, go_down, ge_down = buffers[0], buffers[1], buffers[2], buffers[3]
        open_right, extend_right, open_down, extend_down = buffers[4], buffers[5], buffers[6], buffers[7]
        for d in range(n + m, 1, -1):
            i0, i1 = interior_rows(d, n, m)
            count = i1 - i0 + 1
            lanes = (count + LANES - 1) // LANES * LANES
            base = slot_base(off, d, m)
            h, e, f = h_all[base + i0 :], e_all[base + i0 :], f_all[base + i0 :]  # whole vectors (padding past count)
            into_diag = adj[_H, (d + 2) % 3, i0 + 1 :]  # dH(I+1, J+1)
            into_right = adj[_E, (d + 1) % 3, i0:]  # dE(I, J+1)
            into_down = adj[_F, (d + 1) % 3, i0 + 1 :]  # dF(I+1, J)
            dh, de, df = adj[_H, d % 3, i0:], adj[_E, d % 3, i0:], adj[_F, d % 3, i0:]
            i_frame, j_frame, at = i0 - 1, d - i0 - 1, b * s_b
            if per_position:
                # penalties of the successors (I, J+1) = frame pair (I-1, J) and (I+1, J) = (I, J-1), clamped
                # past the edge (their adjoint is 0 there)
                gather_diagonal(gap_open, at, i_frame, j_frame + 1, s_i, s_j, count, go_right, n - 1, m - 1)
                gather_diagonal(gap_extend, at, i_frame, j_frame + 1, s_i, s_j, count, ge_right, n - 1, m - 1)
                gather_diagonal(gap_open, at, i_frame + 1, j_frame, s_i, s_j, count, go_down, n - 1, m - 1)
                gather_diagonal(gap_extend, at, i_frame + 1, j_frame, s_i, s_j, count, ge_down, n - 1, m - 1)
            for k in range(lanes):  # successor (I+1, J+1) and the score
                _, w_h, w_e, w_f = softmax_weights4(zero, h[k], e[k], f[k], inv_tau)
                dh[k] = seed * exp_nonpositive((h[k] - top) * inv_tau) + into_diag[k] * w_h
                de[k] = into_diag[k] * w_e
                df[k] = into_diag[k] * w_f
            for k in range(lanes):  # successor (I, J+1)
                w_h_right, w_e_right = softmax_weights2(h[k] - go_right[k], e[k] - ge_right[k], inv_tau)
                open_right[k] = into_right[k] * w_h_right
                extend_right[k] = into_right[k] * w_e_right
                dh[k] += open_right[k]
                de[k] += extend_right[k]
            for k in range(lanes):  # successor (I+1, J)
                w_h_down, w_e_down, w_f_down = softmax_weights3(
                    h[k] - go_down[k], e[k] - go_down[k], f[k] - ge_down[k], inv_tau
                )
                open_down[k] = into_down[k] * (w_h_down + w_e_down)
                extend_down[k] = into_down[k] * w_f_down
                dh[k] += into_down[k] * w_h_down
                de[k] += into_down[k] * w_e_down
                df[k] += extend_down[k]
            for state in range(3):
                adj[state, d % 3, i0 - 1] = 0
                adj[state, d % 3, i1 + 1] = 0
            _scatter_strided(dh, grad_sim[b], i_frame * num_cols + j_frame, num_cols - 1, count)
            if gap_block > 0:  # d score / d penalty = -(adjoint through the transitions charged there)
                at = b * gap_block
                for values, target, row, col in (
                    (open_right, grad_gap_open, i_frame, j_frame + 1),
                    (extend_right, grad_gap_extend, i_frame, j_frame + 1),
                    (open_down, grad_gap_open, i_frame + 1, j_frame),
                    (extend_down, grad_gap_extend, i_frame + 1, j_frame),
                ):
                    scatter_diagonal(values[:count], target, at, row, col, s_i, s_j, -1.0, n - 1, m - 1)
    restore_fp_mode(fp_mode)
