"""The evaluation's cost on many videos (suite "eval", ``docs/evaluation.md``, Cost).

One row: AP@K of :func:`vidalign.evaluation.alignment.retrieval_precision_per_frame` (each query frame's K nearest
frames of the other videos by a partition of its distance row, the query's own frames masked) against what it
replaced, timed in the same run - each query video's candidates copied out of the others and every distance row
sorted whole (a stable argsort). The note says whether both give the same precision for every query frame.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from vidalign.bench import BenchRow, time_call
from vidalign.evaluation.alignment import DISTANCE, retrieval_precision_per_frame

KS = (5, 10, 15)


def _sorted_rows_precision(frames: list[np.ndarray], labels: list[np.ndarray]) -> list[np.ndarray]:
    """The reference: precision at the largest K per query frame, candidates copied and rows sorted whole."""
    precision = []
    for i, (query, query_labels) in enumerate(zip(frames, labels, strict=True)):
        candidates = np.concatenate([f for j, f in enumerate(frames) if j != i])
        candidate_labels = np.concatenate([p for j, p in enumerate(labels) if j != i])
        nearest = np.argsort(cdist(query, candidates, DISTANCE), axis=1, kind="stable")[:, : max(KS)]
        precision.append((candidate_labels[nearest] == query_labels[:, None]).mean(axis=1))
    return precision


def run(quick: bool = False) -> list[BenchRow]:
    rng = np.random.default_rng(0)
    n_videos = 20 if quick else 60
    frames = [rng.normal(size=(int(rng.integers(60, 200)), 128)) for _ in range(n_videos)]
    labels = [np.sort(rng.integers(0, 5, size=len(f))) for f in frames]
    ours = retrieval_precision_per_frame(frames, labels, KS)[max(KS)]
    same = all(np.array_equal(a, b) for a, b in zip(ours, _sorted_rows_precision(frames, labels), strict=True))
    repeats = 1 if quick else 3
    return [
        BenchRow(
            op="AP@K (eval)",
            config=f"{n_videos} videos, {sum(map(len, frames))} frames",
            ours_ms=time_call(lambda: retrieval_precision_per_frame(frames, labels, KS), repeats=repeats, warmup=0),
            reference="rows sorted, copies",
            reference_ms=time_call(lambda: _sorted_rows_precision(frames, labels), repeats=repeats, warmup=0),
            note="same precision per frame" if same else "DIFFERENT precision",
        )
    ]
