"""Soft-DTW against brute force over all paths, tslearn (float64 numpy) and the torch reference; the vectorised
exp/log of the compiled kernels against numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numba import njit
from tslearn.metrics import SoftDTW

from vidalign.ops._numba.elementary import exp_nonpositive, log_positive
from vidalign.ops.soft_dtw import soft_dtw

BACKENDS = ["numba", "torch"]


def monotone_paths(i: int, j: int):
    """All paths from (0, 0) to (i, j) with steps (1, 0), (0, 1), (1, 1)."""
    if i == 0 and j == 0:
        yield [(0, 0)]
        return
    for di, dj in ((1, 1), (1, 0), (0, 1)):
        if i - di >= 0 and j - dj >= 0:
            for path in monotone_paths(i - di, j - dj):
                yield [*path, (i, j)]


def brute_force(cost: np.ndarray, gamma: float):
    """``-gamma log sum_paths exp(-cost(path) / gamma)`` and the expected path indicator (its gradient)."""
    rows, cols = cost.shape
    indicators = []
    for path in monotone_paths(rows - 1, cols - 1):
        indicator = np.zeros_like(cost)
        for i, j in path:
            indicator[i, j] = 1
        indicators.append(indicator)
    costs = np.array([(a * cost).sum() for a in indicators])
    low = costs.min()
    weights = np.exp(-(costs - low) / gamma)
    value = low - gamma * np.log(weights.sum())
    weights /= weights.sum()
    return value, sum(w * a for w, a in zip(weights, indicators, strict=True))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gamma", [0.1, 1.0])
def test_brute_force_value_and_expected_alignment(backend, gamma):
    cost = np.random.default_rng(0).random((3, 4))
    value, expected = brute_force(cost, gamma)
    cost_t = torch.tensor(cost, requires_grad=True)
    out = soft_dtw(cost_t, gamma, backend=backend)
    (grad,) = torch.autograd.grad(out, cost_t)
    assert out.shape == ()
    assert out.item() == pytest.approx(value, abs=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected, atol=1e-12)


def _masks(lengths, size):
    return torch.arange(size)[None, :] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_tslearn_with_masks(backend):
    rng = np.random.default_rng(1)
    lengths_a, lengths_b = [12, 7, 1, 12], [9, 13, 5, 1]
    cost = torch.tensor(rng.random((4, 12, 13)) * 3, requires_grad=True)
    values = soft_dtw(cost, 0.3, _masks(lengths_a, 12), _masks(lengths_b, 13), backend=backend)
    (grad,) = torch.autograd.grad(values.sum(), cost)
    for b, (n, m) in enumerate(zip(lengths_a, lengths_b, strict=True)):
        oracle = SoftDTW(cost[b, :n, :m].detach().numpy(), gamma=0.3)
        assert values[b].item() == pytest.approx(oracle.compute(), abs=1e-12)
        np.testing.assert_allclose(grad[b, :n, :m].numpy(), oracle.grad(), atol=1e-12)
        assert grad[b, n:].abs().sum() == 0 and grad[b, :, m:].abs().sum() == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_with_masks(backend):
    torch.manual_seed(2)
    cost = torch.rand(3, 5, 4, dtype=torch.float64, requires_grad=True)
    mask_a, mask_b = _masks([5, 2, 4], 5), _masks([4, 4, 1], 4)
    assert torch.autograd.gradcheck(lambda c: soft_dtw(c, 0.5, mask_a, mask_b, backend=backend), (cost,))


def test_second_order_gradients_through_reference():
    cost = torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda c: soft_dtw(c, 0.5, backend="numba"), (cost,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numba_matches_torch_reference(dtype):
    torch.manual_seed(3)
    cost = torch.rand(5, 11, 8, dtype=dtype, requires_grad=True)
    mask_a, mask_b = _masks([11, 6, 1, 9, 3], 11), _masks([8, 8, 4, 1, 7], 8)
    weights = torch.arange(1.0, 6.0, dtype=dtype)
    results = []
    for backend in BACKENDS:
        values = soft_dtw(cost, 0.2, mask_a, mask_b, backend=backend)
        results.append((values, *torch.autograd.grad((values * weights).sum(), cost)))
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for ours, ref in zip(*results, strict=True):
        torch.testing.assert_close(ours, ref, atol=tol, rtol=tol)


def test_result_does_not_depend_on_thread_count():
    cost = torch.rand(6, 20, 17, dtype=torch.float64, requires_grad=True)
    outputs = []
    previous = torch.get_num_threads()
    for threads in (1, 4):  # the batch is split over torch.get_num_threads() threads
        torch.set_num_threads(threads)
        try:
            values = soft_dtw(cost, 0.1)
            outputs.append((values, *torch.autograd.grad(values.sum(), cost)))
        finally:
            torch.set_num_threads(previous)
    for a, b in zip(*outputs, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_float32_extreme_costs_stay_finite():
    torch.manual_seed(4)
    n = 1500
    cost = (torch.rand(1, n, n) * 1e3).requires_grad_()  # path costs ~1e6 at gamma 0.01
    value = soft_dtw(cost, 0.01)
    (grad,) = torch.autograd.grad(value.sum(), cost)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    assert float(grad.min()) >= 0 and float(grad.max()) <= 1.5  # expected alignment (float32 rounding at 1e6)


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="gamma"):
        soft_dtw(torch.rand(2, 3), 0.0)
    with pytest.raises(ValueError, match="prefix"):
        soft_dtw(torch.rand(1, 3, 3), 0.1, mask_a=torch.tensor([[False, True, True]]))


@njit(cache=True)
def _apply_exp(x, out):
    for k in range(x.size):
        out[k] = exp_nonpositive(x[k])


@njit(cache=True)
def _apply_log(x, out):
    for k in range(x.size):
        out[k] = log_positive(x[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorised_exp_and_log_match_numpy(dtype):
    rng = np.random.default_rng(5)
    floor = -87.0 if dtype == np.float32 else -708.0
    x = np.concatenate([rng.uniform(floor, 0, 20000), -rng.exponential(1.0, 20000), [0.0, floor]]).astype(dtype)
    out = np.empty_like(x)
    _apply_exp(x, out)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / exact) < 2 * np.finfo(dtype).eps
    below = np.array([floor - 1, -np.inf, np.nan], dtype)
    _apply_exp(below, out[:3])
    assert np.all(out[:3] == 0)  # sentinels weigh exactly nothing

    y = np.concatenate([rng.uniform(1, 4, 20000), np.exp(rng.normal(0, 10, 20000))]).astype(dtype)
    out = np.empty_like(y)
    _apply_log(y, out)
    exact = np.log(y.astype(np.float64))
    assert np.max(np.abs(out - exact) / np.maximum(1.0, np.abs(exact))) < 2 * np.finfo(dtype).eps
