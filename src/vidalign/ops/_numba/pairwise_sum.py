"""NumPy's pairwise summation of a long float64 sequence fed in pieces, bit for bit (``docs/methods.md``, Long
recordings: the SW threshold and gap unit of a matrix that is never whole).

``np.sum`` of ``n`` contiguous values is ``0 + P(n)`` with ``P(n) = P(h) + P(n - h)`` for ``n > 128``
(``h = n // 2`` rounded down to a multiple of 8) and, for a leaf of at most 128 values, eight interleaved running
sums combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))`` and the tail added one by one (fewer than
8 values: added one by one to 0). The leaves come in order, so the tree can be walked as the values arrive:
the path from the root to the leaf being filled is kept as each node's length (``lengths``), whether its left half
is done (``halves``) and then that half's sum (``lefts``); ``leaf`` holds the leaf's values so far and ``state``
the depth of the path (-1 once the root is done) and the count of values in ``leaf``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LEAF = 128
DEPTH = 64  # the tree of 2**63 values is 57 levels deep


def new_state(count: int) -> tuple[np.ndarray, ...]:
    """Empty ``(state, lengths, halves, lefts, leaf)`` for the sum of ``count >= 1`` values (:func:`feed`)."""
    state, lengths, halves = np.zeros(2, np.int64), np.zeros(DEPTH, np.int64), np.zeros(DEPTH, np.int64)
    lengths[0] = count
    _descend(state, lengths, halves)
    return state, lengths, halves, np.zeros(DEPTH), np.empty(LEAF)


@njit(cache=True, nogil=True)
def _half(length):
    half = length // 2
    return half - half % 8


@njit(cache=True, nogil=True)
def _descend(state, lengths, halves):
    """From the node at the top of the path down to its first leaf."""
    top = state[0]
    while lengths[top] > LEAF:
        halves[top] = 0  # left half pending
        lengths[top + 1] = _half(lengths[top])
        top += 1
    state[0] = top


@njit(cache=True, nogil=True)
def _leaf_sum(values, length):
    if length < 8:
        total = 0.0
        for k in range(length):
            total += values[k]
        return total
    r = values[:8].copy()
    k = 8
    while k < length - length % 8:
        for lane in range(8):
            r[lane] += values[k + lane]
        k += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while k < length:
        total += values[k]
        k += 1
    return total


@njit(cache=True, nogil=True)
def feed(values, state, lengths, halves, lefts, leaf):
    """Add the next ``values`` (1-d float64) to the running sum; after the last one, :func:`total` is the sum."""
    for value in values:
        if state[0] < 0:
            raise ValueError("pairwise sum: more values fed than announced")
        leaf[state[1]] = value
        state[1] += 1
        top = state[0]
        if state[1] < lengths[top]:
            continue
        subtotal = _leaf_sum(leaf, state[1])
        state[1] = 0
        top -= 1
        while top >= 0 and halves[top]:  # both halves done: combine and go up
            subtotal = lefts[top] + subtotal
            top -= 1
        if top < 0:  # the root: done
            lefts[0], state[0] = subtotal, -1
            continue
        lefts[top], halves[top] = subtotal, 1  # the left half is done: on to the right half
        lengths[top + 1] = lengths[top] - _half(lengths[top])
        state[0] = top + 1
        _descend(state, lengths, halves)


def total(state: np.ndarray, lefts: np.ndarray) -> float:
    """``np.sum`` of every value fed (all of them must have been)."""
    if state[0] != -1:
        raise ValueError("pairwise sum: fewer values fed than announced")
    return float(0.0 + lefts[0])
