"""Alignment of two videos' frame representations (``docs/methods.md``; the ``vidalign align`` methods).

Alignment (:func:`align_arrays`) of A ``[N, D]`` with B ``[M, D]``
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
    * ``ot``: VAOT's fused-GW plan (:func:`vidalign.ops.fused_gw`, solved in float64 by its numba kernel through
      :func:`vidalign.ops.fgw_dense.fused_gw_dense`, without torch; docs/methods.md: alpha 0.3, eps 0.07,
      structure radius 0.02, temporal prior 0.35, dummy frame cost zeta 0.5, balanced), run for more iterations
      than in training. Frame ``i`` of A is matched to the argmax of its plan row, and is unmatched (``None``)
      when (a) less than half a uniform row's mass ``1 / (N + 1)`` reached real B frames - its mass went to the
      dummy - or (b) the linear cost of its argmax match, ``1 - S + rho |i/N - j/M|``, exceeds the dummy's
      ``zeta``. Rule (b) is needed because the balanced plan gives the dummy column only ``1 / (M + 1)`` of the
      mass, about one frame's worth: by mass alone OT can leave at most about one frame unmatched, however many
      have no counterpart; a frame whose best match costs more than ``zeta`` is one the objective would rather
      send to the dummy. B frames are treated alike with the plan's columns. No monotonicity is enforced: this
      reports what OT says. ``pairs`` holds each matched A frame with its row argmax and each matched B frame
      with its column argmax. Score: the fused-GW objective of the plan (``fgw_objective``, lower is better). An
      OT alignment that leaves more than half the frames of the shorter recording unmatched is untrusted (its
      confidence gets the reason): the similarities are too low for the dummy's cost, as with standardised raw
      features of two people (``docs/methods.md``, Raw features of videos of people).

Long recordings (``docs/methods.md``, Long recordings): ``S`` is never held whole. It is computed a block of rows
at a time from the normalised embeddings (:mod:`vidalign.similarity`) and recomputed on each pass that needs it:
the DTW / SW fill (2 bits / 1 byte of traceback per cell), the SW threshold and gap unit (exact, streamed:
:mod:`vidalign.similarity_stats`), the confidence statistics (strided samples and the path's cells) and the
plot's preview. ``band`` (``--band``) keeps the dynamic programme to a Sakoe-Chiba band around the scaled diagonal
(:func:`vidalign.ops.band.diagonal_band`; radius in frames, or a fraction of the longer recording when < 1): the
traceback then holds only the band's cells, and ``parameters`` say whether the path touches the band's edge
(``band_edge``). ``ot`` solves a plan over every frame pair. Up to :data:`OT_DENSE_CELLS` pairs it is the dense
solver in float64: the cost ``1 - S`` is written block by block into the solver's own array, which becomes the
linear cost in place, so the solver's three float64 arrays of ``(N + 1) x (M + 1)`` (linear cost, plan, kernel)
are all it holds; the plan's row and column argmaxes and masses are read without a copy of it
(:func:`_plan_summary`). Beyond, the lean solver in float32 (:func:`vidalign.ops.fgw_dense.fused_gw_lean`) holds
two such arrays (linear cost, kernel) and forms the plan a row at a time where it is read;
``parameters["precision"]`` says which ran. Both show a progress bar over the iterations on large problems.
Either way the similarities rule (b) needs are computed again. It refuses more than :data:`OT_MAX_CELLS` frame
pairs. No method imports torch for feature files or arrays (``model`` None): the kernels, the similarity passes
and the outputs need numpy and numba only.

A result is an :class:`AlignResult` (``to_json()``, ``write(out_dir)``: :mod:`vidalign.outputs`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vidalign.confidence import Confidence, confidence_from, sample_strides
from vidalign.errors import InputError
from vidalign.ops.band import Band, band_radius, diagonal_band, edge_pairs, full_band
from vidalign.ops.dtw import DTWFill
from vidalign.ops.fgw_dense import fused_gw_dense, fused_gw_lean
from vidalign.ops.smith_waterman import SmithWatermanFill
from vidalign.outputs import AlignmentFiles, write_alignment
from vidalign.similarity import (
    BLOCK_BYTES,
    PROGRESS_CELLS,
    CosineSimilarity,
    CostInto,
    DenseSimilarity,
    Overview,
    Preview,
    SimilaritySource,
    cosine_similarity,
    sweep,
    values_at,
)
from vidalign.similarity_stats import PairwiseSum, median

if TYPE_CHECKING:
    from vidalign.inputs import AlignInput

METHODS = ("dtw", "sw", "ot")
SW_THRESHOLDS = ("median", "mean")
OT_DENSE_CELLS = 144_000_000  # frame pairs solved densely in float64 (12,000 x 12,000: 3.2 GiB of arrays)
OT_MAX_CELLS = 420_000_000  # frame pairs of the lean float32 solver that fit in 4 GiB (20,000 x 20,000: 3.2 GB)

__all__ = ["METHODS", "OT_DENSE_CELLS", "OT_MAX_CELLS", "AlignResult", "OTOptions", "SWOptions", "align_arrays",
           "check_method", "cosine_similarity", "decode"]  # fmt: skip


@dataclass(frozen=True)
class SWOptions:
    """Smith-Waterman scoring: ``S - threshold`` (``"median"``, ``"mean"`` of S, or a similarity value) with
    gap penalties in units of the standard deviation of S (module docstring)."""

    threshold: float | str = "median"
    gap_open: float = 0.5
    gap_extend: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.threshold, str):
            if self.threshold not in ("median", "mean"):
                raise InputError(f"sw threshold must be median, mean or a number, got {self.threshold!r}")
        elif not math.isfinite(self.threshold):
            raise InputError(f"sw threshold must be a finite number, got {self.threshold}")
        for name in ("gap_open", "gap_extend"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):  # a negative penalty would reward gaps
                raise InputError(f"sw {name} must be a finite number >= 0, got {value}")


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
    settings as used. Not in the JSON: ``similarity`` the matrix ``S [N, M]`` when it has at most
    :data:`vidalign.similarity.FULL_CELLS` cells, else None; ``preview`` its block means of at most
    1,024 a side (:class:`vidalign.similarity.Preview`, the plot's); ``matrix`` the source that computes any part
    of ``S`` again (:func:`vidalign.similarity.values_at`, :func:`decode`). :class:`vidalign.api.Aligner`
    fills ``inputs`` (``"a"`` / ``"b"``: path, kind, frames, fps, timestamps), ``model``, ``backbone`` and
    ``sources`` (the two loaded inputs, for the side-by-side video); :func:`align_arrays` fills ``confidence``
    (:mod:`vidalign.confidence`: how far the alignment can be trusted).
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
    similarity: np.ndarray | None = field(repr=False)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    model: str | None = None
    backbone: str | None = None
    sources: tuple[AlignInput, AlignInput] | None = field(default=None, repr=False)
    confidence: Confidence | None = None
    preview: Preview | None = field(default=None, repr=False)
    matrix: SimilaritySource | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The documented keys (``pairs``, ``a_to_b``, ``score``, ``matched_a``, ``matched_b``) then the extras."""
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
            "confidence": None if self.confidence is None else self.confidence.to_json(),
            **self.inputs,
        }

    def write(self, out_dir: str | os.PathLike[str], *, progress: bool = False, viewer: bool = True) -> AlignmentFiles:
        """Write ``alignment.json``, ``alignment.png``, when both inputs are videos ``side_by_side.mp4``, and the
        viewer page (:func:`vidalign.outputs.write_alignment`)."""
        return write_alignment(self, out_dir, progress=progress, viewer=viewer)


