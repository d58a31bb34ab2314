"""The dense fused-GW of one pair without torch (``vidalign.ops.fgw_dense``, ``vidalign align --method ot``): the
plan, objective and step of :func:`vidalign.ops.fused_gw` on the same float64 cost, in three dense arrays; and the
lean solver (two arrays, the plan formed where it is read: ``fused_gw_lean``) against it."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from numpy_rounding import bit_for_bit_with_numpy
from vidalign.errors import ConfigError
from vidalign.ops import fgw_dense, fused_gw
from vidalign.ops.fgw_dense import (
    BYTES_PER_PAIR,
    LEAN_BYTES_PER_PAIR,
    band_radius,
    fused_gw_dense,
    fused_gw_lean,
    log_marginal,
)
from vidalign.ops.structure import band_radius as structure_band_radius

OPTIONS = {"alpha": 0.3, "eps": 0.07, "radius": 0.02, "rho": 0.35, "n_iters": 12}


@bit_for_bit_with_numpy
@pytest.mark.parametrize("dummy", [0.5, None])
@pytest.mark.parametrize("shape", [(60, 80), (37, 29), (3, 40), (120, 7)], ids=str)
def test_the_dense_plan_is_fused_gws(shape, dummy):
    """Bit for bit: both run the one compiled solver of ``_numba/fgw.py`` on the same problem (the log-marginal
    scalars of these lengths are torch's; module docstring)."""
    cost = np.random.default_rng(sum(shape)).random(shape)
    options = OPTIONS | {"dummy": dummy}
    dense = fused_gw_dense(*shape, lambda out: np.copyto(out, cost), **options)
    reference = fused_gw(torch.from_numpy(cost)[None], structure="alignment", backend="numba", **options)
    np.testing.assert_array_equal(dense.plan, reference.plan[0].numpy())
    np.testing.assert_array_equal(dense.objective, reference.objective[0].numpy())
    assert dense.marginal_error == float(reference.marginal_error[0])
    assert dense.step_size == float(reference.step_size[0])


@bit_for_bit_with_numpy
def test_the_scalars_are_fused_gws():
    lengths = torch.arange(1, 5001, dtype=torch.float64)
    for length in (1, 2, 7, 30, 999, 5000):
        assert band_radius(length, 0.02) == structure_band_radius(length, 0.02)
    # -log N as torch computes it: equal for every length
    assert np.array_equal(np.stack([log_marginal(int(n), False)[0] for n in lengths]), (-torch.log(lengths)).numpy())
    # with the dummy: the real frames' -log N + log1p(-1 / (N + 1)), the dummy's -log(N + 1)
    with_dummy = np.stack([log_marginal(int(n), True)[[0, -1]] for n in lengths])
    count = lengths + 1.0
    real = (-torch.log(lengths) + torch.log1p(-1.0 / count)).numpy()
    np.testing.assert_array_equal(with_dummy[:, 1], (-torch.log(count)).numpy())
    np.testing.assert_array_max_ulp(with_dummy[:, 0], real, maxulp=1)  # torch's log1p: module docstring
    assert np.mean(with_dummy[:, 0] == real) > 0.999


def test_it_holds_three_dense_arrays():
    """The cost is written into the solver's array, the plan is the solver's: three (N + 1) x (M + 1) float64
    arrays (the kernel's own work space is a ring of rows and some vectors)."""
    rows, cols = 300, 400
    tracemalloc.start()
    try:
        solved = fused_gw_dense(rows, cols, lambda out: out.fill(0.5), **OPTIONS | {"dummy": 0.5, "n_iters": 2})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    dense = BYTES_PER_PAIR * (rows + 1) * (cols + 1)
    assert dense <= peak <= dense + 2**20
    assert solved.plan.shape == (rows, cols) and np.isfinite(solved.plan).all()


def test_it_checks_the_iterations():
    with pytest.raises(ConfigError, match="n_iters"):
        fused_gw_dense(3, 3, lambda out: out.fill(0.0), **OPTIONS | {"n_iters": 0})


def lean_and_dense(shape, options, dtype):
    cost = np.random.default_rng(sum(shape)).random(shape)
    dense = fused_gw_dense(*shape, lambda out: np.copyto(out, cost), **options)
    lean = fused_gw_lean(*shape, lambda out: np.copyto(out, cost), dtype=dtype, **options)
    return np.asarray(dense.plan), dense, lean


@pytest.mark.parametrize("dummy", [0.5, None])
@pytest.mark.parametrize("shape", [(60, 80), (37, 29), (3, 40), (120, 7)], ids=str)
def test_the_lean_solver_in_float64_is_the_dense_one(shape, dummy):
    """The same iterations with the plan formed from the kernel and its scalings where it is read (a ring of 12
    plan rows at R_x = 1, wrapping around for 60 and 120 rows): equal to rounding."""
    plan, dense, lean = lean_and_dense(shape, OPTIONS | {"dummy": dummy}, np.float64)
    np.testing.assert_array_equal(lean.row_best, plan.argmax(axis=1))
    np.testing.assert_array_equal(lean.col_best, plan.argmax(axis=0))
    np.testing.assert_allclose(lean.row_mass, plan.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(lean.col_mass, plan.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(lean.objective, dense.objective, rtol=1e-12, atol=1e-15)
    assert lean.step_size == pytest.approx(dense.step_size, rel=1e-12)
    assert lean.marginal_error == pytest.approx(dense.marginal_error, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("shape", [(60, 80), (120, 7)], ids=str)
def test_the_lean_solver_in_float32_is_the_dense_one_to_float32s_precision(shape):
    plan, dense, lean = lean_and_dense(shape, OPTIONS | {"dummy": 0.5, "n_iters": 40}, np.float32)
    rows, cols = np.arange(shape[0]), np.arange(shape[1])
    # each argmax is the dense plan's largest entry of its row / column, or within float32 rounding of it
    np.testing.assert_allclose(plan[rows, lean.row_best], plan.max(axis=1), rtol=1e-5)
    np.testing.assert_allclose(plan[lean.col_best, cols], plan.max(axis=0), rtol=1e-5)
    np.testing.assert_allclose(lean.row_mass, plan.sum(axis=1), rtol=1e-4)
    np.testing.assert_allclose(lean.col_mass, plan.sum(axis=0), rtol=1e-4)
    np.testing.assert_allclose(lean.objective, dense.objective, rtol=1e-5)


def test_the_lean_solver_holds_two_float32_arrays():
    rows, cols = 300, 400
    tracemalloc.start()
    try:
        fused_gw_lean(rows, cols, lambda out: out.fill(0.5), **OPTIONS | {"dummy": 0.5, "n_iters": 2})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    lean = LEAN_BYTES_PER_PAIR * (rows + 1) * (cols + 1)
    assert lean <= peak <= lean + 2**20


class _Bar:
    """Stands in for tqdm: records where each bar ends."""

    ends: list[int] = []

    def __init__(self, total=None, **_):
        self.total, self.n = total, 0

    def update(self, count=1):
        self.n += count

    def __enter__(self):
        return self

    def __exit__(self, *_):
        _Bar.ends.append(self.n)


def test_the_iteration_bars_count_every_iteration_and_change_nothing(monkeypatch):
    """The dense solve runs in a thread while the bar reads its objective trace; the lean one ticks per iteration."""
    monkeypatch.setattr(fgw_dense, "tqdm", _Bar)
    _Bar.ends = []
    cost = np.random.default_rng(3).random((70, 90))
    options = OPTIONS | {"dummy": 0.5, "n_iters": 30}
    quiet = fused_gw_dense(70, 90, lambda out: np.copyto(out, cost), **options)
    shown = fused_gw_dense(70, 90, lambda out: np.copyto(out, cost), progress=True, **options)
    np.testing.assert_array_equal(shown.plan, quiet.plan)
    np.testing.assert_array_equal(shown.objective, quiet.objective)
    assert _Bar.ends == [30]  # the quiet dense solve has no bar
    lean = fused_gw_lean(70, 90, lambda out: np.copyto(out, cost), progress=True, **options)
    assert _Bar.ends == [30, 30]
    quiet_lean = fused_gw_lean(70, 90, lambda out: np.copyto(out, cost), **options)
    np.testing.assert_array_equal(lean.row_best, quiet_lean.row_best)
    np.testing.assert_array_equal(lean.objective, quiet_lean.objective)


class _InstantThread:
    """A thread that has finished its target by the time ``start`` returns (a solve faster than the bar's loop)."""

    def __init__(self, target, **_):
        self.target = target

    def start(self):
        self.target()

    def join(self, timeout=None):
        pass

    def is_alive(self):
        return False


def test_the_bar_counts_every_iteration_of_a_solve_that_ends_before_it_looks(monkeypatch):
    monkeypatch.setattr(fgw_dense, "tqdm", _Bar)
    monkeypatch.setattr(fgw_dense.threading, "Thread", _InstantThread)
    _Bar.ends = []
    trace = np.full(13, np.nan)
    fgw_dense._with_iteration_bar(lambda: trace.fill(1.0), trace, True)
    assert _Bar.ends == [12]


def test_a_failure_inside_the_threaded_solve_is_raised_in_the_caller():
    def solve():
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        fgw_dense._with_iteration_bar(solve, np.full(4, np.nan), True)
