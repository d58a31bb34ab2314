"""Exact dynamic time warping with its optimal path (inference; ``vidalign align --method dtw``).

``D[i,j] = C[i,j] + min(D[i-1,j-1], D[i-1,j], D[i,j-1])``, ``D[0,0] = C[0,0]``; the score is ``D[N-1, M-1]``, the sum
of the costs along the optimal monotone path from ``(0, 0)`` to ``(N-1, M-1)`` with steps (1,0), (0,1), (1,1). Ties
prefer the diagonal step, then (1,0). Memory (``docs/methods.md``, Long recordings): 2 bits per cell of the band
for the traceback and two float64 rows (5,000 x 5,000 needs 6 MB besides the input). :class:`DTWFill` takes the
cost matrix a block of rows at a time, so that it never has to exist whole. Neither needs torch (a tensor input is
read through :func:`vidalign.ops.backends.cpu_matrix`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ._numba import dtw as kernels
from .backends import cpu_matrix, select_backend
from .band import Band, full_band, offset_band

if TYPE_CHECKING:
    from torch import Tensor


class DTWResult(NamedTuple):
    """Optimal DTW alignment: total cost and the path ``[L, 2]`` of (i, j) pairs from (0, 0) to (N-1, M-1)."""

    score: float
    path: np.ndarray


class DTWFill:
    """Exact DTW over the cells of ``band`` (:mod:`vidalign.ops.band`), fed the cost matrix in blocks of rows
    from the first to the last (:meth:`add`); :meth:`result` after the last row."""

    def __init__(self, band: Band):
        self.band = band
        self.rows = np.full((2, band.cols), np.inf)
        self.pointers = np.zeros((band.cells + 3) // 4, np.uint8)
        self.next_row = 0

    def add(self, cost_rows: np.ndarray) -> None:
        """The next rows ``[R, M]`` of the cost matrix (float32 or float64; only the band is read)."""
        kernels.fill(cost_rows, self.next_row, self.band.lo, self.band.hi, self.band.offsets, self.rows, self.pointers)
        self.next_row += len(cost_rows)

    def result(self) -> DTWResult:
        band = self.band
        score = self.rows[(band.rows - 1) & 1, band.cols - 1]
        return DTWResult(float(score), kernels.traceback(band.lo, band.offsets, self.pointers, band.cols))


def dtw(cost: Tensor | np.ndarray, band: int | None = None, backend: str = "auto") -> DTWResult:
    """Exact DTW of one cost matrix ``[N, M]`` (numpy or torch, any device; computed on the CPU in float64).

    ``band``: optional Sakoe-Chiba radius: only cells with ``|i - j| <= band`` are allowed; it must be at least
    ``|N - M|`` so that the end cell is reachable. ``backend``: ``"auto"`` or ``"numba"``, its only solver.
    """
    values = cpu_matrix(cost, "cost")
    select_backend(backend, values, available=("numba",), op="dtw")
    rows, cols = values.shape
    fill = DTWFill(full_band(rows, cols) if band is None else offset_band(rows, cols, int(band)))
    fill.add(values)
    return fill.result()
