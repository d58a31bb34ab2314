"""The frame similarity matrix ``S [N, M]`` of two recordings, a block of rows at a time (``docs/methods.md``,
Long recordings).

A matrix of 20,000 x 20,000 frames is 3.2 GB in float64: it is never held whole. A *source* yields it in blocks
of consecutive rows (:meth:`SimilaritySource.blocks`, :func:`block_edges`: the same blocks on every pass, so every
pass sees the same values), and :func:`sweep` hands each block to the *visitors* that need it - a dynamic
programme filling its table, a statistic, :class:`Overview`. Two sources:

- :class:`CosineSimilarity`: ``S = cos`` of two embeddings, each block computed from the L2-normalised rows
  (float64, as :func:`cosine_similarity`) when it is needed, and computed again on a later pass;
- :class:`DenseSimilarity`: a matrix that is already in memory (:func:`vidalign.alignment.decode`).

:class:`Overview` collects on one pass what the outputs need of the whole matrix: its extremes, strided samples
(the confidence statistics), a block-mean preview of at most :data:`PREVIEW_SIDE` a side (the plot), and the
matrix itself when it has at most :data:`FULL_CELLS` cells.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

BLOCK_BYTES = 32 * 2**20  # one block of rows of float64 similarities (the last block may be up to twice this)
PREVIEW_SIDE = 1024  # the plot's matrix: block means of at most this many rows and columns
FULL_CELLS = 2**22  # AlignResult.similarity holds the whole matrix up to this many cells (32 MB)
PROGRESS_CELLS = 2**22  # smaller matrices get no progress bar: a pass over them takes well under a second


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` divided by their L2 norm, in float64 (an all-zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), np.finfo(np.float64).tiny)


def cosine_similarity(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """``S[i, j] = cos(a_i, b_j)`` in float64 ``[N, M]`` (an all-zero frame has similarity 0 to everything)."""
    return normalise_rows(emb_a) @ normalise_rows(emb_b).T


def block_edges(rows: int, cols: int) -> np.ndarray:
    """Row boundaries of the blocks: ``R`` rows each (a multiple of 8 with ``R * cols`` float64 values in about
    :data:`BLOCK_BYTES`), the last block taking the remainder, so that no block is a sliver."""
    per_block = int(np.clip(BLOCK_BYTES // (8 * cols) // 8 * 8, 8, 4096))
    count = max(1, rows // per_block)
    return np.append(np.arange(count, dtype=np.int64) * per_block, rows)


class SimilaritySource(Protocol):
    """Anything that yields ``S`` in the blocks of :func:`block_edges`."""

    shape: tuple[int, int]

    def block(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of ``S`` (float64 ``[stop - start, M]``), for ``start, stop`` consecutive edges."""


class BlockVisitor(Protocol):
    def add(self, first_row: int, block: np.ndarray) -> None:
        """Rows ``first_row ...`` of ``S``; called for every block, in order."""


class DenseSimilarity:
    """A similarity matrix already in memory (any float dtype; read as float64)."""

    def __init__(self, matrix: np.ndarray):
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        self.shape = self.matrix.shape

    def block(self, start: int, stop: int) -> np.ndarray:
        return self.matrix[start:stop]


class CosineSimilarity:
    """``S = cos(A, B)`` of embeddings ``A [N, D]`` and ``B [M, D]``, a block at a time."""

    def __init__(self, emb_a: np.ndarray, emb_b: np.ndarray):
        self.a, self.b = normalise_rows(emb_a), normalise_rows(emb_b)
        self.shape = (len(self.a), len(self.b))

    def block(self, start: int, stop: int) -> np.ndarray:
        return self.a[start:stop] @ self.b.T


