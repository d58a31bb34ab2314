"""Banded, block-fed DTW and Smith-Waterman (``vidalign.ops.band``, ``DTWFill``, ``SmithWatermanFill``) against
plain dynamic programmes over the band's cells, written out here cell by cell."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from vidalign.errors import InputError
from vidalign.ops.band import band_radius, diagonal_band, edge_pairs, full_band, offset_band
from vidalign.ops.dtw import DTWFill, dtw
from vidalign.ops.smith_waterman import SmithWatermanFill, smith_waterman


def inside(band, i: int, j: int) -> bool:
    return band.lo[i] <= j <= band.hi[i]


def plain_dtw(cost: np.ndarray, band) -> tuple[float, np.ndarray]:
    """Textbook DTW over the band's cells with the kernel's tie order (diagonal, up, left) and its path."""
    rows, cols = cost.shape
    table = np.full((rows, cols), np.inf)
    for i, j in itertools.product(range(rows), range(cols)):
        if not inside(band, i, j):
            continue
        if i == j == 0:
            table[i, j] = cost[i, j]
            continue
        options = [table[i - 1, j - 1] if i and j else np.inf, table[i - 1, j] if i else np.inf]
        options.append(table[i, j - 1] if j else np.inf)
        table[i, j] = cost[i, j] + min(options)
    path, (i, j) = [(rows - 1, cols - 1)], (rows - 1, cols - 1)
    while (i, j) != (0, 0):
        options = [table[i - 1, j - 1] if i and j else np.inf, table[i - 1, j] if i else np.inf]
        options.append(table[i, j - 1] if j else np.inf)
        step = int(np.argmin(options))  # the first of equal values: the kernel's tie order
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        path.append((i, j))
    return table[-1, -1], np.array(path[::-1])


def plain_sw(sim: np.ndarray, band, go: float, ge: float) -> float:
    """The best Smith-Waterman score over the band's cells (Gotoh, the kernel's transitions)."""
    rows, cols = sim.shape
    h, e, f = (np.full((rows + 1, cols + 1), -np.inf) for _ in range(3))
    best = -np.inf
    for i, j in itertools.product(range(rows), range(cols)):
        if not inside(band, i, j):
            continue
        h[i + 1, j + 1] = sim[i, j] + max(0.0, h[i, j], e[i, j], f[i, j])
        e[i + 1, j + 1] = max(h[i + 1, j] - go, e[i + 1, j] - ge)
        f[i + 1, j + 1] = max(h[i, j + 1] - go, e[i, j + 1] - go, f[i, j + 1] - ge)
        best = max(best, h[i + 1, j + 1])
    return best


def feed_in_blocks(fill, matrix: np.ndarray, sizes) -> None:
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(matrix):
            break
        fill.add(matrix[start : start + size])
        start += size


def test_windows_of_the_three_bands():
    full = full_band(3, 5)
    assert full.lo.tolist() == [0, 0, 0] and full.hi.tolist() == [4, 4, 4] and full.cells == 15
    offset = offset_band(4, 6, 2)
    assert offset.lo.tolist() == [0, 0, 0, 1] and offset.hi.tolist() == [2, 3, 4, 5]
    assert offset.offsets.tolist() == [0, 3, 7, 12, 17]
    diagonal = diagonal_band(5, 9, 2.0)  # centre 2 i
    assert diagonal.lo.tolist() == [0, 0, 2, 4, 6] and diagonal.hi.tolist() == [2, 4, 6, 8, 8]
    single = diagonal_band(1, 7, 1.0)
    assert single.lo.tolist() == [0] and single.hi.tolist() == [6]
    with pytest.raises(InputError, match="at least 3 frames"):
        diagonal_band(5, 11, 2.0)  # 2.5 B frames per A frame
    with pytest.raises(InputError, match="band"):
        offset_band(10, 14, 3)


def test_band_radius_in_frames_or_as_a_fraction():
    assert band_radius(25, 100, 400) == 25.0
    assert band_radius(0.1, 100, 400) == pytest.approx(40.0)
    for bad in (0, -3, math.inf, math.nan):
        with pytest.raises(InputError, match="band"):
            band_radius(bad, 10, 10)


@pytest.mark.parametrize("shape, radius", [((9, 9), 2.0), ((12, 7), 1.5), ((7, 15), 3.0), ((1, 6), 1.0)])
def test_banded_dtw_equals_a_plain_programme_over_the_band(shape, radius):
    rng = np.random.default_rng(sum(shape))
    for cost in (rng.random(shape), rng.integers(0, 3, shape).astype(float)):  # integers: many ties
        band = diagonal_band(*shape, radius)
        fill = DTWFill(band)
        feed_in_blocks(fill, cost, [1, 3, 2])
        score, path = fill.result()
        expected_score, expected_path = plain_dtw(cost, band)
        assert score == expected_score
        np.testing.assert_array_equal(path, expected_path)
        assert all(inside(band, i, j) for i, j in path)


def test_unbanded_dtw_in_blocks_is_bitwise_the_whole_matrix_and_packs_two_bits_per_cell():
    cost = np.random.default_rng(4).random((37, 29))
    whole = dtw(cost)
    fill = DTWFill(full_band(*cost.shape))
    feed_in_blocks(fill, cost, [5, 1, 8])
    assert fill.result().score == whole.score
    np.testing.assert_array_equal(fill.result().path, whole.path)
    assert fill.pointers.nbytes == math.ceil(37 * 29 / 4)
    expected_score, expected_path = plain_dtw(cost, full_band(*cost.shape))
    assert whole.score == expected_score
    np.testing.assert_array_equal(whole.path, expected_path)


def test_a_wide_band_gives_the_unbanded_path():
    rng = np.random.default_rng(5)
    cost = rng.random((40, 30))
    unbanded = dtw(cost)
    deviation = np.abs(unbanded.path[:, 1] - unbanded.path[:, 0] * 29 / 39).max()
    band = diagonal_band(40, 30, deviation + 1)
    fill = DTWFill(band)
    fill.add(cost)
    assert fill.result().score == unbanded.score
    np.testing.assert_array_equal(fill.result().path, unbanded.path)
    assert band.cells < 40 * 30 or deviation + 1 >= 29
    assert not edge_pairs(band, unbanded.path).any()


def test_edge_pairs_are_on_inner_window_bounds():
    band = diagonal_band(5, 9, 2.0)  # windows [0,2] [0,4] [2,6] [4,8] [6,8]
    pairs = np.array([[0, 2], [1, 0], [2, 2], [2, 4], [3, 8], [4, 6]])
    assert edge_pairs(band, pairs).tolist() == [True, False, True, False, False, True]


@pytest.mark.parametrize("shape, radius", [((10, 10), 2.0), ((8, 13), 2.0), ((13, 8), 1.0)])
def test_banded_smith_waterman_equals_a_plain_programme_over_the_band(shape, radius):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    sim = rng.normal(size=shape)
    band = diagonal_band(*shape, radius)
    fill = SmithWatermanFill(band, np.array([0.7]), np.array([0.2]))
    feed_in_blocks(fill, sim, [2, 5])
    found = fill.result()
    assert found.score == pytest.approx(plain_sw(sim, band, 0.7, 0.2), abs=1e-12)
    assert all(inside(band, i, j) for i, j in found.pairs)
    # the score is the matches' similarities minus the gaps between them
    gaps = np.diff(found.pairs, axis=0) - 1
    penalty = sum(0.7 + 0.2 * (g - 1) for g in gaps.ravel() if g > 0)
    assert sim[found.pairs[:, 0], found.pairs[:, 1]].sum() - penalty == pytest.approx(found.score, abs=1e-12)


def test_smith_waterman_in_blocks_is_bitwise_the_whole_matrix():
    sim = np.random.default_rng(6).normal(size=(31, 23)) - 0.3
    whole = smith_waterman(sim, 0.5, 0.1)
    fill = SmithWatermanFill(full_band(*sim.shape), np.array([0.5]), np.array([0.1]))
    feed_in_blocks(fill, sim, [3, 4])
    blocked = fill.result()
    assert blocked.score == whole.score == pytest.approx(plain_sw(sim, full_band(31, 23), 0.5, 0.1), abs=1e-12)
    np.testing.assert_array_equal(blocked.pairs, whole.pairs)
