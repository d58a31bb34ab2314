"""Frame retrieval: the moments of other recordings that match one frame of a query (``docs/methods.md``,
Retrieve).

The query frame's embedding is compared by cosine similarity with every frame of every other recording of a
folder, in one representation (raw features or a model's embeddings); per recording the ``k`` best frames are
kept, at least ``min_gap`` frames apart (a match and its neighbours are one moment, not ``k``), best first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidalign.alignment import cosine_similarity
from vidalign.errors import InputError
from vidalign.frames import FrameSource

__all__ = ["Match", "Retrieval", "best_frames", "retrieve_frame"]


@dataclass(frozen=True)
class Match:
    """One retrieved moment: ``video``, ``frame``, its time in seconds when known, and the ``similarity``."""

    video: str
    frame: int
    similarity: float
    time: float | None = None


def best_frames(similarity: np.ndarray, k: int, min_gap: int) -> list[int]:
    """Indices of the ``k`` highest values of ``similarity [T]``, best first, each at least ``min_gap`` frames
    from the ones chosen before it (greedy non-maximum suppression)."""
    chosen: list[int] = []
    for index in np.argsort(-similarity, kind="stable"):
        if all(abs(int(index) - c) >= min_gap for c in chosen):
            chosen.append(int(index))
            if len(chosen) == k:
                break
    return chosen


@dataclass
class Retrieval:
    """Matches of one query frame in every other recording, and the similarity profiles they come from."""

    query: str
    frame: int
    matches: dict[str, list[Match]]
    profiles: dict[str, np.ndarray] = field(repr=False)
    model: str | None = None
    query_time: float | None = None
    frame_sources: dict[str, FrameSource] = field(default_factory=dict, repr=False)  # the recordings with a video
    # each searched recording: path, n_frames, fps, timestamps, mirror (AlignInput.describe)
    recordings: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    # the query, apart from the recordings (a searched video may be named "query")
    query_recording: dict[str, Any] = field(default_factory=dict, repr=False)
    query_source: FrameSource | None = field(default=None, repr=False)

    def ranked(self) -> list[str]:
        """The searched recordings, best first: by their best match's similarity (ties: folder order)."""
        return sorted(self.matches, key=lambda v: -max((m.similarity for m in self.matches[v]), default=-1.0))

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "frame": self.frame,
            "time": self.query_time,
            "model": self.model,
            "matches": {v: [vars(m) for m in found] for v, found in self.matches.items()},
            "mirror": {v: found["mirror"] for v, found in self.recordings.items() if "mirror" in found},
        }

    def write(
        self, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True
    ) -> tuple[Path, ...]:
        """Write ``retrieval.json``, ``retrieval.png`` and, when the frames' videos are known,
        ``contact_sheet.png``, and the viewer page (:func:`vidalign.outputs.write_retrieval`)."""
        from vidalign.outputs import write_retrieval

        return write_retrieval(self, out_dir, progress=progress, viewer=viewer)


def retrieve_frame(
    query: np.ndarray,
    frame: int,
    others: dict[str, np.ndarray],
    *,
    k: int = 5,
    min_gap: int | None = None,
    times: dict[str, list[float] | None] | None = None,
) -> tuple[dict[str, list[Match]], dict[str, np.ndarray]]:
    """The ``k`` best moments of every recording of ``others`` (``{video: [T, D]}``) for frame ``frame`` of
    ``query [N, D]`` (module docstring); ``min_gap`` defaults to a tenth of each recording's length (at least 1).
    Returns the matches and the similarity profile of every recording."""
    if not 0 <= frame < len(query):
        raise InputError(f"frame {frame} is outside the query's {len(query)} frames")
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    matches, profiles = {}, {}
    for video, embedding in others.items():
        if embedding.shape[1] != query.shape[1]:
            raise InputError(f"{video}: {embedding.shape[1]}-d frames, the query has {query.shape[1]}-d")
        profile = cosine_similarity(query[frame : frame + 1], embedding)[0]
        gap = min_gap if min_gap is not None else max(1, len(embedding) // 10)
        stamps = (times or {}).get(video)
        matches[video] = [
            Match(video, j, round(float(profile[j]), 5), None if not stamps else stamps[j])
            for j in best_frames(profile, k, gap)
        ]
        profiles[video] = profile
    return matches, profiles
