"""Exact Smith-Waterman with affine gaps (Gotoh) and traceback, for inference and the ``hard=True`` subgradient.

The max recursion of :mod:`.soft_smith_waterman` (same states, same transitions, same per-cell gap convention):
``H[i,j] = S[i,j] + max(0, H, E, F at (i-1, j-1))``, ``E[i,j] = max(H[i,j-1] - go, E[i,j-1] - ge)``,
``F[i,j] = max(H[i-1,j] - go, E[i-1,j] - go, F[i-1,j] - ge)``; score ``= max H``. Scores are accumulated in
float64 over two rolling rows (so the similarities can arrive a block of rows at a time); the traceback needs one
byte per cell of a band (:class:`vidalign.ops.band.Band`: columns ``lo[i]..hi[i]`` of row ``i``, stored row after
row; the cells outside are ``-inf``), packing the argmax of each state: bits 0-1 the source of H (0 start, 1 H,
2 E, 3 F), bit 2 the source of E (0 H, 1 E), bits 3-4 the source of F (0 H, 1 E, 2 F). Ties go to the earlier
source in these lists.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MATCH, GAP_OPEN, GAP_EXTEND = 0, 1, 2  # kinds of the moves returned by traceback


@njit(cache=True, nogil=True)
def fill(sim_rows, first_row, lo, hi, offsets, gap_open, gap_extend, gap_offset, s_i, s_j, rows, best, pointers):
    """Fill rows ``first_row ..`` from ``sim_rows`` (``sim_rows[r, j]`` is the similarity of cell
    ``(first_row + r, j)``; only the band ``lo[i]..hi[i]`` is read, the other cells are ``-inf``). ``rows``
    (float64 ``[3, 2, M]``: H, E, F; ``-inf`` at the start) carries the last two rows between calls; ``best``
    (float64 ``[3]``: ``-inf, -1, -1`` at the start) the best end so far as ``(score, i, j)``, the first in
    row-major order; ``pointers`` (uint8) one code per banded cell. Gaps are read at
    ``gap_offset + i * s_i + j * s_j`` (steps 0 along broadcast dimensions)."""
    for r in range(sim_rows.shape[0]):
        i = first_row + r
        h_row, e_row, f_row = rows[0, i & 1], rows[1, i & 1], rows[2, i & 1]
        h_prev, e_prev, f_prev = rows[0, (i - 1) & 1], rows[1, (i - 1) & 1], rows[2, (i - 1) & 1]
        if i >= 2:  # these buffers still hold row i - 2: back to -inf
            for k in range(3):
                rows[k, i & 1, lo[i - 2] : hi[i - 2] + 1] = -np.inf
        for j in range(lo[i], hi[i] + 1):
            at = gap_offset + i * s_i + j * s_j
            go, ge = np.float64(gap_open[at]), np.float64(gap_extend[at])
            # match state: start, or continue from H / E / F at (i-1, j-1)
            source, prefix = 0, 0.0
            if i > 0 and j > 0:
                for state, value in ((1, h_prev[j - 1]), (2, e_prev[j - 1]), (3, f_prev[j - 1])):
                    if value > prefix:
                        source, prefix = state, value
            h_row[j] = np.float64(sim_rows[r, j]) + prefix
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
            pointers[offsets[i] + j - lo[i]] = source | (e_source << 2) | (f_source << 3)
            if h_row[j] > best[0]:
                best[0], best[1], best[2] = h_row[j], i, j


@njit(cache=True, nogil=True)
def traceback(lo, offsets, pointers, end_i, end_j):
    """Moves ``[L, 3]`` = (kind, i, j) from the first match to the match at ``(end_i, end_j)``: MATCH pairs,
    GAP_OPEN / GAP_EXTEND at the cell each gap step lands on (the cell charged for it)."""
    moves = np.empty((end_i + end_j + 2, 3), np.int64)
    count = 0
    i, j, state = end_i, end_j, 1
    while True:
        code = pointers[offsets[i] + j - lo[i]]
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
