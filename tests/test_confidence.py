"""Alignment confidence (vidalign.confidence): related recordings pass, unrelated or indistinguishable ones are
flagged with their reason, and the path statistics match a hand computation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dp_oracles import plain_dtw_path_mean
from vidalign.alignment import align_arrays, cosine_similarity
from vidalign.confidence import (
    MAX_MATCH_RATIO,
    MIN_CONTRAST,
    MIN_ORDER_MARGIN,
    MIN_PERIODICITY,
    MIN_PHASE_EVIDENCE,
    MIN_TRAINING_DISTANCE,
    alignment_confidence,
    matched_similarity,
    order_evidence,
    order_margin,
    repetition_period,
    with_frames,
    with_training_pairs,
)


def _walk(rng: np.random.Generator, n: int, d: int = 32) -> np.ndarray:
    return np.cumsum(rng.normal(size=(n, d)), axis=0)


@pytest.mark.parametrize("seed", range(3))
def test_warped_copies_are_trusted_and_unrelated_recordings_are_not(seed):
    rng = np.random.default_rng(seed)
    base = _walk(rng, 80)
    warped = base[np.sort(rng.integers(0, 80, 100))] + 0.3 * rng.normal(size=(100, 32))
    for method in ("dtw", "sw", "ot"):
        related = align_arrays(base, warped, method=method).confidence
        assert related.trusted and related.order_margin > 1.2 * MIN_ORDER_MARGIN, related
        frames_without_order = rng.normal(size=(80, 32)), rng.normal(size=(100, 32))
        unrelated = align_arrays(*frames_without_order, method=method).confidence
        assert not unrelated.trusted and any("no better in their own order" in r for r in unrelated.reasons)


def test_indistinguishable_frames_are_flagged_by_their_contrast():
    rng = np.random.default_rng(0)
    a, b = (1.0 + 0.01 * rng.normal(size=(n, 16)) for n in (40, 50))  # a collapsed model's embeddings
    confidence = align_arrays(a, b).confidence
    assert confidence.contrast < MIN_CONTRAST and not confidence.trusted
    assert "nearly indistinguishable" in confidence.reasons[0] and "cannot be trusted" in confidence.message()


def test_order_evidence_against_a_plain_dynamic_programme():
    rng = np.random.default_rng(4)
    sim = cosine_similarity(_walk(rng, 9, 4), _walk(rng, 7, 4))
    shifts = (2, 3, 4, 5)  # round(0.25 * 7) ... round(0.75 * 7)
    scrambled = [plain_dtw_path_mean(np.roll(s, k, axis=1)) for s in (sim, sim[:, ::-1]) for k in shifts]
    expected = (plain_dtw_path_mean(sim) - np.mean(scrambled)) / np.std(scrambled)
    assert order_evidence(sim) == pytest.approx(expected, abs=1e-9)
    low, high = np.percentile(sim, [5, 95])
    margin = (plain_dtw_path_mean(sim) - np.max(scrambled)) / (high - low)
    assert order_margin(sim) == pytest.approx(margin, abs=1e-9)


@pytest.mark.parametrize("seed", [1, 7, 10])
def test_an_order_that_beats_every_scrambled_one_is_trusted_however_widely_they_spread(seed):
    """Two recordings along one smooth curve at different speeds (what a model that encodes progress makes of
    them): B reversed aligns far worse than B rotated, the 16 scrambled orders spread widely and the z-score stays
    below 3, but the own order beats the best of them by more than the margin."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(3, 16))

    def curve(t: np.ndarray) -> np.ndarray:
        return np.stack([np.cos(np.pi * k * t) for k in (1, 2, 3)], axis=1) @ loadings

    a = curve(np.sort(rng.random(60))) + 0.05 * rng.normal(size=(60, 16))
    b = curve(np.sort(rng.random(90)) ** 1.3) + 0.05 * rng.normal(size=(90, 16))
    confidence = align_arrays(a, b).confidence
    assert confidence.order_evidence < 3.0 and confidence.order_margin >= MIN_ORDER_MARGIN, confidence
    assert confidence.trusted and confidence.judged_by == "order", confidence


