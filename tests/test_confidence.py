"""Alignment confidence (vidalign.confidence): related recordings pass, unrelated or indistinguishable ones are
flagged with their reason, and the path statistics match a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from vidalign.alignment import align_arrays, cosine_similarity
from vidalign.confidence import MIN_CONTRAST, MIN_ORDER_EVIDENCE, alignment_confidence, order_evidence


def _walk(rng: np.random.Generator, n: int, d: int = 32) -> np.ndarray:
    return np.cumsum(rng.normal(size=(n, d)), axis=0)


def _plain_dtw_path_mean(sim: np.ndarray) -> float:
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


@pytest.mark.parametrize("seed", range(3))
def test_warped_copies_are_trusted_and_unrelated_recordings_are_not(seed):
    rng = np.random.default_rng(seed)
    base = _walk(rng, 80)
    warped = base[np.sort(rng.integers(0, 80, 100))] + 0.3 * rng.normal(size=(100, 32))
    for method in ("dtw", "sw", "ot"):
        related = align_arrays(base, warped, method=method).confidence
        assert related.trusted and related.order_evidence > 1.2 * MIN_ORDER_EVIDENCE, related
        frames_without_order = rng.normal(size=(80, 32)), rng.normal(size=(100, 32))
        unrelated = align_arrays(*frames_without_order, method=method).confidence
        assert not unrelated.trusted and "no better in their own order" in unrelated.reasons[-1]


def test_indistinguishable_frames_are_flagged_by_their_contrast():
    rng = np.random.default_rng(0)
    a, b = (1.0 + 0.01 * rng.normal(size=(n, 16)) for n in (40, 50))  # a collapsed model's embeddings
    confidence = align_arrays(a, b).confidence
    assert confidence.contrast < MIN_CONTRAST and not confidence.trusted
    assert "nearly indistinguishable" in confidence.reasons[0] and "cannot be trusted" in confidence.message()


def test_order_evidence_against_a_plain_dynamic_programme():
    rng = np.random.default_rng(4)
    sim = cosine_similarity(_walk(rng, 9, 4), _walk(rng, 7, 4))
    shifts = (2, 3, 4, 5)  # round(0.25 * 7) ... round(0.75 * 7)
    scrambled = [_plain_dtw_path_mean(np.roll(s, k, axis=1)) for s in (sim, sim[:, ::-1]) for k in shifts]
    expected = (_plain_dtw_path_mean(sim) - np.mean(scrambled)) / np.std(scrambled)
    assert order_evidence(sim) == pytest.approx(expected, abs=1e-9)


def test_path_statistics_by_hand():
    sim = np.zeros((3, 20))
    pairs = np.array([[0, 0], [1, 10], [2, 19]])  # the uniform-time diagonal
    sim[0, 0], sim[1, 10], sim[2, 19] = 1.0, 0.5, 1.0
    sim[1, 8] = 0.2  # a neighbour of (1, 10) at w = 2
    confidence = alignment_confidence(sim, pairs)
    assert confidence.diagonal_deviation == pytest.approx(np.mean([0, abs(0.5 - 10 / 19), 0]), abs=1e-4)
    assert confidence.time_gain == 0.0
    assert confidence.path_margin == pytest.approx(
        np.mean([1.0, 0.5 - 0.1, 1.0]), abs=1e-4
    )  # one neighbour at the ends
    assert confidence.similarity_range == (0.0, 1.0)
