"""Exact dynamic time warping with its optimal path (inference; ``vidalign align --method dtw``).

``D[i,j] = C[i,j] + min(D[i-1,j-1], D[i-1,j], D[i,j-1])``, ``D[0,0] = C[0,0]``; the score is ``D[N-1, M-1]``, the sum
of the costs along the optimal monotone path from ``(0, 0)`` to ``(N-1, M-1)`` with steps (1,0), (0,1), (1,1). Ties
prefer the diagonal step, then (1,0). Memory: one byte per cell for the traceback and two float64 rows (5,000 x
5,000 needs 25 MB besides the input).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from torch import Tensor

from vidalign.errors import InputError

from ._numba import dtw as kernels


class DTWResult(NamedTuple):
    """Optimal DTW alignment: total cost and the path ``[L, 2]`` of (i, j) pairs from (0, 0) to (N-1, M-1)."""

    score: float
    path: np.ndarray


def dtw(cost: Tensor | np.ndarray, band: int | None = None) -> DTWResult:
    """Exact DTW of one cost matrix ``[N, M]`` (numpy or torch, any device; computed on the CPU in float64).

    ``band``: optional Sakoe-Chiba radius: only cells with ``|i - j| <= band`` are allowed; it must be at least
    ``|N - M|`` so that the end cell is reachable.
    """
    values = cost.detach().cpu().numpy() if isinstance(cost, Tensor) else np.asarray(cost)
    if values.ndim != 2 or values.size == 0:
        raise InputError(f"cost must be a non-empty [N, M] matrix, got shape {values.shape}")
    values = np.ascontiguousarray(values if values.dtype in (np.float32, np.float64) else values.astype(np.float64))
    rows, cols = values.shape
    if band is not None and band < abs(rows - cols):
        raise InputError(f"band={band} cannot reach the end cell: it must be >= |N - M| = {abs(rows - cols)}")
    pointers = np.empty((rows, cols), np.uint8)
    score = kernels.fill(values, -1 if band is None else int(band), pointers)
    return DTWResult(score=float(score), path=kernels.traceback(pointers))
