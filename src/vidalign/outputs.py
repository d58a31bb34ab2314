"""What ``align`` and ``segment`` write: JSON, plots and the side-by-side video (``docs/data.md``, Outputs).

- :func:`write_alignment`: ``alignment.json`` (:meth:`vidalign.alignment.AlignResult.to_json`),
  ``alignment.png`` (similarity matrix, path, matched intervals shaded, unmatched frames marked) and, when both
  inputs are videos, ``side_by_side.mp4`` (:func:`write_alignment_video`).
- :func:`write_segmentation`: ``segments.json`` (every video) and ``timelines.png`` (the first ``MAX_TIMELINES``
  videos, each under its ground truth when known).
- :func:`write_retrieval`: ``retrieval.json`` (:meth:`vidalign.retrieval.Retrieval.to_json`),
  ``retrieval.png`` (each recording's similarity to the query frame, its matches marked by rank) and, when the
  recordings' videos are known, ``contact_sheet.png`` (the query frame and the matched frames).
- :func:`write_comparison`: ``compare.json`` (:meth:`vidalign.comparison.Comparison.to_json`) and ``compare.png``
  (the query's deviation curve, threshold, flagged intervals and gaps).

Each also writes, unless told not to (``viewer=False``), the interactive page ``index.html`` with its files and
the recordings' browser copies in ``media/`` (:mod:`vidalign.viewer`, ``docs/viewer.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from vidalign.atomic import atomic_write_json
from vidalign.data.video import SampledFrames, iter_frames, probe
from vidalign.frames import sampled_fps
from vidalign.labels.matching import relabel
from vidalign.viewer import write_page
from vidalign.viewer.payload import alignment_payload, comparison_payload, retrieval_payload, segmentation_payload
from vidalign.viz import (
    contact_sheet,
    plot_alignment,
    plot_deviation,
    plot_retrieval,
    plot_timelines,
    write_side_by_side,
)

if TYPE_CHECKING:  # the result types: their write() methods call this module
    from vidalign.alignment import AlignResult
    from vidalign.comparison import Comparison
    from vidalign.inputs import AlignInput
    from vidalign.retrieval import Retrieval
    from vidalign.segmentation import Segmentation

SIDE_BY_SIDE_CACHE_BYTES = 256 * 2**20  # decoded B frames kept for out-of-order lookups (OT argmax jumps back)
MAX_TIMELINES = 40  # videos drawn in timelines.png (all of them are in segments.json)
MAX_CONTACT_ROWS = 8  # recordings shown in contact_sheet.png, best first (all of them are in retrieval.json)
MAX_PROFILE_ROWS = 12  # recordings drawn in retrieval.png, best first


@dataclass(frozen=True)
class AlignmentFiles:
    """What :func:`write_alignment` wrote (``video`` is None unless both inputs are videos, ``page`` without the
    viewer)."""

    json: Path
    plot: Path
    video: Path | None
    page: Path | None = None


def write_alignment(
    result: AlignResult, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True
) -> AlignmentFiles:
    """Write ``OUT/alignment.json``, ``OUT/alignment.png``, when ``result.sources`` are two videos
    ``OUT/side_by_side.mp4``, and with ``viewer`` the page ``OUT/index.html`` (module docstring)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "alignment.json", result.to_json())
    partial = result.method != "dtw"  # dtw matches both videos whole: nothing to shade or mark
    a_name, b_name = (Path(result.inputs.get(k, {}).get("path", k.upper())).name for k in ("a", "b"))
    plot = plot_alignment(
        result.similarity if result.preview is None else result.preview,
        result.pairs,
        out / "alignment.png",
        title=f"{result.method}: {result.score_kind} {result.score:.4g}",
        a_label=f"A ({a_name})",
        b_label=f"B ({b_name})",
        matched_a=[result.matched_a] if partial and result.matched_a else None,
        matched_b=[result.matched_b] if partial and result.matched_b else None,
        mark_unmatched=partial,
    )
    video = None
    if result.sources is not None and all(source.is_video for source in result.sources):
        video = write_alignment_video(result, *result.sources, out / "side_by_side.mp4", progress=progress)
    page = write_page(out, alignment_payload(result, out, progress=progress)) if viewer else None
    return AlignmentFiles(out / "alignment.json", plot, video, page)


