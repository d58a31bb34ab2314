"""Step-level findings of a comparison (``docs/methods.md``, Compare): which steps of the reference a query
misses, adds or performs out of order, and how long each shared step lasts relative to the reference.

A recording's steps are the runs of its per-frame step ids (from a model's action prototypes or from labels),
background runs left out; a step performed in several runs counts once, at its first run, with the frames of
all its runs as its duration. With ``R`` and ``Q`` the reference's and the query's step orders:

- **missing**: steps of ``R`` absent from ``Q``; **extra**: steps of ``Q`` absent from ``R``;
- **out of order**: steps of both that are not in a longest common subsequence of ``R`` and ``Q`` (the fewest
  steps whose removal leaves the two orders equal);
- **duration ratio**: a shared step's frames in the query over its frames in the reference (times, when both
  frame rates are known);
- **repeated** (with both recordings' frame features): a shared step the query performs ``k > 1`` times in a
  row. Labels cannot tell a repeated step from a slowed one (both are one longer run); the query's own frames
  can, by their self-similarity (the cue of repetition counting, Dwibedi et al., CVPR 2020): along the step,
  the mean cosine similarity of frames ``L`` apart (:func:`lag_similarity`) falls as ``L`` grows through one
  performance and rises again where ``L`` reaches the length of a performance, whatever the representation's
  scale. A step's periodicity at ``k`` (:func:`periodicity`) is that rise - the best similarity at lags within
  ``PERIOD_TOLERANCE`` of ``M / k`` over the lowest at shorter lags - as a share of the whole fall from lag 1;
  the query performs the step ``k`` times for the ``k`` of highest periodicity of at least ``MIN_PERIODICITY``,
  provided the query's step lasts at least ``MIN_COPY_FRACTION`` of the reference's per performance (in time
  when both frame rates are known, else in frames) and the
  reference's own frames of the step are not periodic at that ``k`` (a step of two strokes is periodic in every
  recording); a step that does not move beyond its frame noise (``MIN_MOVEMENT``) has no periodicity. The
  repetitions (``query_intervals``, inclusive) run from where the step's opening frames recur, near ``M / k``, to
  its end. :func:`vidalign.api.compare` passes the recordings' own frame features (video backbone features, pose
  or feature files), not a model's embeddings: those are trained to tell how far through a recording a frame is,
  which sets a second performance apart from the first (docs/methods.md, Compare).

The findings also carry both recordings' step timelines (``reference_segments`` / ``query_segments``: every run,
background included, as ``{"step", "start", "end"}`` with ``end`` exclusive) for the viewer's step timelines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidalign.labels.runs import label_runs

__all__ = [
    "MAX_PERFORMANCES",
    "MAX_STEP_FRAMES",
    "MIN_COPY_FRACTION",
    "MIN_MOVEMENT",
    "MIN_PERIODICITY",
    "PERIOD_TOLERANCE",
    "lag_similarity",
    "longest_common_subsequence",
    "periodicity",
    "step_findings",
    "step_order",
    "step_performances",
    "step_segments",
]

MAX_PERFORMANCES = 3
# ours, chosen on the dev process of benchmarks/compare_synthetic.py --seed 1 (seed 0 is the one reported), in both
# its versions (the second performance a replay of the first's frames, and a fresh one at another pace): the
# highest periodicity of a step performed once was 0.00 in the frame features (0.19 in LAC's embeddings), the
# lowest of a repetition found 0.29 (LAC's and VAOT's embeddings: 0.00-0.13 for every repetition); a period is
# looked for within PERIOD_TOLERANCE of M / k (performances at different paces), a performance lasts at least
# MIN_COPY_FRACTION of the reference's (up to twice as fast), a period has at least MIN_PERIOD_FRAMES frames
MIN_PERIODICITY = 0.25
PERIOD_TOLERANCE = 0.25
MIN_COPY_FRACTION = 0.5
MIN_PERIOD_FRAMES = 3
# a step "moves" when frames far apart in it differ at least as much again as neighbouring frames (1 - s(1)): the
# frame-to-frame noise of a still step makes its lag similarities rise and fall at random (38 of 40 noisy still
# steps scored >= MIN_PERIODICITY without this); every phase of the dev and reported processes has 2.7-15
MIN_MOVEMENT = 1.0
# longer steps are strided to at most this many frames first: the lag similarities cost O(M^2 D)
MAX_STEP_FRAMES = 600


def step_order(steps: np.ndarray, background: int | None = None) -> tuple[list[int], dict[int, int]]:
    """The order of first appearance of the step ids of ``steps [T]`` and every step's number of frames."""
    values, starts, ends = label_runs(np.asarray(steps), background)
    order: list[int] = []
    frames: dict[int, int] = {}
    for value, start, end in zip(values.tolist(), starts.tolist(), ends.tolist(), strict=True):
        if value not in frames:
            order.append(value)
        frames[value] = frames.get(value, 0) + end - start
    return order, frames