def _check_features(name: str, features: np.ndarray) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 1 or features.shape[1] < 1:
        raise InputError(f"{name}: expected features [T, D], got shape {features.shape}")
    if not np.isfinite(features).all():
        raise InputError(f"{name}: features hold NaN or infinite values")
    return features


def _interval(indices: np.ndarray) -> tuple[int, int] | None:
    return (int(indices.min()), int(indices.max())) if indices.size else None


def _band(band: float | None, shape: tuple[int, int]) -> tuple[Band, dict[str, Any]]:
    """The cells the dynamic programme visits and the band's parameters (none without a band)."""
    if band is None:
        return full_band(*shape), {}
    radius = band_radius(band, *shape)
    return diagonal_band(*shape, radius), {"band": band, "band_radius": radius}


def _edge(band: Band, parameters: dict[str, Any], pairs: np.ndarray) -> dict[str, Any]:
    """``parameters`` with, for a banded run, whether (``band_edge``) and where the pairs touch the band's edge."""
    if not parameters:
        return parameters
    touching = edge_pairs(band, pairs)
    return parameters | {"band_edge": bool(touching.any()), "band_edge_pairs": int(touching.sum())}


class _Rows:
    """A visitor feeding ``fill`` each block of ``S`` transformed by ``transform`` (the DP's cost or score)."""

    def __init__(self, fill, transform):
        self.fill, self.transform = fill, transform

    def add(self, first_row: int, block: np.ndarray) -> None:
        self.fill(self.transform(block))