def test_path_statistics_by_hand():
    sim = np.zeros((3, 20))
    pairs = np.array([[0, 0], [1, 10], [2, 19]])  # the uniform-time diagonal
    sim[0, 0], sim[1, 10], sim[2, 19] = 1.0, 0.5, 1.0
    sim[1, 8] = 0.2  # a neighbour of (1, 10) at w = 2
    confidence = alignment_confidence(sim, pairs)
    assert confidence.diagonal_deviation == pytest.approx(np.mean([0, abs(0.5 - 10 / 19), 0]), abs=1e-4)
    assert confidence.time_gain == 0.0
    assert confidence.path_margin == pytest.approx(
        np.mean([1.0, 0.5 - 0.1, 1.0]), abs=1e-4
    )  # one neighbour at the ends
    assert confidence.similarity_range == (0.0, 1.0)


def test_a_repeated_movement_is_judged_by_its_phase(repeated_pair):
    """5 repetitions of 18 frames against 4 of 30: shifting B by whole repetitions aligns as well, so the order
    evidence cannot tell; the phase can, and a path half a repetition off fails it."""
    a, b = repeated_pair
    result = align_arrays(a, b)
    confidence = result.confidence
    assert confidence.order_margin < MIN_ORDER_MARGIN, confidence  # the order alone would distrust it
    assert confidence.trusted and confidence.judged_by == "phase", confidence
    assert abs(confidence.periods[0] - 18) <= 1 and abs(confidence.periods[1] - 30) <= 1
    assert confidence.periodicity >= MIN_PERIODICITY and confidence.phase_evidence > 1.5 * MIN_PHASE_EVIDENCE
    assert "repeat a movement" in confidence.note()

    off_phase = result.pairs + [0, 15]  # half a repetition of B later (B is 4 whole repetitions: wrap around)
    wrong = alignment_confidence(cosine_similarity(a, b), off_phase % [90, 120])
    assert wrong.phase_evidence < -MIN_PHASE_EVIDENCE and not wrong.trusted
    assert "not in the same phase" in wrong.reasons[-1]
    assert wrong.note() is None


