"""Fused-GW benchmark (suite "ot"): ``vidalign.ops.fused_gw`` against POT's solvers timed in the same run.

Problem: VAOT settings without the dummy (alpha 0.3, eps 0.07, r 0.02, rho 0.35), 25 iterations, alignment
structure, B = 8, N = M, cost ``1 - x.y`` of random unit vectors (D = 128), float32. Each reference runs the
smallest iteration count whose plans reach our objective (batch mean, evaluated in float64 with dense Cx, Cy):

* ``pot-batch``: ``ot.batch.solve_gromov_batch`` (torch backend, float32, ``reg = eps``, 50 inner Bregman
  iterations), POT's batched (F)GW solver. It minimises the *unregularised* objective
  ``F0 = alpha/2 <Cx T Cy, T> + (1 - alpha) <C, T>`` by entropic proximal steps, so it is matched on F0 (it
  never reaches the entropic objective). ``Ca = Cx / c``, ``Cb = -c Cy / 4`` reproduce our quadratic term under
  POT's square loss (derivation in ``tests/ops/test_fgw.py``); ``c`` balances the magnitudes of POT's constant
  terms so its Sinkhorn kernels stay representable.
* ``pot-entropic-loop``: ``ot.gromov.entropic_fused_gromov_wasserstein`` over the batch (numpy float64; POT has
  no batched entropic FGW), the same entropic objective E as ours, matched on E.

Threads: the comparison rows pin ours and POT to ONE thread (torch and BLAS, via ``threadpoolctl``): on a shared
2-core machine a busy core makes multi-threaded torch/BLAS calls spin and vary 10-50x, which would turn the
ratios into noise; the target (N = M = 300: 40 ms) is on these one-thread rows. A last row per size times
ours alone with all of torch's threads (the batch split over them). Peak memory is what the kernel allocates,
counted from the sizes: the output plan plus, per thread, four ``(N + 1) x (M + 1)`` work arrays (cost, plan,
kernel, window) and O(N + M) vectors (steady-state RSS growth is 0: the allocator reuses the pages). The note
records the load average.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import torch

from vidalign.bench import BenchRow, time_call
from vidalign.ops._numba.fgw import batch_item_floats
from vidalign.ops.fgw import fused_gw, temporal_prior
from vidalign.ops.structure import band_radius, dense_cx, dense_cy

SETTINGS = dict(alpha=0.3, eps=0.07, radius=0.02, rho=0.35)
BATCH, DIM, N_ITERS = 8, 128, 25
MAX_REFERENCE_ITERS = 40


def _costs(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(BATCH, n, DIM, generator=generator), dim=-1)
    y = torch.nn.functional.normalize(torch.randn(BATCH, n, DIM, generator=generator), dim=-1)
    return 1.0 - x @ y.transpose(1, 2)


class _Objectives:
    """Dense float64 evaluation of F0 and E = F0 - eps H for plans of one benchmark problem."""

    def __init__(self, cost: torch.Tensor):
        n = cost.shape[1]
        lengths = torch.full((BATCH,), n)
        self.cost = (cost + SETTINGS["rho"] * temporal_prior(lengths, lengths, n, n, cost)).double()
        self.cx = dense_cx(n, SETTINGS["radius"])
        self.cy = dense_cy(n, "alignment", SETTINGS["radius"])

    def transport(self, plan) -> float:
        plan = torch.as_tensor(plan).double()
        quadratic = (plan * (self.cx @ plan @ self.cy)).sum(dim=(1, 2))
        linear = (plan * self.cost).sum(dim=(1, 2))
        return (0.5 * SETTINGS["alpha"] * quadratic + (1 - SETTINGS["alpha"]) * linear).mean().item()

    def entropic(self, plan) -> float:
        plan = torch.as_tensor(plan).double()
        entropy = (torch.xlogy(plan, plan) - plan).sum(dim=(1, 2)).mean().item()
        return self.transport(plan) + SETTINGS["eps"] * entropy


def _pot_structure(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Cx / c, -c Cy / 4)``: POT's square loss gives ``-2 <C1 T C2, T> = 1/2 <Cx T Cy, T>`` for any c; the
    c equalising ``sum_k C1_ik^2 / N`` and ``sum_l C2_jl^2 / N`` keeps POT's constant terms small."""
    radius = band_radius(n, SETTINGS["radius"])
    scale = (32 * radius / (n * SETTINGS["radius"] ** 2)) ** 0.25
    return dense_cx(n, SETTINGS["radius"]) / scale, -scale * dense_cy(n, "alignment", SETTINGS["radius"]) / 4


