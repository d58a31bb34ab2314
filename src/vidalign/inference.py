"""Inference with a trained model or raw features: align two videos, segment a folder (DESIGN.md "CLI").

Alignment (:func:`align`) of A ``[N, D]`` with B ``[M, D]``
    Representation: ``model.embed(features)`` with a trained model, else the features themselves. Both are
    L2-normalised (a trained encoder's output already is), so the similarity is ``S = cos`` ``[N, M]`` and the
    cost ``1 - S``.

    * ``dtw`` (global): exact DTW on ``1 - S`` (:func:`vidalign.ops.dtw`); the path is monotone and covers both
      videos. Frame ``i`` of A is matched to the middle one of the B frames the path pairs it with (the lower
      middle of an even count), so a frame held while the other video moves on points at the centre of that
      stretch. Score: the summed cost along the path (``dtw_cost``, lower is better).
    * ``sw`` (local): exact Smith-Waterman with affine gaps (:func:`vidalign.ops.smith_waterman`,
      ``docs/methods.md``, Kernels) on ``S - threshold``. A local alignment needs unrelated frame pairs to score
      below zero: the default threshold is the median of ``S`` over the matrix - a correspondence path covers only
      about ``N + M`` of the ``N M`` pairs, so the median is the similarity of a typical unrelated pair. Gap
      penalties are given in units of the standard deviation ``sigma`` of ``S`` over the matrix, so one default
      fits trained embeddings (cosines spread over [-1, 1]) and raw CNN features (cosines crowded into a band a
      few hundredths wide).
      Frames of A outside the alignment or in one of its gaps get ``a_to_b[i] = None``. Score: the alignment's
      score in similarity units (``sw_score``, higher is better); as in textbook Smith-Waterman the empty
      alignment (score 0, nothing matched) wins when no alignment scores above 0.
    * ``ot``: VAOT's fused-GW plan (:func:`vidalign.ops.fused_gw`; docs/methods.md: alpha 0.3, eps 0.07,
      structure radius 0.02, temporal prior 0.35, dummy frame cost zeta 0.5, balanced), run for more iterations
      than in training. Frame ``i`` of A is matched to the argmax of its plan row, and is unmatched (``None``)
      when (a) less than half a uniform row's mass ``1 / (N + 1)`` reached real B frames - its mass went to the
      dummy - or (b) the linear cost of its argmax match, ``1 - S + rho |i/N - j/M|``, exceeds the dummy's
      ``zeta``. Rule (b) is needed because the balanced plan gives the dummy column only ``1 / (M + 1)`` of the
      mass, about one frame's worth: by mass alone OT can leave at most about one frame unmatched, however many
      have no counterpart; a frame whose best match costs more than ``zeta`` is one the objective would rather
      send to the dummy. B frames are treated alike with the plan's columns. No monotonicity is enforced: this
      reports what OT says. ``pairs`` holds each matched A frame with its row argmax and each matched B frame
      with its column argmax. Score: the fused-GW objective of the plan (``fgw_objective``, lower is better).

:func:`align_files` aligns two videos (decoded and embedded with a frame backbone) and/or ``.npy`` feature files
and writes ``alignment.json``, ``alignment.png`` and, for two videos, ``side_by_side.mp4``.

Segmentation (:func:`segment`)
    Per video of a feature folder, the action id of every frame from a trained ASOT / VASOT run's prototypes
    (``model.segment``: evaluation OT parameters, whole video), or, on request, k-means with ``K`` clusters on the
    model's embeddings of all videos together. Action ids are unsupervised. When the folder has ground truth,
    each id is named by the class it is matched to (Hungarian matching over all videos' frames, the "full"
    scope of the evaluation); otherwise prototype ``k`` carries the run's ``class_names[k]`` - prototypes are
    k-means initialised and ordered only through the temporal prior, so that name is a guess, flagged as such
    by ``names_from`` in the JSON. :func:`write_segmentation` writes ``segments.json`` and ``timelines.png``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from vidalign.data.atomic import atomic_write_json
from vidalign.data.layout import FeatureFolder, _as_features
from vidalign.data.video import SampledFrames, iter_frames, probe
from vidalign.errors import InputError
from vidalign.evaluation.kmeans_baseline import kmeans_baseline
from vidalign.evaluation.matching import hungarian_mapping, relabel
from vidalign.evaluation.segmentation import segments as label_runs
from vidalign.extract import VIDEO_EXTENSIONS, embed_video, extract_videos
from vidalign.models.backbones import Backbone, build_backbone
from vidalign.models.model import VidalignModel, load_model
from vidalign.ops import dtw, fused_gw, smith_waterman
from vidalign.viz import plot_alignment, plot_timelines, write_side_by_side

__all__ = [
    "METHODS",
    "AlignInput",
    "AlignOutputs",
    "AlignResult",
    "InferenceError",
    "OTOptions",
    "SWOptions",
    "Segmentation",
    "align",
    "align_files",
    "cosine_similarity",
    "feature_folder_for",
    "format_alignment",
    "format_segmentation",
    "load_input",
    "segment",
    "write_alignment_video",
    "write_segmentation",
]

METHODS = ("dtw", "sw", "ot")
SW_THRESHOLDS = ("median", "mean")
FEATURE_SUFFIX = ".npy"
SIDE_BY_SIDE_CACHE_BYTES = 256 * 2**20  # decoded B frames kept for out-of-order lookups (OT argmax jumps back)
MAX_TIMELINES = 40  # videos drawn in timelines.png (all of them are in segments.json)
EXTRACTED_FOLDER = "extracted"  # feature folder written under --out when segment is given videos


class InferenceError(InputError):
    """Inputs that cannot be aligned or segmented; the message is one line."""


# ---------------------------------------------------------------------------------------------------------
# Alignment of two feature arrays.


@dataclass(frozen=True)
class SWOptions:
    """Smith-Waterman scoring: ``S - threshold`` (``"median"``, ``"mean"`` of S, or a similarity value) with
    gap penalties in units of the standard deviation of S (module docstring)."""

    threshold: float | str = "median"
    gap_open: float = 0.5
    gap_extend: float = 0.1


@dataclass(frozen=True)
class OTOptions:
    """Fused-GW parameters (VAOT's, docs/methods.md); ``dummy=None`` drops the dummy frame."""

    alpha: float = 0.3
    eps: float = 0.07
    radius: float = 0.02
    rho: float = 0.35
    dummy: float | None = 0.5
    n_iters: int = 100


@dataclass
class AlignResult:
    """An alignment of A (N frames) with B (M frames).

    ``pairs`` int ``[L, 2]`` of matched (i, j); ``a_to_b[i]`` the B frame matched to A's frame ``i`` or None;
    ``score`` of kind ``score_kind``; ``matched_a`` / ``matched_b`` the inclusive frame interval each video is
    matched on (None when nothing is); ``n_unmatched_*`` frames left unmatched; ``parameters`` the method's
    settings as used; ``similarity`` ``[N, M]`` (for the plot, not in the JSON). :func:`align_files` fills
    ``inputs`` (``"a"`` / ``"b"``: path, kind, frames, fps, timestamps), ``model`` and ``backbone``.
    """

    method: str
    score: float
    score_kind: str
    pairs: np.ndarray
    a_to_b: list[int | None]
    matched_a: tuple[int, int] | None
    matched_b: tuple[int, int] | None
    n_unmatched_a: int
    n_unmatched_b: int
    parameters: dict[str, Any]
    similarity: np.ndarray = field(repr=False)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: str | None = None
    backbone: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The DESIGN.md keys (``pairs``, ``a_to_b``, ``score``, ``matched_a``, ``matched_b``) then the extras."""
        return {
            "pairs": self.pairs.tolist(),
            "a_to_b": list(self.a_to_b),
            "score": self.score,
            "matched_a": None if self.matched_a is None else list(self.matched_a),
            "matched_b": None if self.matched_b is None else list(self.matched_b),
            "method": self.method,
            "score_kind": self.score_kind,
            "n_unmatched_a": self.n_unmatched_a,
            "n_unmatched_b": self.n_unmatched_b,
            "parameters": self.parameters,
            "model": self.model,
            "backbone": self.backbone,
            **self.inputs,
        }


def cosine_similarity(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """``S[i, j] = cos(a_i, b_j)`` in float64 ``[N, M]`` (an all-zero frame has similarity 0 to everything)."""
    a, b = (np.asarray(x, dtype=np.float64) for x in (emb_a, emb_b))
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.finfo(np.float64).tiny)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), np.finfo(np.float64).tiny)
    return a @ b.T


def _check_features(name: str, features: np.ndarray) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 1 or features.shape[1] < 1:
        raise InferenceError(f"{name}: expected features [T, D], got shape {features.shape}")
    if not np.isfinite(features).all():
        raise InferenceError(f"{name}: features hold NaN or infinite values")
    return features


def _representation(features: np.ndarray, model: VidalignModel | None, device: str) -> np.ndarray:
    """The model's embeddings of one video, or the features themselves."""
    if model is None:
        return features
    expected = model.encoder.config.in_dim
    if features.shape[1] != expected:
        raise InferenceError(f"the model takes {expected}-d features, got {features.shape[1]}-d")
    return model.embed(features, device)


def _interval(indices: np.ndarray) -> tuple[int, int] | None:
    return (int(indices.min()), int(indices.max())) if indices.size else None


def _align_dtw(sim: np.ndarray) -> AlignResult:
    n, m = sim.shape
    score, path = dtw(1.0 - sim)
    first = np.searchsorted(path[:, 0], np.arange(n), side="left")
    last = np.searchsorted(path[:, 0], np.arange(n), side="right") - 1
    return AlignResult(
        method="dtw",
        score=float(score),
        score_kind="dtw_cost",
        pairs=path,
        a_to_b=path[(first + last) // 2, 1].tolist(),
        matched_a=(0, n - 1),
        matched_b=(0, m - 1),
        n_unmatched_a=0,
        n_unmatched_b=0,
        parameters={},
        similarity=sim,
    )


def _sw_threshold(sim: np.ndarray, threshold: float | str) -> float:
    if isinstance(threshold, str):
        if threshold not in SW_THRESHOLDS:
            raise InferenceError(f"threshold must be a number or one of {SW_THRESHOLDS}, got {threshold!r}")
        return float(np.median(sim) if threshold == "median" else sim.mean())
    return float(threshold)


def _align_sw(sim: np.ndarray, options: SWOptions) -> AlignResult:
    n, m = sim.shape
    threshold = _sw_threshold(sim, options.threshold)
    sigma = float(sim.std()) or 1.0  # a constant matrix: any unit will do
    found = smith_waterman(sim - threshold, options.gap_open * sigma, options.gap_extend * sigma)
    worth_it = found.score > 0  # else the empty alignment (score 0) is the best local alignment
    pairs = found.pairs if worth_it else np.zeros((0, 2), dtype=np.int64)
    a_to_b: list[int | None] = [None] * n
    for i, j in pairs.tolist():
        a_to_b[i] = j
    return AlignResult(
        method="sw",
        score=float(found.score) if worth_it else 0.0,
        score_kind="sw_score",
        pairs=pairs,
        a_to_b=a_to_b,
        matched_a=tuple(found.interval_a) if worth_it else None,
        matched_b=tuple(found.interval_b) if worth_it else None,
        n_unmatched_a=n - len(pairs),
        n_unmatched_b=m - len(pairs),
        parameters={"threshold": options.threshold, "threshold_value": threshold, "similarity_std": sigma}
        | {"gap_open": options.gap_open, "gap_extend": options.gap_extend},
        similarity=sim,
    )


def _ot_matched(plan: np.ndarray, linear_cost: np.ndarray, dummy: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of every plan row and which rows are matched (module docstring, rules a and b)."""
    best = plan.argmax(axis=1)
    uniform_mass = 1.0 / (plan.shape[0] + (dummy is not None))
    matched = plan.sum(axis=1) >= 0.5 * uniform_mass
    if dummy is not None:
        matched &= linear_cost[np.arange(len(best)), best] <= dummy
    return best, matched


def _align_ot(sim: np.ndarray, options: OTOptions) -> AlignResult:
    n, m = sim.shape
    cost = 1.0 - sim
    solved = fused_gw(
        torch.from_numpy(cost)[None],
        alpha=options.alpha,
        eps=options.eps,
        radius=options.radius,
        rho=options.rho,
        dummy=options.dummy,
        n_iters=options.n_iters,
        structure="alignment",
    )
    plan = solved.plan[0].numpy()
    linear = cost + options.rho * np.abs(np.arange(n)[:, None] / n - np.arange(m)[None, :] / m)
    best_j, rows = _ot_matched(plan, linear, options.dummy)
    best_i, cols = _ot_matched(plan.T, linear.T, options.dummy)
    i_rows, j_cols = np.flatnonzero(rows), np.flatnonzero(cols)
    both_ways = np.concatenate([np.stack([i_rows, best_j[i_rows]], 1), np.stack([best_i[j_cols], j_cols], 1)])
    return AlignResult(
        method="ot",
        score=float(solved.objective[0, -1]),
        score_kind="fgw_objective",
        pairs=np.unique(both_ways, axis=0),
        a_to_b=[int(j) if ok else None for j, ok in zip(best_j, rows, strict=True)],
        matched_a=_interval(i_rows),
        matched_b=_interval(j_cols),
        n_unmatched_a=n - len(i_rows),
        n_unmatched_b=m - len(j_cols),
        parameters=dataclasses.asdict(options),
        similarity=sim,
    )


def align(
    feat_a: np.ndarray,
    feat_b: np.ndarray,
    *,
    method: str = "dtw",
    model: VidalignModel | None = None,
    device: str = "cpu",
    sw: SWOptions = SWOptions(),
    ot: OTOptions = OTOptions(),
) -> AlignResult:
    """Align the frames of A ``[N, D]`` with those of B ``[M, D]`` by ``method`` (``dtw``, ``sw`` or ``ot``) on
    the embeddings of ``model`` (None: the features themselves); see the module docstring."""
    if method not in METHODS:
        raise InferenceError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    feat_a, feat_b = _check_features("A", feat_a), _check_features("B", feat_b)
    if feat_a.shape[1] != feat_b.shape[1]:
        raise InferenceError(f"A has {feat_a.shape[1]}-d features but B has {feat_b.shape[1]}-d")
    sim = cosine_similarity(_representation(feat_a, model, device), _representation(feat_b, model, device))
    if method == "dtw":
        return _align_dtw(sim)
    if method == "sw":
        return _align_sw(sim, sw)
    return _align_ot(sim, ot)


# ---------------------------------------------------------------------------------------------------------
# Alignment of two files (videos or .npy features) with outputs.


@dataclass(frozen=True)
class AlignInput:
    """One input of :func:`align_files`: its features and, when known, the sampled frames' rate and times."""

    path: Path
    features: np.ndarray
    is_video: bool
    fps: float | None = None
    timestamps: list[float] | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": "video" if self.is_video else "features",
            "n_frames": len(self.features),
            "fps": self.fps,
            "timestamps": self.timestamps,
        }


@dataclass(frozen=True)
class AlignOutputs:
    """What :func:`align_files` wrote (``video`` is None unless both inputs are videos)."""

    result: AlignResult
    json: Path
    plot: Path
    video: Path | None


def _meta_timestamps(meta: dict[str, Any], n_frames: int) -> list[float] | None:
    times = meta.get("frame_timestamps")
    return times if isinstance(times, list) and len(times) == n_frames else None


def _load_features(path: Path, layout: str) -> AlignInput:
    """A ``.npy`` file; one of a feature folder (``features/<id>.npy`` next to ``meta/``) is read through
    :class:`~vidalign.data.layout.FeatureFolder` to get its fps and frame timestamps too."""
    root = path.parent.parent
    if path.parent.name == "features" and (root / "meta").is_dir():
        record = FeatureFolder(root, layout=layout).load(path.stem)
        fps, timestamps = record.meta.get("fps"), _meta_timestamps(record.meta, len(record.features))
        return AlignInput(path, record.features, is_video=False, fps=fps, timestamps=timestamps)
    try:
        array = np.load(path, allow_pickle=False)
        if not isinstance(array, np.ndarray):
            raise InputError("not a .npy array (an .npz archive?)")
        features = _as_features(array.T if layout == "dt" and array.ndim == 2 else array)
    except (OSError, ValueError, EOFError) as error:
        raise InferenceError(f"{path}: {' '.join(str(error).split())} (layout={layout!r})") from None
    return AlignInput(path, features, is_video=False)


def load_input(
    path: str | os.PathLike[str],
    backbone: Backbone | None,
    *,
    layout: str = "td",
    stride: int | None = None,
    target_fps: float | None = None,
    progress: bool = False,
) -> AlignInput:
    """A ``.npy`` feature file ``[T, D]`` (``layout="dt"``: ``[D, T]``; the fps and timestamps of a feature folder's
    ``meta/`` when it has one) or a video decoded with the sampling and embedded by ``backbone``."""
    path = Path(path)
    if path.suffix.lower() == FEATURE_SUFFIX:
        return _load_features(path, layout)
    if backbone is None:
        raise InferenceError(f"{path}: a video input needs a backbone")
    video = embed_video(path, backbone, stride=stride, target_fps=target_fps, progress=progress)
    return AlignInput(path, video.features, is_video=True, fps=video.fps, timestamps=video.timestamps)


def _playback_fps(source: AlignInput) -> float:
    """Frame rate of the side-by-side video: the features' rate, else the one the timestamps show."""
    if source.fps:
        return float(source.fps)
    steps = np.diff(source.timestamps or [])
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if steps.size else 1.0


def _frame_cache_size(path: Path, n_frames: int) -> int:
    info = probe(path)
    return max(1, min(n_frames, SIDE_BY_SIDE_CACHE_BYTES // (info.width * info.height * 3)))


def write_alignment_video(
    result: AlignResult,
    a: AlignInput,
    b: AlignInput,
    out_mp4: str | os.PathLike[str],
    *,
    stride: int | None = None,
    target_fps: float | None = None,
    progress: bool = False,
) -> Path:
    """Side-by-side video at A's sampled frame rate: A's sampled frame ``i`` next to B's sampled frame
    ``a_to_b[i]`` (:func:`vidalign.viz.write_side_by_side`), both decoded again with the sampling used for the
    features so the frame indices refer to the same frames."""
    frames_a = (frame.image for frame in iter_frames(a.path, stride=stride, target_fps=target_fps))
    frames_a = tqdm(frames_a, total=len(a.features), unit="frame", desc="side_by_side", disable=not progress)
    window = _frame_cache_size(b.path, len(b.features))
    frames_b = SampledFrames(b.path, stride=stride, target_fps=target_fps, window=window)
    return write_side_by_side(frames_a, frames_b, result.a_to_b, out_mp4, _playback_fps(a))


def _check_model_input(run: str | os.PathLike[str], expected: int, dim: int, origin: str) -> None:
    if dim != expected:
        raise InferenceError(
            f"model {run} takes {expected}-d features but {origin} {dim}-d; "
            "use the backbone (--backbone) or feature files the model was trained on"
        )


def align_files(
    path_a: str | os.PathLike[str],
    path_b: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    method: str = "dtw",
    model: str | os.PathLike[str] | None = None,
    backbone: str = "efficientnet_lite0",
    weights: str | os.PathLike[str] = "default",
    stride: int | None = None,
    target_fps: float | None = None,
    layout: str = "td",
    device: str = "cpu",
    sw: SWOptions = SWOptions(),
    ot: OTOptions = OTOptions(),
    progress: bool = True,
) -> AlignOutputs:
    """Align two videos and/or ``.npy`` feature files (:func:`load_input`, :func:`align`) and write
    ``OUT/alignment.json``, ``OUT/alignment.png`` (similarity matrix, path, matched intervals shaded, unmatched
    frames marked) and, when both inputs are videos, ``OUT/side_by_side.mp4`` (:func:`write_alignment_video`)."""
    if method not in METHODS:
        raise InferenceError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    paths = [Path(path_a), Path(path_b)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InferenceError(f"{missing[0]}: no such file")
    trained = load_model(model, device)[0] if model is not None else None
    any_video = any(p.suffix.lower() != FEATURE_SUFFIX for p in paths)
    frame_model = build_backbone(backbone, weights, device) if any_video else None
    if trained is not None and frame_model is not None:  # before any decoding
        _check_model_input(model, trained.encoder.config.in_dim, frame_model.dim, f"backbone {backbone} gives")
    sampling = {"layout": layout, "stride": stride, "target_fps": target_fps, "progress": progress}
    a, b = (load_input(p, frame_model, **sampling) for p in paths)
    for source in (a, b) if trained is not None else ():
        _check_model_input(model, trained.encoder.config.in_dim, source.features.shape[1], f"{source.path} holds")
    result = align(a.features, b.features, method=method, model=trained, device=device, sw=sw, ot=ot)
    result = dataclasses.replace(
        result,
        inputs={"a": a.describe(), "b": b.describe()},
        model=None if model is None else str(model),
        backbone=backbone if any_video else None,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "alignment.json", result.to_json())
    partial = method != "dtw"  # dtw matches both videos whole: nothing to shade or mark
    plot = plot_alignment(
        result.similarity,
        result.pairs,
        out / "alignment.png",
        title=f"{method}: {result.score_kind} {result.score:.4g}",
        a_label=f"A ({a.path.name})",
        b_label=f"B ({b.path.name})",
        matched_a=[result.matched_a] if partial and result.matched_a else None,
        matched_b=[result.matched_b] if partial and result.matched_b else None,
        mark_unmatched=partial,
    )
    video = None
    if a.is_video and b.is_video:
        video = write_alignment_video(
            result, a, b, out / "side_by_side.mp4", stride=stride, target_fps=target_fps, progress=progress
        )
    return AlignOutputs(result, out / "alignment.json", plot, video)


def _span(interval: tuple[int, int] | None, source: dict[str, Any]) -> str:
    if interval is None:
        return "none"
    start, end = interval
    text = f"frames {start}-{end}"
    if source.get("timestamps"):
        text += f" ({source['timestamps'][start]:.2f}-{source['timestamps'][end]:.2f} s)"
    elif source.get("fps"):
        text += f" ({start / source['fps']:.2f}-{end / source['fps']:.2f} s)"
    return text


def format_alignment(outputs: AlignOutputs) -> str:
    """A short summary: method and score, matched intervals (with times when known), unmatched frames, files."""
    result = outputs.result
    a, b = result.inputs.get("a", {}), result.inputs.get("b", {})
    written = [outputs.json, outputs.plot] + ([outputs.video] if outputs.video else [])
    return "\n".join(
        [
            f"{result.method}: {result.score_kind} {result.score:.6g} | A {a.get('n_frames')} frames, "
            f"B {b.get('n_frames')} frames",
            f"matched A {_span(result.matched_a, a)}; B {_span(result.matched_b, b)}",
            f"unmatched A {result.n_unmatched_a} frames, B {result.n_unmatched_b} frames",
            "wrote " + ", ".join(str(p) for p in written),
        ]
    )


# ---------------------------------------------------------------------------------------------------------
# Segmentation of a feature folder.


@dataclass
class Segmentation:
    """Action ids per frame of every video (``labels``), with the folder's ground truth (``ground_truth``,
    class ids of ``class_names``) when it has labels, ``timestamps`` from the videos' meta when known,
    ``names`` (action id -> name) and how they were obtained (``names_from``), and a description of the
    ``segmenter``."""

    labels: dict[str, np.ndarray]
    ground_truth: dict[str, np.ndarray] | None
    timestamps: dict[str, list[float] | None]
    class_names: list[str] | None
    names: dict[int, str]
    names_from: str | None
    segmenter: str
    model: str

    def segments(self, video_id: str) -> list[dict[str, Any]]:
        """Maximal runs of one action id: ``label``, ``name``, inclusive ``start`` / ``end`` frames, and the
        first / last frame's timestamp ``start_time`` / ``end_time`` (seconds) when known."""
        runs = []
        times = self.timestamps.get(video_id)
        for label, start, stop in zip(*label_runs(self.labels[video_id]), strict=True):
            run = {"label": int(label), "name": self.names.get(int(label)), "start": int(start), "end": int(stop) - 1}
            if times is not None:
                run.update(start_time=times[start], end_time=times[stop - 1])
            runs.append(run)
        return runs

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "segmenter": self.segmenter,
            "names_from": self.names_from,
            "videos": {video_id: self.segments(video_id) for video_id in self.labels},
        }


def _names(
    labels: dict[str, np.ndarray], folder: FeatureFolder, ground_truth: dict | None, config: dict, by_index: bool
) -> tuple[dict[int, str], str | None]:
    """Action id -> class name: Hungarian-matched to the ground truth, else the run's names by index."""
    if ground_truth:
        ids = list(labels)
        mapping = hungarian_mapping(
            np.concatenate([labels[v] for v in ids]), np.concatenate([ground_truth[v] for v in ids])
        )
        names = {label: folder.class_names[cls] for label, cls in mapping.items()}
        return names, "ground truth (Hungarian matching over all frames of the segmented videos)"
    run_names = config.get("class_names")
    if by_index and run_names:
        names = {k: name for k, name in enumerate(run_names)}
        return names, "the run's class_names by prototype index (unsupervised prototypes: a guess)"
    return {}, None


def segment(
    data: str | os.PathLike[str] | FeatureFolder,
    model: str | os.PathLike[str],
    *,
    split: str | None = None,
    kmeans: int | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> Segmentation:
    """Segment every video of ``split`` (all videos when None) of a feature folder with the prototypes of the
    ASOT / VASOT run ``model`` or, with ``kmeans=K``, k-means on the run's embeddings (module docstring)."""
    folder = data if isinstance(data, FeatureFolder) else FeatureFolder(data)
    trained, config = load_model(model, device)
    with_prototypes = getattr(trained.criterion, "segmentation", False)
    if kmeans is None and not with_prototypes:
        raise InferenceError(
            f"model {model} ({trained.method}) has no action prototypes; segment with an asot or vasot run, "
            "or cluster its embeddings with --kmeans K"
        )
    if kmeans is not None and kmeans < 1:
        raise InferenceError(f"--kmeans needs K >= 1, got {kmeans}")
    records = folder.load_split(split)
    if not records:
        raise InferenceError(f"{folder.root}: no videos" + (f" in split {split!r}" if split else ""))
    expected = trained.encoder.config.in_dim
    if records[0].features.shape[1] != expected:
        raise InferenceError(
            f"model {model} takes {expected}-d features but {folder.root} holds {records[0].features.shape[1]}-d"
        )
    if kmeans is None:
        predicted = [trained.segment(r.features, device) for r in records]
        segmenter = f"{trained.method} prototypes, evaluation OT parameters, whole videos"
    else:
        predicted = kmeans_baseline([trained.embed(r.features, device) for r in records], kmeans, seed=seed)
        segmenter = f"k-means (K={kmeans}) on the {trained.method} embeddings of all videos"
    labels = {r.video_id: np.asarray(p, dtype=np.int64) for r, p in zip(records, predicted, strict=True)}
    ground_truth = {r.video_id: r.labels for r in records} if folder.has_labels else None
    names, names_from = _names(labels, folder, ground_truth, config, by_index=kmeans is None)
    timestamps = {r.video_id: _meta_timestamps(r.meta, len(r.features)) for r in records}
    return Segmentation(labels, ground_truth, timestamps, folder.class_names, names, names_from, segmenter, str(model))


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


def write_segmentation(result: Segmentation, out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``OUT/segments.json`` (every video) and ``OUT/timelines.png`` (the first ``MAX_TIMELINES`` videos,
    each under its ground truth when known). Returns both paths."""
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
    return out / "segments.json", plot


def _has_videos(directory: Path) -> bool:
    return any(p.suffix.lower() in VIDEO_EXTENSIONS for p in directory.rglob("*") if p.is_file())


def feature_folder_for(
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    backbone: str = "efficientnet_lite0",
    weights: str | os.PathLike[str] = "default",
    stride: int | None = None,
    target_fps: float | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """``data`` itself when it is a feature folder (has ``features/``); for a folder of videos, the feature folder
    ``OUT/extracted`` extracted from them with ``backbone`` (:func:`vidalign.extract.extract_videos`: re-running
    resumes; labels are taken from ``data/groundTruth`` when present, as ``vidalign render`` writes them)."""
    data = Path(data)
    if (data / "features").is_dir():
        return data
    if not data.is_dir() or not _has_videos(data):
        raise InferenceError(f"{data}: neither a feature folder (no features/) nor a folder of videos")
    target = Path(out_dir) / EXTRACTED_FOLDER
    labels = data if (data / "groundTruth").is_dir() else None
    summary = extract_videos(
        [data], target, backbone=backbone, weights=weights, stride=stride, target_fps=target_fps, device=device,
        labels_from=labels, progress=progress,
    )  # fmt: skip
    if summary.failed:
        path, reason = summary.failed[0]
        raise InferenceError(f"{path}: {reason} ({len(summary.failed)} video(s) failed)")
    return target


def _fraction(n: int, total: int) -> str:
    return f"{n}/{total} ({100.0 * n / total:.0f} %)"


def format_segmentation(result: Segmentation, written: tuple[Path, Path]) -> str:
    """Videos, segments and frames per action id, and the files written."""
    n_frames = sum(len(x) for x in result.labels.values())
    n_segments = sum(len(label_runs(x)[0]) for x in result.labels.values())
    counts = np.bincount(np.concatenate(list(result.labels.values())))
    shares = ", ".join(f"{result.names.get(k, k)}: {_fraction(int(c), n_frames)}" for k, c in enumerate(counts) if c)
    return "\n".join(
        [
            f"{len(result.labels)} videos, {n_frames} frames, {n_segments} segments ({result.segmenter})",
            f"frames per action: {shares}",
            f"names: {result.names_from or 'none (action ids only)'}",
            "wrote " + ", ".join(str(p) for p in written),
        ]
    )
