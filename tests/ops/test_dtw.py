"""Exact DTW and its path against a plain O(NM) dynamic programme, brute force over paths and tslearn."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import torch
from tslearn.metrics import dtw_path_from_metric

from vidalign.ops.dtw import dtw


def simple_dtw(cost: np.ndarray, band: int | None = None) -> float:
    """Textbook DTW table, optionally restricted to ``|i - j| <= band``."""
    rows, cols = cost.shape
    table = np.full((rows + 1, cols + 1), np.inf)
    table[0, 0] = 0.0
    for i, j in itertools.product(range(rows), range(cols)):
        if band is None or abs(i - j) <= band:
            table[i + 1, j + 1] = cost[i, j] + min(table[i, j], table[i, j + 1], table[i + 1, j])
    return table[rows, cols]


def all_path_costs(cost: np.ndarray):
    """Costs of every monotone path from (0, 0) to (N-1, M-1) with steps (1,0), (0,1), (1,1)."""

    def walk(i, j):
        if (i, j) == (0, 0):
            yield cost[0, 0]
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i >= di and j >= dj:
                for rest in walk(i - di, j - dj):
                    yield rest + cost[i, j]

    return list(walk(cost.shape[0] - 1, cost.shape[1] - 1))


def assert_valid_path(path: np.ndarray, rows: int, cols: int):
    assert path.dtype.kind == "i" and path.shape[1] == 2
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (rows - 1, cols - 1)
    steps = {tuple(s) for s in np.diff(path, axis=0)}
    assert steps <= {(1, 0), (0, 1), (1, 1)}


def test_small_cases_against_brute_force_and_simple_dp():
    rng = np.random.default_rng(0)
    for rows, cols in [(1, 1), (1, 5), (4, 1), (3, 4), (5, 5)]:
        cost = rng.random((rows, cols))
        result = dtw(cost)
        assert result.score == pytest.approx(min(all_path_costs(cost)), abs=1e-12)
        assert result.score == pytest.approx(simple_dtw(cost), abs=1e-12)
        assert_valid_path(result.path, rows, cols)
        assert cost[result.path[:, 0], result.path[:, 1]].sum() == pytest.approx(result.score, abs=1e-12)


def test_matches_tslearn_precomputed_metric():
    rng = np.random.default_rng(1)
    for rows, cols in [(30, 41), (57, 20), (64, 64)]:
        cost = rng.random((rows, cols))
        path, score = dtw_path_from_metric(cost, metric="precomputed")
        result = dtw(torch.tensor(cost))
        assert result.score == pytest.approx(score, abs=1e-10)
        np.testing.assert_array_equal(result.path, np.array(path))


def test_sakoe_chiba_band():
    rng = np.random.default_rng(2)
    cost = rng.random((25, 25))
    for band in (0, 3, 24):
        path, score = dtw_path_from_metric(
            cost, metric="precomputed", global_constraint="sakoe_chiba", sakoe_chiba_radius=band
        )
        result = dtw(cost, band=band)
        assert result.score == pytest.approx(score, abs=1e-10)
        assert np.all(np.abs(result.path[:, 0] - result.path[:, 1]) <= band)
    rectangular = rng.random((10, 14))
    assert dtw(rectangular, band=5).score == pytest.approx(simple_dtw(rectangular, band=5), abs=1e-12)
    with pytest.raises(ValueError, match="band"):
        dtw(rectangular, band=3)


def test_traceback_memory_is_two_bits_per_cell():
    cost = np.random.default_rng(3).random((1000, 800)).astype(np.float32)
    dtw(cost[:5, :5])  # compile outside the measurement
    tracemalloc.start()
    result = dtw(cost)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert_valid_path(result.path, 1000, 800)
    assert peak < 1000 * 800 * 0.4  # 2-bit pointers (0.2 MB); one byte per cell would be 0.8 MB