def test_phase_evidence_by_hand(repetitions):
    """The matched similarities minus those of the B frames half a period before and after (where they exist),
    over the contrast."""
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(16, 4)))[0].T
    sim = cosine_similarity(repetitions(60, 4, basis, rng), repetitions(80, 4, basis, rng))
    confidence = alignment_confidence(sim, pairs := np.stack([np.arange(60), np.arange(60) * 79 // 59], axis=1))
    assert confidence.periods[1] == 20
    rows, cols = pairs.T
    differences = [sim[rows, cols][ok] - sim[rows[ok], cols[ok] + shift] for shift in (-10, 10)
                   for ok in [(cols + shift >= 0) & (cols + shift < 80)]]  # fmt: skip
    low, high = np.percentile(sim, [5, 95])
    expected = np.concatenate(differences).mean() / (high - low)
    assert confidence.phase_evidence == pytest.approx(expected, abs=1e-4)


def test_repetition_period_of_exact_cosines_and_of_noise():
    i, j = np.arange(60)[:, None], np.arange(72)[None, :]
    sim = np.cos(2 * np.pi * (i / 9 - j / 12))
    assert repetition_period(sim, 1)[0] == 12 and repetition_period(sim, 0)[0] == 9  # not their multiples
    assert repetition_period(sim, 1)[1] > 1.0  # lag 12 is as alike as lag 0: more than lag 1
    assert repetition_period(np.random.default_rng(2).normal(size=(60, 72)), 1) == (0, 0.0)  # frames that do not move
    assert repetition_period(sim[:, :5], 1) == (0, 0.0)  # too few frames for two periods


def test_repetitive_recordings_of_unrelated_movements_are_not_trusted(repetitions):
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(16, 8)))[0].T
    a, b = repetitions(90, 5, basis[:4], rng), repetitions(120, 4, basis[4:], rng)  # orthogonal movements
    confidence = align_arrays(a, b).confidence  # B's movement shows in S through A's frame noise: both repeat
    assert not confidence.trusted and confidence.phase_evidence < MIN_PHASE_EVIDENCE, confidence
    assert "not in the same phase" in confidence.reasons[-1]
    still = np.repeat(a[:1], 90, axis=0) + 0.05 * rng.normal(size=a.shape)  # one recording does not repeat
    confidence = align_arrays(still, b).confidence
    assert not confidence.trusted and confidence.phase_evidence is None
    assert "do not both repeat a movement" in confidence.reasons[-1]


def test_a_representation_that_hides_the_repetition_is_not_trusted(repeated_pair):
    """Embeddings of how far through a recording a frame is (a half circle of time) give any two recordings a
    confident order; when their own frames repeat a movement that the representation does not show, the
    alignment is untrusted. Frames that do not repeat, or a representation that keeps the repetition, pass."""
    rng, frames = np.random.default_rng(4), repeated_pair
    half_circle = [np.linspace(0, np.pi, n) for n in (90, 120)]
    times = [np.stack([np.cos(t), np.sin(t)], axis=1) for t in half_circle]
    by_time = align_arrays(*times).confidence
    assert by_time.trusted and by_time.judged_by == "order" and by_time.periodicity < MIN_PERIODICITY, by_time
    checked = with_frames(by_time, *frames)
    assert not checked.trusted and checked.frame_periodicity >= MIN_PERIODICITY
    assert "not in the model's representation" in checked.reasons[-1]
    assert "every ~18 / ~30 frames" in checked.reasons[-1]
    unchanged = with_frames(by_time, _walk(rng, 90), _walk(rng, 120))
    assert unchanged.trusted and unchanged.frame_periodicity < MIN_PERIODICITY
    kept = with_frames(align_arrays(*frames).confidence, *frames)
    assert kept.trusted and kept.judged_by == "phase" and kept.reasons == []


def test_many_short_repetitions_of_long_recordings_keep_their_period(repetitions):
    """100 repetitions of 20 frames against 100 of 24: the order statistics' sample (128 frames a side) would hold
    barely one frame per repetition; the period is read from the contrast's (1,024)."""
    rng = np.random.default_rng(5)
    basis = np.linalg.qr(rng.normal(size=(16, 4)))[0].T
    confidence = align_arrays(repetitions(2000, 100, basis, rng), repetitions(2400, 100, basis, rng)).confidence
    assert confidence.trusted and confidence.judged_by == "phase", confidence
    assert abs(confidence.periods[0] - 20) <= 2 and abs(confidence.periods[1] - 24) <= 3  # strides 2 and 3


def test_the_decision_is_taken_on_the_numbers_alignment_json_records():
    """A contrast of 0.04996 is recorded as 0.05 and judged as 0.05 (not refused as "0.050 < 0.05")."""
    n = 40
    sim = 0.5 + 0.04996 * (np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 2)  # a band 0.04996 brighter
    sim = sim + np.linspace(0.0, 1e-9, n * n).reshape(n, n)  # ties broken, the percentiles unchanged to 1e-9
    pairs = np.stack([np.arange(n), np.arange(n)], axis=1)
    low, high = np.percentile(sim, [5, 95])
    assert round(high - low, 4) == 0.05 and high - low < 0.05
    confidence = alignment_confidence(sim, pairs)
    assert confidence.contrast == 0.05 and not any("contrast" in reason for reason in confidence.reasons)


def test_the_match_ratio_by_hand():
    rng = np.random.default_rng(0)
    base = _walk(rng, 60) - _walk(rng, 60).mean(axis=0)
    confidence = align_arrays(base, base + 3.0 * rng.normal(size=base.shape)).confidence
    gap = 1 - confidence.path_similarity
    assert confidence.trusted and gap / 8 > MIN_TRAINING_DISTANCE  # every case below is above the floor but one
    for training, expected in ((1 - gap / 2, 2.0), (1 - gap / 8, 8.0), (0.9999, gap / MIN_TRAINING_DISTANCE)):
        checked = with_training_pairs(confidence, training)
        assert checked.match_ratio == pytest.approx(expected, rel=1e-3)
        assert checked.training_similarity == round(training, 4)
        assert checked.trusted == (checked.match_ratio <= MAX_MATCH_RATIO)
        assert len(checked.reasons) == (0 if checked.trusted else 1)
    nothing_matched = replace(confidence, path_similarity=None)
    assert with_training_pairs(nothing_matched, 0.9) == nothing_matched


def test_matched_similarity_is_the_median_path_mean_of_the_training_pairs():
    rng = np.random.default_rng(1)
    recordings = [_walk(rng, n) for n in (30, 41, 500)]  # the last is strided to 250 frames
    units = [r / np.linalg.norm(r, axis=1, keepdims=True) for r in recordings]
    units[2] = units[2][::2]
    expected = np.median([plain_dtw_path_mean(a @ b.T) for i, a in enumerate(units) for b in units[:i]])
    assert matched_similarity(recordings) == pytest.approx(expected, abs=1e-12)
    assert matched_similarity(recordings[:1]) is None
