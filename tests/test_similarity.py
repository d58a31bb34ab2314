"""The similarity matrix a block of rows at a time (``vidalign.similarity``): blocks, sources, the overview."""

from __future__ import annotations

import numpy as np
import pytest

import vidalign.similarity as similarity
from vidalign.similarity import (
    CosineSimilarity,
    DenseSimilarity,
    Overview,
    block_edges,
    blocks,
    cosine_similarity,
    preview_of,
    sweep,
    values_at,
)


def test_block_edges_cover_the_rows_in_blocks_of_a_multiple_of_eight():
    for rows, cols in [(1, 5), (7, 3), (1000, 1000), (20000, 20000), (5001, 5000), (9, 2**30)]:
        edges = block_edges(rows, cols)
        sizes = np.diff(edges)
        assert edges[0] == 0 and edges[-1] == rows and (sizes > 0).all()
        assert (sizes[:-1] % 8 == 0).all() and (sizes[:-1] == sizes[0]).all()
        if len(sizes) > 1:
            assert sizes[-1] < 2 * sizes[0] and sizes[0] * cols * 8 <= max(similarity.BLOCK_BYTES, 8 * 8 * cols)


def test_cosine_blocks_agree_with_the_whole_matrix(monkeypatch):
    monkeypatch.setattr(similarity, "BLOCK_BYTES", 8 * 8 * 50)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(203, 16)), rng.normal(size=(50, 16))
    a[3] = 0.0  # an all-zero frame: similarity 0 to everything
    source = CosineSimilarity(a, b)
    expected = (a @ b.T) / np.maximum(np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)), 1e-300)
    rows = np.concatenate([block for _, block in blocks(source)])
    np.testing.assert_allclose(rows, expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(cosine_similarity(a, b), expected, rtol=0, atol=1e-14)
    assert (rows[3] == 0).all()
    picked_rows, picked_cols = rng.integers(0, 203, 40), rng.integers(0, 50, 40)
    np.testing.assert_array_equal(values_at(source, picked_rows, picked_cols), rows[picked_rows, picked_cols])
    dense = DenseSimilarity(rows)
    np.testing.assert_array_equal(values_at(dense, picked_rows, picked_cols), rows[picked_rows, picked_cols])


def test_overview_keeps_extremes_samples_preview_and_the_small_matrix(monkeypatch):
    monkeypatch.setattr(similarity, "BLOCK_BYTES", 8 * 8 * 40)
    matrix = np.random.default_rng(1).normal(size=(97, 40))
    overview = Overview(matrix.shape, [(5, 3), (10, 7)])
    sweep(DenseSimilarity(matrix), [overview])
    assert (overview.low, overview.high) == (matrix.min(), matrix.max())
    np.testing.assert_array_equal(overview.samples[0], matrix[::5, ::3])
    np.testing.assert_array_equal(overview.samples[1], matrix[::10, ::7])
    np.testing.assert_array_equal(overview.full, matrix)
    preview = overview.preview()
    assert preview.frames == (97, 40)
    np.testing.assert_array_equal(preview.values, matrix)  # small: the preview is the matrix
    assert Overview((5000, 5000)).full is None and Overview((10, 10), keep_full=False).full is None


def test_preview_is_block_means_of_at_most_the_preview_side(monkeypatch):
    monkeypatch.setattr(similarity, "PREVIEW_SIDE", 4)
    matrix = np.arange(10 * 9, dtype=float).reshape(10, 9)
    preview = preview_of(matrix)
    assert preview.values.shape == (4, 4) and preview.frames == (10, 9)
    rows, cols = [0, 2, 5, 7, 10], [0, 2, 4, 6, 9]  # about equal groups
    for p in range(4):
        for q in range(4):
            block = matrix[rows[p] : rows[p + 1], cols[q] : cols[q + 1]]
            assert preview.values[p, q] == pytest.approx(block.mean())


def test_a_progress_bar_only_when_asked_for_and_the_matrix_is_large(monkeypatch, capsys):
    monkeypatch.setattr(similarity, "BLOCK_BYTES", 8 * 8 * 10)
    source = DenseSimilarity(np.zeros((40, 10)))
    sweep(source, [], progress=True, desc="dtw")
    assert capsys.readouterr().err == ""  # 400 cells: too small to need one
    monkeypatch.setattr(similarity, "PROGRESS_CELLS", 100)
    sweep(source, [], progress=False)
    assert capsys.readouterr().err == ""
    sweep(source, [], progress=True, desc="dtw")
    assert "dtw" in capsys.readouterr().err
