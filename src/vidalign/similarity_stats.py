"""Statistics of a similarity matrix that is never whole, equal bit for bit to NumPy's on the whole matrix
(``docs/methods.md``, Long recordings): the Smith-Waterman threshold (``np.median(S)`` or ``S.mean()``) and gap
unit (``S.std()``) of :mod:`vidalign.alignment`.

- :class:`PairwiseSum`: a visitor (:func:`vidalign.similarity.sweep`) summing ``S``, or ``(S - mean)^2``, in
  row-major order exactly as ``np.sum`` does (``ops/_numba/pairwise_sum.py``), so ``mean = sum / (N M)`` and
  ``std = sqrt(sum of squares / (N M))`` are NumPy's;
- :class:`RankSearch`: the value of one rank of the sorted ``S``, found by narrowing a bracket with histograms
  (``ops/_numba/selection.py``, :data:`BINS` bins a pass) until at most :data:`GATHER_LIMIT` values are left in
  it, which are then kept and partitioned; :func:`median` combines the one or two middle ranks as
  ``np.median`` does. Typically two passes: one histogram, then the gathering (:func:`matrix_median`: one more
  for the extremes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidalign.ops._numba import pairwise_sum, selection
from vidalign.similarity import BlockVisitor, Overview, SimilaritySource, sweep

BINS = 2**16
GATHER_LIMIT = 2**22  # values kept to find a rank among them (32 MB)


class PairwiseSum:
    """NumPy's sum of every value of ``S`` (``centre=None``) or of ``(S - centre)^2``, fed block by block."""

    def __init__(self, cells: int, centre: float | None = None):
        self.cells, self.centre = cells, centre
        self._state = pairwise_sum.new_state(cells)

    def add(self, first_row: int, block: np.ndarray) -> None:
        if self.centre is not None:
            block = np.square(block - self.centre)
        pairwise_sum.feed(np.ascontiguousarray(block).reshape(-1), *self._state)

    @property
    def total(self) -> float:
        state, _, _, lefts, _ = self._state
        return pairwise_sum.total(state, lefts)

    @property
    def mean(self) -> float:
        """``total / cells`` (NumPy's ``mean`` of the values summed)."""
        return self.total / self.cells


class RankSearch:
    """The value of rank ``rank`` (0 = smallest) among the ``cells`` values of ``S``, all within
    ``[low, high]``: each pass either narrows the bracket (histogram) or keeps its values (gather)."""

    def __init__(self, rank: int, low: float, high: float):
        self.low, self.high, self.rank = low, high, rank  # rank within the values of the bracket
        self.inside: int | None = None  # values in the bracket, once counted
        self.value: float | None = None if low < high else low
        self._start_pass()

    def _start_pass(self) -> None:
        self._gathering = self.inside is not None and self.inside <= GATHER_LIMIT
        if self._gathering:
            self._kept, self._count = np.empty(self.inside), np.zeros(1, np.int64)
        else:
            self._counts = np.zeros(BINS, np.int64)
            self._smallest, self._largest = np.full(BINS, np.inf), np.full(BINS, -np.inf)

    def add(self, first_row: int, block: np.ndarray) -> None:
        values = np.ascontiguousarray(block).reshape(-1)
        if self._gathering:
            selection.gather(values, self.low, self.high, self._kept, self._count)
        else:
            selection.histogram(values, self.low, self.high, self._counts, self._smallest, self._largest)

    def end_pass(self) -> None:
        """After a pass over every block: the value, or a narrower bracket for the next pass."""
        if self._gathering:
            self.value = float(np.partition(self._kept, self.rank)[self.rank])
            return
        below = np.cumsum(self._counts)
        b = int(np.searchsorted(below, self.rank, side="right"))  # the bin holding the rank
        self.rank -= int(below[b - 1]) if b else 0
        self.low, self.high, self.inside = float(self._smallest[b]), float(self._largest[b]), int(self._counts[b])
        if self.low == self.high:
            self.value = self.low
        else:
            self._start_pass()


def middle_ranks(cells: int) -> list[int]:
    """The ranks ``np.median`` averages: the middle one, or the two middle ones of an even count."""
    half = cells // 2
    return [half - 1, half] if cells % 2 == 0 else [half]


def median(source: SimilaritySource, low: float, high: float, *, first_pass: Sequence[BlockVisitor] = (),
           progress: bool = False) -> float:  # fmt: skip
    """``np.median(S)`` for ``S`` within ``[low, high]``; ``first_pass``: more visitors for the first pass."""
    rows, cols = source.shape
    searches = [RankSearch(rank, low, high) for rank in middle_ranks(rows * cols)]
    extra = list(first_pass)
    while any(s.value is None for s in searches) or extra:
        pending = [s for s in searches if s.value is None]
        sweep(source, [*pending, *extra], progress=progress, desc="sw statistics")
        for search in pending:
            search.end_pass()
        extra = []
    return float(np.mean(np.array([s.value for s in searches])))


def matrix_median(source: SimilaritySource, *, progress: bool = False) -> float:
    """``np.median(S)`` with a first pass for the extremes of ``S``."""
    overview = Overview(source.shape, keep_full=False)
    sweep(source, [overview], progress=progress, desc="median")
    return median(source, overview.low, overview.high, progress=progress)
