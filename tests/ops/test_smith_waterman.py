"""Soft / exact Smith-Waterman with affine gaps against brute force, Biopython and the torch reference."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
import torch
from Bio.Align import PairwiseAligner, substitution_matrices

from vidalign.ops.smith_waterman import smith_waterman, soft_smith_waterman
from vidalign.ops.soft_dtw import soft_dtw

BACKENDS = ["numba", "torch"]


def enumerate_local_alignments(rows: int, cols: int):
    """Every non-empty chain of matched pairs increasing in both indices (each local alignment exactly once)."""
    for k in range(1, min(rows, cols) + 1):
        for chosen_rows in itertools.combinations(range(rows), k):
            for chosen_cols in itertools.combinations(range(cols), k):
                yield list(zip(chosen_rows, chosen_cols, strict=True))


def alignment_charges(pairs, rows, cols):
    """Match indicator and the cells charged a gap open / extension, following the recursion's conventions:
    between consecutive matches (i1, j1) -> (i2, j2) the skipped y frames come first (E: row i1, columns
    j1+1 .. j2-1), then the skipped x frames (F: column j2-1, rows i1+1 .. i2-1); the first step of each run
    pays ``go`` at the cell it lands on, the following ones ``ge``. F -> E never happens, so this path is the
    alignment's only one."""
    match, opens, extends = np.zeros((rows, cols)), np.zeros((rows, cols)), np.zeros((rows, cols))
    for i, j in pairs:
        match[i, j] = 1
    for (i1, j1), (i2, j2) in zip(pairs[:-1], pairs[1:], strict=True):
        for step, j in enumerate(range(j1 + 1, j2)):
            (opens if step == 0 else extends)[i1, j] += 1
        for step, i in enumerate(range(i1 + 1, i2)):
            (opens if step == 0 else extends)[i, j2 - 1] += 1
    return match, opens, extends


def brute_force(sim, go, ge, tau):
    """Soft score ``tau log sum_a exp(score(a) / tau)`` and its gradients (expected match / gap indicators)."""
    rows, cols = sim.shape
    charges = [alignment_charges(pairs, rows, cols) for pairs in enumerate_local_alignments(rows, cols)]
    scores = np.array([(m * sim).sum() - (o * go).sum() - (e * ge).sum() for m, o, e in charges])
    top = scores.max()
    weights = np.exp((scores - top) / tau)
    value = top + tau * np.log(weights.sum())
    weights /= weights.sum()
    marginals = [sum(w * c[k] for w, c in zip(weights, charges, strict=True)) for k in range(3)]
    return value, marginals[0], -marginals[1], -marginals[2]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("tau", [0.5, 1.0])
@pytest.mark.parametrize("per_position", [False, True])
def test_brute_force_value_and_marginals(backend, tau, per_position):
    rng = np.random.default_rng(3)
    sim = rng.normal(size=(3, 4))
    shape = (3, 4) if per_position else ()
    go, ge = rng.uniform(0.3, 1.5, size=shape), rng.uniform(0.05, 0.8, size=shape)
    value, match, d_go, d_ge = brute_force(sim, np.broadcast_to(go, (3, 4)), np.broadcast_to(ge, (3, 4)), tau)

    sim_t, go_t, ge_t = (torch.tensor(x, requires_grad=True) for x in (sim, go, ge))
    score = soft_smith_waterman(sim_t, go_t, ge_t, temperature=tau, backend=backend)
    grads = torch.autograd.grad(score, [sim_t, go_t, ge_t])
    assert score.shape == ()
    np.testing.assert_allclose(score.item(), value, rtol=0, atol=1e-10)
    np.testing.assert_allclose(grads[0].numpy(), match, atol=1e-10)
    np.testing.assert_allclose(grads[1].numpy(), d_go if per_position else d_go.sum(), atol=1e-10)
    np.testing.assert_allclose(grads[2].numpy(), d_ge if per_position else d_ge.sum(), atol=1e-10)


def _masks(lengths, size):
    return torch.arange(size)[None, :] < torch.tensor(lengths)[:, None]


