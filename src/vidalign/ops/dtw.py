"""Exact dynamic time warping with its optimal path (inference; ``vidalign align --method dtw``).

``D[i,j] = C[i,j] + min(D[i-1,j-1], D[i-1,j], D[i,j-1])``, ``D[0,0] = C[0,0]``; the score is ``D[N-1, M-1]``, the sum
of the costs along the optimal monotone path from ``(0, 0)`` to ``(N-1, M-1)`` with steps (1,0), (0,1), (1,1). Ties
prefer the diagonal step, then (1,0). Memory: one byte per cell for the traceback and two float64 rows (5,000 x
5,000 needs 25 MB besides the input).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from vidalign.errors import InputError

from ._numba import dtw as kernels
from .backends import select_backend
from .dp_problems import cpu_matrix


class DTWResult(NamedTuple):
    """Optimal DTW alignment: total cost and the path ``[L, 2]`` of (i, j) pairs from (0, 0) to (N-1, M-1)."""

    score: float
    path: np.ndarray


def dtw(cost: Tensor | np.ndarray, band: int | None = None, backend: str = "auto") -> DTWResult:
    """Exact DTW of one cost matrix ``[N, M]`` (numpy or torch, any device; computed on the CPU in float64).

    ``band``: optional Sakoe-Chiba radius: only cells with ``|i - j| <= band`` are allowed; it must be at least
    ``|N - M|`` so that the end cell is reachable. ``backend``: ``"auto"`` or ``"numba"``, its only solver.
    """
    values = cpu_matrix(cost, "cost")
    select_backend(backend, torch.from_numpy(values), available=("numba",), op="dtw")
    rows, cols = values.shape
    if band is not None and band < abs(rows - cols):
        raise InputError(f"band={band} cannot reach the end cell: it must be >= |N - M| = {abs(rows - cols)}")
    pointers = np.empty((rows, cols), np.uint8)
    score = kernels.fill(values, -1 if band is None else int(band), pointers)
    return DTWResult(score=float(score), path=kernels.traceback(pointers))
