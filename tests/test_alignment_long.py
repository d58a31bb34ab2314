"""Alignment of long recordings (``docs/methods.md``, Long recordings): the streamed, banded decoding of
``vidalign.alignment`` against today's whole-matrix decoding (kept here as the oracle), on matrices cut into many
blocks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

import vidalign.alignment as alignment
import vidalign.similarity as similarity
from numpy_rounding import bit_for_bit_with_numpy
from vidalign.alignment import OTOptions, SWOptions, align_arrays, decode
from vidalign.comparison import compare_embeddings
from vidalign.confidence import alignment_confidence
from vidalign.errors import InputError
from vidalign.ops import dtw, fused_gw, smith_waterman
from vidalign.ops.fgw_dense import BYTES_PER_PAIR, LEAN_BYTES_PER_PAIR


def todays_dtw(sim: np.ndarray) -> dict:
    """``vidalign align --method dtw`` before long recordings, on the whole float64 matrix."""
    n = sim.shape[0]
    score, path = dtw(1.0 - sim)
    first = np.searchsorted(path[:, 0], np.arange(n), side="left")
    last = np.searchsorted(path[:, 0], np.arange(n), side="right") - 1
    return {"score": float(score), "pairs": path, "a_to_b": path[(first + last) // 2, 1].tolist(), "parameters": {}}


def todays_sw(sim: np.ndarray, options: SWOptions) -> dict:
    """``vidalign align --method sw`` before long recordings: NumPy's median / mean / std of the whole matrix."""
    threshold = options.threshold
    if isinstance(threshold, str):
        threshold = float(np.median(sim) if threshold == "median" else sim.mean())
    sigma = float(sim.std()) or 1.0
    found = smith_waterman(sim - threshold, options.gap_open * sigma, options.gap_extend * sigma)
    pairs = found.pairs if found.score > 0 else np.zeros((0, 2), dtype=np.int64)
    a_to_b = [None] * sim.shape[0]
    for i, j in pairs.tolist():
        a_to_b[i] = j
    parameters = {"threshold": options.threshold, "threshold_value": threshold, "similarity_std": sigma}
    parameters |= {"gap_open": options.gap_open, "gap_extend": options.gap_extend}
    return {"score": float(found.score) if found.score > 0 else 0.0, "pairs": pairs, "a_to_b": a_to_b,
            "parameters": parameters}  # fmt: skip


def todays_ot(sim: np.ndarray, options: OTOptions) -> dict:
    """``vidalign align --method ot`` before long recordings: the rules on the whole linear-cost matrix."""
    n, m = sim.shape
    cost = 1.0 - sim
    solved = fused_gw(torch.from_numpy(cost)[None], alpha=options.alpha, eps=options.eps, radius=options.radius,
                      rho=options.rho, dummy=options.dummy, n_iters=options.n_iters, structure="alignment")  # fmt: skip
    plan = solved.plan[0].numpy()
    linear = cost + options.rho * np.abs(np.arange(n)[:, None] / n - np.arange(m)[None, :] / m)

    def matched(p, lin):
        best = p.argmax(axis=1)
        ok = (p.sum(axis=1) >= 0.5 / (p.shape[0] + 1)) & (lin[np.arange(len(best)), best] <= options.dummy)
        return best, ok

    best_j, rows = matched(plan, linear)
    best_i, cols = matched(plan.T, linear.T)
    i_rows, j_cols = np.flatnonzero(rows), np.flatnonzero(cols)
    pairs = np.unique(
        np.concatenate([np.stack([i_rows, best_j[i_rows]], 1), np.stack([best_i[j_cols], j_cols], 1)]), axis=0
    )
    return {"score": float(solved.objective[0, -1]), "pairs": pairs,
            "a_to_b": [int(j) if ok else None for j, ok in zip(best_j, rows, strict=True)],
            "parameters": dataclasses.asdict(options) | {"precision": "float64"}}  # fmt: skip


def assert_same(result, expected: dict) -> None:
    assert result.score == expected["score"]
    np.testing.assert_array_equal(result.pairs, expected["pairs"])
    assert result.a_to_b == expected["a_to_b"]
    assert result.parameters == expected["parameters"]