GAP_FORMS = {
    "float": lambda b, n, m: 0.8,
    "scalar_tensor": lambda b, n, m: torch.tensor(0.8),
    "per_sample": lambda b, n, m: torch.linspace(0.5, 1.2, b),
    "per_cell": lambda b, n, m: 0.4 + torch.rand(b, n, m),
    "per_row": lambda b, n, m: 0.4 + torch.rand(n, 1),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gap_form", list(GAP_FORMS))
def test_gradcheck_with_masks(backend, gap_form):
    torch.manual_seed(0)
    b, n, m = 2, 4, 5
    sim = torch.randn(b, n, m, dtype=torch.float64, requires_grad=True)
    mask_a, mask_b = _masks([4, 3], n), _masks([3, 5], m)
    go, ge = GAP_FORMS[gap_form](b, n, m), GAP_FORMS[gap_form](b, n, m)
    if isinstance(go, torch.Tensor):  # learnable penalties: check their gradients too
        inputs = (sim, go.double().requires_grad_(), (0.5 * ge).double().requires_grad_())
    else:
        inputs = (sim,)

    def score(sim, gap_open=go, gap_extend=0.5 * ge):
        return soft_smith_waterman(sim, gap_open, gap_extend, 0.7, mask_a, mask_b, backend=backend)

    assert torch.autograd.gradcheck(score, inputs)


def test_second_order_gradients_through_reference():
    torch.manual_seed(1)
    sim = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    go = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda s, g: soft_smith_waterman(s, g, 0.2, 0.5, backend="numba"), (sim, go))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numba_matches_torch_reference(dtype):
    torch.manual_seed(2)
    b, n, m = 4, 9, 7
    sim = torch.randn(b, n, m, dtype=dtype, requires_grad=True)
    go = (0.5 + torch.rand(b, n, m, dtype=dtype)).requires_grad_()
    ge = (0.1 + torch.rand(b, dtype=dtype)).requires_grad_()
    mask_a, mask_b = _masks([9, 5, 1, 7], n), _masks([7, 7, 3, 2], m)
    weights = torch.arange(1.0, b + 1, dtype=dtype)
    results = {}
    for backend in BACKENDS:
        for hard in (False, True):
            score = soft_smith_waterman(sim, go, ge, 0.4, mask_a, mask_b, hard=hard, backend=backend)
            results[backend, hard] = (score, *torch.autograd.grad((score * weights).sum(), [sim, go, ge]))
    tol = 1e-5 if dtype == torch.float32 else 1e-11
    for hard in (False, True):
        for ours, ref in zip(results["numba", hard], results["torch", hard], strict=True):
            torch.testing.assert_close(ours, ref, atol=tol, rtol=tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_padding_equals_cropping(backend):
    torch.manual_seed(3)
    sim = torch.randn(2, 6, 5, dtype=torch.float64, requires_grad=True)
    mask_a, mask_b = _masks([6, 4], 6), _masks([3, 5], 5)
    score = soft_smith_waterman(sim, 1.0, 0.2, 0.5, mask_a, mask_b, backend=backend)
    (grad,) = torch.autograd.grad(score.sum(), sim)
    for k, (n, m) in enumerate([(6, 3), (4, 5)]):
        cropped = soft_smith_waterman(sim[k, :n, :m].detach(), 1.0, 0.2, 0.5, backend=backend)
        torch.testing.assert_close(score[k], cropped)
        assert grad[k, n:].abs().sum() == 0 and grad[k, :, m:].abs().sum() == 0


def test_invalid_masks_and_gaps_are_rejected():
    sim = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="prefix"):
        soft_smith_waterman(sim, 1.0, 0.5, mask_a=torch.tensor([[True, False, True], [True] * 3]))
    with pytest.raises(ValueError, match="at least one"):
        soft_smith_waterman(sim, 1.0, 0.5, mask_b=torch.tensor([[False] * 4, [True] * 4]))
    with pytest.raises(ValueError, match="broadcast"):
        soft_smith_waterman(sim, torch.ones(3), 0.5)


def _biopython_score(sim: np.ndarray, go: float, ge: float) -> float:
    """Biopython's local affine score with each frame its own letter and ``sim`` as substitution scores.

    Biopython scores a gap of length L as ``open_gap_score + (L - 1) * extend_gap_score`` (the first gap position
    pays the opening), i.e. our ``go + (L - 1) ge`` with ``open_gap_score = -go``, ``extend_gap_score = -ge``.
    """
    rows, cols = sim.shape
    letters = "".join(chr(0x100 + k) for k in range(rows + cols))
    table = np.full((rows + cols, rows + cols), -100.0)
    table[:rows, rows:] = sim
    aligner = PairwiseAligner(
        mode="local",
        substitution_matrix=substitution_matrices.Array(letters, dims=2, data=table),
        open_gap_score=-go,
        extend_gap_score=-ge,
    )
    return aligner.score(letters[:rows], letters[rows:])


def test_hard_scores_match_biopython():
    rng = np.random.default_rng(4)
    for _ in range(40):
        rows, cols = rng.integers(2, 11, size=2)
        sim = rng.integers(-4, 5, size=(rows, cols)).astype(float)
        sim[rng.integers(rows), rng.integers(cols)] = 3.0  # a positive cell: Biopython floors scores at 0
        go = float(rng.integers(1, 5))
        ge = float(rng.integers(0, int(go) + 1))
        expected = _biopython_score(sim, go, ge)
        assert smith_waterman(sim, go, ge).score == pytest.approx(expected, abs=1e-12)
        for backend in BACKENDS:
            hard = soft_smith_waterman(torch.tensor(sim), go, ge, hard=True, backend=backend)
            assert hard.item() == pytest.approx(expected, abs=1e-12)
            zero_temperature = soft_smith_waterman(torch.tensor(sim), go, ge, temperature=0.0, backend=backend)
            assert zero_temperature.item() == pytest.approx(expected, abs=1e-12)


