"""The similarity matrix as the viewer draws it (``docs/viewer.md``, Matrix): the alignment's preview (block means
of ``S [N, M]`` over about equal groups of at most :data:`vidalign.similarity.PREVIEW_SIDE` a side:
:class:`vidalign.similarity.Preview`, never the whole matrix) averaged further over about equal groups of at most
:data:`MAX_CELLS` a side, quantised to 0-255 between the cells' minimum and maximum (the stated colour range) and
base64-encoded row by row.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from vidalign.similarity import Preview

__all__ = ["MAX_CELLS", "matrix_payload"]

MAX_CELLS = 400


def _group_means(values: np.ndarray, axis: int) -> np.ndarray:
    """Means over ``min(n, MAX_CELLS)`` about equal groups of ``values`` along ``axis``."""
    n = values.shape[axis]
    count = min(n, MAX_CELLS)
    starts = np.arange(count) * n // count
    sizes = np.diff(np.append(starts, n)).astype(np.float64)
    shape = [1, 1]
    shape[axis] = -1
    return np.add.reduceat(values, starts, axis=axis) / sizes.reshape(shape)


def matrix_payload(preview: Preview) -> dict[str, Any]:
    """The page's description of the matrix ``preview`` summarises (module docstring): ``rows`` / ``cols`` cells
    over the ``frames`` (N, M), ``low`` / ``high`` the colour range, ``data`` the quantised cells."""
    cells = _group_means(_group_means(np.asarray(preview.values, dtype=np.float64), 0), 1)
    low, high = float(cells.min()), float(cells.max())
    scaled = (cells - low) / (high - low) if high > low else np.zeros_like(cells)
    quantised = np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)
    return {
        "rows": int(cells.shape[0]),
        "cols": int(cells.shape[1]),
        "frames": [int(n) for n in preview.frames],
        "low": low,
        "high": high,
        "data": base64.b64encode(quantised.tobytes()).decode("ascii"),
    }
