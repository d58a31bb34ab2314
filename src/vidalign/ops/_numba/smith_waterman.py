"""Exact Smith-Waterman with affine gaps (Gotoh) and traceback, for inference and the ``hard=True`` subgradient.

The max recursion of :mod:`.soft_smith_waterman` (same states, same transitions, same per-cell gap convention):
``H[i,j] = S[i,j] + max(0, H, E, F at (i-1, j-1))``, ``E[i,j] = max(H[i,j-1] - go, E[i,j-1] - ge)``,
``F[i,j] = max(H[i-1,j] - go, E[i-1,j] - go, F[i-1,j] - ge)``; score ``= max H``. Scores are accumulated in
float64 over two rolling rows; the traceback needs one byte per cell (``N x M`` uint8), packing the argmax of each
state: bits 0-1 the source of H (0 start, 1 H, 2 E, 3 F), bit 2 the source of E (0 H, 1 E), bits 3-4 the source
of F (0 H, 1 E, 2 F). Ties go to the earlier source in these lists.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MATCH, GAP_OPEN, GAP_EXTEND = 0, 1, 2  # kinds of the moves returned by traceback


@njit(cache=True, nogil=True)
def fill(sim, n, m, gap_open, gap_extend, gap_offset, s_i, s_j, pointers):
    """Fill ``pointers[:n, :m]`` for ``sim[:n, :m]``; return ``(score, i, j)`` of the best end (first in row-major
    order). Gaps are read at ``gap_offset + i * s_i + j * s_j`` (steps 0 along broadcast dimensions)."""
    h_prev, e_prev, f_prev = np.full(m, -np.inf), np.full(m, -np.inf), np.full(m, -np.inf)
    h_row, e_row, f_row = np.empty(m), np.empty(m), np.empty(m)
    best, best_i, best_j = -np.inf, -1, -1
    for i in range(n):
        for j in range(m):
            at = gap_offset + i * s_i + j * s_j
            go, ge = np.float64(gap_open[at]), np.float64(gap_extend[at])
            # match state: start, or continue from H / E / F at (i-1, j-1)
            source, prefix = 0, 0.0
            if i > 0 and j > 0:
                for state, value in ((1, h_prev[j - 1]), (2, e_prev[j - 1]), (3, f_prev[j - 1])):
                    if value > prefix:
                        source, prefix = state, value
            h_row[j] = np.float64(sim[i, j]) + prefix
            # gap in X (moving along j)
            e_source, e_value = 0, -np.inf
            if j > 0:
                e_value = h_row[j - 1] - go
                if e_row[j - 1] - ge > e_value:
                    e_source, e_value = 1, e_row[j - 1] - ge
            e_row[j] = e_value
            # gap in Y (moving along i)
            f_source, f_value = 0, -np.inf
            if i > 0:
                f_value = h_prev[j] - go
                if e_prev[j] - go > f_value:
                    f_source, f_value = 1, e_prev[j] - go
                if f_prev[j] - ge > f_value:
                    f_source, f_value = 2, f_prev[j] - ge
            f_row[j] = f_value
            pointers[i, j] = source | (e_source << 2) | (f_source << 3)
            if h_row[j] > best:
                best, best_i, best_j = h_row[j], i, j
        h_prev, h_row = h_row, h_prev
        e_prev, e_row = e_row, e_prev
        f_prev, f_row = f_row, f_prev
    return best, best_i, best_j


@njit(cache=True, nogil=True)
def traceback(pointers, end_i, end_j):
    """Moves ``[L, 3]`` = (kind, i, j) from the first match to the match at ``(end_i, end_j)``: MATCH pairs,
    GAP_OPEN / GAP_EXTEND at the cell each gap step lands on (the cell charged for it)."""
    moves = np.empty((pointers.shape[0] + pointers.shape[1], 3), np.int64)
    count = 0
    i, j, state = end_i, end_j, 1
    while True:
        code = pointers[i, j]
        if state == 1:
            moves[count] = (MATCH, i, j)
            state = code & 3
            if state == 0:
                break
            i, j = i - 1, j - 1
        elif state == 2:
            source = (code >> 2) & 1
            moves[count] = (GAP_EXTEND if source == 1 else GAP_OPEN, i, j)
            state = 2 if source == 1 else 1
            j -= 1
        else:
            source = (code >> 3) & 3
            moves[count] = (GAP_EXTEND if source == 2 else GAP_OPEN, i, j)
            state = 3 if source == 2 else source + 1
            i -= 1
        count += 1
    return moves[: count + 1][::-1].copy()
