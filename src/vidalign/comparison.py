"""Where a query recording deviates from a reference (``docs/methods.md``, Compare).

Both recordings are in one representation (raw features or a model's embeddings) and aligned twice:

- **globally** by DTW (:func:`vidalign.alignment.align_arrays`): every query frame ``j`` gets its reference
  counterparts, and its **deviation** ``d_j = 1 - max_i S[i, j]`` over the reference frames ``i`` the path
  matches it to (cosine similarity ``S``; 0 = identical directions, up to 2);
- **locally** by Smith-Waterman: query frames outside the local alignment, or skipped inside it, have no
  reference counterpart (**query gaps**: extra or foreign parts), and reference frames the local alignment skips
  are **reference gaps** (parts the query leaves out); gaps shorter than ``min_frames`` are the local alignment
  stepping over a frame or two of a matching stretch, and are not reported.

Flagged frames are those with ``d_j > max(median(d) + k * 1.4826 * MAD(d), floor)``: the median and the median
absolute deviation of this comparison's own deviations (1.4826 makes the MAD a standard deviation for normal
data), so a constant difference between two people or cameras does not flag everything while a stretch much
worse than the rest does; ``floor = FLOOR_FRACTION * (1 - median(S))``, a quarter of the typical dissimilarity of
two frames of the two recordings, so that near-identical recordings (median and MAD near 0) flag nothing. Runs of
at least ``min_frames`` flagged frames are reported as intervals. With per-frame steps of both recordings (a
model's prototypes or labels), :func:`vidalign.steps.step_findings` adds the missing, extra and reordered steps.

The alignment's confidence (:mod:`vidalign.confidence`) is that of the DTW alignment, except ``path_similarity``:
the mean similarity of its pairs outside the flagged intervals, so that a model's ``match_ratio`` test asks whether
the parts that match are as alike as the model's training recordings, not whether the query has foreign parts
(what a comparison is for).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidalign.alignment import AlignResult, SWOptions, align_arrays, decode
from vidalign.confidence import DIGITS
from vidalign.errors import InputError
from vidalign.labels.runs import label_runs
from vidalign.similarity import values_at
from vidalign.similarity_stats import matrix_median

if TYPE_CHECKING:
    from vidalign.inputs import AlignInput

__all__ = ["FLOOR_FRACTION", "MAD_TO_SD", "Comparison", "compare_embeddings", "deviation_threshold"]

MAD_TO_SD = 1.4826
FLOOR_FRACTION = 0.25


def deviation_threshold(deviation: np.ndarray, k: float, floor: float = 0.0) -> float:
    """``max(median(d) + k * 1.4826 * MAD(d), floor)`` (module docstring)."""
    median = float(np.median(deviation))
    return max(median + k * MAD_TO_SD * float(np.median(np.abs(deviation - median))), floor)


def _intervals(mask: np.ndarray, min_frames: int = 1) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` of each run of True in ``mask`` that is at least ``min_frames`` long."""
    values, starts, ends = label_runs(mask.astype(np.int64))
    return [(int(s), int(e) - 1) for v, s, e in zip(values, starts, ends, strict=True) if v and e - s >= min_frames]


