"""Repetition-phase error of an alignment (``docs/evaluation.md``, Repetition phase).

For clips of a repeated movement (push-ups, squats, waving) each frame has a phase ``psi`` in [0, 1) within its
repetition (0 = the start of a repetition, rest frames 0 too). An alignment of A with B matches frame ``i`` of A to
frame ``a_to_b[i]`` of B; its error is the mean circular distance ``min(|d|, 1 - |d|)``, ``d = psi_A(i) -
psi_B(a_to_b[i])``, over A's matched frames: 0 when every frame lands on the same point of a repetition, 0.5 when
on the opposite one, and 0.25 for a matching that ignores the phase (the mean distance of two independent uniform
phases). This is the measure our held-out real exercise clips are scored with (issue "Real videos of people");
:mod:`vidalign.data.exercise` gives clips with known phases to compute it on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vidalign.errors import InputError

__all__ = ["circular_distance", "repetition_phase_error"]


def circular_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``min(|x - y| mod 1, 1 - |x - y| mod 1)``: the distance of two phases on the unit circle, in [0, 0.5]."""
    gap = np.abs(np.asarray(x, dtype=float) - np.asarray(y, dtype=float)) % 1.0
    return np.minimum(gap, 1.0 - gap)


def repetition_phase_error(psi_a: np.ndarray, psi_b: np.ndarray, a_to_b: Sequence[int | None]) -> float | None:
    """The mean circular phase error of the alignment ``a_to_b`` (one entry per frame of A: its B frame, or None
    when unmatched) given the phases ``psi_a`` ``[N]`` and ``psi_b`` ``[M]`` (module docstring); None when no frame
    of A is matched."""
    psi_a, psi_b = np.asarray(psi_a, dtype=float), np.asarray(psi_b, dtype=float)
    if len(a_to_b) != len(psi_a):
        raise InputError(f"a_to_b has {len(a_to_b)} entries for {len(psi_a)} frames of A")
    rows = np.array([i for i, j in enumerate(a_to_b) if j is not None], dtype=np.int64)
    if not rows.size:
        return None
    cols = np.array([a_to_b[i] for i in rows], dtype=np.int64)
    if cols.min() < 0 or cols.max() >= len(psi_b):
        raise InputError(f"a_to_b matches frames outside B's {len(psi_b)}")
    return float(circular_distance(psi_a[rows], psi_b[cols]).mean())