def _frame_cache_size(path: Path, n_frames: int) -> int:
    info = probe(path)
    return max(1, min(n_frames, SIDE_BY_SIDE_CACHE_BYTES // (info.width * info.height * 3)))


def write_alignment_video(
    result: AlignResult,
    a: AlignInput,
    b: AlignInput,
    out_mp4: str | os.PathLike[str],
    *,
    progress: bool = False,
) -> Path:
    """Side-by-side video at A's sampled frame rate: A's sampled frame ``i`` next to B's sampled frame
    ``a_to_b[i]`` (:func:`vidalign.viz.write_side_by_side`), both decoded again with the sampling used for the
    features so the frame indices refer to the same frames."""
    stride, target_fps = a.sampling.get("stride"), a.sampling.get("target_fps")
    frames_a = (frame.image for frame in iter_frames(a.path, stride=stride, target_fps=target_fps))
    frames_a = tqdm(frames_a, total=len(a.features), unit="frame", desc="side_by_side", disable=not progress)
    window = _frame_cache_size(b.path, len(b.features))
    frames_b = SampledFrames(b.path, stride=stride, target_fps=target_fps, window=window)
    return write_side_by_side(frames_a, frames_b, result.a_to_b, out_mp4, sampled_fps(a.fps, a.timestamps))


def _timeline_rows(result: Segmentation) -> tuple[dict[str, np.ndarray], list[str] | None]:
    """Per-video ids to draw and the names of the drawn ids: with ground truth, the predictions are mapped to
    the matched ground-truth class ids (colours agree; unmatched ids follow the classes)."""
    if result.ground_truth is None:
        names = [result.names.get(k, str(k)) for k in range(max(int(v.max()) for v in result.labels.values()) + 1)]
        return result.labels, names if result.names else None
    classes = result.class_names or []
    inverse = {name: cls for cls, name in enumerate(classes)}
    mapping = {label: inverse[name] for label, name in result.names.items()}
    return {v: relabel(x, mapping, len(classes)) for v, x in result.labels.items()}, classes


def write_segmentation(
    result: Segmentation, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True
) -> tuple[Path, ...]:
    """Write ``OUT/segments.json`` (every video), ``OUT/timelines.png`` (the first ``MAX_TIMELINES`` videos,
    each under its ground truth when known) and with ``viewer`` the page ``OUT/index.html``. Returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "segments.json", result.to_json())
    rows, names = _timeline_rows(result)
    shown = list(rows)[:MAX_TIMELINES]
    more = f" (first {MAX_TIMELINES} of {len(rows)} videos)" if len(rows) > MAX_TIMELINES else ""
    plot = plot_timelines(
        {v: rows[v] for v in shown},
        names,
        out / "timelines.png",
        ground_truth=None if result.ground_truth is None else {v: result.ground_truth[v] for v in shown},
        title=f"{result.segmenter}{more}",
    )
    page = (write_page(out, segmentation_payload(result, out, progress=progress)),) if viewer else ()
    return (out / "segments.json", plot, *page)


def write_comparison(
    result: Comparison, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True
) -> tuple[Path, ...]:
    """Write ``OUT/compare.json``, ``OUT/compare.png`` and with ``viewer`` the page ``OUT/index.html`` (module
    docstring); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "compare.json", result.to_json())
    query = result.inputs.get("query", {})
    name = Path(query.get("path", "query")).name
    plot = plot_deviation(
        result.deviation,
        result.threshold,
        out / "compare.png",
        flagged=result.flagged,
        gaps=result.query_gaps,
        fps=query.get("fps"),
        title=f"{name}: deviation from the reference ({len(result.flagged)} flagged intervals)",
    )
    page = (write_page(out, comparison_payload(result, out, progress=progress)),) if viewer else ()
    return (out / "compare.json", plot, *page)


def write_retrieval(
    result: Retrieval, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True
) -> tuple[Path, ...]:
    """Write ``OUT/retrieval.json``, ``OUT/retrieval.png``, when the matched recordings' videos are known
    ``OUT/contact_sheet.png`` (the query frame, then each recording's matches), and with ``viewer`` the page
    ``OUT/index.html`` (module docstring)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "retrieval.json", result.to_json())
    best_first = result.ranked()
    shown = best_first[:MAX_PROFILE_ROWS]
    title = f"{Path(result.query).name} frame {result.frame}: best matches per recording"
    if len(shown) < len(best_first):
        title += f" (the best {len(shown)} of {len(best_first)} recordings)"
    profiles = {video: result.profiles[video] for video in shown}
    frames = {video: [m.frame for m in result.matches[video]] for video in shown}
    written = [out / "retrieval.json", plot_retrieval(profiles, frames, out / "retrieval.png", title=title)]
    with_video = [v for v in best_first if v in result.frame_sources][:MAX_CONTACT_ROWS]
    if with_video:
        query = result.query_source
        rows = [("query", [query.images([result.frame])[0] if query else None], [f"frame {result.frame}"])]
        for video in with_video:
            found = result.matches[video]
            images = result.frame_sources[video].images([m.frame for m in found])
            rows.append((video, images, [f"#{n} f{m.frame} {m.similarity:.2f}" for n, m in enumerate(found, 1)]))
        written.append(contact_sheet(rows, out / "contact_sheet.png", title=title))
    if viewer:
        written.append(write_page(out, retrieval_payload(result, out, progress=progress)))
    return tuple(written)