def recordings(n: int, m: int, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two noisy, differently warped views of one random walk."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=(n + m, dim)), axis=0)
    a = walk[np.sort(rng.choice(n + m, n, replace=False))] + rng.normal(size=(n, dim))
    b = walk[np.sort(rng.choice(n + m, m, replace=False))] + rng.normal(size=(m, dim))
    return a, b


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 8 or 16 rows and no whole matrix kept: every pass is a long recording's."""
    monkeypatch.setattr(similarity, "BLOCK_BYTES", 8 * 8 * 16)
    monkeypatch.setattr(similarity, "FULL_CELLS", 0)


SIZES = [(6, 4), (57, 80), (203, 150)]
SW_OPTIONS = [SWOptions(), SWOptions(threshold="mean", gap_open=1.0), SWOptions(threshold=0.2, gap_extend=0.3)]


@bit_for_bit_with_numpy
@pytest.mark.parametrize("shape", SIZES, ids=str)
def test_decoding_in_blocks_is_todays_bit_for_bit(shape, small_blocks):
    sim = similarity.cosine_similarity(*recordings(*shape))
    assert_same(decode(sim, method="dtw"), todays_dtw(sim))
    for options in SW_OPTIONS:
        assert_same(decode(sim, method="sw", sw=options), todays_sw(sim, options))


@pytest.mark.parametrize("shape", SIZES, ids=str)
def test_align_arrays_is_todays_on_the_whole_matrix(shape, small_blocks):
    """The blocks' similarities are the whole product's up to BLAS rounding, so pairs and frames are today's."""
    a, b = recordings(*shape, seed=1)
    sim = similarity.cosine_similarity(a, b)
    for method, expected in (("dtw", todays_dtw(sim)), ("sw", todays_sw(sim, SWOptions()))):
        result = align_arrays(a, b, method=method)
        np.testing.assert_array_equal(result.pairs, expected["pairs"])
        assert result.a_to_b == expected["a_to_b"]
        assert result.score == pytest.approx(expected["score"], rel=1e-12, abs=1e-12)
        found, wanted = result.confidence.to_json(), alignment_confidence(sim, result.pairs).to_json()
        for key in ("reasons", "trusted", "judged_by", "periods"):  # pytest.approx takes numbers only
            assert found.pop(key) == wanted.pop(key)
        assert found.pop("similarity_range") == pytest.approx(wanted.pop("similarity_range"))
        assert found == pytest.approx(wanted)
        assert result.similarity is None and result.preview.frames == shape
        blocked = np.concatenate([block for _, block in similarity.blocks(result.matrix)])
        np.testing.assert_allclose(blocked, sim, rtol=0, atol=1e-14)
        on_blocks = todays_dtw(blocked) if method == "dtw" else todays_sw(blocked, SWOptions())
        assert result.score == on_blocks["score"]  # the same similarities decoded: bit for bit
        np.testing.assert_array_equal(result.pairs, on_blocks["pairs"])


def test_ot_is_todays_and_refuses_what_does_not_fit(monkeypatch):
    a, b = recordings(40, 30, seed=2)
    sim = similarity.cosine_similarity(a, b)
    options = OTOptions(n_iters=20)
    assert_same(decode(sim, method="ot", ot=options), todays_ot(sim, options))
    monkeypatch.setattr(alignment, "OT_MAX_CELLS", 40 * 30 - 1)
    with pytest.raises(InputError, match="dtw or sw"):
        align_arrays(a, b, method="ot")
    with pytest.raises(InputError, match="band"):
        decode(sim[:5, :5], method="ot", band=2)


@bit_for_bit_with_numpy
@pytest.mark.parametrize("shape", [(57, 80), (203, 150), (3, 40)], ids=str)
def test_ot_streams_its_cost_and_is_todays(shape, small_blocks):
    """The cost written into the solver block by block, the plan summarised without a dense copy, the cells of
    rule (b) computed again from the embeddings: today's alignment bit for bit, and no whole S kept."""
    a, b = recordings(*shape, seed=4)
    sim = similarity.cosine_similarity(a, b)
    options = OTOptions(n_iters=15)
    result = align_arrays(a, b, method="ot", ot=options)
    assert_same(result, todays_ot(sim, options))
    assert result.similarity is None and result.preview.frames == shape


def test_the_ot_plan_summary_is_numpys_on_a_contiguous_copy(monkeypatch):
    monkeypatch.setattr(alignment, "BLOCK_BYTES", 8 * 64 * 5)  # chunks of 5 rows
    rng = np.random.default_rng(0)
    padded = rng.random((38, 65)) ** 4
    padded[7, :] = padded[7, 3]  # a row of ties: the first column wins, as NumPy's argmax
    padded[:, 11] = padded[2, 11]  # a column of ties: the first row wins
    plan = padded[:37, :64]  # the solver's plan without the dummy: not contiguous
    dense = np.ascontiguousarray(plan)
    found = alignment._plan_summary(plan)
    wanted = dense.argmax(axis=1), dense.sum(axis=1), dense.T.argmax(axis=1), dense.T.sum(axis=1)
    for got, expected in zip(found, wanted, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_the_ot_limits_are_what_fits_in_4_gib():
    """Dense OT holds three float64 arrays of (N + 1) x (M + 1) (BYTES_PER_PAIR), the lean one two float32 arrays
    (LEAN_BYTES_PER_PAIR): at each limit they and the interpreter (about 0.3 GB measured without torch,
    benchmarks/LONG_ALIGNMENT.md) stay within 4 GiB; 20,000 x 20,000 frames are accepted, one frame more than
    the lean limit's side a side is refused."""
    dense_side, side = math.isqrt(alignment.OT_DENSE_CELLS), math.isqrt(alignment.OT_MAX_CELLS)
    assert dense_side >= 12_000 and side >= 20_000
    assert BYTES_PER_PAIR * (dense_side + 1) ** 2 + 512 * 2**20 <= 4 * 2**30
    assert LEAN_BYTES_PER_PAIR * (side + 1) ** 2 + 512 * 2**20 <= 4 * 2**30
    for fits in ((side, alignment.OT_MAX_CELLS // side), (20_000, 20_000)):
        alignment._check_ot_size(fits)
    for too_big in ((side + 1, side + 1), (30_000, 20_000)):
        with pytest.raises(InputError, match=f"at most {alignment.OT_MAX_CELLS:,} pairs .about {side:,} x {side:,}"):
            alignment._check_ot_size(too_big)


@pytest.mark.parametrize("shape", [(57, 80), (203, 150)], ids=str)
def test_beyond_the_dense_limit_ot_runs_lean_in_float32_with_todays_pairs(shape, small_blocks, monkeypatch):
    """The lean float32 solver on a recording pair the dense one would take: the same pairs and frames as today's
    float64 alignment, the objective to float32's precision, and the parameters say which solver ran."""
    a, b = recordings(*shape, seed=4)
    options = OTOptions(n_iters=30)
    expected = todays_ot(similarity.cosine_similarity(a, b), options)
    monkeypatch.setattr(alignment, "OT_DENSE_CELLS", shape[0] * shape[1] - 1)
    result = align_arrays(a, b, method="ot", ot=options)
    assert result.parameters == expected["parameters"] | {"precision": "float32"}
    np.testing.assert_array_equal(result.pairs, expected["pairs"])
    assert result.a_to_b == expected["a_to_b"]
    assert result.score == pytest.approx(expected["score"], rel=1e-5)


@pytest.mark.parametrize("shape", [(120, 120), (90, 140), (150, 100)], ids=str)
def test_a_wide_enough_band_is_the_unbanded_alignment(shape, small_blocks):
    a, b = recordings(*shape, seed=3)
    for method in ("dtw", "sw"):
        unbanded = align_arrays(a, b, method=method)
        rows, cols = unbanded.pairs.T
        deviation = float(np.abs(cols - rows * (shape[1] - 1) / (shape[0] - 1)).max()) if len(rows) else 0.0
        banded = align_arrays(a, b, method=method, band=max(deviation + 2, shape[1] / shape[0] + 1))
        assert banded.score == unbanded.score and banded.a_to_b == unbanded.a_to_b
        np.testing.assert_array_equal(banded.pairs, unbanded.pairs)
        assert banded.confidence == unbanded.confidence
        assert banded.parameters["band_edge"] is False and banded.parameters["band_edge_pairs"] == 0
        assert {k: v for k, v in banded.parameters.items() if not k.startswith("band")} == unbanded.parameters


def test_a_narrow_band_keeps_the_path_inside_and_says_it_touches_the_edge():
    rng = np.random.default_rng(4)
    base = np.cumsum(rng.normal(size=(200, 6)), axis=0)
    a, b = base, base[np.r_[np.zeros(60, int), np.arange(200)]]  # B waits 60 frames, then plays A
    result = align_arrays(a, b, method="dtw", band=0.02)  # 0.02 * 260 = 5.2 frames
    rows, cols = result.pairs.T
    assert result.parameters["band"] == 0.02 and result.parameters["band_radius"] == pytest.approx(5.2)
    assert np.abs(cols - rows * 259 / 199).max() <= 5.2
    assert result.parameters["band_edge"] is True and result.parameters["band_edge_pairs"] > 0
    assert align_arrays(a, b, method="dtw").score < result.score  # the band cut off the better path
    with pytest.raises(InputError, match="too narrow"):
        align_arrays(a[:10], b[:40], band=2)


def test_compare_works_without_the_whole_matrix(small_blocks, monkeypatch):
    reference, query = recordings(80, 95, seed=5)
    streamed = compare_embeddings(reference, query)
    monkeypatch.setattr(similarity, "FULL_CELLS", 2**22)
    kept = compare_embeddings(reference, query)
    assert streamed.alignment.similarity is None and kept.alignment.similarity is not None
    np.testing.assert_array_equal(streamed.deviation, kept.deviation)
    assert (streamed.threshold, streamed.flagged, streamed.query_gaps) == (
        kept.threshold,
        kept.flagged,
        kept.query_gaps,
    )
    custom = compare_embeddings(reference, query, sw=SWOptions(threshold=0.5))  # the floor still uses the median
    assert custom.threshold == kept.threshold and custom.local.parameters["threshold_value"] == 0.5


def test_the_plot_of_a_long_recording_comes_from_its_preview(tmp_path, small_blocks, monkeypatch):
    monkeypatch.setattr(similarity, "PREVIEW_SIDE", 16)
    a, b = recordings(100, 70, seed=6)
    result = align_arrays(a, b, method="sw")
    assert result.similarity is None and result.preview.values.shape == (16, 16)
    files = result.write(tmp_path)  # the plot and the viewer page draw the preview
    assert files.plot.stat().st_size > 0 and files.json.exists() and files.page.exists()
