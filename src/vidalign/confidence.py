"""How far an alignment can be trusted (``docs/methods.md``, "Alignment confidence"), from the similarity matrix
``S [N, M]`` it was decoded from and its matched pairs ``(i, j)``:

- ``contrast``: the 95th minus the 5th percentile of ``S`` (of ``S`` strided to at most :data:`CONTRAST_FRAMES`
  frames a side, so that long recordings need no copy of the matrix: :func:`sample_strides`). Near 0 every frame
  of A looks like every frame of B (a collapsed model, or features dominated by the person and the room): any
  path is as good as another;
- ``order_evidence``: how much better the two recordings align in their own order than in scrambled ones, as a
  z-score: the mean similarity along the DTW path of ``S``, minus the mean of the same for B rotated in time by
  25-75 % of its length (8 rotations) and for those of B reversed (8 more), over their standard deviation;
  computed on ``S`` strided to at most :data:`EVIDENCE_FRAMES` frames a side. Near 0 when the recordings share
  no order (unrelated videos, or frames that only say which video they come from); also low for repetitive
  recordings, whose match is then ambiguous by whole repetitions. On efficientnet_lite0 features of real clips
  (``docs/methods.md``, Alignment confidence) it was 3.8-6.3 for 15 pairs of people doing the same action and
  -3.5-3.2 for 24 pairs of unrelated clips;
- ``path_margin``: how much a matched frame stands out from its neighbours in B, ``S[i, j]`` minus the mean of
  ``S[i, j - w]`` and ``S[i, j + w]`` (``w = M / 10``; the one inside the video at its ends), averaged over the
  pairs;
- ``time_gain``: the mean similarity of the matched pairs minus that of uniform time (``j = i (M - 1) / (N - 1)``);
- ``diagonal_deviation``: the mean ``|i / (N - 1) - j / (M - 1)|`` of the pairs (0 = the uniform-time diagonal).

An alignment is *untrusted* when ``contrast`` or ``order_evidence`` is below :data:`MIN_CONTRAST` /
:data:`MIN_ORDER_EVIDENCE`; each failed test adds a reason in words.

:func:`alignment_confidence` reads a matrix in memory; :func:`confidence_from` reads what it needs of one that is
never whole (``docs/methods.md``, Long recordings): the strided samples and extremes of
:class:`vidalign.similarity.Overview` and the similarities of the cells the path statistics look at
(:func:`path_cells`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from vidalign.ops import dtw

__all__ = ["MIN_CONTRAST", "MIN_ORDER_EVIDENCE", "Confidence", "alignment_confidence", "confidence_from"]

MIN_CONTRAST = 0.05
MIN_ORDER_EVIDENCE = 3.0
EVIDENCE_FRAMES = 128
CONTRAST_FRAMES = 1024
ROTATIONS = np.linspace(0.25, 0.75, 8)


@dataclass(frozen=True)
class Confidence:
    """The statistics of the module docstring, whether they pass, and why not."""

    contrast: float
    order_evidence: float
    path_margin: float
    time_gain: float
    diagonal_deviation: float
    similarity_range: tuple[float, float]
    trusted: bool
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self) | {"similarity_range": list(self.similarity_range)}

    def message(self) -> str:
        """One line for the warning of an untrusted alignment."""
        return (
            "this alignment cannot be trusted: " + "; ".join(self.reasons) + " (check that both recordings show "
            "the same process and that the model has not collapsed; docs/methods.md, Alignment confidence)"
        )


def _position(index: np.ndarray, length: int) -> np.ndarray:
    return index / max(length - 1, 1)


def sample_strides(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """The strides of the two samples of ``S [N, M]``: the contrast's and the order evidence's."""
    n, m = shape
    return [(-(-n // CONTRAST_FRAMES), -(-m // CONTRAST_FRAMES)), (-(-n // EVIDENCE_FRAMES), -(-m // EVIDENCE_FRAMES))]


def _dtw_path_mean(sim: np.ndarray) -> float:
    path = dtw(-sim).path
    return float(sim[path[:, 0], path[:, 1]].mean())


def order_evidence(sim: np.ndarray) -> float:
    """``order_evidence`` of the module docstring."""
    rows, cols = sample_strides(sim.shape)[1]
    return _order_evidence_of_sample(sim[::rows, ::cols])


def _order_evidence_of_sample(sim: np.ndarray) -> float:
    shifts = sorted({int(round(f * sim.shape[1])) for f in ROTATIONS})
    scrambled = [
        _dtw_path_mean(np.ascontiguousarray(np.roll(s, k, axis=1))) for s in (sim, sim[:, ::-1]) for k in shifts
    ]
    spread = float(np.std(scrambled))
    if spread < 1e-12:
        return 0.0
    return (_dtw_path_mean(sim) - float(np.mean(scrambled))) / spread


def path_cells(shape: tuple[int, int], pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cells ``(rows, cols)`` whose similarities :func:`confidence_from` needs: for each pair (in four runs of
    ``L``) the pair itself, its neighbours ``w = M / 10`` to the left and right (clipped into the matrix) and the
    uniform-time frame of B."""
    n, m = shape
    rows, cols = pairs[:, 0], pairs[:, 1]
    width = max(1, m // 10)
    uniform = np.rint(_position(rows, n) * (m - 1)).astype(np.int64)
    return np.tile(rows, 4), np.concatenate([cols, (cols - width).clip(0), (cols + width).clip(0, m - 1), uniform])


def _path_statistics(shape: tuple[int, int], pairs: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """``path_margin``, ``time_gain`` and ``diagonal_deviation`` of ``pairs`` from the similarities of their
    :func:`path_cells` (module docstring)."""
    n, m = shape
    rows, cols = pairs[:, 0], pairs[:, 1]
    matched, left, right, uniform = values.reshape(4, -1)
    width = max(1, m // 10)
    has_left, has_right = cols - width >= 0, cols + width < m
    neighbour_sum = np.where(has_left, left, 0.0) + np.where(has_right, right, 0.0)
    neighbours = neighbour_sum / np.maximum(has_left.astype(int) + has_right, 1)
    deviation = np.abs(_position(rows, n) - _position(cols, m))
    return float(np.mean(matched - neighbours)), float(np.mean(matched - uniform)), float(deviation.mean())


def alignment_confidence(sim: np.ndarray, pairs: np.ndarray) -> Confidence:
    """:class:`Confidence` of the alignment ``pairs [L, 2]`` decoded from ``sim [N, M]`` (module docstring)."""
    sim = np.asarray(sim, dtype=np.float64)
    samples = [sim[::rows, ::cols] for rows, cols in sample_strides(sim.shape)]
    return confidence_from(sim.shape, samples, (float(sim.min()), float(sim.max())), pairs, lambda r, c: sim[r, c])


def confidence_from(
    shape: tuple[int, int],
    samples: list[np.ndarray],
    value_range: tuple[float, float],
    pairs: np.ndarray,
    values_at: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Confidence:
    """:class:`Confidence` of ``pairs [L, 2]`` on ``S [N, M]`` (``shape``) from its two strided ``samples``
    (:func:`sample_strides`), its extremes ``value_range`` and ``values_at(rows, cols) = S[rows, cols]``."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    contrast_sample, evidence_sample = samples
    low, high = np.percentile(contrast_sample, [5, 95])
    contrast, evidence = float(high - low), _order_evidence_of_sample(evidence_sample)
    margin, gain, deviation = (
        _path_statistics(shape, pairs, values_at(*path_cells(shape, pairs))) if len(pairs) else (0.0, 0.0, 0.0)
    )
    reasons = []
    if contrast < MIN_CONTRAST:
        reasons.append(
            f"the frames are nearly indistinguishable (similarity contrast {contrast:.3f} < {MIN_CONTRAST}: "
            f"90 % of the similarities lie in [{low:.3f}, {high:.3f}])"
        )
    if evidence < MIN_ORDER_EVIDENCE:
        reasons.append(
            f"the recordings align no better in their own order than reversed or rotated in time (order evidence "
            f"z = {evidence:.2f} < {MIN_ORDER_EVIDENCE}; repetitive recordings do too: their match is then ambiguous "
            "by whole repetitions)"
        )
    return Confidence(
        contrast=round(contrast, 4),
        order_evidence=round(evidence, 4),
        path_margin=round(margin, 4),
        time_gain=round(gain, 4),
        diagonal_deviation=round(deviation, 4),
        similarity_range=(round(value_range[0], 4), round(value_range[1], 4)),
        trusted=not reasons,
        reasons=reasons,
    )