def _pot_batch(cost: torch.Tensor, objectives: _Objectives) -> Callable[[int], torch.Tensor]:
    import ot

    n = cost.shape[1]
    ca, cb = (c.float().expand(BATCH, n, n).contiguous() for c in _pot_structure(n))
    linear = objectives.cost.float()
    weights = torch.full((BATCH, n), 1.0 / n)

    def solve(iterations: int) -> torch.Tensor:
        result = ot.batch.solve_gromov_batch(
            ca, cb, reg=SETTINGS["eps"], a=weights, b=weights, M=linear, alpha=SETTINGS["alpha"], symmetric=True,
            max_iter=iterations, tol=0.0, grad="detach",
        )  # fmt: skip
        return result.plan

    return solve


def _pot_entropic_loop(cost: torch.Tensor, objectives: _Objectives) -> Callable[[int], np.ndarray]:
    import ot

    c1, c2 = (c.numpy() for c in _pot_structure(cost.shape[1]))
    linear = objectives.cost.numpy()

    def solve(iterations: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # POT warns when max_iter stops it before its tolerance
            plans = [
                ot.gromov.entropic_fused_gromov_wasserstein(
                    item,
                    c1,
                    c2,
                    alpha=SETTINGS["alpha"],
                    epsilon=SETTINGS["eps"],
                    max_iter=iterations,
                    tol=0.0,
                    symmetric=True,
                )  # fmt: skip
                for item in linear
            ]
        return np.stack(plans)

    return solve


def _matched_iterations(solve, objective: Callable, target: float) -> tuple[int, float]:
    """Smallest iteration count whose plans reach ``target`` (or the cap) and the objective reached."""
    value = float("inf")
    for iterations in range(1, MAX_REFERENCE_ITERS + 1):
        value = objective(solve(iterations))
        if value <= target:
            return iterations, value
    return MAX_REFERENCE_ITERS, value


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """Limit torch and BLAS (numpy, POT) to ``count`` threads."""
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        torch.set_num_threads(previous)


def _allocated_mb(n: int, threads: int) -> float:
    """The output plan and, per thread at work, the arrays the numba kernel allocates for an item (float32, no
    dummy; :func:`~vidalign.ops._numba.fgw.batch_item_floats`). Counted from those allocations, not measured:
    numba's allocations are invisible to Python's tracers."""
    per_thread = batch_item_floats(n, n, band_radius(n, SETTINGS["radius"]))
    return 4 * (BATCH * n * n + min(threads, BATCH) * per_thread) / 2**20


def _size_rows(n: int) -> list[BenchRow]:
    cost = _costs(n)
    objectives = _Objectives(cost)

    def ours():
        return fused_gw(cost, n_iters=N_ITERS, return_trace=False, **SETTINGS)

    plan = ours().plan
    targets = {"F0": objectives.transport(plan), "E": objectives.entropic(plan)}
    config = f"B={BATCH} N=M={n} it={N_ITERS}"
    target_ms = 40.0 if n == 300 else None  # issue 14: one thread, 25 iterations
    references = [
        ("pot-batch", _pot_batch(cost, objectives), objectives.transport, "F0"),
        ("pot-entropic-loop", _pot_entropic_loop(cost, objectives), objectives.entropic, "E"),
    ]
    rows = []
    with _threads(1):
        ours_ms = time_call(ours, repeats=7)
        for name, solve, objective, label in references:
            iterations, reached = _matched_iterations(solve, objective, targets[label])
            reference_ms = time_call(lambda solve=solve, iterations=iterations: solve(iterations), repeats=3)
            note = f"1 thread; {label}: ours {targets[label]:.5f}, POT {reached:.5f} after {iterations} it"
            note += f"; load {os.getloadavg()[0]:.1f}"
            rows.append(BenchRow("fused_gw", config, ours_ms, name, reference_ms, _allocated_mb(n, 1), target_ms, note))
    threads = torch.get_num_threads()
    note = f"{threads} threads; load {os.getloadavg()[0]:.1f}"
    rows.append(BenchRow("fused_gw", config, time_call(ours, repeats=7), "-", None, _allocated_mb(n, threads),
                         None, note))  # fmt: skip
    return rows


def run(quick: bool = False) -> list[BenchRow]:
    """Rows for N = M in {100, 200, 300} ({100} when ``quick``)."""
    rows: list[BenchRow] = []
    for n in (100,) if quick else (100, 200, 300):
        rows.extend(_size_rows(n))
    return rows
