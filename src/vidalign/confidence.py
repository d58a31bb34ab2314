"""How far an alignment can be trusted (``docs/methods.md``, "Alignment confidence"), from the similarity matrix
``S [N, M]`` it was decoded from and its matched pairs ``(i, j)``:

- ``contrast``: the 95th minus the 5th percentile of ``S`` (of ``S`` strided to at most :data:`CONTRAST_FRAMES`
  frames a side, so that long recordings need no copy of the matrix: :func:`sample_strides`). Near 0 every frame
  of A looks like every frame of B (a collapsed model, or features dominated by the person and the room): any
  path is as good as another;
- ``order_margin``: how much better the two recordings align in their own order than in the best scrambled one:
  the mean similarity along the DTW path of ``S``, minus the largest of the same for B rotated in time by 25-75 %
  of its length (8 rotations) and for those of B reversed (8 more), as a share of ``contrast``; computed on ``S``
  strided to at most :data:`EVIDENCE_FRAMES` frames a side. Near 0 (or below) when the recordings share no order
  (unrelated videos, or frames that only say which video they come from); also low for repetitive recordings,
  whose match is then ambiguous by whole repetitions;
- ``order_evidence``: the same own path against the 16 scrambled ones as a z-score (their mean, over their
  standard deviation). Reported, not tested: a representation whose scrambled orders spread widely (a long still
  stretch that still meets the other's in some rotations, a model that tells a movement from its reverse) scores
  below 3 although its own order beats every scrambled one by far (``docs/methods.md``, Alignment confidence);
- ``path_margin``: how much a matched frame stands out from its neighbours in B, ``S[i, j]`` minus the mean of
  ``S[i, j - w]`` and ``S[i, j + w]`` (``w = M / 10``; the one inside the video at its ends), averaged over the
  pairs;
- ``path_similarity``: the mean similarity of the matched pairs;
- ``time_gain``: ``path_similarity`` minus the mean similarity of uniform time (``j = i (M - 1) / (N - 1)``);
- ``diagonal_deviation``: the mean ``|i / (N - 1) - j / (M - 1)|`` of the pairs (0 = the uniform-time diagonal);
- ``periods`` and ``periodicity``: whether both recordings repeat a movement, read from the contrast's strided
  ``S`` (:func:`repetition_period`; at most :data:`CONTRAST_FRAMES` a side, so that a long recording of many
  short repetitions keeps a few frames of each): a frame of B one repetition later has the same similarities to
  A's frames, so the similarity between columns of ``S`` (each less the mean column) ``L`` frames apart falls
  with ``L`` and rises again where ``L`` reaches B's period (rows of ``S`` alike for A). ``periods`` are A's and
  B's periods in frames (0: none found), ``periodicity`` the smaller of the two rises, each a share of its fall
  from lag 1 (the measure of :func:`vidalign.steps.periodicity`, here with the period searched for);
- ``phase_evidence``: for repetitive recordings, whether the matched frames are in the same phase of the
  movement: the mean similarity of the pairs minus that of the same A frames with the B frames half a period
  before and after, as a share of ``contrast`` (1: matched frames as alike as the most alike 5 %, the half-period
  ones as the least alike 5 %; near 0: the phase is not what was matched).

An alignment is *untrusted* when ``contrast`` is below :data:`MIN_CONTRAST`, or when ``order_margin`` is below
:data:`MIN_ORDER_MARGIN` - unless both recordings repeat a movement (``periodicity`` at least
:data:`MIN_PERIODICITY`) and the matched frames share its phase (``phase_evidence`` at least
:data:`MIN_PHASE_EVIDENCE`): then the alignment is judged by the phase (``judged_by``), since which repetition
matches which is not something the frames can tell. Each failed test adds a reason in words.

In a model's representation (:func:`with_frames`), ``frame_periodicity`` is the smaller periodicity of the two
recordings' own features (:func:`frame_repetition`): when both repeat a movement in their own frames but the
representation shows no repetition (``periodicity`` below :data:`MIN_PERIODICITY`), the model tells how far
through a recording a frame is rather than where in the movement, and the alignment is untrusted.

A trained model also records how closely its own training recordings match one another
(:func:`matched_similarity`: the median ``path_similarity`` of their DTW alignments, the run's
``spread.matched``). With it (:func:`with_training_pairs`), ``match_ratio`` is how many times farther from
identical (similarity 1) the matched pairs are than the training recordings' are, ``(1 - path_similarity) /
(1 - training_similarity)`` (the latter at most 1 - :data:`MIN_TRAINING_DISTANCE`); above
:data:`MAX_MATCH_RATIO` the alignment is untrusted: a recording the model maps onto what it learned without being
like it (another action, view or setting) can pass every test of order (``docs/methods.md``, Alignment
confidence, "Unlike the training recordings").

:func:`alignment_confidence` reads a matrix in memory; :func:`confidence_from` reads what it needs of one that is
never whole (``docs/methods.md``, Long recordings): the strided samples and extremes of
:class:`vidalign.similarity.Overview` and the similarities of the cells the path statistics look at
(:func:`path_cells`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from vidalign.ops import dtw
from vidalign.similarity import cosine_similarity
from vidalign.steps import MIN_MOVEMENT, lag_similarity

__all__ = [
    "MIN_CONTRAST",
    "MIN_ORDER_MARGIN",
    "MIN_PERIODICITY",
    "MIN_PHASE_EVIDENCE",
    "Confidence",
    "alignment_confidence",
    "confidence_from",
    "dtw_path_mean",
    "frame_repetition",
    "matched_similarity",
    "order_margin",
    "repetition_period",
    "with_frames",
    "with_training_pairs",
]

MIN_CONTRAST = 0.05
# ours, chosen on the dev sets of docs/methods.md (Alignment confidence): the pairs of the intel people, of the BIISC
# waving clips and of each with ASL sign clips, Penn Action val pairs of one action and of two, the demo's training
# videos and the dev exercise seeds, in raw, standardised and trained representations
MIN_ORDER_MARGIN = 0.05
# ours, chosen on the dev exercise seeds 1-4 of benchmarks/exercise_phase.py (seeds 10-13 are the reported ones):
# pairs of clips of one exercise aligned in VAOT's embeddings (repetition-phase error 0.05-0.08 per seed) have
# phase evidence 0.66-0.77 (median per seed; 10th percentile 0.51-0.63) and periodicity 0.58-0.73; in the raw
# features and the untrained encoder (error 0.12-0.15) phase evidence 0.12-0.18; a clip with one of another
# exercise in VAOT's embeddings 0.04-0.50 (one seed's model maps the other movement consistently; 90th
# percentile at most 0.64)
MIN_PERIODICITY = 0.3
MIN_PHASE_EVIDENCE = 0.5
# ours, chosen on dev carves (docs/methods.md, "Unlike the training recordings"; benchmarks/UNFAMILIAR_PAIRS.md): each
# clip of the intel people and of the BIISC waving clips left out of a VAOT / VASOT / LAC model trained on the
# others; its pairs with the training clips reach match ratios of about 7 (95th percentile over VAOT's intel and
# waving pairs), its pairs with ASL sign clips mostly more (medians 2-22); left-out Penn Action and dev exercise
# clips stay below it too, and pairs of two Penn Action actions mostly above it
MAX_MATCH_RATIO = 7.0
# no dev model's training recordings matched closer than 0.012 (VAOT, waving clips); one that memorised its
# training recordings would otherwise call every new pair unlike them
MIN_TRAINING_DISTANCE = 0.01
MATCHED_FRAMES = 256  # training recordings are strided to at most this many frames for matched_similarity
# a period is the first lag whose rise reaches this share of the highest rise (then up to its local peak), so that a
# multiple of the period - a rise as high when the recording repeats exactly - is not taken for it
PERIOD_PEAK_SHARE = 0.7
MIN_PERIOD_SAMPLES = 3  # the shortest period looked for, in frames of the strided matrix
EVIDENCE_FRAMES = 128
CONTRAST_FRAMES = 1024
ROTATIONS = np.linspace(0.25, 0.75, 8)
DIGITS = 4  # the statistics are rounded to these decimals, then decided on: alignment.json holds what was judged


@dataclass(frozen=True)
class Confidence:
    """The statistics of the module docstring, whether they pass, and why not."""

    contrast: float
    order_margin: float
    order_evidence: float
    path_margin: float
    time_gain: float
    diagonal_deviation: float
    similarity_range: tuple[float, float]
    trusted: bool
    reasons: list[str] = field(default_factory=list)
    periods: tuple[int, int] = (0, 0)
    periodicity: float = 0.0
    phase_evidence: float | None = None
    judged_by: str = "order"
    frame_periodicity: float | None = None
    path_similarity: float | None = None
    training_similarity: float | None = None
    match_ratio: float | None = None

    def to_json(self) -> dict:
        return asdict(self) | {"similarity_range": list(self.similarity_range), "periods": list(self.periods)}

    def message(self) -> str:
        """One line for the warning of an untrusted alignment."""
        return (
            "this alignment cannot be trusted: " + "; ".join(self.reasons) + " (the recordings may show different "
            "processes, a movement whose frames do not tell its order - still, or back and forth - or come through a "
            "collapsed model; docs/methods.md, Alignment confidence)"
        )

    def note(self) -> str | None:
        """One line for a trusted alignment judged by the phase of a repeated movement, else None."""
        if not (self.trusted and self.judged_by == "phase"):
            return None
        return (
            f"both recordings repeat a movement (every ~{self.periods[0]} / ~{self.periods[1]} frames): frames are "
            f"matched by their phase in it (phase evidence {self.phase_evidence:.2f}); which repetition matches "
            "which, the frames cannot tell"
        )


def _position(index: np.ndarray, length: int) -> np.ndarray:
    return index / max(length - 1, 1)


def sample_strides(shape: tuple[int, int]) -> list[tuple[int, int]]:
    """The strides of the two samples of ``S [N, M]``: the contrast's and the order statistics'."""
    n, m = shape
    return [(-(-n // CONTRAST_FRAMES), -(-m // CONTRAST_FRAMES)), (-(-n // EVIDENCE_FRAMES), -(-m // EVIDENCE_FRAMES))]


def dtw_path_mean(sim: np.ndarray) -> float:
    """The mean of ``sim`` along the path of the DTW of ``-sim`` (the most similar monotone path)."""
    path = dtw(-sim).path
    return float(sim[path[:, 0], path[:, 1]].mean())


def _contrast_bounds(sample: np.ndarray) -> tuple[float, float]:
    """The 5th and 95th percentiles of a sample of ``S``: ``contrast`` is their difference."""
    low, high = np.percentile(sample, [5, 95])
    return float(low), float(high)


def order_evidence(sim: np.ndarray) -> float:
    """``order_evidence`` of the module docstring."""
    rows, cols = sample_strides(sim.shape)[1]
    own, scrambled = _own_and_scrambled(sim[::rows, ::cols])
    return _z_score(own, scrambled)


def order_margin(sim: np.ndarray) -> float:
    """``order_margin`` of the module docstring."""
    (contrast_rows, contrast_cols), (rows, cols) = sample_strides(sim.shape)
    low, high = _contrast_bounds(sim[::contrast_rows, ::contrast_cols])
    return _margin(*_own_and_scrambled(sim[::rows, ::cols]), high - low)


def _own_and_scrambled(sim: np.ndarray) -> tuple[float, np.ndarray]:
    """The mean similarity along the DTW path of ``sim`` and along those of its 16 scrambled orders."""
    shifts = sorted({int(round(f * sim.shape[1])) for f in ROTATIONS})
    scrambled = [
        dtw_path_mean(np.ascontiguousarray(np.roll(s, k, axis=1))) for s in (sim, sim[:, ::-1]) for k in shifts
    ]
    return dtw_path_mean(sim), np.array(scrambled)


def _z_score(own: float, scrambled: np.ndarray) -> float:
    spread = float(np.std(scrambled))
    return 0.0 if spread < 1e-12 else (own - float(np.mean(scrambled))) / spread


def _margin(own: float, scrambled: np.ndarray, contrast: float) -> float:
    return 0.0 if contrast <= 0.0 else (own - float(np.max(scrambled))) / contrast


def repetition_period(sim: np.ndarray, axis: int) -> tuple[int, float]:
    """The repetition period of B (``axis`` 1: from the columns of ``sim [N, M]``) or of A (``axis`` 0: its rows),
    in frames of ``sim``, and its periodicity (module docstring, ``periods``); ``(0, 0.0)`` when the frames are too
    few for two periods of :data:`MIN_PERIOD_SAMPLES`, or do not move beyond their noise (the rule of
    :data:`vidalign.steps.MIN_MOVEMENT`)."""
    profiles = sim if axis == 1 else sim.T
    frames = (profiles - profiles.mean(axis=1, keepdims=True)).T
    if len(frames) // 2 < MIN_PERIOD_SAMPLES:
        return 0, 0.0
    similarity = lag_similarity(frames, len(frames) // 2)
    lowest = np.minimum.accumulate(similarity)
    rise = (similarity - lowest)[MIN_PERIOD_SAMPLES - 1 :]
    if rise.max() <= 0.0:
        return 0, 0.0
    peak = int(np.argmax(rise >= PERIOD_PEAK_SHARE * rise.max()))
    while peak + 1 < len(rise) and rise[peak + 1] > rise[peak]:
        peak += 1
    lag = peak + MIN_PERIOD_SAMPLES
    fall = similarity[0] - lowest[lag - 1]
    if fall <= max(MIN_MOVEMENT * (1.0 - similarity[0]), 1e-9):
        return 0, 0.0
    return lag, float(rise[peak] / fall)


def frame_repetition(features: np.ndarray) -> tuple[int, float]:
    """A recording's repetition period in frames and its periodicity from its own features ``[T, D]``: the
    :func:`repetition_period` of their cosine self-similarity, on every ``s``-th frame (at most
    :data:`CONTRAST_FRAMES`)."""
    stride = -(-len(features) // CONTRAST_FRAMES)
    sample = np.asarray(features, dtype=np.float64)[::stride]
    period, periodicity = repetition_period(cosine_similarity(sample, sample), 1)
    return period * stride, periodicity


def with_frames(confidence: Confidence, features_a: np.ndarray, features_b: np.ndarray) -> Confidence:
    """``confidence`` of an alignment in a model's representation, given the two recordings' own features:
    with their ``frame_periodicity``, and untrusted when both repeat a movement in their frames but the
    representation shows no repetition (module docstring)."""
    (period_a, periodicity_a), (period_b, periodicity_b) = map(frame_repetition, (features_a, features_b))
    own = min(periodicity_a, periodicity_b)
    checked = replace(confidence, frame_periodicity=round(own, 4))
    if own < MIN_PERIODICITY or confidence.periodicity >= MIN_PERIODICITY:
        return checked
    reason = (
        f"both recordings repeat a movement in their own frames (every ~{period_a} / ~{period_b} frames) but not in "
        f"the model's representation (periodicity {confidence.periodicity:.2f}): it tells how far through a "
        "recording a frame is, not where in the movement, so the repetitions are matched by their place in the "
        "recordings (try the raw features, or a model whose embeddings keep the repetition)"
    )
    return replace(checked, trusted=False, reasons=[*confidence.reasons, reason])


def matched_similarity(embeddings: list[np.ndarray]) -> float | None:
    """How closely a model's training recordings match one another: the median over their pairs of the mean
    cosine similarity along the DTW path (:func:`dtw_path_mean`), each recording strided to at most
    :data:`MATCHED_FRAMES` frames; None for fewer than two recordings with frames."""
    strided = [np.asarray(e, dtype=np.float64)[:: -(-len(e) // MATCHED_FRAMES)] for e in embeddings if len(e)]
    means = [dtw_path_mean(cosine_similarity(a, b)) for i, a in enumerate(strided) for b in strided[:i]]
    return float(np.median(means)) if means else None


def with_training_pairs(confidence: Confidence, training_similarity: float) -> Confidence:
    """``confidence`` with the model's ``training_similarity`` (:func:`matched_similarity`) and the ``match_ratio``
    of its pairs, untrusted above :data:`MAX_MATCH_RATIO` (module docstring)."""
    if confidence.path_similarity is None:  # nothing matched
        return confidence
    distance = max(1.0 - training_similarity, MIN_TRAINING_DISTANCE)
    ratio = round((1.0 - confidence.path_similarity) / distance, DIGITS)
    checked = replace(confidence, training_similarity=round(training_similarity, DIGITS), match_ratio=ratio)
    if ratio <= MAX_MATCH_RATIO:
        return checked
    reason = (
        f"the matched frames are far less alike than the model's training recordings are to one another (mean "
        f"similarity along the path {confidence.path_similarity:.4f}, training recordings "
        f"{training_similarity:.4f}: {ratio:.2f} times as far from identical, at most {MAX_MATCH_RATIO:g}): a "
        "recording may show another action, view or setting than the model learned (train it with such recordings)"
    )
    return replace(checked, trusted=False, reasons=[*confidence.reasons, reason])


def _periods(sample: np.ndarray, strides: tuple[int, int]) -> tuple[tuple[int, int], float]:
    """A's and B's periods in frames of ``S`` from its strided ``sample`` and the smaller periodicity."""
    (period_a, periodicity_a), (period_b, periodicity_b) = (repetition_period(sample, axis) for axis in (0, 1))
    return (period_a * strides[0], period_b * strides[1]), min(periodicity_a, periodicity_b)


def path_cells(shape: tuple[int, int], pairs: np.ndarray, half_period: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The cells ``(rows, cols)`` whose similarities :func:`confidence_from` needs: for each pair (in four runs of
    ``L``) the pair itself, its neighbours ``w = M / 10`` to the left and right (clipped into the matrix) and the
    uniform-time frame of B; with ``half_period`` > 0 two more runs, the B frames that far before and after
    (clipped)."""
    n, m = shape
    rows, cols = pairs[:, 0], pairs[:, 1]
    width = max(1, m // 10)
    uniform = np.rint(_position(rows, n) * (m - 1)).astype(np.int64)
    runs = [cols, (cols - width).clip(0), (cols + width).clip(0, m - 1), uniform]
    if half_period > 0:
        runs += [(cols - half_period).clip(0), (cols + half_period).clip(0, m - 1)]
    return np.tile(rows, len(runs)), np.concatenate(runs)


def _shifted_margin(
    cols: np.ndarray, m: int, shift: int, matched: np.ndarray, before: np.ndarray, after: np.ndarray
) -> float:
    """Mean of ``matched`` minus the similarities ``shift`` frames before and after in B, where those exist."""
    inside = [cols - shift >= 0, cols + shift < m]
    differences = [matched[ok] - shifted[ok] for ok, shifted in zip(inside, (before, after), strict=True)]
    count = sum(len(d) for d in differences)
    return float(sum(d.sum() for d in differences) / count) if count else 0.0


def _path_statistics(
    shape: tuple[int, int], pairs: np.ndarray, values: np.ndarray, half_period: int = 0
) -> tuple[float, float, float, float, float | None]:
    """``path_similarity``, ``path_margin``, ``time_gain``, ``diagonal_deviation`` and the margin over B half a
    period away (None without a period; ``phase_evidence`` before its division by ``contrast``) of ``pairs`` from
    the similarities of their :func:`path_cells` (module docstring)."""
    n, m = shape
    rows, cols = pairs[:, 0], pairs[:, 1]
    runs = values.reshape(-1, len(pairs))
    matched, left, right, uniform = runs[:4]
    width = max(1, m // 10)
    has_left, has_right = cols - width >= 0, cols + width < m
    neighbour_sum = np.where(has_left, left, 0.0) + np.where(has_right, right, 0.0)
    neighbours = neighbour_sum / np.maximum(has_left.astype(int) + has_right, 1)
    deviation = np.abs(_position(rows, n) - _position(cols, m))
    phase = _shifted_margin(cols, m, half_period, matched, *runs[4:]) if half_period > 0 else None
    gain = float(np.mean(matched - uniform))
    return float(matched.mean()), float(np.mean(matched - neighbours)), gain, float(deviation.mean()), phase


def alignment_confidence(sim: np.ndarray, pairs: np.ndarray) -> Confidence:
    """:class:`Confidence` of the alignment ``pairs [L, 2]`` decoded from ``sim [N, M]`` (module docstring)."""
    sim = np.asarray(sim, dtype=np.float64)
    samples = [sim[::rows, ::cols] for rows, cols in sample_strides(sim.shape)]
    return confidence_from(sim.shape, samples, (float(sim.min()), float(sim.max())), pairs, lambda r, c: sim[r, c])


def confidence_from(
    shape: tuple[int, int],
    samples: list[np.ndarray],
    value_range: tuple[float, float],
    pairs: np.ndarray,
    values_at: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Confidence:
    """:class:`Confidence` of ``pairs [L, 2]`` on ``S [N, M]`` (``shape``) from its two strided ``samples``
    (:func:`sample_strides`), its extremes ``value_range`` and ``values_at(rows, cols) = S[rows, cols]``."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    contrast_sample, evidence_sample = samples
    low, high = _contrast_bounds(contrast_sample)
    contrast, (own, scrambled) = high - low, _own_and_scrambled(evidence_sample)
    evidence, order = _z_score(own, scrambled), _margin(own, scrambled, contrast)
    periods, periodicity = _periods(contrast_sample, sample_strides(shape)[0])
    half_period = int(round(periods[1] / 2)) if periodicity >= MIN_PERIODICITY and periods[1] >= 2 else 0
    matched, margin, gain, deviation, phase_margin = (
        _path_statistics(shape, pairs, values_at(*path_cells(shape, pairs, half_period)), half_period)
        if len(pairs)
        else (None, 0.0, 0.0, 0.0, None)
    )
    phase = None
    if phase_margin is not None:
        phase = round(phase_margin / contrast, DIGITS) if contrast > 0 else 0.0
    contrast, order, periodicity = round(contrast, DIGITS), round(order, DIGITS), round(periodicity, DIGITS)
    reasons = []  # decided on the values alignment.json records
    if contrast < MIN_CONTRAST:
        reasons.append(
            f"the frames are nearly indistinguishable (similarity contrast {contrast:.4f} < {MIN_CONTRAST}: "
            f"90 % of the similarities lie in [{low:.3f}, {high:.3f}])"
        )
    by_phase = order < MIN_ORDER_MARGIN and phase is not None
    if by_phase and phase < MIN_PHASE_EVIDENCE:
        reasons.append(
            f"both recordings repeat a movement (every ~{periods[0]} / ~{periods[1]} frames), but the matched frames "
            f"are not in the same phase of it (phase evidence {phase:.4f} < {MIN_PHASE_EVIDENCE}: they are not "
            "more alike than frames half a repetition away)"
        )
    elif order < MIN_ORDER_MARGIN and not by_phase:
        reasons.append(
            f"the recordings align no better in their own order than reversed or rotated in time (order margin "
            f"{order:.4f} < {MIN_ORDER_MARGIN} of the contrast), and they do not both repeat a movement clearly "
            f"enough to be judged by its phase instead (periodicity {periodicity:.2f}, {MIN_PERIODICITY} needed)"
        )
    return Confidence(
        contrast=contrast,
        order_margin=order,
        order_evidence=round(evidence, DIGITS),
        path_margin=round(margin, DIGITS),
        time_gain=round(gain, DIGITS),
        diagonal_deviation=round(deviation, DIGITS),
        similarity_range=(round(value_range[0], DIGITS), round(value_range[1], DIGITS)),
        trusted=not reasons,
        reasons=reasons,
        periods=periods,
        periodicity=periodicity,
        phase_evidence=phase,
        judged_by="phase" if by_phase else "order",
        path_similarity=None if matched is None else round(matched, DIGITS),
    )
