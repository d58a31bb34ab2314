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
- **repeated** (with both recordings' frame embeddings): a shared step the query performs ``k > 1`` times in a
  row. Labels cannot tell a repeated step from a slowed one (both are one longer run), so the step's reference
  frames are tiled ``k`` times (``k = 1 .. MAX_PERFORMANCES``) and aligned by DTW to the query's frames of the
  step, cost ``1 - cosine``: a slowed step matches one copy stretched, a repeated one matches ``k`` copies. Going
  from the current count to ``k`` copies needs the query's step to last at least ``MIN_COPY_FRACTION`` of the
  reference's per copy and the mean cost along the path to drop below ``1 - REPEAT_GAIN`` times the current
  count's; the query frames matched to copies ``2 .. k`` are the repetitions (``query_intervals``, inclusive).
  This needs a representation in which the frames of a step change with its progress (docs/methods.md, Compare).

The findings also carry both recordings' step timelines (``reference_segments`` / ``query_segments``: every run,
background included, as ``{"step", "start", "end"}`` with ``end`` exclusive) for the viewer's step timelines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidalign.labels.runs import label_runs
from vidalign.ops.band import full_band
from vidalign.ops.dtw import DTWFill

__all__ = [
    "MAX_PERFORMANCES",
    "MIN_COPY_FRACTION",
    "REPEAT_GAIN",
    "longest_common_subsequence",
    "step_findings",
    "step_order",
    "step_performances",
    "step_segments",
]

MAX_PERFORMANCES = 3
# ours, chosen on the dev process of benchmarks/compare_synthetic.py --seed 1 (LAC embeddings: 1 of 3 repeated
# steps found, no slowed or normal step taken for a repetition): each extra copy lowers the mean path cost by 5 %,
# and a copy shorter than 3/4 of the reference's step is a faster performance rather than a repetition
REPEAT_GAIN = 0.05
MIN_COPY_FRACTION = 0.75


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


def step_performances(reference: np.ndarray, query: np.ndarray) -> tuple[int, list[tuple[int, int]], list[float]]:
    """How many times the query's frames ``query [M, D]`` of one step perform the reference's frames of it
    ``reference [N, D]`` (module docstring, **repeated**): ``(k, intervals, costs)`` with the query frames matched
    to copies 2..k as inclusive intervals and the mean path cost of each number of copies tried."""
    ref, qry = _unit_rows(reference), _unit_rows(query)
    costs, paths = [], []
    for times in range(1, MAX_PERFORMANCES + 1):
        if times > 1 and len(qry) < max(times * 2, MIN_COPY_FRACTION * times * len(ref)):
            break
        tiled = np.tile(ref, (times, 1))
        fill = DTWFill(full_band(len(tiled), len(qry)))
        fill.add(1.0 - tiled @ qry.T)
        score, path = fill.result()
        costs.append(score / len(path))
        paths.append(path)
    times = 1
    for candidate in range(2, len(costs) + 1):
        if costs[candidate - 1] < (1.0 - REPEAT_GAIN) * costs[times - 1]:
            times = candidate
    if times == 1:
        return 1, [], costs
    path = paths[times - 1]
    copy = np.zeros(len(qry), dtype=np.int64)
    np.maximum.at(copy, path[:, 1], path[:, 0] // len(ref))  # a query frame's (last) copy
    values, starts, ends = label_runs(copy > 0)
    intervals = [(int(s), int(e) - 1) for v, s, e in zip(values, starts, ends, strict=True) if v]
    return times, intervals, costs


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
    embeddings: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The findings of the module docstring for per-frame step ids ``reference [N]`` and ``query [M]``;
    ``names`` maps ids to step names, ``fps`` the two recordings' frame rates (durations in seconds),
    ``embeddings`` the two recordings' frame embeddings ``([N, D], [M, D])``, which add the repeated steps."""
    order_r, frames_r = step_order(reference, background)
    order_q, frames_q = step_order(query, background)
    common = set(longest_common_subsequence(order_r, order_q))
    shared = [s for s in order_r if s in frames_q]
    repeated = []
    for step in shared if embeddings is not None else []:
        ref_frames, query_frames = _single_run(reference, step), _single_run(query, step)
        if ref_frames is None or query_frames is None or len(ref_frames) < 2:
            continue
        times, intervals, _ = step_performances(embeddings[0][ref_frames], embeddings[1][query_frames])
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
        "repeated": None if embeddings is None else [{**r, "step": name(r["step"])} for r in repeated],
        "reference_segments": step_segments(reference, name),
        "query_segments": step_segments(query, name),
    }


def step_segments(steps: np.ndarray, name=str) -> list[dict[str, Any]]:
    """Every run of the per-frame step ids ``steps`` as ``{"step": name(id), "start", "end"}`` (``end``
    exclusive), in frame order."""
    ids, starts, ends = label_runs(steps)
    return [{"step": name(int(i)), "start": int(s), "end": int(e)} for i, s, e in zip(ids, starts, ends, strict=True)]
