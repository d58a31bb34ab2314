"""The similarity matrix as the viewer draws it (``docs/viewer.md``, Matrix): block means of ``S [N, M]`` over
``ceil(N / MAX_CELLS)`` x ``ceil(M / MAX_CELLS)`` frames, so a cell of the page is at most :data:`MAX_CELLS` a
side whatever the recordings' lengths, quantised to 0-255 between the full matrix's minimum and maximum (the
stated colour range), base64-encoded row by row.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

__all__ = ["MAX_CELLS", "matrix_payload"]

MAX_CELLS = 400


def _block_means(values: np.ndarray, step: int, axis: int) -> np.ndarray:
    starts = np.arange(0, values.shape[axis], step)
    sums = np.add.reduceat(values, starts, axis=axis)
    counts = np.diff(np.append(starts, values.shape[axis])).astype(values.dtype)
    shape = [1, 1]
    shape[axis] = -1
    return sums / counts.reshape(shape)


def matrix_payload(similarity: np.ndarray) -> dict[str, Any]:
    """The page's description of ``similarity [N, M]`` (module docstring): ``rows``/``cols`` cells of
    ``row_step``/``col_step`` frames, ``low``/``high`` the colour range, ``data`` the quantised cells."""
    sim = np.asarray(similarity, dtype=np.float32)
    n, m = sim.shape
    row_step, col_step = math.ceil(n / MAX_CELLS), math.ceil(m / MAX_CELLS)
    cells = _block_means(_block_means(sim, row_step, 0), col_step, 1)
    low, high = float(sim.min()), float(sim.max())
    scaled = (cells - low) / (high - low) if high > low else np.zeros_like(cells)
    quantised = np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)
    return {
        "rows": int(cells.shape[0]),
        "cols": int(cells.shape[1]),
        "row_step": row_step,
        "col_step": col_step,
        "low": low,
        "high": high,
        "data": base64.b64encode(quantised.tobytes()).decode("ascii"),
    }
