"""Step-level findings of a comparison (``docs/methods.md``, Compare): which steps of the reference a query
misses, adds or performs out of order, and how long each shared step lasts relative to the reference.

A recording's steps are the runs of its per-frame step ids (from a model's action prototypes or from labels),
background runs left out; a step performed in several runs counts once, at its first run, with the frames of
all its runs as its duration. With ``R`` and ``Q`` the reference's and the query's step orders:

- **missing**: steps of ``R`` absent from ``Q``; **extra**: steps of ``Q`` absent from ``R``;
- **out of order**: steps of both that are not in a longest common subsequence of ``R`` and ``Q`` (the fewest
  steps whose removal leaves the two orders equal);
- **duration ratio**: a shared step's frames in the query over its frames in the reference (times, when both
  frame rates are known).

The findings also carry both recordings' step timelines (``reference_segments`` / ``query_segments``: every run,
background included, as ``{"step", "start", "end"}`` with ``end`` exclusive) for the viewer's step timelines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vidalign.labels.runs import label_runs

__all__ = ["longest_common_subsequence", "step_findings", "step_order", "step_segments"]


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


def step_findings(
    reference: np.ndarray,
    query: np.ndarray,
    *,
    names: dict[int, str] | None = None,
    background: int | None = None,
    fps: tuple[float | None, float | None] = (None, None),
) -> dict[str, Any]:
    """The findings of the module docstring for per-frame step ids ``reference [N]`` and ``query [M]``;
    ``names`` maps ids to step names, ``fps`` the two recordings' frame rates (durations in seconds)."""
    order_r, frames_r = step_order(reference, background)
    order_q, frames_q = step_order(query, background)
    common = set(longest_common_subsequence(order_r, order_q))
    shared = [s for s in order_r if s in frames_q]

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
        "reference_segments": step_segments(reference, name),
        "query_segments": step_segments(query, name),
    }


def step_segments(steps: np.ndarray, name=str) -> list[dict[str, Any]]:
    """Every run of the per-frame step ids ``steps`` as ``{"step": name(id), "start", "end"}`` (``end``
    exclusive), in frame order."""
    ids, starts, ends = label_runs(steps)
    return [{"step": name(int(i)), "start": int(s), "end": int(e)} for i, s, e in zip(ids, starts, ends, strict=True)]