def test_low_temperature_tends_to_hard_score():
    rng = np.random.default_rng(5)
    sim = torch.tensor(rng.normal(size=(2, 8, 9)))
    hard = soft_smith_waterman(sim, 0.7, 0.3, hard=True)
    for tau in (1e-1, 1e-2, 1e-3):
        soft = soft_smith_waterman(sim, 0.7, 0.3, temperature=tau)
        # log of the number of alignments bounds the gap between soft and hard maxima
        assert torch.all(soft >= hard - 1e-12) and torch.all(soft - hard <= tau * 40)


def _rescore(sim, pairs, go, ge):
    """Score of a local alignment from its pairs: matches minus ``go + (L - 1) ge`` per gap run."""
    total = sim[pairs[:, 0], pairs[:, 1]].sum()
    for (i1, j1), (i2, j2) in zip(pairs[:-1], pairs[1:], strict=True):
        for skipped in (i2 - i1 - 1, j2 - j1 - 1):
            total -= (go + (skipped - 1) * ge) if skipped > 0 else 0.0
    return total


def test_traceback_pairs_reproduce_the_score():
    rng = np.random.default_rng(6)
    for rows, cols in [(1, 1), (7, 5), (30, 45), (60, 20)]:
        sim = rng.normal(size=(rows, cols))
        result = smith_waterman(torch.tensor(sim), 0.8, 0.2)
        pairs = result.pairs
        assert pairs.ndim == 2 and pairs.shape[1] == 2 and len(pairs) >= 1
        assert np.all(np.diff(pairs, axis=0) > 0)
        assert result.interval_a == (pairs[0, 0], pairs[-1, 0]) and result.interval_b == (pairs[0, 1], pairs[-1, 1])
        assert _rescore(sim, pairs, 0.8, 0.2) == pytest.approx(result.score, abs=1e-10)
        assert result.score == pytest.approx(_biopython_score(sim, 0.8, 0.2), abs=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hard_subgradient_is_the_alignment_indicator(backend):
    rng = np.random.default_rng(7)
    sim = torch.tensor(rng.normal(size=(12, 10)), requires_grad=True)
    (grad,) = torch.autograd.grad(soft_smith_waterman(sim, 0.6, 0.2, hard=True, backend=backend), sim)
    indicator = np.zeros((12, 10))
    pairs = smith_waterman(sim, 0.6, 0.2).pairs
    indicator[pairs[:, 0], pairs[:, 1]] = 1
    np.testing.assert_array_equal(grad.numpy(), indicator)


def test_float32_extreme_similarities_stay_finite():
    torch.manual_seed(8)
    n = 1500
    sim = (torch.randn(1, n, n) * 30).requires_grad_()  # |S| up to ~150 at temperature 0.05
    gap = torch.tensor(0.5, requires_grad=True)
    score = soft_smith_waterman(sim, gap, 0.1, temperature=0.05)
    grad_sim, grad_gap = torch.autograd.grad(score.sum(), [sim, gap])
    assert torch.isfinite(score).all() and torch.isfinite(grad_sim).all() and torch.isfinite(grad_gap)
    assert float(grad_sim.min()) >= 0 and float(grad_sim.max()) <= 1 + 1e-4  # match marginals


def test_traceback_memory_is_one_byte_per_cell():
    sim = np.random.default_rng(9).normal(size=(1000, 800)).astype(np.float32)
    smith_waterman(sim[:5, :5], 1.0, 0.5)  # compile outside the measurement
    tracemalloc.start()
    smith_waterman(sim, 1.0, 0.5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1000 * 800 * 1.5  # uint8 pointers (0.8 MB) + the path; a float table would be >= 3.2 MB


def test_numba_kernels_restore_the_floating_point_mode():
    """The kernels flush subnormals while they run (FTZ/DAZ) and restore the caller's mode afterwards."""
    sim = torch.randn(1, 9, 7, requires_grad=True)  # one sample: the kernels run on this thread
    soft_smith_waterman(sim, 1.0, 0.5, 0.5, backend="numba").sum().backward()
    soft_dtw(1.0 - sim, 0.1, backend="numba").sum().backward()
    tiny = np.array([1e-38], np.float32)
    assert (tiny * np.float32(0.01))[0] > 0  # a subnormal result survives


@pytest.mark.parametrize("shape", [(2, 1, 1), (2, 3, 1), (2, 1, 3)])
@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_gaps_of_a_one_frame_recording_get_a_zero_gradient(shape, backend):
    """No path through a one-frame recording opens a gap: d score / d gaps is 0, where the torch reference left the
    gaps out of its graph and ``autograd.grad`` raised."""
    sim = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    gap_open = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    gap_extend = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    score = soft_smith_waterman(sim, gap_open, gap_extend, 0.5, backend=backend).sum()
    d_sim, d_open, d_extend = torch.autograd.grad(score, [sim, gap_open, gap_extend])
    assert d_open == 0 and d_extend == 0 and torch.isfinite(d_sim).all()
