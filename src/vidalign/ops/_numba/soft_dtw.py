"""Soft-DTW (Cuturi & Blondel, ICML 2017): compiled forward and explicit backward.

On the extended grid (``I, J >= 1`` holds frames ``(I - 1, J - 1)``, ``R[0, 0] = 0``, the rest of row/column 0
``+BIG``)::

    R[I,J] = C[I,J] + Q[I,J],   Q[I,J] = softmin_gamma(R[I-1,J-1], R[I-1,J], R[I,J-1]),
    softmin_gamma(v) = -gamma log sum exp(-v / gamma),   value = R[n, m].

The backward is the E-recursion of Cuturi & Blondel (Alg. 2): ``E[n, m] = 1`` and, in reverse diagonal order,
``E[I,J] = sum over successors S of E[S] exp((Q[S] - R[I,J]) / gamma)`` (the weight of ``R[I,J]`` in the softmin
of ``S``; Alg. 2's ``a, b, c``), with ``d value / d C[I,J] = E[I,J]`` (the expected alignment). Both sweeps run
one vectorised loop per anti-diagonal over the packed layout of :mod:`.antidiagonal`; ``R`` and ``Q`` are kept so
that the backward reads no costs. Both flush subnormals while they run (:func:`.elementary.flush_denormals`): ``E``
decays into the subnormal range away from the likely paths (about 2 % of the cells at 256 x 256, gamma 0.1), and a
gradient holding subnormals made the matrix products downstream of it (the embeddings' backward) several times
slower - 37 -> 13 ms for a training step of the dp bench at B = 8, N = M = 256.
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
from .elementary import exp_nonpositive, flush_denormals, restore_fp_mode, smooth_max3

BIG = 1e30  # boundary cells hold +BIG (no path through them); Q guards -BIG (successor weight exactly 0)
_R, _Q = 0, 1  # rows of the packed tables


@njit(cache=True)
def _write_edges(r_all, q_all, base, d, n, m):
    """Guards of diagonal ``d`` (R: +BIG, Q: -BIG) and its boundary cells (R: +BIG, 0 at the origin)."""
    lo, hi = max(0, d - m), min(n, d)
    for row in (lo - 1, hi + 1):
        r_all[base + row] = BIG
        q_all[base + row] = -BIG
    if d <= n + m:
        if lo == 0:
            r_all[base] = 0.0 if d == 0 else BIG
        if hi == d:
            r_all[base + d] = 0.0 if d == 0 else BIG


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def forward(cost, lengths_a, lengths_b, gamma, starts, tables, values, first, last):
    """Fill ``values[b] = R[n_b, m_b]`` and the packed tables (``tables[0]`` = R, ``tables[1]`` = Q) for samples
    ``first <= b < last``. ``cost``: ``[B, N, M]`` C-contiguous (sample ``b`` uses its top-left
    ``lengths_a[b] x lengths_b[b]`` block); ``starts = sample_starts(...)``; ``tables``: ``[2, starts[-1]]``."""
    dtype = cost.dtype
    num_rows, num_cols = cost.shape[1], cost.shape[2]
    inv_gamma = dtype.type(1.0) / gamma
    fp_mode = flush_denormals()
    for b in range(first, last):
        n, m = lengths_a[b], lengths_b[b]
        cost_b = cost[b].reshape(num_rows * num_cols)
        off = diagonal_offsets(n, m)
        r_all = tables[_R, starts[b] : starts[b + 1]]
        q_all = tables[_Q, starts[b] : starts[b + 1]]
        c_buf = np.empty(n, dtype)
        for d in range(n + m + 3):
            base = slot_base(off, d, m)
            _write_edges(r_all, q_all, base, d, n, m)
            i0, i1 = interior_rows(d, n, m)
            if i0 > i1:
                continue
            base1, base2 = slot_base(off, d - 1, m), slot_base(off, d - 2, m)
            r, q = r_all[base + i0 : base + i1 + 1], q_all[base + i0 : base + i1 + 1]
            r1 = r_all[base1 + i0 - 1 : base1 + i1 + 1]  # (I-1, J) at k, (I, J-1) at k + 1
            r2 = r_all[base2 + i0 - 1 : base2 + i1]  # (I-1, J-1) at k
            c = gather_diagonal(cost_b, 0, i0 - 1, d - i0 - 1, num_cols, 1, i1 - i0 + 1, c_buf, n - 1, m - 1)
            for k in range(c.size):
                q[k] = -smooth_max3(-r2[k], -r1[k], -r1[k + 1], gamma, inv_gamma)
                r[k] = c[k] + q[k]
        values[b] = r_all[slot_base(off, n + m, m) + n]
    restore_fp_mode(fp_mode)


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def backward(grad_values, tables, starts, num_cols, lengths_a, lengths_b, gamma, grad_cost, first, last):
    """Write ``grad_values[b] * d value[b] / d cost`` into ``grad_cost`` (``[B, N * M]`` zeros) for
    ``first <= b < last``."""
    dtype = tables.dtype
    inv_gamma = dtype.type(1.0) / gamma
    fp_mode = flush_denormals()  # the adjoints decay into the subnormal range off the likely paths
    for b in range(first, last):
        n, m = lengths_a[b], lengths_b[b]
        off = diagonal_offsets(n, m)
        r_all = tables[_R, starts[b] : starts[b + 1]]
        q_all = tables[_Q, starts[b] : starts[b + 1]]
        # E of diagonals d, d + 1, d + 2 in rotating slots (d % 3), indexed by row I; zero off the interior
        adj = np.zeros((3, n + 2), dtype)
        adj[(n + m) % 3, n] = dtype.type(grad_values[b])
        for d in range(n + m, 1, -1):
            i0, i1 = interior_rows(d, n, m)
            base, base1, base2 = slot_base(off, d, m), slot_base(off, d + 1, m), slot_base(off, d + 2, m)
            r = r_all[base + i0 : base + i1 + 1]
            q_diag = q_all[base2 + i0 + 1 : base2 + i1 + 2]  # successors (I+1, J+1)
            q_right = q_all[base1 + i0 : base1 + i1 + 1]  # (I, J+1)
            q_down = q_all[base1 + i0 + 1 : base1 + i1 + 2]  # (I+1, J)
            e_diag = adj[(d + 2) % 3, i0 + 1 : i1 + 2]
            e_right = adj[(d + 1) % 3, i0 : i1 + 1]
            e_down = adj[(d + 1) % 3, i0 + 1 : i1 + 2]
            e = adj[d % 3, i0 : i1 + 1]
            if d < n + m:  # the end cell keeps its seed
                for k in range(r.size):
                    e[k] = (
                        e_diag[k] * exp_nonpositive((q_diag[k] - r[k]) * inv_gamma)
                        + e_right[k] * exp_nonpositive((q_right[k] - r[k]) * inv_gamma)
                        + e_down[k] * exp_nonpositive((q_down[k] - r[k]) * inv_gamma)
                    )
            adj[d % 3, i0 - 1] = 0
            adj[d % 3, i1 + 1] = 0
            scatter_diagonal(e, grad_cost[b], 0, i0 - 1, d - i0 - 1, num_cols, 1, 1.0, n - 1, m - 1)
    restore_fp_mode(fp_mode)