def longest_common_subsequence(a: list[int], b: list[int]) -> list[int]:
    """One longest common subsequence of ``a`` and ``b`` (dynamic programme, ties broken towards ``a``'s order)."""
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=np.int64)
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i, j] = table[i + 1, j + 1] + 1 if a[i] == b[j] else max(table[i + 1, j], table[i, j + 1])
    common, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            common.append(a[i])
            i, j = i + 1, j + 1
        elif table[i + 1, j] >= table[i, j + 1]:
            i += 1
        else:
            j += 1
    return common


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def lag_similarity(frames: np.ndarray, max_lag: int) -> np.ndarray:
    """``s[L - 1]``: the mean cosine similarity of the frames ``frames [M, D]`` that are ``L`` apart, for
    ``L = 1 .. min(max_lag, M - 1)`` (module docstring, **repeated**)."""
    unit = _unit_rows(frames)
    lags = range(1, min(max_lag, len(unit) - 1) + 1)
    return np.array([np.einsum("ij,ij->i", unit[:-lag], unit[lag:]).mean() for lag in lags])


def _period_lags(length: int, times: int) -> tuple[int, int]:
    """The lags within ``PERIOD_TOLERANCE`` of ``length / times`` that leave ``MIN_PERIOD_FRAMES`` frames."""
    period = length / times
    low = max(2, int(np.floor((1.0 - PERIOD_TOLERANCE) * period)))
    high = min(int(np.ceil((1.0 + PERIOD_TOLERANCE) * period)), length - MIN_PERIOD_FRAMES)
    return (low, high) if period >= MIN_PERIOD_FRAMES else (low, low - 1)


def periodicity(frames: np.ndarray, times: int) -> float:
    """How clearly the frames ``frames [M, D]`` of one step are ``times`` performances in a row: ``rise / fall``
    with the best lag-similarity at the lags of :func:`_period_lags`, ``rise`` its excess over the lowest
    similarity at shorter lags and ``fall`` lag 1's excess over that lowest (0 when the frames are too few for the
    period, or when ``fall`` is below ``MIN_MOVEMENT`` times lag 1's dissimilarity: a still step)."""
    low, high = _period_lags(len(frames), times)
    if high < low:
        return 0.0
    similarity = lag_similarity(frames, high)
    lag = low + int(np.argmax(similarity[low - 1 : high]))
    lowest = similarity[:lag].min()
    fall = similarity[0] - lowest
    moves = fall > max(MIN_MOVEMENT * (1.0 - similarity[0]), 1e-9)
    return float((similarity[lag - 1] - lowest) / fall) if moves else 0.0


