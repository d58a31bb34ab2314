"""The cells a banded dynamic programme visits (``docs/methods.md``, Band): one column window per row.

Row ``i`` of an ``N x M`` matrix keeps the columns ``lo[i] <= j <= hi[i]``; both bounds never decrease from one
row to the next, so the kernels of :mod:`vidalign.ops._numba.dtw` and :mod:`vidalign.ops._numba.smith_waterman`
store a row's traceback contiguously at ``offsets[i]`` (``offsets[N]`` cells in all) and nothing outside the
band. Three shapes:

- :func:`full_band`: every cell (the unbanded programme);
- :func:`offset_band`: ``|i - j| <= band``, the Sakoe-Chiba band of :func:`vidalign.ops.dtw`;
- :func:`diagonal_band`: ``|j - c_i| <= radius`` around the *scaled* diagonal ``c_i = i (M - 1) / (N - 1)``
  from ``(0, 0)`` to ``(N - 1, M - 1)``, so that recordings of different lengths keep a band of the same width
  along their whole length (``vidalign align --band``).

A path that runs along a window's bound where it is inside the matrix (not column 0 or ``M - 1``) touches the
band's edge: the band, not the data, may have decided it (:func:`edge_pairs`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from vidalign.errors import InputError


class Band(NamedTuple):
    """Column windows ``lo[i]..hi[i]`` (inclusive, int64 ``[N]``) of an ``N x M`` matrix and the start of each
    row's cells in a row-major ragged layout (``offsets`` int64 ``[N + 1]``)."""

    lo: np.ndarray
    hi: np.ndarray
    offsets: np.ndarray
    cols: int

    @property
    def rows(self) -> int:
        return len(self.lo)

    @property
    def cells(self) -> int:
        return int(self.offsets[-1])


def _band(lo: np.ndarray, hi: np.ndarray, cols: int) -> Band:
    lo, hi = np.clip(lo, 0, cols - 1).astype(np.int64), np.clip(hi, 0, cols - 1).astype(np.int64)
    offsets = np.zeros(len(lo) + 1, np.int64)
    np.cumsum(hi - lo + 1, out=offsets[1:])
    return Band(lo, hi, offsets, cols)


def full_band(rows: int, cols: int) -> Band:
    """Every cell of a ``rows x cols`` matrix."""
    return _band(np.zeros(rows, np.int64), np.full(rows, cols - 1, np.int64), cols)


def offset_band(rows: int, cols: int, band: int) -> Band:
    """``|i - j| <= band``; the end cell must be inside: ``band >= |rows - cols|``."""
    if band < abs(rows - cols):
        raise InputError(f"band={band} cannot reach the end cell: it must be >= |N - M| = {abs(rows - cols)}")
    i = np.arange(rows, dtype=np.int64)
    return _band(i - band, i + band, cols)


def band_radius(band: float, rows: int, cols: int) -> float:
    """The radius in frames of ``--band``: ``band`` frames, or ``band`` times the longer recording when < 1."""
    if not band > 0 or not math.isfinite(band):
        raise InputError(f"band must be a positive number of frames or a fraction < 1, got {band}")
    return band * max(rows, cols) if band < 1 else float(band)


def diagonal_band(rows: int, cols: int, radius: float) -> Band:
    """``|j - i (cols - 1) / (rows - 1)| <= radius``. The windows of consecutive rows must overlap for a path
    to get through: ``radius >= max(1, slope)`` with ``slope = (cols - 1) / (rows - 1)``."""
    slope = (cols - 1) / (rows - 1) if rows > 1 else 0.0
    if radius < max(1.0, slope):
        raise InputError(
            f"band of {radius:g} frames is too narrow for {rows} x {cols} frames: it must be at least "
            f"{math.ceil(max(1.0, slope))} frames (the B frames per A frame) for a path to get through"
        )
    centre = np.arange(rows, dtype=np.int64) * (cols - 1) / max(rows - 1, 1)
    lo, hi = np.ceil(centre - radius), np.floor(centre + radius)
    lo[0], hi[-1] = 0, cols - 1  # one row (rows == 1) spans every column
    return _band(lo, hi, cols)


def edge_pairs(band: Band, pairs: np.ndarray) -> np.ndarray:
    """Which ``pairs [L, 2]`` lie on a bound of their row's window that is inside the matrix."""
    rows, cols = pairs[:, 0], pairs[:, 1]
    lo, hi = band.lo[rows], band.hi[rows]
    return ((cols == lo) & (lo > 0)) | ((cols == hi) & (hi < band.cols - 1))
