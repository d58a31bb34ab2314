"""Exact DTW with its optimal path: ``D[i,j] = C[i,j] + min(D[i-1,j-1], D[i-1,j], D[i,j-1])``, ``D[0,0] = C[0,0]``.

Only the cells of a band (:class:`vidalign.ops.band.Band`: columns ``lo[i]..hi[i]`` of row ``i``) exist; the
others are ``inf``. Accumulated costs live in two float64 rolling rows (``rows[i & 1]`` holds row ``i``), so the
cost matrix can arrive a block of rows at a time (:func:`fill` continues where the previous block stopped). The
path is recovered from 2 bits per banded cell (0 diagonal, 1 from ``(i-1, j)``, 2 from ``(i, j-1)``; ties prefer
that order), packed four to a byte in the band's row-major ragged layout: ``N x M`` costs ``N * M / 4`` bytes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_DIAGONAL, _UP, _LEFT = 0, 1, 2


@njit(cache=True, nogil=True)
def fill(cost_rows, first_row, lo, hi, offsets, rows, pointers):
    """Fill rows ``first_row ..`` of the table from ``cost_rows`` (``cost_rows[r, j]`` is the cost of cell
    ``(first_row + r, j)``; only the band is read). ``rows`` (float64 ``[2, M]``, ``inf`` at the start) carries
    the last two table rows between calls; ``pointers`` (uint8, zeroed) receives the packed moves."""
    for r in range(cost_rows.shape[0]):
        i = first_row + r
        row, prev = rows[i & 1], rows[(i - 1) & 1]
        if i >= 2:  # this buffer still holds row i - 2: back to inf
            row[lo[i - 2] : hi[i - 2] + 1] = np.inf
        for j in range(lo[i], hi[i] + 1):
            if i == 0 and j == 0:
                row[0] = np.float64(cost_rows[r, 0])
                continue  # the zero code is already the diagonal
            source, best = _DIAGONAL, np.inf
            if i > 0 and j > 0:
                best = prev[j - 1]
            if i > 0 and prev[j] < best:
                source, best = _UP, prev[j]
            if j > 0 and row[j - 1] < best:
                source, best = _LEFT, row[j - 1]
            row[j] = np.float64(cost_rows[r, j]) + best
            cell = offsets[i] + j - lo[i]
            pointers[cell >> 2] |= np.uint8(source << ((cell & 3) * 2))


@njit(cache=True, nogil=True)
def traceback(lo, offsets, pointers, cols):
    """The optimal path ``[L, 2]`` from ``(0, 0)`` to ``(N-1, M-1)``."""
    n = len(lo)
    path = np.empty((n + cols - 1, 2), np.int64)
    i, j, count = n - 1, cols - 1, 0
    while True:
        path[count] = (i, j)
        count += 1
        if i == 0 and j == 0:
            break
        cell = offsets[i] + j - lo[i]
        step = (pointers[cell >> 2] >> ((cell & 3) * 2)) & 3
        if step == _DIAGONAL:
            i, j = i - 1, j - 1
        elif step == _UP:
            i -= 1
        else:
            j -= 1
    return path[:count][::-1].copy()
