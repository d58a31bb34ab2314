"""Compare a query with a reference (vidalign.comparison): a foreign stretch inserted into the query is flagged and
found without a reference counterpart, a left-out stretch is a reference gap, the threshold is the documented
robust rule, and the CLI writes compare.json and compare.png."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vidalign as va
from vidalign.cli import main
from vidalign.comparison import MAD_TO_SD, compare_embeddings, deviation_threshold
from vidalign.errors import InputError


def _process(n: int, seed: int = 0, dim: int = 32) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(size=(n, dim)), axis=0)


def _overlap(interval: tuple[int, int], start: int, end: int) -> int:
    return max(0, min(interval[1], end) - max(interval[0], start) + 1)


def test_the_threshold_is_median_plus_k_mad():
    d = np.array([0.1, 0.2, 0.2, 0.3, 0.9])
    assert deviation_threshold(d, 2.0) == pytest.approx(0.2 + 2.0 * MAD_TO_SD * 0.1)
    assert deviation_threshold(d, 0.0) == pytest.approx(0.2)
    assert deviation_threshold(d, 2.0, floor=0.8) == 0.8


def test_an_inserted_foreign_stretch_is_flagged_and_has_no_counterpart():
    rng = np.random.default_rng(1)
    reference = _process(120)
    foreign = _process(20, seed=9) + 50.0  # something the reference never does
    query = np.concatenate([reference[:60], foreign, reference[60:]]) + 0.2 * rng.normal(size=(140, 32))
    result = compare_embeddings(reference, query)
    assert sum(_overlap(i, 60, 79) for i in result.flagged) >= 15  # most of the inserted frames
    outside = sum(e - s + 1 for s, e in result.flagged) - sum(_overlap(i, 60, 79) for i in result.flagged)
    assert outside <= 5
    assert sum(_overlap(i, 60, 79) for i in result.query_gaps) >= 15
    assert result.deviation[60:80].mean() > 3 * np.median(result.deviation)


def test_the_path_similarity_of_a_comparison_leaves_out_its_flagged_frames():
    """The match-ratio test (vidalign.confidence.with_training_pairs) asks whether the matching parts are as alike
    as a model's training recordings; the foreign stretch a comparison finds must not count against it."""
    rng = np.random.default_rng(1)
    reference = _process(120)
    query = np.concatenate([reference[:60], _process(20, seed=9) + 50.0, reference[60:]])
    query = query + 0.2 * rng.normal(size=(140, 32))
    result = compare_embeddings(reference, query)
    assert result.flagged
    units = [x / np.linalg.norm(x, axis=1, keepdims=True) for x in (reference, query)]
    pairs = result.alignment.pairs
    values = (units[0][pairs[:, 0]] * units[1][pairs[:, 1]]).sum(axis=1)
    flagged = np.zeros(140, dtype=bool)
    for start, end in result.flagged:
        flagged[start : end + 1] = True
    kept = ~flagged[pairs[:, 1]]
    assert result.alignment.confidence.path_similarity == pytest.approx(values[kept].mean(), abs=1e-4)
    assert result.alignment.confidence.path_similarity > round(values.mean(), 4) + 0.01  # the whole path's


def test_near_identical_recordings_flag_nothing():
    reference = _process(100, seed=5)
    query = reference[np.sort(np.random.default_rng(0).integers(0, 100, 110))]  # only re-timed
    assert compare_embeddings(reference, query).flagged == []


def test_a_left_out_stretch_is_a_reference_gap():
    reference = _process(120, seed=2)
    query = np.concatenate([reference[:40], reference[80:]])  # the query skips frames 40-79
    result = compare_embeddings(reference, query)
    assert sum(_overlap(i, 40, 79) for i in result.reference_gaps) >= 35
    assert result.flagged == [] or all(e - s < 5 for s, e in result.flagged)


@pytest.mark.parametrize(("left_out", "reported"), [(1, False), (2, False), (5, True)])
def test_gaps_shorter_than_min_frames_are_not_reported(left_out, reported):
    """The query steps over ``left_out`` reference frames: a gap of the local alignment either way, reported
    only from ``min_frames`` (3) frames on; with ``min_frames=1`` every gap is."""
    reference = _process(120, seed=2)
    query = np.delete(reference, range(50, 50 + left_out), axis=0)
    gap = [(50, 49 + left_out)]
    assert compare_embeddings(reference, query, min_frames=1).reference_gaps == gap
    assert compare_embeddings(reference, query).reference_gaps == (gap if reported else [])


def test_compare_cli_writes_its_findings(tmp_path, capsys):
    reference = _process(80, seed=3).astype(np.float32)
    query = np.concatenate([reference[:40], _process(15, seed=8).astype(np.float32) + 40, reference[40:]])
    np.save(tmp_path / "reference.npy", reference)
    np.save(tmp_path / "query.npy", query)
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "reference.npy"), str(tmp_path / "query.npy"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "flagged: query frames" in printed and "compare.png" in printed
    record = json.loads((out / "compare.json").read_text())
    assert len(record["deviation"]) == 95 and len(record["query_to_reference"]) == 95
    assert record["flagged"] and all(set(f) >= {"start", "end", "max_deviation"} for f in record["flagged"])
    assert (out / "compare.png").stat().st_size > 10_000
    again = va.compare(reference, query)
    assert again.to_json()["flagged"] == record["flagged"]


@pytest.mark.parametrize("option", [{"band": 0.1}, {"method": "ot"}])
def test_compare_refuses_the_align_options_it_cannot_honour(option):
    """A comparison is DTW then SW over the whole matrix: a band or another method would be ignored, so it is
    refused instead (align takes them)."""
    reference = np.random.default_rng(0).normal(size=(40, 8))
    with pytest.raises(InputError, match=f"{next(iter(option))} do not apply"):
        va.compare(reference, reference[5:], **option)


def test_a_k_that_is_not_a_number_is_refused():
    reference = np.random.default_rng(0).normal(size=(40, 8))
    with pytest.raises(InputError, match="k must be finite and >= 0"):
        compare_embeddings(reference, reference[5:], k=float("nan"))