@dataclass
class Comparison:
    """The result of :func:`compare_embeddings`: the two alignments, the deviation of every query frame, the
    threshold and the flagged intervals and gaps (inclusive frame intervals). :func:`vidalign.api.compare` fills
    ``inputs`` (``"reference"`` / ``"query"``: path, kind, frames, fps, timestamps) and ``model``."""

    alignment: AlignResult
    local: AlignResult
    deviation: np.ndarray
    k: float
    min_frames: int
    threshold: float
    flagged: list[tuple[int, int]]
    query_gaps: list[tuple[int, int]]
    reference_gaps: list[tuple[int, int]]
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: str | None = None
    steps: dict[str, Any] | None = None  # step-level findings (vidalign.steps), when steps are known
    sources: tuple[AlignInput, AlignInput] | None = field(default=None, repr=False)  # for the viewer's players

    def _times(self, role: str, interval: tuple[int, int]) -> dict[str, Any]:
        source = self.inputs.get(role, {})
        start, end = interval
        times = source.get("timestamps")
        fps = source.get("fps")
        span: dict[str, Any] = {"start": start, "end": end}
        if times:
            span.update(start_time=times[start], end_time=times[end])
        elif fps:
            span.update(start_time=start / fps, end_time=end / fps)
        return span

    def to_json(self) -> dict[str, Any]:
        return {
            "flagged": [
                self._times("query", i) | {"max_deviation": float(self.deviation[i[0] : i[1] + 1].max())}
                for i in self.flagged
            ],
            "query_gaps": [self._times("query", i) for i in self.query_gaps],
            "reference_gaps": [self._times("reference", i) for i in self.reference_gaps],
            "deviation": [round(float(d), 5) for d in self.deviation],
            "threshold": self.threshold,
            "threshold_rule": f"max(median + {self.k} * {MAD_TO_SD} * MAD of the deviations, "
            f"{FLOOR_FRACTION} * (1 - median similarity))",
            "min_frames": self.min_frames,
            "query_to_reference": _query_to_reference(self.alignment),
            "confidence": None if self.alignment.confidence is None else self.alignment.confidence.to_json(),
            "steps": self.steps,
            "model": self.model,
            **self.inputs,
        }

    def write(
        self, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True
    ) -> tuple[Path, ...]:
        """Write ``compare.json``, ``compare.png`` and the viewer page (:func:`vidalign.outputs.write_comparison`)."""
        from vidalign.outputs import write_comparison

        return write_comparison(self, out_dir, progress=progress, viewer=viewer)


def _query_to_reference(alignment: AlignResult) -> list[int]:
    """For every query frame (B of the DTW alignment), the middle reference frame matched to it."""
    pairs = alignment.pairs
    m = int(pairs[:, 1].max()) + 1
    first = np.searchsorted(pairs[:, 1], np.arange(m), side="left")
    last = np.searchsorted(pairs[:, 1], np.arange(m), side="right") - 1
    return pairs[(first + last) // 2, 0].tolist()


def compare_embeddings(
    reference: np.ndarray,
    query: np.ndarray,
    *,
    k: float = 3.0,
    min_frames: int = 3,
    sw: SWOptions | None = None,
) -> Comparison:
    """Compare ``query [M, D]`` with ``reference [N, D]`` (module docstring)."""
    if not 0 <= k < math.inf or min_frames < 1:  # NaN too
        raise InputError(f"k must be finite and >= 0 and min_frames >= 1, got k={k}, min_frames={min_frames}")
    alignment = align_arrays(reference, query, method="dtw")
    local = decode(alignment.matrix, method="sw", sw=sw or SWOptions())  # the same matrix, locally
    n, m = alignment.matrix.shape
    pairs = alignment.pairs
    matched_values = values_at(alignment.matrix, pairs[:, 0], pairs[:, 1])
    best = np.full(m, -np.inf)
    np.maximum.at(best, pairs[:, 1], matched_values)
    deviation = 1.0 - best
    parameters = local.parameters  # its threshold is np.median(S) unless the caller chose another
    median = parameters["threshold_value"] if parameters["threshold"] == "median" else matrix_median(alignment.matrix)
    threshold = deviation_threshold(deviation, k, FLOOR_FRACTION * (1.0 - median))
    matched_query = np.zeros(m, dtype=bool)
    matched_reference = np.zeros(n, dtype=bool)
    matched_query[local.pairs[:, 1]] = True
    matched_reference[local.pairs[:, 0]] = True
    flagged = _intervals(deviation > threshold, min_frames)
    in_flagged = np.zeros(m, dtype=bool)
    for start, end in flagged:
        in_flagged[start : end + 1] = True
    kept = ~in_flagged[pairs[:, 1]]
    if kept.any() and alignment.confidence is not None:  # path_similarity: module docstring
        unflagged = replace(alignment.confidence, path_similarity=round(float(matched_values[kept].mean()), DIGITS))
        alignment = replace(alignment, confidence=unflagged)
    return Comparison(
        alignment=alignment,
        local=local,
        deviation=deviation,
        k=k,
        min_frames=min_frames,
        threshold=threshold,
        flagged=flagged,
        query_gaps=_intervals(~matched_query, min_frames),
        reference_gaps=_intervals(~matched_reference, min_frames),
    )
