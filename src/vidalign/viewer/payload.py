"""What the viewer page shows of each result (``docs/viewer.md``, Data): plain JSON-ready dictionaries built from
an :class:`~vidalign.alignment.AlignResult`, a :class:`~vidalign.comparison.Comparison`, a
:class:`~vidalign.segmentation.Segmentation` or a :class:`~vidalign.retrieval.Retrieval`, with the browser
copies of the recordings whose videos are known (:mod:`vidalign.viewer.media`).

A recording is ``{label, name, frames, fps, times, video, sprite}`` (``video``/``sprite`` None without a video).
Frame maps: ``a_to_b[i]`` as in ``alignment.json``; ``b_to_a[j]`` the middle A frame paired with B's frame ``j``
(None when none is), so that either player can lead.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from vidalign.errors import VidalignError
from vidalign.frames import FrameSource, frame_source_of, sampled_fps
from vidalign.similarity import Preview, preview_of
from vidalign.steps import step_segments
from vidalign.viewer.matrix import matrix_payload
from vidalign.viewer.media import write_browser_copy

if TYPE_CHECKING:
    from vidalign.alignment import AlignResult
    from vidalign.comparison import Comparison
    from vidalign.inputs import AlignInput
    from vidalign.retrieval import Retrieval
    from vidalign.segmentation import Segmentation

__all__ = ["alignment_payload", "b_to_a", "comparison_payload", "retrieval_payload", "segmentation_payload"]

MAX_PATH_POINTS = 4000  # pairs drawn on the matrix (every k-th beyond)
MAX_VIDEOS = 12  # recordings of a segmentation or retrieval given a browser copy (the first / best ones)


def _recording(
    label: str,
    described: dict[str, Any],
    source: FrameSource | None,
    out: Path,
    name: str,
    progress: bool,
) -> dict[str, Any]:
    """One recording (module docstring); its browser copy is skipped, with a warning, when its video fails."""
    n_frames, times = int(described["n_frames"]), described.get("timestamps")
    fps = sampled_fps(described.get("fps"), times)
    found = {"video": None, "sprite": None}
    if source is not None:
        try:
            found = write_browser_copy(source, n_frames, fps, out / "media", name, progress=progress)
        except (VidalignError, av.FFmpegError, OSError) as error:
            warnings.warn(f"viewer: no browser copy of {source.video}: {error}", stacklevel=3)
    path = described.get("path", label)
    return {"label": label, "name": Path(path).name, "frames": n_frames, "fps": fps, "times": times} | found


def _input_recording(label: str, loaded: AlignInput | None, described: dict, out: Path, name: str, progress: bool):
    source = frame_source_of(loaded) if loaded is not None else None
    return _recording(label, described, source, out, name, progress)


def b_to_a(pairs: np.ndarray, m: int) -> list[int | None]:
    """For each of B's ``m`` frames, the middle A frame ``pairs [L, 2]`` pair with it (the lower middle of an
    even count), or None."""
    mapped: list[int | None] = [None] * m
    if len(pairs):
        ordered = pairs[np.lexsort((pairs[:, 0], pairs[:, 1]))]
        columns = np.arange(m)
        first = np.searchsorted(ordered[:, 1], columns, side="left")
        last = np.searchsorted(ordered[:, 1], columns, side="right") - 1
        for j in np.flatnonzero(last >= first):
            mapped[j] = int(ordered[(first[j] + last[j]) // 2, 0])
    return mapped


def _preview(result: AlignResult) -> Preview:
    return result.preview if result.preview is not None else preview_of(result.similarity)


def _alignment(result: AlignResult) -> dict[str, Any]:
    preview = _preview(result)
    pairs = np.asarray(result.pairs, dtype=np.int64).reshape(-1, 2)
    step = max(1, math.ceil(len(pairs) / MAX_PATH_POINTS))
    return {
        "method": result.method,
        "score": result.score,
        "score_kind": result.score_kind,
        "a_to_b": list(result.a_to_b),
        "b_to_a": b_to_a(pairs, preview.frames[1]),
        "pairs": pairs[::step].tolist(),
        "matched_a": result.matched_a,
        "matched_b": result.matched_b,
        "matrix": matrix_payload(preview),
        "confidence": None if result.confidence is None else result.confidence.to_json(),
    }


def _representation(model: str | None, inputs: dict[str, dict]) -> str:
    """What the similarities of a page were computed on, and which recording was mirrored, for its title."""
    mirrored = [role.upper() if len(role) == 1 else role for role, described in inputs.items()
                if ((described or {}).get("mirror") or {}).get("mirrored")]  # fmt: skip
    mirror_note = "".join(f" · {role} mirrored left-right" for role in mirrored)
    if model is not None:
        return f"embeddings of {Path(model).name}{mirror_note}"  # a run directory's name
    standardized = any((described or {}).get("standardized") for described in inputs.values())
    return ("raw features, standardised per recording" if standardized else "raw features") + mirror_note


def alignment_payload(result: AlignResult, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """The page of ``vidalign align``: two synced players, the matrix with the path."""
    loaded = result.sources or (None, None)
    a, b = (result.inputs.get(k) or {"n_frames": n} for k, n in zip("ab", _preview(result).frames, strict=True))
    return {
        "kind": "align",
        "title": f"{result.method} alignment · {_representation(result.model, result.inputs)}",
        "a": _input_recording("A", loaded[0], a, out, "a", progress),
        "b": _input_recording("B", loaded[1], b, out, "b", progress),
        "alignment": _alignment(result),
    }


def comparison_payload(result: Comparison, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """The page of ``vidalign compare``: the alignment page (A = reference, B = query) with the query's deviation
    curve, its flagged intervals and gaps, and the step timelines and findings when steps are known."""
    loaded = result.sources or (None, None)
    shape = _preview(result.alignment).frames
    ref, query = (result.inputs.get(k) or {"n_frames": n} for k, n in zip(("reference", "query"), shape, strict=True))
    to_json = result.to_json()
    return {
        "kind": "compare",
        "title": f"comparison with the reference · {_representation(result.model, result.inputs)}",
        "a": _input_recording("reference", loaded[0], ref, out, "reference", progress),
        "b": _input_recording("query", loaded[1], query, out, "query", progress),
        "alignment": _alignment(result.alignment),
        "deviation": {
            "values": to_json["deviation"],
            "threshold": result.threshold,
            "threshold_rule": to_json["threshold_rule"],
            "flagged": to_json["flagged"],
            "query_gaps": to_json["query_gaps"],
            "reference_gaps": to_json["reference_gaps"],
            "query_to_reference": to_json["query_to_reference"],
        },
        "steps": result.steps,
    }


def segmentation_payload(result: Segmentation, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """The page of ``vidalign segment``: every video's step timeline (under its ground truth when known); the
    first :data:`MAX_VIDEOS` videos with a known source play in the page's player."""
    videos = []
    class_names = dict(enumerate(result.class_names or []))
    copied = 0
    for number, (video_id, labels) in enumerate(result.labels.items()):
        described = {"path": video_id, "n_frames": len(labels), "fps": result.fps.get(video_id),
                     "timestamps": result.timestamps.get(video_id)}  # fmt: skip
        source = result.frame_sources.get(video_id) if copied < MAX_VIDEOS else None
        copied += source is not None
        entry = {
            "id": video_id,
            "recording": _recording(video_id, described, source, out, f"video{number}", progress),
            "segments": result.segments(video_id),
        }
        if result.ground_truth is not None and class_names:
            runs = step_segments(result.ground_truth[video_id], class_names.get)  # end exclusive
            entry["ground_truth"] = [{"name": r["step"], "start": r["start"], "end": r["end"] - 1} for r in runs]
        videos.append(entry)
    return {"kind": "segment", "title": result.segmenter, "videos": videos}


def retrieval_payload(result: Retrieval, out: Path, *, progress: bool = False) -> dict[str, Any]:
    """The page of ``vidalign retrieve``: the query frame and each recording's matches, best recording first;
    a click on a match opens that moment in the page's player (the best :data:`MAX_VIDEOS` recordings with a
    known source)."""
    ranked = result.ranked()
    described = result.recordings
    query = _recording("query", result.query_recording, result.query_source, out, "query", progress)
    results, copied = [], 0
    for number, video in enumerate(ranked):
        source = result.frame_sources.get(video) if copied < MAX_VIDEOS else None
        copied += source is not None
        recording = _recording(video, described[video], source, out, f"match{number}", progress)
        mirrored = bool((described[video].get("mirror") or {}).get("mirrored"))
        results.append({"video": video, "recording": recording, "mirrored": mirrored,
                        "matches": [vars(m) for m in result.matches[video]]})  # fmt: skip
    return {"kind": "retrieve", "title": f"frame {result.frame} of {Path(result.query).name}",
            "query": query, "frame": result.frame, "time": result.query_time, "results": results}  # fmt: skip
