"""Exact DTW with its optimal path: ``D[i,j] = C[i,j] + min(D[i-1,j-1], D[i-1,j], D[i,j-1])``, ``D[0,0] = C[0,0]``.

Accumulated costs live in two float64 rolling rows; the path is recovered from one byte per cell (0 diagonal,
1 from ``(i-1, j)``, 2 from ``(i, j-1)``; ties prefer that order), so ``N x M`` costs ``N * M`` bytes. An optional
Sakoe-Chiba band restricts the cells to ``|i - j| <= band``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_DIAGONAL, _UP, _LEFT = 0, 1, 2


@njit(cache=True, nogil=True)
def fill(cost, band, pointers):
    """Fill ``pointers`` (uint8, shape of ``cost``) and return the DTW value; ``band < 0`` means no band."""
    n, m = cost.shape
    prev, row = np.full(m, np.inf), np.full(m, np.inf)
    for i in range(n):
        lo, hi = 0, m - 1
        if band >= 0:
            lo, hi = max(0, i - band), min(m - 1, i + band)
        row[:] = np.inf
        for j in range(lo, hi + 1):
            if i == 0 and j == 0:
                row[j] = np.float64(cost[0, 0])
                pointers[0, 0] = _DIAGONAL
                continue
            source, best = _DIAGONAL, np.inf
            if i > 0 and j > 0:
                best = prev[j - 1]
            if i > 0 and prev[j] < best:
                source, best = _UP, prev[j]
            if j > 0 and row[j - 1] < best:
                source, best = _LEFT, row[j - 1]
            row[j] = np.float64(cost[i, j]) + best
            pointers[i, j] = source
        prev, row = row, prev
    return prev[m - 1]


@njit(cache=True, nogil=True)
def traceback(pointers):
    """The optimal path ``[L, 2]`` from ``(0, 0)`` to ``(N-1, M-1)``."""
    n, m = pointers.shape
    path = np.empty((n + m - 1, 2), np.int64)
    i, j, count = n - 1, m - 1, 0
    while True:
        path[count] = (i, j)
        count += 1
        if i == 0 and j == 0:
            break
        step = pointers[i, j]
        if step == _DIAGONAL:
            i, j = i - 1, j - 1
        elif step == _UP:
            i -= 1
        else:
            j -= 1
    return path[:count][::-1].copy()
