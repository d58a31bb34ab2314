"""Packed anti-diagonal storage of DP tables over the extended ``(n + 1) x (m + 1)`` grid.

Cell ``(I, J)`` of the extended grid (row/column 0 are the boundary, cell ``(I, J)`` with ``I, J >= 1`` holds the
pair of frames ``(I - 1, J - 1)``) lies on anti-diagonal ``D = I + J``. Every cell of diagonal ``D`` depends only
on diagonals ``D - 1`` and ``D - 2``, so a whole diagonal is one vectorisable loop. Tables are stored diagonal after
diagonal; diagonal ``D`` covers rows ``lo(D) = max(0, D - m)`` to ``hi(D) = min(n, D)`` plus one *guard* slot on
each side, so that a backward sweep may read the successors ``(I + 1, J)``, ``(I, J + 1)``, ``(I + 1, J + 1)`` of
every cell without bound tests (soft-DTW's does; guards hold a value whose transition weight is exactly 0). Two
trailing virtual diagonals ``n + m + 1`` and ``n + m + 2`` consist of guards only. A batch stores its samples one
after the other (:func:`sample_starts`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def diagonal_offsets(n, m, lanes=1):
    """``off[D]`` = start of diagonal ``D`` (``0 <= D <= n + m + 2``); ``off[n + m + 3]`` = total size.

    ``lanes > 1``: each diagonal's cells are padded to a multiple of ``lanes`` (guards excluded), so that a
    kernel may run its loops over whole vectors, writing throw-away values past the last cell of the diagonal
    (into its own padding) instead of finishing each diagonal with a scalar remainder loop."""
    off = np.empty(n + m + 4, np.int64)
    off[0] = 0
    for d in range(n + m + 3):
        cells = min(n, d) - max(0, d - m) + 1
        if lanes > 1:
            cells = (max(cells, 0) + lanes - 1) // lanes * lanes
        off[d + 1] = off[d] + cells + 2
    return off


@njit(cache=True)
def sample_starts(lengths_a, lengths_b, lanes=1):
    """Start of each sample's packed tables in the flat buffers (last entry: total size). With ``lanes > 1``
    (:func:`diagonal_offsets`) each sample also gets ``lanes`` trailing slots, so that whole-vector reads past
    its last diagonal stay inside its own block."""
    starts = np.zeros(lengths_a.size + 1, np.int64)
    slack = lanes if lanes > 1 else 0
    for b in range(lengths_a.size):
        n, m = lengths_a[b], lengths_b[b]
        starts[b + 1] = starts[b] + diagonal_offsets(n, m, lanes)[n + m + 3] + slack
    return starts


@njit(cache=True)
def slot_base(off, d, m):
    """Index of row ``I`` of diagonal ``d`` is ``slot_base(off, d, m) + I``."""
    return off[d] + 1 - max(0, d - m)


@njit(cache=True)
def interior_rows(d, n, m):
    """First and last row ``I`` of the interior cells (``I, J >= 1``) of diagonal ``d`` (empty when first > last)."""
    return max(1, d - m), min(n, d - 1)


@njit(cache=True)
def gather_diagonal(values, offset, i, j, step_i, step_j, count, out, i_max, j_max):
    """Entries of a row-major matrix along an anti-diagonal, gathered into the contiguous ``out[:count]``.

    ``out[k] = values[offset + min(i + k, i_max) * step_i + min(j - k, j_max) * step_j]``: row ``i + k``, column
    ``j - k``, clamped to the last valid row/column (the backward reads successors one past the edge, whose
    weight is 0 whatever value is read). A strided read inside the arithmetic loop would stop LLVM from vectorising
    it, so the kernels gather first.
    """
    if step_i == 0 and step_j == 0:  # a broadcast value (scalar or per-sample penalty): a vectorisable fill
        out[:count] = values[offset]
    else:
        for k in range(count):
            out[k] = values[offset + min(i + k, i_max) * step_i + min(j - k, j_max) * step_j]
    return out[:count]


@njit(cache=True)
def scatter_diagonal(values, out, offset, i, j, step_i, step_j, scale, i_max, j_max):
    """``out[offset + (i + k) * step_i + (j - k) * step_j] += scale * values[k]`` for the cells with row
    ``<= i_max`` and column ``<= j_max`` (accumulates, so broadcast dimensions with step 0 sum their cells)."""
    first, last = max(0, j - j_max), min(values.size - 1, i_max - i)
    if step_i == 0 and step_j == 0:  # every cell adds into one entry: a (vectorised) sum
        out[offset] += scale * _sum(values[first : last + 1])
    else:
        for k in range(first, last + 1):
            out[offset + (i + k) * step_i + (j - k) * step_j] += scale * values[k]


@njit(cache=True, fastmath={"reassoc", "contract"})
def _sum(values):
    """Float64 sum (reassociated so that LLVM vectorises it)."""
    total = 0.0
    for k in range(values.size):
        total += np.float64(values[k])
    return total