def _second_start(frames: np.ndarray, times: int) -> int:
    """Where the second of ``times`` performances in ``frames [M, D]`` begins: the lag of :func:`_period_lags`
    at which the first performance's opening frames (a quarter of the shortest period) recur most closely."""
    low, high = _period_lags(len(frames), times)
    unit = _unit_rows(frames)
    opening = unit[: max(1, low // 4)]
    recurrence = [np.einsum("ij,ij->", opening, unit[start : start + len(opening)]) for start in range(low, high + 1)]
    return low + int(np.argmax(recurrence))


def step_performances(
    reference: np.ndarray, query: np.ndarray, rate_ratio: float = 1.0
) -> tuple[int, list[tuple[int, int]], list[float]]:
    """How many times the query's frames ``query [M, D]`` of one step perform the reference's frames of it
    ``reference [N, D]`` (module docstring, **repeated**): ``(k, intervals, scores)`` with the query frames of
    performances 2..k as inclusive intervals and the query's periodicity at ``k = 2 .. MAX_PERFORMANCES``.
    ``rate_ratio``: the query's frame rate over the reference's, so that the length test compares durations. Steps
    of more than ``MAX_STEP_FRAMES`` frames are scored on every ``s``-th frame of both (one ``s`` for the two: the
    periodicities are each recording's own), and the second performance's start is then found within ``s`` frames."""
    stride = -(-max(len(reference), len(query)) // MAX_STEP_FRAMES)  # ceil
    ref, qry = reference[::stride], query[::stride]
    scores = []
    for times in range(2, MAX_PERFORMANCES + 1):
        too_short = len(query) < MIN_COPY_FRACTION * times * len(reference) * rate_ratio
        periodic_anyway = not too_short and periodicity(ref, times) >= MIN_PERIODICITY
        scores.append(0.0 if too_short or periodic_anyway else periodicity(qry, times))
    best = int(np.argmax(scores))
    if scores[best] < MIN_PERIODICITY:
        return 1, [], scores
    return best + 2, [(stride * _second_start(qry, best + 2), len(query) - 1)], scores


def _single_run(steps: np.ndarray, step: int) -> np.ndarray | None:
    """The frames of ``step`` when it is one run in ``steps``, else None."""
    frames = np.flatnonzero(steps == step)
    return frames if frames.size and frames[-1] - frames[0] + 1 == frames.size else None


def step_findings(
    reference: np.ndarray,
    query: np.ndarray,
    *,
    names: dict[int, str] | None = None,
    background: int | None = None,
    fps: tuple[float | None, float | None] = (None, None),
    features: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The findings of the module docstring for per-frame step ids ``reference [N]`` and ``query [M]``;
    ``names`` maps ids to step names, ``fps`` the two recordings' frame rates (durations in seconds),
    ``features`` the two recordings' frame features ``([N, D], [M, D])``, which add the repeated steps."""
    order_r, frames_r = step_order(reference, background)
    order_q, frames_q = step_order(query, background)
    common = set(longest_common_subsequence(order_r, order_q))
    shared = [s for s in order_r if s in frames_q]
    repeated = []
    for step in shared if features is not None else []:
        ref_frames, query_frames = _single_run(reference, step), _single_run(query, step)
        if ref_frames is None or query_frames is None or len(ref_frames) < 2:
            continue
        rate_ratio = fps[1] / fps[0] if all(fps) else 1.0
        times, intervals, _ = step_performances(features[0][ref_frames], features[1][query_frames], rate_ratio)
        if times > 1:
            shifted = [(start + int(query_frames[0]), end + int(query_frames[0])) for start, end in intervals]
            repeated.append({"step": step, "times": times, "query_intervals": shifted})

    def name(step: int) -> str:
        return (names or {}).get(step, str(step))

    def duration(step: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"step": name(step), "reference_frames": frames_r[step], "query_frames": frames_q[step]}
        if all(fps):
            seconds_r, seconds_q = frames_r[step] / fps[0], frames_q[step] / fps[1]
            entry.update(reference_seconds=seconds_r, query_seconds=seconds_q, ratio=seconds_q / seconds_r)
        else:
            entry["ratio"] = frames_q[step] / frames_r[step]
        return entry

    return {
        "reference_order": [name(s) for s in order_r],
        "query_order": [name(s) for s in order_q],
        "missing": [name(s) for s in order_r if s not in frames_q],
        "extra": [name(s) for s in order_q if s not in frames_r],
        "out_of_order": [name(s) for s in shared if s not in common],
        "durations": [duration(s) for s in shared],
        "repeated": None if features is None else [{**r, "step": name(r["step"])} for r in repeated],
        "reference_segments": step_segments(reference, name),
        "query_segments": step_segments(query, name),
    }


def step_segments(steps: np.ndarray, name=str) -> list[dict[str, Any]]:
    """Every run of the per-frame step ids ``steps`` as ``{"step": name(id), "start", "end"}`` (``end``
    exclusive), in frame order."""
    ids, starts, ends = label_runs(steps)
    return [{"step": name(int(i)), "start": int(s), "end": int(e)} for i, s, e in zip(ids, starts, ends, strict=True)]
