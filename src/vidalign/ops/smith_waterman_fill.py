"""Exact Smith-Waterman over a band of cells, fed the similarity matrix a block of rows at a time (numpy and the
compiled kernels of ``_numba/smith_waterman.py`` only): the fill behind :func:`vidalign.ops.smith_waterman` and
``vidalign align --method sw``, and the exact score of :func:`vidalign.ops.soft_smith_waterman` (``hard=True``).
Recursion and gap convention: :mod:`vidalign.ops.smith_waterman`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._numba import smith_waterman as hard_kernels
from .band import Band


class SmithWatermanResult(NamedTuple):
    """An optimal local alignment: matched ``pairs`` ``[L, 2]`` (increasing), inclusive frame intervals."""

    score: float
    pairs: np.ndarray
    interval_a: tuple[int, int]
    interval_b: tuple[int, int]


class SmithWatermanFill:
    """Exact Smith-Waterman over the cells of ``band`` (:mod:`vidalign.ops.band`), fed the similarity matrix in
    blocks of rows from the first to the last (:meth:`add`); :meth:`result` after the last row. Gap penalties
    are flat arrays read at ``gap_offset + i * s_i + j * s_j`` (``gap_steps = (s_i, s_j)``; one value: steps 0).
    Memory: one byte per banded cell and six float64 rows."""

    def __init__(self, band: Band, gap_open: np.ndarray, gap_extend: np.ndarray, gap_offset: int = 0,
                 gap_steps: tuple[int, int] = (0, 0)):  # fmt: skip
        self.band = band
        self.gaps = (gap_open, gap_extend, gap_offset, *gap_steps)
        self.rows = np.full((3, 2, band.cols), -np.inf)
        self.best = np.array([-np.inf, -1.0, -1.0])
        self.pointers = np.empty(band.cells, np.uint8)
        self.next_row = 0

    def add(self, sim_rows: np.ndarray) -> None:
        """The next rows ``[R, M]`` of the similarity matrix (only the band is read)."""
        band = self.band
        bounds = (band.lo, band.hi, band.offsets)
        hard_kernels.fill(sim_rows, self.next_row, *bounds, *self.gaps, self.rows, self.best, self.pointers)
        self.next_row += len(sim_rows)

    def moves(self) -> tuple[float, np.ndarray]:
        """The best score and the moves ``[L, 3]`` (kind, i, j) of its alignment (``_numba.smith_waterman``)."""
        score, end_i, end_j = self.best
        band = self.band
        return float(score), hard_kernels.traceback(band.lo, band.offsets, self.pointers, int(end_i), int(end_j))

    def result(self) -> SmithWatermanResult:
        score, moves = self.moves()
        pairs = moves[moves[:, 0] == hard_kernels.MATCH, 1:]
        return SmithWatermanResult(
            score=score,
            pairs=pairs,
            interval_a=(int(pairs[0, 0]), int(pairs[-1, 0])),
            interval_b=(int(pairs[0, 1]), int(pairs[-1, 1])),
        )
