"""Streamed statistics of a similarity matrix (``vidalign.similarity_stats``) equal NumPy's on the whole matrix,
bit for bit, however the matrix is cut into blocks."""

from __future__ import annotations

import numpy as np
import pytest

import vidalign.similarity as similarity
import vidalign.similarity_stats as stats
from numpy_rounding import bit_for_bit_with_numpy
from vidalign.similarity import DenseSimilarity, Overview, sweep


@pytest.fixture(params=[8 * 8, 8 * 8 * 100, 32 * 2**20], ids=["blocks of 8 rows", "some blocks", "one block"])
def block_bytes(request, monkeypatch):
    monkeypatch.setattr(similarity, "BLOCK_BYTES", request.param)
    return request.param


def matrices():
    rng = np.random.default_rng(0)
    yield rng.normal(size=(1, 1))
    yield rng.normal(size=(1, 7))
    yield rng.normal(size=(3, 3))
    yield rng.normal(size=(37, 41)) * 10 ** rng.uniform(-3, 3, size=(37, 41))
    yield np.tanh(rng.normal(size=(130, 257)))
    yield rng.integers(-2, 3, size=(40, 51)).astype(float) / 2  # many equal values
    yield np.full((20, 30), 0.25)
    yield np.where(rng.random((16, 16)) < 0.5, -1.0, 1.0)  # two values: the middle ranks differ
    yield np.concatenate([np.zeros((10, 8)), np.full((10, 8), 3.0)])  # exactly half and half


def extremes(source) -> Overview:
    overview = Overview(source.shape, keep_full=False)
    sweep(source, [overview])
    return overview


@bit_for_bit_with_numpy
@pytest.mark.parametrize("matrix", list(matrices()), ids=lambda m: str(m.shape))
def test_sum_mean_std_and_median_are_numpys(matrix, block_bytes):
    source = DenseSimilarity(matrix)
    sums = stats.PairwiseSum(matrix.size)
    sweep(source, [sums])
    assert sums.total == np.sum(matrix) and sums.mean == matrix.mean()
    squares = stats.PairwiseSum(matrix.size, centre=sums.mean)
    sweep(source, [squares])
    assert np.sqrt(squares.mean) == matrix.std()
    overview = extremes(source)
    assert stats.median(source, overview.low, overview.high) == np.median(matrix)
    assert stats.matrix_median(source) == np.median(matrix)


def test_the_median_narrows_its_bracket_over_several_passes(monkeypatch):
    """With few bins and a small gathering limit the search needs several histogram passes: same answer."""
    monkeypatch.setattr(stats, "BINS", 4)
    monkeypatch.setattr(stats, "GATHER_LIMIT", 3)
    passes = []
    monkeypatch.setattr(stats, "sweep", lambda *a, **k: (passes.append(1), sweep(*a, **k)))
    rng = np.random.default_rng(1)
    for matrix in (rng.normal(size=(30, 33)), np.round(rng.normal(size=(25, 20)), 1)):
        passes.clear()
        source = DenseSimilarity(matrix)
        overview = extremes(source)
        assert stats.median(source, overview.low, overview.high) == np.median(matrix)
        assert len(passes) > 2


def test_rank_search_finds_every_rank():
    matrix = np.random.default_rng(2).normal(size=(9, 11))
    ordered = np.sort(matrix, axis=None)
    for rank in (0, 1, 50, 98):
        search = stats.RankSearch(rank, ordered[0], ordered[-1])
        while search.value is None:
            sweep(DenseSimilarity(matrix), [search])
            search.end_pass()
        assert search.value == ordered[rank]


def test_feeding_more_or_fewer_values_than_announced_fails():
    sums = stats.PairwiseSum(4)
    sums.add(0, np.ones((1, 3)))
    with pytest.raises(ValueError, match="fewer"):
        _ = sums.total
    with pytest.raises(ValueError, match="more"):
        sums.add(0, np.ones((1, 2)))
