"""Plain dynamic programmes used as oracles by several test modules."""

from __future__ import annotations

import numpy as np


def plain_dtw_path_mean(sim: np.ndarray) -> float:
    """Maximum-similarity monotone path by a plain dynamic programme, returning its mean similarity."""
    n, m = sim.shape
    total = np.full((n + 1, m + 1), -np.inf)
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            total[i, j] = sim[i - 1, j - 1] + max(total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])
    i, j, length = n, m, 0
    while (i, j) != (0, 0):
        length += 1
        moves = {(i - 1, j - 1): total[i - 1, j - 1], (i - 1, j): total[i - 1, j], (i, j - 1): total[i, j - 1]}
        i, j = max(moves, key=moves.get)
    return total[n, m] / length
