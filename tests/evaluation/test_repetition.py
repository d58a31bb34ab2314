"""The repetition-phase error of an alignment (``vidalign.evaluation.repetition``) against values worked by hand
and the chance level of a phase-blind matching."""

from __future__ import annotations

import numpy as np
import pytest

from vidalign.errors import InputError
from vidalign.evaluation.repetition import circular_distance, repetition_phase_error


def test_circular_distance_wraps_around():
    x = np.array([0.0, 0.1, 0.95, 0.25, 0.5])
    y = np.array([0.0, 0.3, 0.05, 0.75, 0.0])
    np.testing.assert_allclose(circular_distance(x, y), [0.0, 0.2, 0.1, 0.5, 0.5])


def test_in_phase_opposite_phase_and_by_hand():
    psi = np.tile(np.arange(8) / 8, 3)  # three repetitions of 8 frames
    same = list(range(len(psi)))
    assert repetition_phase_error(psi, psi, same) == 0.0
    opposite = [(i + 4) % len(psi) for i in same]  # half a repetition later
    assert repetition_phase_error(psi, psi, opposite) == pytest.approx(0.5)
    # B at half the tempo: its frame 2 i has phase (2 i / 16) mod 1 = (i / 8) mod 1, A's frame i's phase
    slow = np.tile(np.arange(16) / 16, 3)
    assert repetition_phase_error(psi[:24], slow, [2 * i for i in range(24)]) == 0.0
    # by hand: phases 0.1 -> 0.9 (0.2), 0.5 -> 0.6 (0.1), unmatched, 0.0 -> 0.7 (0.3)
    found = repetition_phase_error([0.1, 0.5, 0.3, 0.0], [0.9, 0.6, 0.7], [0, 1, None, 2])
    assert found == pytest.approx(0.2)


def test_a_phase_blind_matching_scores_a_quarter():
    rng = np.random.default_rng(0)
    psi_a, psi_b = rng.random(20_000), rng.random(500)
    assert repetition_phase_error(psi_a, psi_b, rng.integers(0, 500, 20_000).tolist()) == pytest.approx(0.25, abs=0.01)


def test_nothing_matched_and_bad_input():
    assert repetition_phase_error([0.1, 0.2], [0.3], [None, None]) is None
    with pytest.raises(InputError, match="entries"):
        repetition_phase_error([0.1, 0.2], [0.3], [0])
    with pytest.raises(InputError, match="outside"):
        repetition_phase_error([0.1], [0.3], [1])