def _align_dtw(source: SimilaritySource, overview: Overview, band: float | None, progress: bool) -> AlignResult:
    n, m = source.shape
    cells, parameters = _band(band, source.shape)
    fill = DTWFill(cells)
    sweep(source, [overview, _Rows(fill.add, lambda block: 1.0 - block)], progress=progress, desc="dtw")
    score, path = fill.result()
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
        parameters=_edge(cells, parameters, path),
        similarity=None,
    )


def _sw_statistics(source: SimilaritySource, overview: Overview, threshold: float | str,
                   progress: bool) -> tuple[float, float]:  # fmt: skip
    """The threshold and ``sigma`` (``S.std()``, or 1 for a constant matrix) of the module docstring, equal to
    NumPy's on the whole matrix; the first pass also fills ``overview``."""
    if isinstance(threshold, str) and threshold not in SW_THRESHOLDS:
        raise InputError(f"threshold must be a number or one of {SW_THRESHOLDS}, got {threshold!r}")
    cells = source.shape[0] * source.shape[1]
    sums = PairwiseSum(cells)
    sweep(source, [overview, sums], progress=progress, desc="sw statistics")
    squares = PairwiseSum(cells, centre=sums.mean)
    if threshold == "median":
        value = median(source, overview.low, overview.high, first_pass=[squares], progress=progress)
    else:
        sweep(source, [squares], progress=progress, desc="sw statistics")
        value = sums.mean if threshold == "mean" else float(threshold)
    return value, float(np.sqrt(squares.mean)) or 1.0  # a constant matrix: any unit will do


def _align_sw(source: SimilaritySource, overview: Overview, options: SWOptions, band: float | None,
              progress: bool) -> AlignResult:  # fmt: skip
    n, m = source.shape
    threshold, sigma = _sw_statistics(source, overview, options.threshold, progress)
    cells, parameters = _band(band, source.shape)
    fill = SmithWatermanFill(cells, np.array([options.gap_open * sigma]), np.array([options.gap_extend * sigma]))
    sweep(source, [_Rows(fill.add, lambda block: block - threshold)], progress=progress, desc="sw")
    found = fill.result()
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
        | {"gap_open": options.gap_open, "gap_extend": options.gap_extend}
        | _edge(cells, parameters, pairs),
        similarity=None,
    )


