"""VAOT's fused-GW plan of one pair of recordings on numpy arrays, without torch (``vidalign align --method ot``,
``docs/methods.md``, Long recordings).

:func:`fused_gw_dense` solves the problem that :func:`vidalign.ops.fused_gw` solves for one float64 item
``cost [N, M]`` with the alignment structure, balanced marginals, uniform weights, no mask, the default KL weight
and the ``"length"`` weight of ``Cx``, by the same numba kernel (``_numba/fgw.py``, :func:`solve_dense`), and
returns the same plan, objective trace, marginal error and step. What it saves is memory: the caller writes the
cost straight into the solver's linear-cost array (``fill_cost``), which the kernel turns into the linear cost in
place, and the plan is the solver's own array (a view without the dummy's row and column) - three dense float64
arrays of ``(N + 1) x (M + 1)`` in all (:data:`BYTES_PER_PAIR`), where ``fused_gw`` on a tensor holds the cost,
the plan it returns and the kernel's linear cost, plan, kernel and structure rows (six).
:func:`fused_gw_lean` solves the same problem in two arrays, by default float32 (:data:`LEAN_BYTES_PER_PAIR`),
forming the plan from the kernel where it is read, and returns what is read of the plan (:class:`LeanFGW`): for
recordings whose three float64 arrays would not fit in memory.

The scalars of the problem are computed as ``fused_gw`` computes them in float64: the log-marginal ``-log N``
(NumPy's ``log``, equal to torch's for every N up to 5,000 with NumPy 2 - not always beyond: N = 19,143 differs in
the last bit on the machine this was checked on - and for about 1 in 5 N with NumPy 1) and, with the dummy frame,
``-log N + log1p(-1 / (N + 1))`` (``math.log1p``: torch's vectorised ``log1p`` may round differently in the last
bit, for 3 of the lengths 1..60,000 on the machine this was written on, shifting the plan by about 1e-16).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from vidalign.errors import ConfigError
from vidalign.ops._numba.fgw import lean_summary, solve_dense, solve_lean
from vidalign.ops.unbalanced import DEFAULT_LAM, RELAXED_CODE

BYTES_PER_PAIR = 3 * 8  # linear cost, plan and kernel, float64, per frame pair (the dummy's row/column aside)
LEAN_BYTES_PER_PAIR = 2 * 4  # fused_gw_lean in float32: linear cost and kernel


@dataclass
class DenseFGW:
    """``plan`` ``[N, M]`` (a view of the solver's ``[N + 1, M + 1]`` array with the dummy; not contiguous then),
    ``objective`` ``[n_iters + 1]`` (E at the initial plan and after each iteration, float64), the L1
    ``marginal_error`` of the solved plan and the ``step_size`` used."""

    plan: np.ndarray
    objective: np.ndarray
    marginal_error: float
    step_size: float


def band_radius(length: int, r: float) -> int:
    """``R = max(1, round(r * length))``, round half up (:func:`vidalign.ops.structure.band_radius`)."""
    return max(1, math.floor(r * length + 0.5))


def log_marginal(length: int, dummy: bool) -> np.ndarray:
    """The uniform log-marginal of ``length`` frames, float64, with the dummy's entry last when ``dummy``
    (``fused_gw``'s ``_log_marginal`` and ``_append_dummy``; module docstring)."""
    log_uniform = -np.log(np.float64(length))
    if not dummy:
        return np.full(length, log_uniform)
    count = float(length) + 1.0
    out = np.full(length + 1, log_uniform + math.log1p(-1.0 / count))
    out[-1] = -np.log(np.float64(count))
    return out


def _problem(rows: int, cols: int, dtype, *, alpha: float, eps: float, radius: float, rho: float = 0.0,
             dummy: float | None = None, n_iters: int = 25) -> tuple[np.ndarray, ...]:  # fmt: skip
    """The kernels' ``sizes`` (n, m, R_x, R_y, n_iters), scalars ``p`` and log-marginals in ``dtype``, and the
    dummy's extra row/column count (0 or 1), as :func:`vidalign.ops.fused_gw` computes them."""
    if n_iters < 1:
        raise ConfigError(f"n_iters must be at least 1, got {n_iters}")
    extra = int(dummy is not None)
    radius_x, radius_y = band_radius(rows, radius), band_radius(cols, radius)
    sizes = np.array([rows, cols, radius_x, radius_y, n_iters], np.int64)
    lam = float(DEFAULT_LAM)  # unused by the balanced problem; as fused_gw passes it
    params = np.array([alpha, eps, rows / radius_x, lam, lam, 0.0, rho, dummy or 0.0, rows, cols, 0.5, 1.0], dtype)
    log_a, log_b = log_marginal(rows, extra == 1), log_marginal(cols, extra == 1)
    return sizes, params, log_a.astype(dtype), log_b.astype(dtype), np.int64(extra)


def fused_gw_dense(
    rows: int,
    cols: int,
    fill_cost: Callable[[np.ndarray], None],
    *,
    alpha: float,
    eps: float,
    radius: float,
    rho: float = 0.0,
    dummy: float | None = None,
    n_iters: int = 25,
    progress: bool = False,
) -> DenseFGW:
    """The fused-GW plan of a ``rows x cols`` cost (module docstring). ``fill_cost(out)`` writes the linear cost
    ``C`` (e.g. ``1 - S``) into ``out``, a float64 ``[rows, cols]`` view of the solver's array (rows contiguous,
    the array itself not when there is a dummy). Options as :func:`vidalign.ops.fused_gw`; ``progress`` shows a
    bar over the iterations (:func:`_with_iteration_bar`)."""
    sizes, params, log_a, log_b, extra = _problem(rows, cols, np.float64, alpha=alpha, eps=eps, radius=radius,
                                                  rho=rho, dummy=dummy, n_iters=n_iters)  # fmt: skip
    shape = (rows + extra, cols + extra)
    linear = np.empty(shape)
    fill_cost(linear[:rows, :cols])
    options = np.array([extra, False, RELAXED_CODE["none"], n_iters, True], np.int64)
    plan, kernel = np.empty(shape), np.empty(shape)
    trace, error = np.full(n_iters + 1, np.nan), np.zeros(1)  # the kernel writes every entry

    def solve() -> None:
        solve_dense(linear, log_a, log_b, sizes[:4], options, params, plan, kernel, trace, error)

    _with_iteration_bar(solve, trace, progress)
    return DenseFGW(plan[:rows, :cols], trace, float(error[0]), float(params[5]))


def _with_iteration_bar(solve: Callable[[], None], trace: np.ndarray, progress: bool) -> None:
    """``solve()``, with ``progress`` in a thread (the numba kernel releases the GIL) while this one shows a bar
    over the iterations: the kernel writes ``trace[k]`` (NaN until then) as iteration ``k`` ends. The solve is
    the same either way; an exception in it is raised here."""
    if not progress:
        solve()
        return
    failed: list[BaseException] = []

    def run() -> None:
        try:
            solve()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            failed.append(error)

    worker = threading.Thread(target=run, name="fused-gw", daemon=True)
    with tqdm(total=len(trace) - 1, unit="iteration", desc="ot", leave=False) as bar:
        worker.start()
        finished = False
        while not finished:  # one update after the solve ended, however fast it was
            worker.join(0.25)
            finished = not worker.is_alive()
            bar.update(int(np.count_nonzero(~np.isnan(trace[:-1]))) - bar.n)
    if failed:
        raise failed[0]


@dataclass
class LeanFGW:
    """What :func:`fused_gw_lean` reads of its plan ``[N, M]`` (the dummy's row and column aside): each row's
    argmax ``row_best`` and mass ``row_mass``, each column's ``col_best`` and ``col_mass`` (as
    :class:`DenseFGW`'s plan would give them), with ``objective``, ``marginal_error`` and ``step_size`` as there."""

    row_best: np.ndarray
    row_mass: np.ndarray
    col_best: np.ndarray
    col_mass: np.ndarray
    objective: np.ndarray
    marginal_error: float
    step_size: float


def fused_gw_lean(
    rows: int,
    cols: int,
    fill_cost: Callable[[np.ndarray], None],
    *,
    dtype: type = np.float32,
    progress: bool = False,
    **settings: Any,
) -> LeanFGW:
    """:func:`fused_gw_dense`'s problem in two arrays of ``dtype`` (``_numba/fgw.py``, :func:`solve_lean`): the
    linear cost and the kernel ``Z``, the plan formed a row at a time from ``Z`` and its scalings wherever it is
    read - :data:`LEAN_BYTES_PER_PAIR` per frame pair in float32, a third of the dense solver's float64 - so
    20,000 x 20,000 frames fit in 3.2 GB. ``fill_cost(out)`` writes the cost into a ``dtype`` view; ``progress``
    shows a bar over the iterations; ``settings``: ``alpha``, ``eps``, ``radius``, ``rho``, ``dummy``, ``n_iters``
    as :func:`fused_gw_dense`'s."""
    sizes, params, log_a, log_b, extra = _problem(rows, cols, dtype, **settings)
    n_iters = int(sizes[4])
    shape = (rows + extra, cols + extra)
    linear = np.empty(shape, dtype)
    fill_cost(linear[:rows, :cols])
    kernel, trace = np.empty(shape, dtype), np.zeros(n_iters + 1)
    with tqdm(total=n_iters, unit="iteration", desc="ot", disable=not progress, leave=False) as bar:
        u, v = solve_lean(linear, log_a, log_b, [*sizes[:4], extra, n_iters], params, kernel, trace,
                          lambda: bar.update(1))  # fmt: skip
    del linear
    row_best, row_mass = np.empty(rows, np.int64), np.empty(rows)
    col_best, col_mass = np.zeros(cols, np.int64), np.empty(cols)
    row_sums, col_sums = np.empty(rows + extra), np.empty(cols + extra)
    lean_summary(kernel, u, v, rows, cols, row_best, row_mass, col_best, col_mass, row_sums, col_sums)
    error = np.abs(row_sums - np.exp(log_a.astype(np.float64))).sum()
    error += np.abs(col_sums - np.exp(log_b.astype(np.float64))).sum()
    return LeanFGW(row_best, row_mass, col_best, col_mass, trace, float(error), float(params[5]))