def blocks(
    source: SimilaritySource, *, progress: bool = False, desc: str = "similarity"
) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_row, block)`` of every block in order, with a progress bar in rows when asked for (and the
    matrix is large)."""
    rows, cols = source.shape
    edges = block_edges(rows, cols)
    shown = progress and rows * cols >= PROGRESS_CELLS
    with tqdm(total=rows, unit="row", desc=desc, disable=not shown, leave=False) as bar:
        for start, stop in zip(edges[:-1], edges[1:], strict=True):
            yield int(start), source.block(int(start), int(stop))
            bar.update(int(stop - start))


class CostInto:
    """A visitor writing the cost ``1 - S`` of each block into the rows of ``out`` it covers (an OT solver's
    array, of any float dtype)."""

    def __init__(self, out: np.ndarray):
        self.out = out

    def add(self, first_row: int, block: np.ndarray) -> None:
        np.subtract(1.0, block, out=self.out[first_row : first_row + len(block)], casting="same_kind")


def sweep(source: SimilaritySource, visitors: Sequence[BlockVisitor], *, progress: bool = False,
          desc: str = "similarity") -> None:  # fmt: skip
    """One pass over ``S``: every block to every visitor."""
    for first_row, block in blocks(source, progress=progress, desc=desc):
        for visitor in visitors:
            visitor.add(first_row, block)


def values_at(source: SimilaritySource, rows: np.ndarray, cols: np.ndarray, *, progress: bool = False) -> np.ndarray:
    """``S[rows, cols]`` (float64), computing only the blocks that hold one of ``rows``."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    if isinstance(source, DenseSimilarity):
        return source.matrix[rows, cols]
    edges = block_edges(*source.shape)
    which = np.searchsorted(edges, rows, side="right") - 1
    out = np.empty(len(rows))
    needed = np.unique(which)
    shown = progress and source.shape[0] * source.shape[1] >= PROGRESS_CELLS
    for number in tqdm(needed, unit="block", desc="path statistics", disable=not shown, leave=False):
        start, stop = int(edges[number]), int(edges[number + 1])
        inside = which == number
        out[inside] = source.block(start, stop)[rows[inside] - start, cols[inside]]
    return out


@dataclass(frozen=True)
class Preview:
    """Block means of ``S [N, M]`` (``frames``) over about equal groups of rows and columns: ``values [P, Q]``
    with ``P <= min(N, PREVIEW_SIDE)``; equal to ``S`` when both sides are at most :data:`PREVIEW_SIDE`."""

    values: np.ndarray
    frames: tuple[int, int]


def _groups(length: int) -> np.ndarray:
    """Start of each of ``min(length, PREVIEW_SIDE)`` about equal groups of ``range(length)``."""
    count = min(length, PREVIEW_SIDE)
    return np.arange(count, dtype=np.int64) * length // count


class Overview:
    """A visitor that keeps what the outputs need of the whole matrix (module docstring): ``low`` / ``high``
    (its extremes), ``samples[k] = S[::s, ::t]`` for each stride ``(s, t)`` of ``strides``, :meth:`preview`
    and ``full``, the matrix itself, when ``keep_full`` (default: when it has at most :data:`FULL_CELLS` cells;
    else None)."""

    def __init__(self, shape: tuple[int, int], strides: Sequence[tuple[int, int]] = (), keep_full: bool | None = None):
        rows, cols = shape
        self.low, self.high = np.inf, -np.inf
        self.strides = list(strides)
        self.samples = [np.empty((-(-rows // s), -(-cols // t))) for s, t in self.strides]
        keep = rows * cols <= FULL_CELLS if keep_full is None else keep_full
        self.full = np.empty(shape) if keep else None
        self._row_starts, self._col_starts = _groups(rows), _groups(cols)
        self._row_group = np.repeat(np.arange(len(self._row_starts)), np.diff(np.append(self._row_starts, rows)))
        self._sums = np.zeros((len(self._row_starts), len(self._col_starts)))
        self.frames = (rows, cols)

    def add(self, first_row: int, block: np.ndarray) -> None:
        stop = first_row + len(block)
        self.low, self.high = min(self.low, float(block.min())), max(self.high, float(block.max()))
        for (s, t), sample in zip(self.strides, self.samples, strict=True):
            start = -(-first_row // s) * s  # the first sampled row of this block
            sample[start // s : -(-stop // s)] = block[start - first_row :: s, ::t]
        if self.full is not None:
            self.full[first_row:stop] = block
        np.add.at(self._sums, self._row_group[first_row:stop], np.add.reduceat(block, self._col_starts, axis=1))

    def preview(self) -> Preview:
        rows, cols = self.frames
        row_counts = np.diff(np.append(self._row_starts, rows))
        col_counts = np.diff(np.append(self._col_starts, cols))
        return Preview(self._sums / np.outer(row_counts, col_counts), self.frames)


def preview_of(matrix: np.ndarray) -> Preview:
    """The :class:`Preview` of a matrix in memory."""
    overview = Overview(matrix.shape, keep_full=False)
    sweep(DenseSimilarity(matrix), [overview])
    return overview.preview()