def _plan_summary(plan: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Argmax and sum of every row and of every column of ``plan`` (any strides), equal to NumPy's
    ``argmax(axis=1)``, ``sum(axis=1)``, ``argmax(axis=0)`` and ``sum(axis=0)`` of a contiguous copy of it, which
    is never made: the rows go through in contiguous chunks (NumPy on each row), the columns are accumulated row
    after row as NumPy accumulates them (ties to the first maximum)."""
    n, m = plan.shape
    row_best, row_mass = np.empty(n, np.int64), np.empty(n)
    col_best, col_mass, col_top = np.zeros(m, np.int64), np.zeros(m), plan[0].copy()
    higher = np.empty(m, dtype=bool)
    step = max(1, BLOCK_BYTES // (8 * m))
    for start in range(0, n, step):
        chunk = np.ascontiguousarray(plan[start : start + step])
        row_best[start : start + len(chunk)] = chunk.argmax(axis=1)
        row_mass[start : start + len(chunk)] = chunk.sum(axis=1)
        for offset, row in enumerate(chunk):
            np.add(col_mass, row, out=col_mass)
            np.greater(row, col_top, out=higher)
            np.copyto(col_top, row, where=higher)
            col_best[higher] = start + offset
    return row_best, row_mass, col_best, col_mass


def _check_ot_size(shape: tuple[int, int]) -> None:
    n, m = shape
    if n * m > OT_MAX_CELLS:
        side = math.isqrt(OT_MAX_CELLS)
        raise InputError(
            f"ot solves a plan over every frame pair: at most {OT_MAX_CELLS:,} pairs (about {side:,} x "
            f"{side:,} frames) fit in 4 GiB, these recordings have {n:,} x {m:,} = {n * m:,}; use --method dtw or "
            "sw (with --band for a cheaper run) on long recordings"
        )


def _solve_ot(source: SimilaritySource, overview: Overview, options: OTOptions,
              progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, str]:  # fmt: skip
    """The plan's row argmaxes and masses, column argmaxes and masses, its objective and the precision it was
    solved in: float64 and dense up to :data:`OT_DENSE_CELLS` frame pairs, float32 and lean beyond (module
    docstring)."""
    n, m = source.shape

    def fill(cost: np.ndarray) -> None:
        sweep(source, [overview, CostInto(cost)], progress=progress, desc="similarity")

    settings = dataclasses.asdict(options) | {"progress": progress and n * m >= PROGRESS_CELLS}
    if n * m <= OT_DENSE_CELLS:
        solved = fused_gw_dense(n, m, fill, **settings)
        return (*_plan_summary(solved.plan), float(solved.objective[-1]), "float64")
    lean = fused_gw_lean(n, m, fill, dtype=np.float32, **settings)
    return lean.row_best, lean.row_mass, lean.col_best, lean.col_mass, float(lean.objective[-1]), "float32"


def _align_ot(source: SimilaritySource, overview: Overview, options: OTOptions, progress: bool) -> AlignResult:
    n, m = source.shape
    dummy = options.dummy
    best_j, row_mass, best_i, col_mass, score, precision = _solve_ot(source, overview, options, progress)
    extra = dummy is not None
    rows = row_mass >= 0.5 * (1.0 / (n + extra))  # rule (a): the row's mass went to real frames
    cols = col_mass >= 0.5 * (1.0 / (m + extra))
    if dummy is not None:  # rule (b): the linear cost 1 - S + rho |i/N - j/M| of the argmax is within zeta
        i_all, j_all = np.arange(n), np.arange(m)
        values = values_at(source, np.concatenate([i_all, best_i]), np.concatenate([best_j, j_all]), progress=progress)
        rows &= (1.0 - values[:n]) + options.rho * np.abs(i_all / n - best_j / m) <= dummy
        cols &= (1.0 - values[n:]) + options.rho * np.abs(best_i / n - j_all / m) <= dummy
    i_rows, j_cols = np.flatnonzero(rows), np.flatnonzero(cols)
    both_ways = np.concatenate([np.stack([i_rows, best_j[i_rows]], 1), np.stack([best_i[j_cols], j_cols], 1)])
    return AlignResult(
        method="ot",
        score=score,
        score_kind="fgw_objective",
        pairs=np.unique(both_ways, axis=0),
        a_to_b=[int(j) if ok else None for j, ok in zip(best_j, rows, strict=True)],
        matched_a=_interval(i_rows),
        matched_b=_interval(j_cols),
        n_unmatched_a=n - len(i_rows),
        n_unmatched_b=m - len(j_cols),
        parameters=dataclasses.asdict(options) | {"precision": precision},
        similarity=None,
    )


def check_method(method: str) -> None:
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def align_arrays(
    emb_a: np.ndarray,
    emb_b: np.ndarray,
    *,
    method: str = "dtw",
    sw: SWOptions = SWOptions(),
    ot: OTOptions = OTOptions(),
    band: float | None = None,
    progress: bool = False,
) -> AlignResult:
    """Align the frames of A ``[N, D]`` with those of B ``[M, D]`` (already in the representation to align: raw
    features or a model's embeddings) by ``method`` (``dtw``, ``sw`` or ``ot``; module docstring). ``band``:
    dtw / sw only, the radius of a Sakoe-Chiba band around the scaled diagonal in frames (a fraction of the longer
    recording when < 1). ``progress``: progress bars over the passes of long recordings."""
    check_method(method)
    emb_a, emb_b = _check_features("A", emb_a), _check_features("B", emb_b)
    if emb_a.shape[1] != emb_b.shape[1]:
        raise InputError(f"A has {emb_a.shape[1]}-d features but B has {emb_b.shape[1]}-d")
    source = CosineSimilarity(emb_a, emb_b)
    result, overview = _decode(source, method, sw, ot, band, progress)
    confidence = confidence_from(
        source.shape,
        overview.samples,
        (overview.low, overview.high),
        result.pairs,
        lambda rows, cols: values_at(source, rows, cols, progress=progress),
    )
    reason = _ot_coverage_reason(result, source.shape, ot) if method == "ot" else None
    if reason:
        confidence = dataclasses.replace(confidence, trusted=False, reasons=[*confidence.reasons, reason])
    return dataclasses.replace(result, confidence=confidence)


def _ot_coverage_reason(result: AlignResult, shape: tuple[int, int], options: OTOptions) -> str | None:
    """Why an ``ot`` alignment that left more than half the frames of the shorter recording unmatched is not one
    (the dummy frame is for the few frames without a counterpart; a clip found inside a longer recording leaves
    only the longer one's unmatched), or None."""
    a, b = (shape[0], result.n_unmatched_a, "A"), (shape[1], result.n_unmatched_b, "B")
    frames, unmatched, name = a if (a[0], -a[1]) <= (b[0], -b[1]) else b  # the shorter; of two alike the worse
    if unmatched <= 0.5 * frames:
        return None
    why = (
        f"the others' best matches cost more than the dummy frame (1 - similarity + time term > zeta {options.dummy})"
        if options.dummy is not None
        else "the others' mass spread over many frames"
    )
    return (
        f"ot matched only {frames - unmatched} of {name}'s {frames} frames: {why}; OT needs a representation whose "
        "matching frames are alike (a trained model), or use --method dtw"
    )


def decode(
    sim: np.ndarray | SimilaritySource,
    *,
    method: str = "dtw",
    sw: SWOptions = SWOptions(),
    ot: OTOptions = OTOptions(),
    band: float | None = None,
    progress: bool = False,
) -> AlignResult:
    """The alignment ``method`` decodes from a similarity matrix ``sim [N, M]`` already computed (and checked) by
    :func:`align_arrays` - a matrix, or the ``matrix`` source of its result - without its confidence: for a
    second decoding of the same pair."""
    check_method(method)
    source = sim if hasattr(sim, "block") else DenseSimilarity(sim)
    return _decode(source, method, sw, ot, band, progress)[0]


def _decode(source: SimilaritySource, method: str, sw: SWOptions, ot: OTOptions, band: float | None,
            progress: bool) -> tuple[AlignResult, Overview]:  # fmt: skip
    """The result (with ``similarity``, ``preview`` and ``matrix``) and the :class:`Overview` of ``source``."""
    if method == "ot":
        if band is not None:
            raise InputError("--band applies to dtw and sw; ot has no band")
        _check_ot_size(source.shape)
    overview = Overview(source.shape, sample_strides(source.shape))
    if method == "ot":
        result = _align_ot(source, overview, ot, progress)
    elif method == "dtw":
        result = _align_dtw(source, overview, band, progress)
    else:
        result = _align_sw(source, overview, sw, band, progress)
    result = dataclasses.replace(result, similarity=overview.full, preview=overview.preview(), matrix=source)
    return result, overview
